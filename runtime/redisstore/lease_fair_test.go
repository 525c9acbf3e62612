package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resgen-dev/resgen/internal/testenv"
	"github.com/resgen-dev/resgen/runtime"
)

// TestLeasesFollowDemand: processes with different demands (calls a
// second) share a bucket; on a fake clock that runs the background rounds,
// each one's lease is sized from its own demand, demand·horizon, whether
// the shared bucket has tokens or not, and the bucket's tokens are split
// in proportion to the demands, each process within its lease of its
// share.
func TestLeasesFollowDemand(t *testing.T) {
	testenv.NeedService(t, "Redis", testenv.RedisAddr)
	for _, demand := range [][]int{{3, 1}, {2, 2}, {5, 2}, {8, 1}, {4, 2, 1}} {
		t.Run(fmt.Sprint(demand), func(t *testing.T) { leasesFollowDemand(t, demand) })
	}
}

func leasesFollowDemand(t *testing.T, demand []int) {
	var r [6]byte
	rand.Read(r[:])
	prefix := "resgentest:" + t.Name() + ":" + hex.EncodeToString(r[:]) + ":"
	// 10 tokens a second of real time: the test's real 100ms or so adds
	// a token or two; its fake 40s would add 400.
	cfg := runtime.RateLimitConfig{MaxRequestsPerMinute: 600, BurstSize: 100}
	const horizon = 2 * time.Second
	sum := 0
	for _, d := range demand {
		sum += d
	}
	fake := time.Now()
	now := func() time.Time { return fake }
	var stores []*Store
	var buckets []*bucket
	for range demand {
		c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr, ContextTimeoutEnabled: true})
		defer c.Close()
		s := New(c, WithPrefix(prefix), WithTimeout(time.Second), WithLeaseHorizon(horizon),
			WithLogger(slog.New(slog.DiscardHandler)), withClock(now))
		defer s.Close()
		bs, err := s.Bucket("k", cfg)
		if err != nil {
			t.Fatal(err)
		}
		stores, buckets = append(stores, s), append(buckets, bs.(*bucket))
	}
	defer func() {
		c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr})
		defer c.Close()
		c.Del(context.Background(), prefix+"{bucket:k}", prefix+"{bucket:k}:members")
	}()
	admitted := make([]int, len(demand))
	beats := make([]time.Time, len(demand))
	realStart := time.Now()
	short := -1 // the first round a process was refused
	for round := range 40 {
		for i, b := range buckets {
			for range demand[i] {
				if _, ok := b.Reserve(fake, 0); ok {
					admitted[i]++
				} else if short < 0 {
					short = round
				}
			}
		}
		fake = fake.Add(time.Second)
		for i, s := range stores {
			s.round(&beats[i])
		}
		if round < 3 {
			continue // the rate estimate halves its error each round
		}
		for i, b := range buckets {
			want := int64(demand[i]) * int64(horizon/time.Second)
			if got := b.want.Load(); got != want {
				t.Fatalf("round %d: process %d (demand %d/s) leases %d, want ceil(demand·horizon) = %d", round, i, demand[i], got, want)
			}
		}
	}
	for i, s := range stores {
		if s.Down() {
			t.Fatalf("store %d fell back to local state", i)
		}
	}
	if short < 0 {
		t.Fatal("the shared bucket never ran short")
	}
	refill := int(time.Since(realStart)/(100*time.Millisecond)) + 1
	total := 0
	for _, a := range admitted {
		total += a
	}
	t.Logf("admitted %v (demands %v), short from round %d, %d tokens refilled at most", admitted, demand, short, refill)
	if total > cfg.BurstSize+refill {
		t.Fatalf("%d admitted in all, above the burst %d and the refill %d", total, cfg.BurstSize, refill)
	}
	// Each process's admissions are within its lease of its share of the
	// tokens handed out, demand_i / Σ demand.
	for i, a := range admitted {
		share := float64(total) * float64(demand[i]) / float64(sum)
		lease := float64(demand[i]) * horizon.Seconds()
		if d := float64(a) - share; d > lease || -d > lease {
			t.Errorf("process %d (demand %d/s) admitted %d of %d, its share is %.1f ± its lease %v", i, demand[i], a, total, share, lease)
		}
	}
}

// TestDemandBeforeFirstRoundCounts is the bug where the admissions made
// before the background goroutine's first round were taken for the
// starting point of the rate, not for demand: a process whose calls all
// came before that round (a slow start under load) kept a lease of one
// token.
func TestDemandBeforeFirstRoundCounts(t *testing.T) {
	testenv.NeedService(t, "Redis", testenv.RedisAddr)
	var r [6]byte
	rand.Read(r[:])
	prefix := "resgentest:" + t.Name() + ":" + hex.EncodeToString(r[:]) + ":"
	fake := time.Now()
	c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr, ContextTimeoutEnabled: true})
	defer c.Close()
	defer c.Del(context.Background(), prefix+"{bucket:k}", prefix+"{bucket:k}:members")
	s := New(c, WithPrefix(prefix), WithTimeout(time.Second), WithLeaseHorizon(time.Hour),
		WithLogger(slog.New(slog.DiscardHandler)), withClock(func() time.Time { return fake }))
	defer s.Close()
	bs, err := s.Bucket("k", runtime.RateLimitConfig{MaxRequestsPerMinute: 600, BurstSize: 20})
	if err != nil {
		t.Fatal(err)
	}
	b := bs.(*bucket)
	for range 3 {
		if _, ok := b.Reserve(fake, 0); !ok {
			t.Fatal("a token refused from a full bucket")
		}
	}
	fake = fake.Add(time.Second)
	var beat time.Time
	s.round(&beat)
	if w := b.want.Load(); w < 2 {
		t.Fatalf("lease sized %d after 3 admissions in the first second, want it to follow them", w)
	}
}
