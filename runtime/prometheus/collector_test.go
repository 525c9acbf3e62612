package prometheus_test

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/resgen-dev/resgen/runtime"
	resgenprom "github.com/resgen-dev/resgen/runtime/prometheus"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
)

type unavailable struct{}

func (unavailable) Error() string   { return "503" }
func (unavailable) StatusCode() int { return 503 }

// manager builds a Manager of one method and drives it as generated code
// does: one call that fails once then succeeds, and one that fails with a
// permanent error.
func manager(t *testing.T, opts ...runtime.Option) *runtime.Manager {
	t.Helper()
	spec := &resgenimpl.Spec{Wrapper: "ResilientStore", Interface: "shop.Store", Methods: []resgenimpl.MethodSpec{{
		Name: "Get",
		Config: runtime.Config{
			Retry:     runtime.RetryConfig{InitialDelay: 1, MaxDelay: 1, Jitter: runtime.JitterNone},
			RateLimit: runtime.RateLimitConfig{Disabled: true},
		},
	}}}
	m, err := resgenimpl.NewManager(nil, spec, append([]runtime.Option{runtime.WithLogger(nil)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	me := m.Method(0)
	ctx := context.Background()
	call := func(errs ...error) {
		var c resgenimpl.Call
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
	return m.Resilience()
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
