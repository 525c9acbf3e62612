package redisstore_test

import (
	"flag"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/redisstore"
)

// TestLeaseBound: over random fleets, limits, lease horizons and paces, the
// admissions of N Stores sharing a bucket in any window of length T stay
// within burst + T/interval + N·lease, plus one token in flight per caller
// (a token leased before the window and recorded in it).
func TestLeaseBound(t *testing.T) {
	newClient(t, true) // skips or fails without Redis
	if f := flag.Lookup("rapid.checks"); f != nil && f.Value.String() == "100" {
		f.Value.Set("12") // each check runs for real time against Redis
		defer f.Value.Set("100")
	}
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(2, 4).Draw(rt, "processes")
		rpm := rapid.IntRange(600, 60_000).Draw(rt, "rpm")
		burst := rapid.IntRange(1, 50).Draw(rt, "burst")
		horizon := rapid.SampledFrom([]time.Duration{0, 20 * time.Millisecond, 200 * time.Millisecond}).Draw(rt, "horizon")
		paces := make([]time.Duration, n)
		for i := range paces {
			paces[i] = time.Duration(rapid.IntRange(0, 3000).Draw(rt, fmt.Sprint("pace", i))) * time.Microsecond
		}
		prefix := testPrefix(t)
		cfg := runtime.RateLimitConfig{MaxRequestsPerMinute: rpm, BurstSize: burst}
		var mu sync.Mutex
		var times []int64
		var wg sync.WaitGroup
		var stores []*redisstore.Store
		for i := range n {
			s := redisstore.New(newClient(t, true), redisstore.WithPrefix(prefix), redisstore.WithTimeout(time.Second),
				redisstore.WithLeaseHorizon(horizon))
			stores = append(stores, s)
			b, err := s.Bucket("k", cfg)
			if err != nil {
				rt.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				end := time.Now().Add(300 * time.Millisecond)
				for time.Now().Before(end) {
					if _, ok := b.Reserve(time.Now(), 0); ok {
						now := time.Now().UnixNano()
						mu.Lock()
						times = append(times, now)
						mu.Unlock()
					}
					if paces[i] > 0 {
						time.Sleep(paces[i])
					}
				}
			}()
		}
		wg.Wait()
		for i, s := range stores {
			if s.Down() {
				rt.Fatalf("store %d fell back to local state", i)
			}
			s.Close()
		}
		slices.Sort(times)
		interval := (int64(time.Minute/time.Microsecond)-1)/int64(rpm) + 1 // µs, as the bucket rounds it
		lease := min(float64(burst), math.Ceil(float64(rpm)/60*horizon.Seconds()))
		for _, w := range []time.Duration{20 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond} {
			bound := burst + int(int64(w/time.Microsecond)/interval) + n*int(lease) + n
			if got := maxInWindow(times, w, 0, math.MaxInt64); got > bound {
				rt.Fatalf("window %v: %d admissions by %d processes, above the bound %d (burst %d, interval %dµs, lease %v)",
					w, got, n, bound, burst, interval, lease)
			}
		}
	})
}
