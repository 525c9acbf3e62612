package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/redisstore"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
)

// fastCfg is a method with a breaker and a rate limit that a benchmark
// never reaches.
var fastCfg = runtime.Config{
	RateLimit: runtime.RateLimitConfig{MaxRequestsPerMinute: 60_000_000, BurstSize: 1_000_000_000, Strategy: runtime.StrategyDrop, Global: true},
}

func method(tb testing.TB, store runtime.Store, cfg runtime.Config) *resgenimpl.Method {
	tb.Helper()
	spec := &resgenimpl.Spec{Wrapper: "W", Interface: "x.I", Methods: []resgenimpl.MethodSpec{{Name: "Get", Config: cfg}}}
	m, err := resgenimpl.NewManager(struct{}{}, spec, runtime.WithLogger(nil), runtime.WithStore(store))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(m.Close)
	return m.Method(0)
}

// BenchmarkSuccessPath compares a successful call's resilience work with
// state in the process (resgenimpl.NewLocalStore) and in Redis: the Redis
// Store's success path is local too.
func BenchmarkSuccessPath(b *testing.B) {
	ctx := context.Background()
	run := func(b *testing.B, me *resgenimpl.Method) {
		b.ReportAllocs()
		for b.Loop() {
			var c resgenimpl.Call
			if err := me.Admit(ctx, &c); err != nil {
				b.Fatal(err)
			}
			me.Success(&c)
		}
	}
	b.Run("store=local", func(b *testing.B) {
		run(b, method(b, resgenimpl.NewLocalStore(nil), fastCfg))
	})
	b.Run("store=redis", func(b *testing.B) {
		// A generous timeout: a saturated machine must not make this a
		// benchmark of the fallback.
		s := newStore(b, newClient(b, true), redisstore.WithPrefix(testPrefix(b)), redisstore.WithTimeout(time.Second))
		me := method(b, s, fastCfg)
		// Warm up: the lease grows with the rate.
		for range 100_000 {
			var c resgenimpl.Call
			me.Admit(ctx, &c)
			me.Success(&c)
		}
		before := s.RoundTrips()
		run(b, me)
		b.ReportMetric(float64(s.RoundTrips()-before)/float64(b.N), "roundtrips/op")
		if s.Down() {
			b.Fatal("the Store fell back to local state")
		}
	})
}

// TestRoundTripsPerCall: at 1,000 successful calls a second, the Redis
// Store makes at most one round trip per 50 calls.
func TestRoundTripsPerCall(t *testing.T) {
	if testing.Short() {
		t.Skip("paced: 2 seconds")
	}
	// A generous timeout: Redis is shared with other tests, and a slow
	// answer would make this a test of the fallback.
	s := newStore(t, newClient(t, true), redisstore.WithPrefix(testPrefix(t)), redisstore.WithTimeout(time.Second))
	me := method(t, s, runtime.Config{
		RateLimit: runtime.RateLimitConfig{MaxRequestsPerMinute: 600_000, BurstSize: 1000, Strategy: runtime.StrategyDrop, Global: true},
	})
	ctx := context.Background()
	// A second to find the rate, then two measured; calls catch up with
	// the schedule, so that the rate holds on a busy machine.
	call := func() {
		var c resgenimpl.Call
		if err := me.Admit(ctx, &c); err != nil {
			t.Fatal(err)
		}
		me.Success(&c)
	}
	start := time.Now()
	n := 0
	pace := func(until time.Duration) {
		for time.Since(start) < until {
			for ; n < int(time.Since(start)/time.Millisecond); n++ {
				call()
			}
			time.Sleep(time.Millisecond)
		}
	}
	pace(time.Second)
	before, first := s.RoundTrips(), n
	pace(3 * time.Second)
	calls := n - first
	trips := s.RoundTrips() - before
	per := float64(calls) / float64(max(trips, 1))
	t.Logf("%d calls, %d Redis round trips: one per %.0f calls", calls, trips, per)
	if per < 50 {
		t.Fatalf("one Redis round trip per %.1f successful calls, want at most one per 50", per)
	}
	if s.Down() {
		t.Fatal("the Store fell back to local state")
	}
}
