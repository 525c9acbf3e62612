package prometheus_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/resgen-dev/resgen/runtime"
	resgenprom "github.com/resgen-dev/resgen/runtime/prometheus"
)

type unavailable struct{}

func (unavailable) Error() string   { return "503" }
func (unavailable) StatusCode() int { return 503 }

// manager builds a Manager of one method and drives it as generated code
// does: one call that fails once then succeeds, and one that fails with a
// permanent error.
func manager(t *testing.T) *runtime.Manager {
	t.Helper()
	spec := &runtime.Spec{Wrapper: "ResilientStore", Interface: "shop.Store", Methods: []runtime.MethodSpec{{
		Name: "Get",
		Config: runtime.Config{
			Retry:     runtime.RetryConfig{InitialDelay: 1, MaxDelay: 1, Jitter: runtime.JitterNone},
			RateLimit: runtime.RateLimitConfig{Disabled: true},
		},
	}}}
	m, err := runtime.NewManager(nil, spec, runtime.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	me := m.Method(0)
	ctx := context.Background()
	call := func(errs ...error) {
		var c runtime.Call
		for i := 0; ; i++ {
			if err := me.Admit(ctx, &c); err != nil {
				t.Fatal(err)
			}
			if i >= len(errs) {
				me.Success(&c)
				return
			}
			if err := me.Failure(ctx, &c, errs[i]); err != nil {
				return
			}
			if err := me.Backoff(ctx, &c); err != nil {
				t.Fatal(err)
			}
		}
	}
	call(unavailable{})
	call(errors.New("boom"))
	return m
}

func TestCollectorExportsMetrics(t *testing.T) {
	c := resgenprom.NewCollector(manager(t))
	reg := prom.NewPedanticRegistry()
	reg.MustRegister(c)
	want := `
# HELP resgen_calls_total Calls made, by how they ended (success or failure; rejected calls are failures).
# TYPE resgen_calls_total counter
resgen_calls_total{method="Get",result="failure",wrapper="ResilientStore"} 1
resgen_calls_total{method="Get",result="success",wrapper="ResilientStore"} 1
# HELP resgen_retry_attempts_total Attempts after the first of their call.
# TYPE resgen_retry_attempts_total counter
resgen_retry_attempts_total{method="Get",wrapper="ResilientStore"} 1
# HELP resgen_successes_after_retry_total Calls that succeeded after at least one failed attempt.
# TYPE resgen_successes_after_retry_total counter
resgen_successes_after_retry_total{method="Get",wrapper="ResilientStore"} 1
# HELP resgen_failed_attempts_total Attempts that failed.
# TYPE resgen_failed_attempts_total counter
resgen_failed_attempts_total{method="Get",wrapper="ResilientStore"} 2
# HELP resgen_breaker_state State of the method's circuit breaker: 0 closed, 1 open, 2 half-open.
# TYPE resgen_breaker_state gauge
resgen_breaker_state{breaker="ResilientStore",method="Get",wrapper="ResilientStore"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"resgen_calls_total", "resgen_retry_attempts_total", "resgen_successes_after_retry_total",
		"resgen_failed_attempts_total", "resgen_breaker_state"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(c); n != 19 {
		t.Fatalf("%d metrics collected for one method, want 19", n)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
}

func TestCollectorAdd(t *testing.T) {
	var c resgenprom.Collector
	if n := testutil.CollectAndCount(&c); n != 0 {
		t.Fatalf("zero Collector collected %d metrics", n)
	}
	c.Add(manager(t))
	if n := testutil.CollectAndCount(&c, "resgen_calls_total"); n != 2 {
		t.Fatalf("%d resgen_calls_total series, want 2", n)
	}
}
