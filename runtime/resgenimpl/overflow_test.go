package resgenimpl_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
)

type status503 struct{}

func (status503) Error() string   { return "503" }
func (status503) StatusCode() int { return 503 }

// TestBackoffNearDurationLimit: delays near time.Duration's limit, which
// Validate accepts, once overflowed to negative delays (no wait at all) or
// made rand.Int64N panic.
func TestBackoffNearDurationLimit(t *testing.T) {
	for _, j := range []runtime.Jitter{runtime.JitterNone, runtime.JitterFull, runtime.JitterEqual, runtime.JitterDecorrelated} {
		var delays []time.Duration
		spec := &resgenimpl.Spec{Wrapper: "W", Methods: []resgenimpl.MethodSpec{{Name: "Get", Config: runtime.Config{
			Retry: runtime.RetryConfig{MaxAttempts: 5, InitialDelay: time.Hour, MaxDelay: math.MaxInt64,
				BackoffMultiplier: 1e300, Jitter: j},
			RateLimit: runtime.RateLimitConfig{Disabled: true},
		}}}}
		m, err := resgenimpl.NewManager(nil, spec, runtime.WithLogger(nil),
			runtime.WithObserver(runtime.ObserverFunc(func(e runtime.Event) {
				if e.Kind == runtime.EventRetry {
					delays = append(delays, e.Delay)
				}
			})))
		if err != nil {
			t.Fatal(err)
		}
		me := m.Method(0)
		var c resgenimpl.Call
		for i := 0; i < 4; i++ {
			if err := me.Admit(context.Background(), &c); err != nil {
				t.Fatal(err)
			}
			if err := me.Failure(context.Background(), &c, status503{}); err != nil {
				t.Fatalf("%s: attempt %d: %v", j, i+1, err)
			}
		}
		if len(delays) != 4 {
			t.Fatalf("%s: %d retry events after 4 failures, want 4", j, len(delays))
		}
		for _, d := range delays {
			if d < 0 {
				t.Errorf("%s: negative delay %v", j, d)
			}
		}
	}
}
