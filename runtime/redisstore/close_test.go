package redisstore_test

import (
	"context"
	"log/slog"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/redisstore"
)

// fleetOf makes the Stores of one test: processes sharing a prefix, and a
// client of the same Redis for the test's own reads.
type fleetOf struct {
	prefix string
	admin  redis.UniversalClient
	client func(t *testing.T) redis.UniversalClient
}

func (f fleetOf) store(t *testing.T, opts ...redisstore.Option) *redisstore.Store {
	opts = append([]redisstore.Option{redisstore.WithPrefix(f.prefix), redisstore.WithTimeout(time.Second),
		redisstore.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	return newStore(t, f.client(t), opts...)
}

// tokensLeft returns how many tokens the shared bucket key holds now.
func (f fleetOf) tokensLeft(t *testing.T, name string, cfg runtime.RateLimitConfig) int64 {
	t.Helper()
	ctx := context.Background()
	key := f.prefix + "{bucket:" + name + "}"
	tat, err := f.admin.HGet(ctx, key, "tat").Result()
	if err == redis.Nil {
		return int64(cfg.BurstSize)
	}
	if err != nil {
		t.Fatal(err)
	}
	// TIME of the node that holds the key: the same machine's clock.
	now := time.Now().UnixMicro()
	v, _ := strconv.ParseInt(tat, 10, 64)
	interval := (int64(time.Minute/time.Microsecond)-1)/int64(cfg.MaxRequestsPerMinute) + 1
	used := int64(math.Ceil(float64(v-now) / float64(interval)))
	return int64(cfg.BurstSize) - max(used, 0)
}

func singleFleet(t *testing.T) fleetOf {
	c := newClient(t, true)
	return fleetOf{prefix: testPrefix(t), admin: c, client: func(t *testing.T) redis.UniversalClient { return newClient(t, true) }}
}

func TestLeasesReturnedAtClose(t *testing.T) { testLeasesReturnedAtClose(t, singleFleet(t)) }

// testLeasesReturnedAtClose: a Store that closes gives its unused leased
// tokens back to the shared bucket, where another process is admitted
// with them at once; without that, a rolling restart of a fleet lost each
// process's lease until the bucket refilled (here, 19 tokens for 190s).
func testLeasesReturnedAtClose(t *testing.T, f fleetOf) {
	// One token every 10s: the bucket barely refills during the test. A
	// horizon of an hour makes the lease the whole burst.
	cfg := runtime.RateLimitConfig{MaxRequestsPerMinute: 6, BurstSize: 20}
	a := f.store(t, redisstore.WithLeaseHorizon(time.Hour))
	ba, err := a.Bucket("k", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ba.Reserve(time.Now(), 0); !ok {
		t.Fatal("first token refused")
	}
	// The background goroutine leases the rest, sized from the rate.
	for deadline := time.Now().Add(3 * time.Second); f.tokensLeft(t, "k", cfg) > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d tokens still in the shared bucket after 3s: the lease did not grow", f.tokensLeft(t, "k", cfg))
		}
		time.Sleep(10 * time.Millisecond)
	}
	checkUp(t, a)
	a.Close()
	if n := f.tokensLeft(t, "k", cfg); n < 18 || n > 20 {
		t.Fatalf("%d tokens in the shared bucket after Close, want the 19 leased and unused back", n)
	}
	b := f.store(t)
	bb, _ := b.Bucket("k", cfg)
	admitted := 0
	for range 40 {
		if _, ok := bb.Reserve(time.Now(), 0); ok {
			admitted++
		}
	}
	checkUp(t, b)
	if admitted < 18 || admitted > 20 {
		t.Fatalf("another process admitted %d right after Close, want the 19 tokens given back (and never more than the burst, 20)", admitted)
	}
}

func TestLeaseNotReturnedAfterRefill(t *testing.T) {
	testLeaseNotReturnedAfterRefill(t, singleFleet(t))
}

// testLeaseNotReturnedAfterRefill: tokens leased before the bucket filled
// up again no longer weigh on it; giving them back at Close would admit
// them twice.
func testLeaseNotReturnedAfterRefill(t *testing.T, f fleetOf) {
	cfg := runtime.RateLimitConfig{MaxRequestsPerMinute: 600, BurstSize: 5} // one token per 100ms
	a := f.store(t, redisstore.WithLeaseHorizon(time.Hour))
	ba, _ := a.Bucket("k", cfg)
	if _, ok := ba.Reserve(time.Now(), 0); !ok {
		t.Fatal("first token refused")
	}
	// a leases 4 more (the burst), while one refills.
	for deadline := time.Now().Add(3 * time.Second); f.tokensLeft(t, "k", cfg) > 1; {
		if time.Now().After(deadline) {
			t.Fatal("the lease did not grow")
		}
		time.Sleep(time.Millisecond)
	}
	leased := time.Now()
	time.Sleep(600 * time.Millisecond) // full again: a's lease is absorbed (it expires after 1s)
	b := f.store(t)
	bb, _ := b.Bucket("k", cfg)
	admitted := 0
	for range 10 {
		if _, ok := bb.Reserve(time.Now(), 0); ok {
			admitted++
		}
	}
	if time.Since(leased) > 900*time.Millisecond {
		// a's lease would have expired before Close gave it back: the
		// guard this test is about would not be exercised.
		t.Fatalf("%v between the lease and Close, want under 900ms", time.Since(leased))
	}
	a.Close()
	for range 10 {
		if _, ok := bb.Reserve(time.Now(), 0); ok {
			admitted++
		}
	}
	c := f.store(t)
	bc, _ := c.Bucket("k", cfg)
	for range 10 {
		if _, ok := bc.Reserve(time.Now(), 0); ok {
			admitted++
		}
	}
	checkUp(t, b, c)
	// The burst, and a token or two refilled meanwhile.
	if admitted > 7 {
		t.Fatalf("%d admitted after the bucket refilled and the lease holder closed, want at most the burst (5) and the refill: the absorbed lease was given back", admitted)
	}
}
