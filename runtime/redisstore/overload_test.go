package redisstore_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/redisstore"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
	"github.com/resgen-dev/resgen/runtime/store"
)

// counter is a source of overload counts whose value a test sets.
type counter struct {
	v atomic.Pointer[store.OverloadCounts]
}

func (c *counter) set(v store.OverloadCounts) { c.v.Store(&v) }

func (c *counter) local() store.OverloadCounts {
	if v := c.v.Load(); v != nil {
		return *v
	}
	return store.OverloadCounts{}
}

// waitOthers waits until others returns want, and returns how long that
// took.
func waitOthers(t *testing.T, what string, others func() (store.OverloadCounts, bool), want store.OverloadCounts, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got, ok := others()
		if ok && got == want {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: others = %+v, %v after %v; want %+v", what, got, ok, within, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestOverloadCountsShared: three processes share a dependency's overload
// counts; each reads the sum of the two others' within a round or two
// while the fleet sees failures (rounds of 100ms), and a process that
// stops reporting drops out of the others' counts once its field expires
// (3s), one that closes its Store at once.
func TestOverloadCountsShared(t *testing.T) {
	p := testPrefix(t)
	log := slog.New(slog.DiscardHandler)
	var stores []*redisstore.Store
	var counters []*counter
	var others []func() (store.OverloadCounts, bool)
	var stops []func()
	for i := range 3 {
		s := newStore(t, newClient(t, i%2 == 0), redisstore.WithPrefix(p), redisstore.WithLogger(log))
		c := &counter{}
		// A brownout: fewer accepts than requests, and retries.
		c.set(store.OverloadCounts{Guards: 1, Requests: float64(100 * (i + 1)), Accepts: float64(30 * (i + 1)), Calls: float64(50 * (i + 1)), Retries: float64(i + 1)})
		o, stop := s.ShareOverload("dep", c.local)
		stores, counters, others, stops = append(stores, s), append(counters, c), append(others, o), append(stops, stop)
	}
	sum := func(except ...int) store.OverloadCounts {
		var c store.OverloadCounts
	next:
		for i, k := range counters {
			for _, e := range except {
				if e == i {
					continue next
				}
			}
			c = c.Add(k.local())
		}
		return c
	}
	for i := range stores {
		waitOthers(t, "first read", others[i], sum(i), 3*time.Second)
	}
	checkUp(t, stores...)

	// A change of one process's counts reaches the others within a round
	// or two of the hot schedule.
	counters[0].set(store.OverloadCounts{Guards: 1, Requests: 1000, Accepts: 200, Calls: 400, Retries: 40})
	for _, i := range []int{1, 2} {
		d := waitOthers(t, "change", others[i], sum(i), time.Second)
		t.Logf("process %d saw the change after %v", i, d)
		if d > 400*time.Millisecond {
			t.Errorf("process %d saw the change after %v, want within two rounds (200ms) and a round trip", i, d)
		}
	}

	// While hot, a Store reports and reads every round: one round trip a
	// round for all its dependencies.
	before := stores[0].RoundTrips()
	time.Sleep(time.Second)
	rt := stores[0].RoundTrips() - before
	t.Logf("%d round trips in a second while the fleet's counts are hot", rt)
	if rt > 15 || rt < 5 {
		t.Errorf("%d round trips in a second while hot, want about one a round (10), not the heartbeat's one", rt)
	}

	// Process 2 stops reporting without closing: it drops out once its
	// field is 3s old.
	stops[2]()
	d := waitOthers(t, "expiry", others[0], sum(0, 2), 5*time.Second)
	t.Logf("a process that stopped reporting dropped out after %v", d)
	if d < 2*time.Second {
		t.Errorf("dropped out after %v, before its field expired", d)
	}

	// Process 1 closes its Store: it drops out at once (the next read).
	stores[1].Close()
	d = waitOthers(t, "close", others[0], sum(0, 1, 2), time.Second)
	t.Logf("a process that closed its Store dropped out after %v", d)

	// Healthy again (a few failures, under a quarter): the counts go with
	// the heartbeat alone, once a second.
	counters[0].set(store.OverloadCounts{Guards: 1, Requests: 1000, Accepts: 900, Calls: 900, Retries: 100})
	time.Sleep(300 * time.Millisecond)
	before = stores[0].RoundTrips()
	time.Sleep(2 * time.Second)
	rt = stores[0].RoundTrips() - before
	t.Logf("%d round trips in 2s once healthy", rt)
	if rt > 3 {
		t.Errorf("%d round trips in 2s once healthy, want the heartbeat's (2)", rt)
	}
}

// TestOverloadCountsSameProcess: two wrappers of one process that share a
// dependency through one Store each count the other among the others.
func TestOverloadCountsSameProcess(t *testing.T) {
	a, b := twoStores(t)
	ca, cb, cc := &counter{}, &counter{}, &counter{}
	ca.set(store.OverloadCounts{Guards: 1, Requests: 10, Accepts: 5})
	cb.set(store.OverloadCounts{Guards: 1, Requests: 20, Accepts: 5})
	cc.set(store.OverloadCounts{Guards: 1, Requests: 40, Accepts: 5})
	oa, _ := a.ShareOverload("dep", ca.local)
	ob, _ := a.ShareOverload("dep", cb.local)
	oc, _ := b.ShareOverload("dep", cc.local)
	waitOthers(t, "a", oa, cb.local().Add(cc.local()), 3*time.Second)
	waitOthers(t, "b", ob, ca.local().Add(cc.local()), 3*time.Second)
	waitOthers(t, "c", oc, ca.local().Add(cb.local()), 3*time.Second)
}

// TestOverloadCountsLost: while Redis is lost, others reports no counts,
// so that the wrappers count their own.
func TestOverloadCountsLost(t *testing.T) {
	s, _ := fallbackStore(t, closedAddr(t))
	c := &counter{}
	c.set(store.OverloadCounts{Guards: 1, Requests: 10})
	others, _ := s.ShareOverload("dep", c.local)
	time.Sleep(300 * time.Millisecond)
	if got, ok := others(); ok {
		t.Fatalf("others = %+v, true without Redis", got)
	}
}

// status503 is an overload answer.
type status503 struct{}

func (status503) Error() string   { return "503 Service Unavailable" }
func (status503) StatusCode() int { return 503 }

// TestQuietProcessThrottlesInFleetBrownout: a process that sends too few
// requests to throttle by itself (none here) throttles as soon as the
// process it shares the dependency with sees a brownout, from the counts
// shared through Redis; a process with its own Store alone does not.
func TestQuietProcessThrottlesInFleetBrownout(t *testing.T) {
	a, b := twoStores(t)
	spec := &resgenimpl.Spec{Wrapper: "W", Interface: "x.I", Methods: []resgenimpl.MethodSpec{{Name: "Get", Config: runtime.Config{
		Retry:          runtime.RetryConfig{Disabled: true},
		CircuitBreaker: runtime.CircuitBreakerConfig{Disabled: true},
		RateLimit:      runtime.RateLimitConfig{Disabled: true},
	}}}}
	alone := newStore(t, newClient(t, true), redisstore.WithPrefix(testPrefix(t)), redisstore.WithLogger(slog.New(slog.DiscardHandler)))
	var ms []*resgenimpl.Manager
	for _, s := range []*redisstore.Store{a, b, alone} {
		m, err := resgenimpl.NewManager(struct{}{}, spec, runtime.WithLogger(nil), runtime.WithStore(s))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		ms = append(ms, m)
	}
	busy, quiet, lone := ms[0], ms[1], ms[2]
	time.Sleep(150 * time.Millisecond) // past the first heartbeats
	// A brownout seen by the busy process: 4 of 5 attempts fail.
	start := time.Now()
	ctx := context.Background()
	for i := range 200 {
		call(ctx, busy.Method(0), func() error {
			if i%5 == 0 {
				return nil
			}
			return status503{}
		})
	}
	throttle := func(m *resgenimpl.Manager) float64 {
		mm, _ := m.Resilience().MethodMetrics("Get")
		return mm.Throttle
	}
	// Within a few 100ms rounds of the hot schedule: the once-a-second
	// heartbeat alone would take up to a second.
	for throttle(quiet) == 0 {
		if time.Since(start) > 600*time.Millisecond {
			t.Fatalf("the quiet process does not throttle 600ms into the fleet's brownout (busy: %.2f)", throttle(busy))
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("the quiet process throttles %.0f%% of calls %v after the brownout began (busy: %.0f%%)",
		100*throttle(quiet), time.Since(start), 100*throttle(busy))
	var throttled int
	for range 100 {
		if err := call(ctx, quiet.Method(0), func() error { return nil }); errors.Is(err, runtime.ErrThrottled) {
			throttled++
		}
	}
	if throttled == 0 {
		t.Error("the quiet process throttled none of 100 calls")
	}
	if p := throttle(lone); p != 0 {
		t.Errorf("a process of another fleet throttles %v", p)
	}
}
