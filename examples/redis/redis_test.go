package redis_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	resgenredis "github.com/resgen-dev/resgen/examples/redis"
	"github.com/resgen-dev/resgen/internal/testenv"
	"github.com/resgen-dev/resgen/runtime"
)

func newClient(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr:       testenv.RedisAddr,
		MaxRetries: -1, // the client's own retries off: the wrapper must carry the commands
		PoolSize:   4,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// killer kills every other normal client's connection every interval until
// ctx ends, and returns how many kills it made.
func killer(ctx context.Context, t *testing.T, interval time.Duration) func() int64 {
	admin := newClient(t)
	var kills atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				n, err := admin.ClientKillByFilter(ctx, "TYPE", "normal", "SKIPME", "yes").Result()
				if err == nil {
					kills.Add(n)
				}
			}
		}
	}()
	return func() int64 { <-done; return kills.Load() }
}

// run drives n SET/GET pairs per worker through c and returns the errors,
// logging the first few.
func run(ctx context.Context, c redis.Cmdable, workers, n int, logf func(string, ...any)) (ops, failed int64) {
	var wg sync.WaitGroup
	var okOps, bad atomic.Int64
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < n; i++ {
				key := fmt.Sprintf("resgen:test:%d:%d", w, i%50)
				if err := c.Set(ctx, key, i, time.Minute).Err(); err != nil {
					if bad.Add(1) <= 3 {
						logf("SET %s: %v (%T)", key, err, err)
					}
					continue
				}
				if v, err := c.Get(ctx, key).Int(); err != nil || v != i {
					if bad.Add(1) <= 3 {
						logf("GET %s: %v, %v (%T)", key, v, err, err)
					}
					continue
				}
				okOps.Add(1)
				time.Sleep(200 * time.Microsecond) // let the killer interleave
			}
		}(w)
	}
	wg.Wait()
	return okOps.Load() + bad.Load(), bad.Load()
}

// TestCommandsSurviveClientKill is the proof that errors hidden in
// go-redis's results are retried: with the client's own retries off,
// connections killed under it make the bare client fail, and the wrapper
// carry every command through.
func TestCommandsSurviveClientKill(t *testing.T) {
	testenv.NeedService(t, "Redis", testenv.RedisAddr)
	if testing.Short() {
		t.Skip("-short")
	}
	const workers, perWorker = 4, 600
	// killBudget bounds the rounds each half runs until a kill lands on a
	// command in flight: go-redis drops idle connections that died, so a
	// round of a few hundred milliseconds can pass untouched (five rounds
	// once did, 76 kills, none in flight, on a loaded 2-core machine).
	// Usually the first round has one.
	const killBudget = 20 * time.Second

	t.Run("bare client fails", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		kills := killer(ctx, t, 100*time.Millisecond)
		// As below: rounds until a kill lands on a command.
		client := newClient(t)
		var ops, failed int64
		for start := time.Now(); failed == 0 && time.Since(start) < killBudget; {
			o, f := run(ctx, client, workers, perWorker, t.Logf)
			ops, failed = ops+o, failed+f
		}
		cancel()
		proof("bare client: %d of %d operations failed under %d kills", failed, ops, kills())
		if failed == 0 {
			t.Fatal("no operation failed: the kills did not reach the client, so the test proves nothing")
		}
	})

	t.Run("wrapped client succeeds", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		w, err := resgenredis.NewResilientCmdable(newClient(t),
			runtime.WithLogger(nil))
		if err != nil {
			t.Fatal(err)
		}
		kills := killer(ctx, t, 100*time.Millisecond)
		// A kill fails a command only when it lands while the command is on
		// the wire (go-redis drops idle connections that died quietly): on
		// a loaded machine a round can pass without one, so run rounds
		// until a command needed a retry.
		var ops, failed int64
		var retried int64
		for start := time.Now(); retried == 0 && failed == 0 && time.Since(start) < killBudget; {
			o, f := run(ctx, w, workers, perWorker, t.Logf)
			ops, failed = ops+o, failed+f
			retried = 0
			for _, m := range w.Resilience().Metrics() {
				retried += m.SuccessesAfterRetry
			}
		}
		cancel()
		k := kills()
		proof("wrapped client: %d of %d operations failed under %d kills; %d commands succeeded after a retry", failed, ops, k, retried)
		if k == 0 {
			t.Fatal("the killer killed nothing")
		}
		if failed != 0 {
			t.Fatalf("%d operations failed through the wrapper", failed)
		}
		if retried == 0 {
			t.Fatal("no command needed a retry: the kills did not reach the wrapped client")
		}
	})
}

// TestMissingKeyIsNotAFailure checks that redis.Nil, excluded in
// resgen.yaml, neither retries nor opens the breaker.
func TestMissingKeyIsNotAFailure(t *testing.T) {
	testenv.NeedService(t, "Redis", testenv.RedisAddr)
	w, err := resgenredis.NewResilientCmdable(newClient(t), runtime.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		if err := w.Get(ctx, "resgen:test:missing").Err(); !errors.Is(err, redis.Nil) {
			t.Fatalf("Get of a missing key: %v, want redis.Nil", err)
		}
	}
	m, _ := w.Resilience().MethodMetrics("Get")
	if m.RetryAttempts != 0 || m.BreakerState != runtime.StateClosed {
		t.Fatalf("missing keys were retried (%d) or opened the breaker (%v)", m.RetryAttempts, m.BreakerState)
	}
}
