package redisstore_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/redisstore"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
)

// These tests drive Methods of two Managers, two processes with their own
// Redis clients, as generated code does.

// internalError is a 500: an outage answer, which counts at once (a run
// of 503s counts only after 100ms, see runtime's package doc).
type internalError struct{}

func (internalError) Error() string   { return "500 Internal Server Error" }
func (internalError) StatusCode() int { return 500 }

// call makes one call of me whose attempts run fn, as generated code does.
func call(ctx context.Context, me *resgenimpl.Method, fn func() error) error {
	var c resgenimpl.Call
	for {
		if err := me.Admit(ctx, &c); err != nil {
			return err
		}
		err := fn()
		if err == nil {
			me.Success(&c)
			return nil
		}
		if err = me.Failure(ctx, &c, err); err != nil {
			return err
		}
		if err = me.Backoff(ctx, &c); err != nil {
			return err
		}
	}
}

func twoManagers(t *testing.T, twoStores func(*testing.T) (*redisstore.Store, *redisstore.Store), cfg runtime.Config) (*resgenimpl.Method, *resgenimpl.Method) {
	t.Helper()
	a, b := twoStores(t)
	spec := &resgenimpl.Spec{Wrapper: "W", Interface: "x.I", Methods: []resgenimpl.MethodSpec{{Name: "Get", Config: cfg}}}
	var ms []*resgenimpl.Method
	for _, s := range []*redisstore.Store{a, b} {
		m, err := resgenimpl.NewManager(struct{}{}, spec, runtime.WithLogger(nil), runtime.WithStore(s))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		ms = append(ms, m.Method(0))
	}
	return ms[0], ms[1]
}

func TestManagersShareRateLimit(t *testing.T) { testManagersShareRateLimit(t, twoStores) }

func testManagersShareRateLimit(t *testing.T, twoStores func(*testing.T) (*redisstore.Store, *redisstore.Store)) {
	ma, mb := twoManagers(t, twoStores, runtime.Config{
		Retry:          runtime.RetryConfig{Disabled: true},
		CircuitBreaker: runtime.CircuitBreakerConfig{Disabled: true},
		RateLimit:      runtime.RateLimitConfig{MaxRequestsPerMinute: 60, BurstSize: 3, Strategy: runtime.StrategyDrop, Global: true},
	})
	ctx := context.Background()
	calls := 0
	ok := func() error { calls++; return nil }
	for i, me := range []*resgenimpl.Method{ma, mb, ma} {
		if err := call(ctx, me, ok); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	for i, me := range []*resgenimpl.Method{mb, ma} {
		if err := call(ctx, me, ok); !errors.Is(err, runtime.ErrRateLimited) {
			t.Fatalf("call %d beyond the shared burst: %v, want ErrRateLimited", i+4, err)
		}
	}
	if calls != 3 {
		t.Fatalf("%d calls reached the service, want 3", calls)
	}
}

func TestManagersShareBreaker(t *testing.T) { testManagersShareBreaker(t, twoStores) }

func testManagersShareBreaker(t *testing.T, twoStores func(*testing.T) (*redisstore.Store, *redisstore.Store)) {
	ma, mb := twoManagers(t, twoStores, runtime.Config{
		Retry:          runtime.RetryConfig{Disabled: true},
		CircuitBreaker: runtime.CircuitBreakerConfig{FailureThreshold: 2, RecoveryTimeout: 300 * time.Millisecond, SuccessThreshold: 1},
		RateLimit:      runtime.RateLimitConfig{Disabled: true},
		// Closing ramps the traffic back in; this test counts the calls.
		Throttle: runtime.ThrottleConfig{Disabled: true},
	})
	ctx := context.Background()
	calls := 0
	fail := func() error { calls++; return internalError{} }
	ok := func() error { calls++; return nil }
	for i := 0; i < 2; i++ {
		if err := call(ctx, ma, fail); !errors.As(err, new(internalError)) {
			t.Fatalf("failing call %d: %v", i, err)
		}
	}
	time.Sleep(200 * time.Millisecond) // a breaker opened by one process is open in all within 200ms
	if err := call(ctx, mb, ok); !errors.Is(err, runtime.ErrCircuitOpen) {
		t.Fatalf("other process's call while open: %v, want ErrCircuitOpen", err)
	}
	if calls != 2 {
		t.Fatalf("%d calls reached the service, want 2", calls)
	}
	time.Sleep(320 * time.Millisecond)
	if err := call(ctx, mb, ok); err != nil { // the probe closes it
		t.Fatalf("probe: %v", err)
	}
	for _, me := range []*resgenimpl.Method{ma, mb} {
		if err := call(ctx, me, ok); err != nil {
			t.Fatalf("call after closing: %v", err)
		}
	}
}

// TestClosedSuccessSkipsRedis: while the breaker is closed with no failure
// streak, a success costs no Redis round trip.
func TestClosedSuccessSkipsRedis(t *testing.T) {
	p := testPrefix(t)
	c := newClient(t, true)
	var n countHook
	c.AddHook(&n)
	s := newStore(t, c, redisstore.WithPrefix(p))
	br, _ := s.Breaker("W", breakerCfg)
	pm, err := br.Allow(sys)
	if err != nil {
		t.Fatal(err)
	}
	before := n.n.Load()
	br.Success(pm, sys)
	if n.n.Load() != before {
		t.Fatalf("closed success with no streak made %d Redis calls", n.n.Load()-before)
	}
	br.Failure(pm, callWeight, sys)
	settle(s)
	pm, _ = br.Allow(sys)
	before = n.n.Load()
	br.Success(pm, sys) // resets the streak: must reach Redis
	settle(s)
	if n.n.Load() == before {
		t.Fatal("success after a failure did not reach Redis")
	}
	other := newStore(t, newClient(t, false), redisstore.WithPrefix(p))
	ob, _ := other.Breaker("W", breakerCfg)
	pm, _ = ob.Allow(sys)
	ob.Failure(pm, callWeight, sys)
	settle(s, other)
	if s := br.State(); s != runtime.StateClosed {
		t.Fatalf("state %v: the streak was not reset by the success", s)
	}
}

type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
