package resgenimpl

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func fixedLimiter(n int, strategy runtime.Strategy) *concLimiter {
	cfg := runtime.ConcurrencyConfig{MaxInFlight: n, Fixed: true, Strategy: strategy}
	return newConcLimiter("W.Get", runtime.Config{Concurrency: cfg}.Normalize().Concurrency, newTestClock())
}

func TestConcurrencyDropNamesItsLimiter(t *testing.T) {
	l := fixedLimiter(2, runtime.StrategyDrop)
	ctx := context.Background()
	for range 2 {
		_, err := l.acquire(ctx)
		require.NoError(t, err)
	}
	_, err := l.acquire(ctx)
	require.Error(t, err)
	assert.ErrorIs(t, err, runtime.ErrConcurrencyLimit)
	var ce *runtime.ConcurrencyError
	require.True(t, errors.As(err, &ce))
	assert.Equal(t, "W.Get", ce.Limiter)
	assert.Equal(t, 2, ce.Limit)
	assert.Contains(t, err.Error(), "W.Get")
	assert.Equal(t, int64(2), l.inFlight())

	l.ended()
	_, err = l.acquire(ctx)
	assert.NoError(t, err, "a slot given back is taken again")
}

func TestConcurrencyWaitServesNewestFirst(t *testing.T) {
	l := fixedLimiter(1, runtime.StrategyWait)
	ctx := context.Background()
	_, err := l.acquire(ctx)
	require.NoError(t, err)

	order := make(chan int, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := l.acquire(ctx)
			assert.NoError(t, err)
			order <- i
			l.ended()
		}()
		// The second waiter is the newest only once the first waits.
		for l.waiters.Load() != int64(i+1) {
			time.Sleep(time.Millisecond)
		}
	}
	l.ended()
	wg.Wait()
	assert.Equal(t, 1, <-order, "the newest waiter goes first")
	assert.Equal(t, 0, <-order)
	assert.Zero(t, l.inFlight())
	assert.Zero(t, l.waiters.Load())
}

func TestConcurrencyWaitEndsWithTheContext(t *testing.T) {
	l := fixedLimiter(1, runtime.StrategyWait)
	_, err := l.acquire(context.Background())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := l.acquire(ctx)
		done <- err
	}()
	for l.waiters.Load() != 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled, "the caller's own error, unchanged")
	assert.Zero(t, l.waiters.Load())
	assert.Equal(t, int64(1), l.inFlight(), "a waiter that gave up holds nothing")
	l.ended()
	assert.Zero(t, l.inFlight())
}

// TestConcurrencyNeverExceedsTheLimit: whatever the interleaving of
// goroutines taking and giving back slots, waiting or not, no more than
// the limit are held at once, and all are back at the end.
func TestConcurrencyNeverExceedsTheLimit(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		limit := rapid.IntRange(1, 8).Draw(t, "limit")
		strategy := rapid.SampledFrom([]runtime.Strategy{runtime.StrategyWait, runtime.StrategyDrop}).Draw(t, "strategy")
		l := fixedLimiter(limit, strategy)
		workers := rapid.IntRange(1, 16).Draw(t, "workers")
		rounds := rapid.IntRange(1, 50).Draw(t, "rounds")
		var held, peak int64
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range rounds {
					if _, err := l.acquire(context.Background()); err != nil {
						continue
					}
					mu.Lock()
					held++
					peak = max(peak, held)
					mu.Unlock()
					mu.Lock()
					held--
					mu.Unlock()
					l.ended()
				}
			}()
		}
		wg.Wait()
		if peak > int64(limit) {
			t.Fatalf("%d slots held at once, limit %d", peak, limit)
		}
		if l.inFlight() != 0 || l.waiters.Load() != 0 {
			t.Fatalf("in flight %d, waiters %d at the end", l.inFlight(), l.waiters.Load())
		}
	})
}

func adaptiveLimiter(minN, maxN int) (*concLimiter, *testClock) {
	cfg := runtime.ConcurrencyConfig{MaxInFlight: maxN, MinInFlight: minN}
	clk := newTestClock()
	return newConcLimiter("W.Get", runtime.Config{Concurrency: cfg}.Normalize().Concurrency, clk), clk
}

// simulateQueue feeds an adaptive limiter windows of samples from a
// service of workers that serve in service each: with n attempts in
// flight, an attempt takes service × max(1, n/workers). The callers always
// have more to send, so the limit is always full. It returns the limit
// after each window.
func simulateQueue(l *concLimiter, clk *testClock, workers int, service time.Duration, windows int) []int {
	var out []int
	for range windows {
		n := l.limit.Load()
		rtt := time.Duration(float64(service) * math.Max(1, float64(n)/float64(workers)))
		for range concMinSamples {
			clk.Advance(concWindow / concMinSamples)
			l.observe(clk.Now().UnixNano(), rtt, n)
		}
		out = append(out, int(l.limit.Load()))
	}
	return out
}

// TestAdaptiveConcurrencyBounds: the adaptive limit stays within
// [min_in_flight, max_in_flight] whatever the latencies.
func TestAdaptiveConcurrencyBounds(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		minN := rapid.IntRange(1, 50).Draw(t, "min")
		maxN := rapid.IntRange(minN, 2000).Draw(t, "max")
		l, clk := adaptiveLimiter(minN, maxN)
		for i := range rapid.IntRange(1, 300).Draw(t, "samples") {
			clk.Advance(time.Duration(rapid.Int64Range(0, int64(time.Second)).Draw(t, "gap")))
			rtt := time.Duration(rapid.Int64Range(1, int64(10*time.Second)).Draw(t, "rtt"))
			l.observe(clk.Now().UnixNano(), rtt, rapid.Int64Range(0, int64(maxN)).Draw(t, "in_flight"))
			if n := l.limit.Load(); n < int64(minN) || n > int64(maxN) {
				t.Fatalf("sample %d: limit %d outside [%d, %d]", i, n, minN, maxN)
			}
		}
	})
}

// TestAdaptiveConcurrencyFollowsLatency: against a service whose queue
// grows with what is in flight, the limit grows while latency stays flat
// and settles within a few times what the service serves at once, so that
// its queue stays short; when the service loses half its workers, the
// limit falls with it.
func TestAdaptiveConcurrencyFollowsLatency(t *testing.T) {
	l, clk := adaptiveLimiter(4, 1000)
	limits := simulateQueue(l, clk, 40, 5*time.Millisecond, 100)
	assert.Greater(t, limits[9], 4, "flat latency lets the limit grow")
	settled := limits[len(limits)-1]
	assert.GreaterOrEqual(t, settled, 40, "the limit lets every worker work")
	assert.LessOrEqual(t, settled, 3*40, "the queue stays within twice the workers")

	limits = simulateQueue(l, clk, 10, 5*time.Millisecond, 30)
	assert.LessOrEqual(t, limits[len(limits)-1], 3*10, "a quarter of the workers: the limit falls with them")
}

func TestConcurrencySampling(t *testing.T) {
	l, clk := adaptiveLimiter(1000, 1000)
	timed := 0
	for range 100_000 {
		ok, tm := l.tryAcquire()
		require.True(t, ok)
		if tm {
			timed++
			clk.Advance(time.Microsecond)
			l.observe(clk.Now().UnixNano(), time.Millisecond, 1)
		}
		l.ended()
	}
	assert.Less(t, timed, 100_000/8, "a busy limiter soon times few attempts")
	assert.Positive(t, l.shift)
}

func TestConcurrencyGroupMustAgree(t *testing.T) {
	spec := &Spec{Wrapper: "W", Methods: []MethodSpec{
		{Name: "A", Config: runtime.Config{Concurrency: runtime.ConcurrencyConfig{Group: "db", MaxInFlight: 5}}},
		{Name: "B", Config: runtime.Config{Concurrency: runtime.ConcurrencyConfig{Group: "db", MaxInFlight: 6}}},
	}}
	_, err := NewManager(struct{}{}, spec)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `concurrency: group "db" has other settings in A`)

	spec.Methods[1].Config.Concurrency.MaxInFlight = 5
	m, err := NewManager(struct{}{}, spec)
	require.NoError(t, err)
	assert.Same(t, m.Method(0).conc, m.Method(1).conc, "one limit for the group")
}

// TestPanicInWrappedCallGivesBackItsSlot: generated code defers End, so
// a wrapped call that panics does not keep its slot of the concurrency
// limit forever.
func TestPanicInWrappedCallGivesBackItsSlot(t *testing.T) {
	spec := &Spec{Wrapper: "W", Methods: []MethodSpec{{Name: "Get", Config: runtime.Config{
		Concurrency: runtime.ConcurrencyConfig{MaxInFlight: 1, Fixed: true, Strategy: runtime.StrategyDrop},
	}}}}
	m, err := NewManager(struct{}{}, spec)
	require.NoError(t, err)
	me := m.Method(0)
	call := func(inner func()) (err error) {
		var c Call
		defer me.End(&c)
		if err := me.Admit(context.Background(), &c); err != nil {
			return err
		}
		inner()
		me.Success(&c)
		return nil
	}
	assert.Panics(t, func() { _ = call(func() { panic("boom") }) })
	assert.NoError(t, call(func() {}), "the slot of the call that panicked is back")
	mm, _ := m.MethodMetrics("Get")
	assert.Zero(t, mm.InFlight)
	assert.Equal(t, int64(1), mm.ConcurrencyLimit)
}

// TestPanickedAttemptIsNotALatencySample: a timed attempt of an adaptive
// limit that panics gives back its slot without a latency sample (a panic
// is no answer of the service, and End runs no observer).
func TestPanickedAttemptIsNotALatencySample(t *testing.T) {
	spec := &Spec{Wrapper: "W", Methods: []MethodSpec{{Name: "Get", Config: runtime.Config{
		Concurrency: runtime.ConcurrencyConfig{MaxInFlight: 10, MinInFlight: 10},
	}}}}
	m, err := NewManager(struct{}{}, spec, runtime.WithLogger(nil))
	require.NoError(t, err)
	t.Cleanup(m.Close)
	me := m.Method(0)
	var c Call
	require.NoError(t, me.Admit(context.Background(), &c))
	require.Equal(t, uint8(2), c.slot, "the first slot of a new adaptive limit is timed")
	me.End(&c) // as a deferred End runs when the wrapped call panicked
	me.conc.amu.Lock()
	samples := me.conc.winN
	me.conc.amu.Unlock()
	assert.Zero(t, samples, "the panicked attempt was timed as an answer")
	assert.Zero(t, me.conc.inFlight())
}
