package resgenimpl_test

import (
	"testing"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
)

// TestBreakerSharingDependsOnMethodOrder: the alphabetically first method
// used to take the wrapper's breaker, so one method with other settings
// named "Alpha" gave every other method a breaker of its own. Methods with
// the same settings must share the wrapper's breaker whatever their names.
func TestBreakerSharingDependsOnMethodOrder(t *testing.T) {
	odd := runtime.CircuitBreakerConfig{FailureThreshold: 1}
	grouped := runtime.CircuitBreakerConfig{Group: "db"}
	tests := []struct {
		name    string
		methods []string
		configs []runtime.CircuitBreakerConfig
		want    map[string]string // method -> breaker
	}{
		{"odd one first", []string{"Alpha", "Beta", "Gamma"},
			[]runtime.CircuitBreakerConfig{odd, {}, {}},
			map[string]string{"Alpha": "W.Alpha", "Beta": "W", "Gamma": "W"}},
		{"odd one last", []string{"Alpha", "Beta", "Gamma"},
			[]runtime.CircuitBreakerConfig{{}, {}, odd},
			map[string]string{"Alpha": "W", "Beta": "W", "Gamma": "W.Gamma"}},
		{"two odd, one common", []string{"A", "B", "C", "D", "E"},
			[]runtime.CircuitBreakerConfig{odd, {}, odd, {}, {}},
			map[string]string{"A": "W.A", "B": "W", "C": "W.C", "D": "W", "E": "W"}},
		{"groups do not count", []string{"A", "B", "C", "D"},
			[]runtime.CircuitBreakerConfig{grouped, grouped, grouped, odd},
			map[string]string{"A": "db", "B": "db", "C": "db", "D": "W"}},
		{"off", []string{"A", "B"},
			[]runtime.CircuitBreakerConfig{{Disabled: true}, {}},
			map[string]string{"A": "", "B": "W"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &resgenimpl.Spec{Wrapper: "W"}
			for i, name := range tt.methods {
				spec.Methods = append(spec.Methods, resgenimpl.MethodSpec{Name: name, Config: runtime.Config{
					CircuitBreaker: tt.configs[i],
					RateLimit:      runtime.RateLimitConfig{Disabled: true},
				}})
			}
			m, err := resgenimpl.NewManager(nil, spec, runtime.WithLogger(nil))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			for _, name := range tt.methods {
				mm, ok := m.MethodMetrics(name)
				if !ok {
					t.Fatalf("no metrics for %s", name)
				}
				if mm.Breaker != tt.want[name] {
					t.Errorf("%s: breaker %q, want %q", name, mm.Breaker, tt.want[name])
				}
			}
		})
	}
}
