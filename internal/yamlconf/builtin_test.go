package yamlconf_test

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/resgen-dev/resgen/internal/yamlconf"
	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/templates"
)

// TestBuiltinProfilesMatchDocs loads every built-in profile, validates it,
// and compares it, after Normalize, field by field with the values the
// README's profile table promises, written out here by hand: a profile
// that stops parsing, or whose YAML drifts from what users were told,
// fails here. Where a profile leaves a field to resgen's default, so does
// the row. Every profile retries the transient classes (timeouts, lost
// connections, 429, 5xx, temporary locks), which is also the default, and
// excludes no class from its breaker.
func TestBuiltinProfilesMatchDocs(t *testing.T) {
	// resgen's defaults for every policy (the per-attempt timeout is 30s).
	defaults := func() runtime.Config {
		return runtime.Config{
			Retry: runtime.RetryConfig{
				MaxAttempts:       3,
				InitialDelay:      1 * time.Second,
				MaxDelay:          60 * time.Second,
				BackoffMultiplier: 2.0,
				Jitter:            runtime.JitterFull, // jitter: bool = True
				RetryOn:           runtime.Matcher{Classes: runtime.ClassesTransient},
			},
			CircuitBreaker: runtime.CircuitBreakerConfig{
				FailureThreshold:       5,
				RecoveryTimeout:        60 * time.Second,
				InitialRecoveryTimeout: time.Second,
				SuccessThreshold:       2,
			},
			RateLimit: runtime.RateLimitConfig{
				MaxRequestsPerMinute: 60,
				BurstSize:            10,
				Global:               false, // per_host: bool = True
				Strategy:             runtime.StrategyWait,
				MaxQueueSize:         0,    // 100, used by the queue strategy only
				Adaptive:             true, // every built-in profile follows the service's 429s
			},
			Timeout: runtime.TimeoutConfig{Duration: 30 * time.Second},
			Recovery: runtime.RecoveryConfig{
				// enable_connection_recovery, enable_credential_refresh,
				// enable_schema_adaptation, enable_partial_failure_recovery:
				// all True.
				CheckInterval: 30 * time.Second,
				MaxAttempts:   3,
			},
			Throttle: runtime.ThrottleConfig{Multiplier: 2, Window: time.Second, MaxRejection: 0.9},
			RetryBudget: runtime.RetryBudgetConfig{
				Ratio: 0.3, MinPerSecond: 10, Window: 10 * time.Second,
			},
			Concurrency: runtime.ConcurrencyConfig{MaxInFlight: 1000, MinInFlight: 50, Strategy: runtime.StrategyWait},
		}
	}
	tests := map[string]func(c *runtime.Config){
		"default": func(c *runtime.Config) {},
		"database": func(c *runtime.Config) { // DB_RESILIENCE_CONFIG
			c.Retry.MaxAttempts = 3
			c.Retry.InitialDelay = 1 * time.Second
			c.CircuitBreaker.FailureThreshold = 5
			c.CircuitBreaker.RecoveryTimeout = 30 * time.Second
			c.RateLimit.MaxRequestsPerMinute = 300
			c.RateLimit.BurstSize = 50
			c.Recovery.DisableConnectionRecovery = false // enable_connection_recovery=True
			c.Recovery.DisableCredentialRefresh = true   // enable_credential_refresh=False
		},
		"api": func(c *runtime.Config) { // API_RESILIENCE_CONFIG
			c.RateLimit.Adaptive = true
			c.Retry.MaxAttempts = 5
			c.Retry.InitialDelay = 2 * time.Second
			c.CircuitBreaker.FailureThreshold = 3
			c.CircuitBreaker.RecoveryTimeout = 60 * time.Second
			c.RateLimit.MaxRequestsPerMinute = 60
			c.RateLimit.BurstSize = 10
			c.Recovery.DisableConnectionRecovery = false
			c.Recovery.DisableCredentialRefresh = false
			c.Recovery.DisableSchemaAdaptation = false
		},
		"file": func(c *runtime.Config) { // FILE_RESILIENCE_CONFIG
			c.RateLimit.Adaptive = true
			c.Retry.MaxAttempts = 4
			c.Retry.InitialDelay = 500 * time.Millisecond
			c.CircuitBreaker.FailureThreshold = 10
			c.CircuitBreaker.RecoveryTimeout = 15 * time.Second
			c.RateLimit.MaxRequestsPerMinute = 1000
			c.RateLimit.BurstSize = 100
			c.Recovery.DisableConnectionRecovery = false
			c.Recovery.DisableCredentialRefresh = false
			c.Recovery.DisablePartialFailureRecovery = false
		},
		"development": func(c *runtime.Config) { // DEVELOPMENT_RESILIENCE_CONFIG["default"]
			c.RateLimit.Adaptive = true
			c.Retry.MaxAttempts = 5
			c.Retry.InitialDelay = 500 * time.Millisecond
			c.CircuitBreaker.FailureThreshold = 10
			c.CircuitBreaker.RecoveryTimeout = 30 * time.Second
			c.RateLimit.MaxRequestsPerMinute = 30
			c.RateLimit.BurstSize = 5
		},
		"production-postgres": func(c *runtime.Config) { // PRODUCTION_RESILIENCE_CONFIG["postgres"]
			c.Retry.MaxAttempts = 3
			c.Retry.InitialDelay = 1 * time.Second
			c.CircuitBreaker.FailureThreshold = 5
			c.RateLimit.MaxRequestsPerMinute = 300
			c.Recovery.DisableConnectionRecovery = false
		},
		"production-shopify": func(c *runtime.Config) { // PRODUCTION_RESILIENCE_CONFIG["shopify"]
			c.RateLimit.Adaptive = true
			c.Retry.MaxAttempts = 5
			c.Retry.InitialDelay = 2 * time.Second
			c.CircuitBreaker.FailureThreshold = 3
			c.RateLimit.MaxRequestsPerMinute = 40 // Shopify's limit
			c.Recovery.DisableCredentialRefresh = false
			c.Recovery.DisableSchemaAdaptation = false
		},
	}
	var names []string
	for name := range tests {
		names = append(names, name)
	}
	slices.Sort(names)
	if got := templates.Names(); !slices.Equal(got, names) {
		t.Fatalf("built-in profiles %v, want %v: give a new profile a row here", got, names)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			settings, ok := yamlconf.Builtin(name)
			if !ok {
				t.Fatalf("Builtin(%q) not found", name)
			}
			src, _ := templates.Source(name)
			if _, errs := yamlconf.Parse(append([]byte("version: 1\nprofiles:\n  x:\n"), indent(src)...), yamlconf.Generation); len(errs) > 0 {
				t.Fatalf("%s.yaml does not parse as a profile: %v", name, errs)
			}
			var got runtime.Config
			for _, s := range settings {
				if err := got.Apply(s); err != nil {
					t.Fatalf("%+v: %v", s, err)
				}
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			got = got.Normalize()
			want := defaults()
			tests[name](&want)
			for _, d := range diffFields("", reflect.ValueOf(got), reflect.ValueOf(want)) {
				t.Error(d)
			}
		})
	}
}

// indent indents YAML by four spaces.
func indent(src []byte) []byte {
	var out []byte
	for _, line := range splitLines(src) {
		out = append(out, "    "...)
		out = append(out, line...)
	}
	return out
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := slices.Index(b, '\n')
		if i < 0 {
			return append(out, append(b, '\n'))
		}
		out = append(out, b[:i+1])
		b = b[i+1:]
	}
	return out
}

// diffFields compares two structs field by field, recursively, and
// describes each difference as Field.Sub: got X, want Y.
func diffFields(path string, got, want reflect.Value) []string {
	if got.Kind() == reflect.Struct {
		var out []string
		for i := 0; i < got.NumField(); i++ {
			name := got.Type().Field(i).Name
			if path != "" {
				name = path + "." + name
			}
			out = append(out, diffFields(name, got.Field(i), want.Field(i))...)
		}
		return out
	}
	if got.Kind() == reflect.Func {
		if got.IsNil() != want.IsNil() {
			return []string{path + ": func set on one side only"}
		}
		return nil
	}
	if !reflect.DeepEqual(got.Interface(), want.Interface()) {
		return []string{fmt.Sprintf("%s: got %v, want %v", path, got.Interface(), want.Interface())}
	}
	return nil
}
