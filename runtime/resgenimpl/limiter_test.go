package resgenimpl_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/fakeclock"
)

// The rate limit's strategies, driven through the hand-written wrapper
// with a fake clock: time moves only when a test advances it, and a test
// knows that a call waits for its token when the clock has a timer for it.

// rlOrders records the ids it is called with, in order, and fails with err
// when err is set.
type rlOrders struct {
	mu  sync.Mutex
	ids []string
	err error
}

func (o *rlOrders) Get(_ context.Context, id string) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ids = append(o.ids, id)
	if o.err != nil {
		return "", o.err
	}
	return "order " + id, nil
}

func (o *rlOrders) calls() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.ids...)
}

// rlHostOrders is a connector that knows its host.
type rlHostOrders struct {
	rlOrders
	host string
}

func (o *rlHostOrders) Host() string { return o.host }

type rlStatusErr struct {
	code  int
	after time.Duration
}

func (e rlStatusErr) Error() string             { return "status " + strconv.Itoa(e.code) }
func (e rlStatusErr) StatusCode() int           { return e.code }
func (e rlStatusErr) RetryAfter() time.Duration { return e.after }

var rlHostSeq atomic.Int64

// rlHost returns a host name that no other test, nor another run with
// -count, shares: per-host buckets live as long as the process.
func rlHost(t *testing.T) string {
	return "api.example/" + t.Name() + "/" + strconv.FormatInt(rlHostSeq.Add(1), 10) +
		"/" + strconv.FormatInt(time.Now().UnixNano(), 36)
}

// rlConfig is a configuration with only the rate limit rl.
func rlConfig(rl runtime.RateLimitConfig) runtime.Config {
	return runtime.Config{
		Retry:          runtime.RetryConfig{Disabled: true},
		CircuitBreaker: runtime.CircuitBreakerConfig{Disabled: true},
		Timeout:        runtime.TimeoutConfig{Disabled: true},
		RateLimit:      rl,
	}
}

func rlWrapper(t *testing.T, inner Orders, cfg runtime.Config, clock *fakeclock.Clock, opts ...runtime.Option) *ResilientOrders {
	t.Helper()
	opts = append([]runtime.Option{runtime.WithClock(clock), runtime.WithLogger(nil)}, opts...)
	w, err := NewResilientOrders(inner, cfg, opts...)
	require.NoError(t, err)
	return w
}

// rlGo calls w.Get in a goroutine; its error comes on the channel.
func rlGo(w *ResilientOrders, ctx context.Context, id string) <-chan error {
	ch := make(chan error, 1)
	go func() {
		_, err := w.Get(ctx, id)
		ch <- err
	}()
	return ch
}

func rlNotDone(t *testing.T, ch <-chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s returned (%v) before its token", what, err)
	default:
	}
}

func rlMetrics(t *testing.T, w *ResilientOrders) runtime.MethodMetrics {
	t.Helper()
	m, ok := w.Resilience().MethodMetrics("Get")
	require.True(t, ok)
	return m
}

func TestRateLimitWaitBlocksUntilToken(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_000_000, 0))
	inner := &rlOrders{}
	w := rlWrapper(t, inner, rlConfig(runtime.RateLimitConfig{MaxRequestsPerMinute: 60, BurstSize: 2}), clock)
	ctx := context.Background()
	for _, id := range []string{"1", "2"} {
		_, err := w.Get(ctx, id)
		require.NoError(t, err, "the burst")
	}
	assert.Zero(t, clock.Waiters(), "no wait within the burst")

	done := rlGo(w, ctx, "3")
	clock.BlockUntil(1)
	rlNotDone(t, done, "call 3")
	clock.Advance(999 * time.Millisecond)
	rlNotDone(t, done, "call 3")
	assert.Equal(t, []string{"1", "2"}, inner.calls())
	clock.Advance(time.Millisecond)
	require.NoError(t, <-done)
	assert.Equal(t, []string{"1", "2", "3"}, inner.calls())

	m := rlMetrics(t, w)
	assert.Equal(t, int64(1), m.Delayed)
	assert.Equal(t, time.Second, m.RateLimitWait)
	assert.Equal(t, int64(3), m.Successes)
	assert.Zero(t, m.Dropped)
}

func TestRateLimitWaitFailsAtOnceWhenDeadlineComesFirst(t *testing.T) {
	// Deadlines are real time: the fake clock starts now so that they
	// compare with it.
	clock := fakeclock.New(time.Now())
	inner := &rlOrders{}
	w := rlWrapper(t, inner, rlConfig(runtime.RateLimitConfig{MaxRequestsPerMinute: 1, BurstSize: 1}), clock)
	_, err := w.Get(context.Background(), "1")
	require.NoError(t, err)

	// The next token comes in 60s; the caller has 30s.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = w.Get(ctx, "2")
	assert.ErrorIs(t, err, runtime.ErrRateLimited, "first attempt: the sentinel itself")
	assert.Zero(t, clock.Waiters(), "it did not wait")
	assert.NoError(t, ctx.Err())
	assert.Equal(t, []string{"1"}, inner.calls())
	assert.Equal(t, int64(1), rlMetrics(t, w).Dropped)

	// With 2 minutes, it waits for the token, which was not taken.
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := rlGo(w, ctx, "3")
	clock.BlockUntil(1)
	clock.Advance(59 * time.Second)
	rlNotDone(t, done, "call 3")
	clock.Advance(time.Second)
	require.NoError(t, <-done)
	assert.Equal(t, []string{"1", "3"}, inner.calls())
}

func TestRateLimitWaitCancelledGivesTokenBack(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_000_000, 0))
	inner := &rlOrders{}
	w := rlWrapper(t, inner, rlConfig(runtime.RateLimitConfig{MaxRequestsPerMinute: 60, BurstSize: 1}), clock)
	_, err := w.Get(context.Background(), "1")
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	done := rlGo(w, ctx, "2")
	clock.BlockUntil(1) // waits for the token of 1s
	cancel()
	err = <-done
	assert.Same(t, context.Canceled, err, "ctx.Err() itself")
	assert.Zero(t, clock.Waiters(), "its timer is stopped")

	// Call 2 was the last to reserve: its token, at 1s, is there for call 3.
	done = rlGo(w, context.Background(), "3")
	clock.BlockUntil(1)
	clock.Advance(time.Second)
	assert.Zero(t, clock.Waiters(), "call 3 got the token of 1s, not one at 2s")
	require.NoError(t, <-done)
	assert.Equal(t, []string{"1", "3"}, inner.calls())
	m := rlMetrics(t, w)
	assert.Equal(t, int64(2), m.Successes)
	assert.Equal(t, int64(1), m.Failures, "the cancelled call")
}

func TestRateLimitWaitCancelledNotLastKeepsLaterSlots(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_000_000, 0))
	inner := &rlOrders{}
	w := rlWrapper(t, inner, rlConfig(runtime.RateLimitConfig{MaxRequestsPerMinute: 60, BurstSize: 1}), clock)
	_, err := w.Get(context.Background(), "1")
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	done2 := rlGo(w, ctx, "2") // token at 1s
	clock.BlockUntil(1)
	done3 := rlGo(w, context.Background(), "3") // token at 2s
	clock.BlockUntil(2)
	cancel()
	assert.ErrorIs(t, <-done2, context.Canceled)
	// Call 3's slot depends on call 2's: giving call 2's back would let
	// two attempts share a slot, so it is lost, and call 3 keeps 2s.
	clock.Advance(time.Second)
	rlNotDone(t, done3, "call 3")
	clock.Advance(time.Second)
	require.NoError(t, <-done3)
	assert.Equal(t, []string{"1", "3"}, inner.calls())
}

func TestRateLimitDropFailsAtOnce(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_000_000, 0))
	inner := &rlOrders{}
	w := rlWrapper(t, inner, rlConfig(runtime.RateLimitConfig{
		MaxRequestsPerMinute: 60, BurstSize: 2, Strategy: runtime.StrategyDrop,
	}), clock)
	ctx := context.Background()
	for _, id := range []string{"1", "2"} {
		_, err := w.Get(ctx, id)
		require.NoError(t, err)
	}
	_, err := w.Get(ctx, "3")
	assert.ErrorIs(t, err, runtime.ErrRateLimited)
	assert.Zero(t, clock.Waiters())
	assert.Equal(t, []string{"1", "2"}, inner.calls())

	clock.Advance(time.Second)
	_, err = w.Get(ctx, "4")
	require.NoError(t, err, "one token a second")
	_, err = w.Get(ctx, "5")
	assert.ErrorIs(t, err, runtime.ErrRateLimited)

	m := rlMetrics(t, w)
	assert.Equal(t, int64(2), m.Dropped)
	assert.Zero(t, m.Delayed)
	assert.Equal(t, int64(3), m.Successes)
	assert.Equal(t, int64(2), m.Failures)
}

// The system clock's bucket time is read by time.Since, not time.Now: the
// same bound, and a wait that would outlast the deadline still fails at once.
func TestRateLimitSystemClock(t *testing.T) {
	inner := &rlOrders{}
	drop, err := NewResilientOrders(inner, rlConfig(runtime.RateLimitConfig{
		MaxRequestsPerMinute: 1, BurstSize: 2, Strategy: runtime.StrategyDrop,
	}), runtime.WithLogger(nil))
	require.NoError(t, err)
	ctx := context.Background()
	for _, id := range []string{"1", "2"} {
		_, err := drop.Get(ctx, id)
		require.NoError(t, err)
	}
	_, err = drop.Get(ctx, "3")
	assert.ErrorIs(t, err, runtime.ErrRateLimited)

	// One token a millisecond: the second call waits for its own.
	fast, err := NewResilientOrders(inner, rlConfig(runtime.RateLimitConfig{
		MaxRequestsPerMinute: 60_000, BurstSize: 1, Strategy: runtime.StrategyWait,
	}), runtime.WithLogger(nil))
	require.NoError(t, err)
	for _, id := range []string{"4", "5"} {
		_, err := fast.Get(ctx, id)
		require.NoError(t, err)
	}

	slow, err := NewResilientOrders(inner, rlConfig(runtime.RateLimitConfig{
		MaxRequestsPerMinute: 1, BurstSize: 1, Strategy: runtime.StrategyWait,
	}), runtime.WithLogger(nil))
	require.NoError(t, err)
	_, err = slow.Get(ctx, "6")
	require.NoError(t, err)
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err = slow.Get(dctx, "7")
	assert.ErrorIs(t, err, runtime.ErrRateLimited, "the next token is due a minute later, after the deadline")
	assert.Equal(t, []string{"1", "2", "4", "5", "6"}, inner.calls())
}

func TestRateLimitQueueFIFOAndFull(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_000_000, 0))
	inner := &rlOrders{}
	w := rlWrapper(t, inner, rlConfig(runtime.RateLimitConfig{
		MaxRequestsPerMinute: 60, BurstSize: 1, Strategy: runtime.StrategyQueue, MaxQueueSize: 2,
	}), clock)
	ctx := context.Background()
	_, err := w.Get(ctx, "a")
	require.NoError(t, err)

	doneB := rlGo(w, ctx, "b")
	clock.BlockUntil(1)
	doneC := rlGo(w, ctx, "c")
	clock.BlockUntil(2)
	assert.Equal(t, int64(2), rlMetrics(t, w).QueueDepth)

	_, err = w.Get(ctx, "d")
	assert.ErrorIs(t, err, runtime.ErrQueueFull, "a third waiter")
	assert.ErrorIs(t, err, runtime.ErrRateLimited)
	assert.Equal(t, 2, clock.Waiters())

	clock.Advance(time.Second)
	require.NoError(t, <-doneB)
	rlNotDone(t, doneC, "c")
	assert.Equal(t, []string{"a", "b"}, inner.calls())
	// d gave its slot back: the queue has room again, behind c.
	doneE := rlGo(w, ctx, "e")
	clock.BlockUntil(2)
	clock.Advance(time.Second)
	require.NoError(t, <-doneC)
	rlNotDone(t, doneE, "e")
	clock.Advance(time.Second)
	require.NoError(t, <-doneE)
	assert.Equal(t, []string{"a", "b", "c", "e"}, inner.calls())

	m := rlMetrics(t, w)
	assert.Zero(t, m.QueueDepth)
	assert.Equal(t, int64(3), m.Queued)
	assert.Equal(t, int64(1), m.Dropped)
	assert.Equal(t, (1+2+2)*time.Second, m.RateLimitWait, "b 1s, c 2s, e from 1s to 3s")
}

func TestRateLimitEveryAttemptTakesToken(t *testing.T) {
	retry := runtime.RetryConfig{MaxAttempts: 5, InitialDelay: time.Millisecond, Jitter: runtime.JitterNone}

	t.Run("drop", func(t *testing.T) {
		clock := fakeclock.New(time.Unix(1_000_000, 0))
		inner := &rlOrders{err: rlStatusErr{code: 503}}
		cfg := rlConfig(runtime.RateLimitConfig{MaxRequestsPerMinute: 60, BurstSize: 2, Strategy: runtime.StrategyDrop})
		cfg.Retry = retry
		w := rlWrapper(t, inner, cfg, clock)
		done := rlGo(w, context.Background(), "1")
		clock.BlockUntil(1) // backoff after attempt 1
		clock.Advance(time.Millisecond)
		clock.BlockUntil(1) // backoff after attempt 2
		clock.Advance(2 * time.Millisecond)
		err := <-done
		// Attempt 3 found no token: the retry took them both.
		assert.ErrorIs(t, err, runtime.ErrRateLimited)
		var re *runtime.RetryError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, 2, re.Attempts)
		assert.Equal(t, rlStatusErr{code: 503}, re.Err)
		assert.Len(t, inner.calls(), 2)
		assert.Equal(t, int64(1), rlMetrics(t, w).Dropped)
	})

	t.Run("wait", func(t *testing.T) {
		clock := fakeclock.New(time.Unix(1_000_000, 0))
		inner := &flakyOnce{}
		cfg := rlConfig(runtime.RateLimitConfig{MaxRequestsPerMinute: 60, BurstSize: 1})
		cfg.Retry = retry
		w := rlWrapper(t, inner, cfg, clock)
		done := rlGo(w, context.Background(), "1")
		clock.BlockUntil(1) // backoff after attempt 1
		clock.Advance(time.Millisecond)
		clock.BlockUntil(1) // attempt 2 waits for the token of 1s
		clock.Advance(998 * time.Millisecond)
		rlNotDone(t, done, "the retry")
		clock.Advance(time.Millisecond)
		require.NoError(t, <-done)
		assert.Equal(t, int32(2), inner.calls.Load())
		m := rlMetrics(t, w)
		assert.Equal(t, int64(1), m.Delayed)
		assert.Equal(t, 999*time.Millisecond, m.RateLimitWait)
		assert.Equal(t, int64(1), m.SuccessesAfterRetry)
	})
}

// flakyOnce fails its first call with a 503.
type flakyOnce struct{ calls atomic.Int32 }

func (f *flakyOnce) Get(context.Context, string) (string, error) {
	if f.calls.Add(1) == 1 {
		return "", rlStatusErr{code: 503}
	}
	return "ok", nil
}

func TestRateLimitPerHostShared(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_000_000, 0))
	host := rlHost(t)
	limit := runtime.RateLimitConfig{MaxRequestsPerMinute: 60, BurstSize: 2, Strategy: runtime.StrategyDrop}
	cfg := rlConfig(limit)
	ctx := context.Background()

	w1 := rlWrapper(t, &rlOrders{}, cfg, clock, runtime.WithHostKey(host))
	w2 := rlWrapper(t, &rlOrders{}, cfg, clock, runtime.WithHostKey(host))
	for range 2 {
		_, err := w1.Get(ctx, "1")
		require.NoError(t, err)
	}
	_, err := w2.Get(ctx, "2")
	assert.ErrorIs(t, err, runtime.ErrRateLimited, "w2 shares w1's bucket")

	// The inner value's Host() names the same host.
	w3 := rlWrapper(t, &rlHostOrders{host: host}, cfg, clock)
	_, err = w3.Get(ctx, "3")
	assert.ErrorIs(t, err, runtime.ErrRateLimited, "Host() is the host")
	// WithHostKey wins over Host().
	w4 := rlWrapper(t, &rlHostOrders{host: host}, cfg, clock, runtime.WithHostKey(host+"-other"))
	_, err = w4.Get(ctx, "4")
	assert.NoError(t, err)

	// Another host, other limits, or Global: buckets of their own.
	others := map[string]*ResilientOrders{
		"another host": rlWrapper(t, &rlOrders{}, cfg, clock, runtime.WithHostKey(host+"-2")),
		"other limits": rlWrapper(t, &rlOrders{}, rlConfig(runtime.RateLimitConfig{
			MaxRequestsPerMinute: 60, BurstSize: 3, Strategy: runtime.StrategyDrop,
		}), clock, runtime.WithHostKey(host)),
		"global": rlWrapper(t, &rlOrders{}, rlConfig(runtime.RateLimitConfig{
			MaxRequestsPerMinute: 60, BurstSize: 2, Strategy: runtime.StrategyDrop, Global: true,
		}), clock, runtime.WithHostKey(host)),
		"no host": rlWrapper(t, &rlOrders{}, cfg, clock),
	}
	for name, w := range others {
		_, err := w.Get(ctx, "x")
		assert.NoError(t, err, name)
	}

	// The strategy is the method's own: a waiting wrapper of the host
	// waits for the shared bucket's next token.
	wait := limit
	wait.Strategy = runtime.StrategyWait
	w5 := rlWrapper(t, &rlOrders{}, rlConfig(wait), clock, runtime.WithHostKey(host))
	done := rlGo(w5, ctx, "5")
	clock.BlockUntil(1)
	clock.Advance(time.Second)
	require.NoError(t, <-done)
	_, err = w2.Get(ctx, "2")
	assert.ErrorIs(t, err, runtime.ErrRateLimited, "w5 took the token of 1s")
}

func TestRateLimitRetryAfterPausesSharedBucket(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_000_000, 0))
	host := rlHost(t)
	limit := runtime.RateLimitConfig{MaxRequestsPerMinute: 60, BurstSize: 5}
	tooMany := rlStatusErr{code: 429, after: 10 * time.Second}
	ctx := context.Background()

	w1 := rlWrapper(t, &rlOrders{err: tooMany}, rlConfig(limit), clock, runtime.WithHostKey(host))
	_, err := w1.Get(ctx, "1")
	require.Equal(t, tooMany, err)

	// The bucket had 4 tokens left; the server said 10s, for everyone.
	drop := limit
	drop.Strategy = runtime.StrategyDrop
	w2 := rlWrapper(t, &rlOrders{}, rlConfig(drop), clock, runtime.WithHostKey(host))
	_, err = w2.Get(ctx, "2")
	assert.ErrorIs(t, err, runtime.ErrRateLimited)

	inner3 := &rlOrders{}
	w3 := rlWrapper(t, inner3, rlConfig(limit), clock, runtime.WithHostKey(host))
	done := rlGo(w3, ctx, "3")
	clock.BlockUntil(1)
	clock.Advance(10*time.Second - time.Millisecond)
	rlNotDone(t, done, "w3")
	clock.Advance(time.Millisecond)
	require.NoError(t, <-done)
	assert.Equal(t, []string{"3"}, inner3.calls())

	// Another host is not paused.
	w4 := rlWrapper(t, &rlOrders{}, rlConfig(drop), clock, runtime.WithHostKey(host+"-other"))
	_, err = w4.Get(ctx, "4")
	assert.NoError(t, err)
}

// rlLog records the log records it handles, at every level.
type rlLog struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *rlLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *rlLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *rlLog) WithGroup(string) slog.Handler            { return h }
func (h *rlLog) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}

func (h *rlLog) records() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]slog.Record(nil), h.recs...)
}

func rlAttrs(r slog.Record) map[string]string {
	m := map[string]string{}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	return m
}

func TestRateLimitDebugLog(t *testing.T) {
	for _, tc := range []struct {
		strategy runtime.Strategy
		queue    int
		action   string
	}{
		{runtime.StrategyWait, 0, "delayed"},
		{runtime.StrategyQueue, 5, "queued"},
		{runtime.StrategyDrop, 0, "dropped"},
	} {
		t.Run(string(tc.strategy), func(t *testing.T) {
			clock := fakeclock.New(time.Unix(1_000_000, 0))
			h := &rlLog{}
			w := rlWrapper(t, &rlOrders{}, rlConfig(runtime.RateLimitConfig{
				MaxRequestsPerMinute: 30, BurstSize: 1, Strategy: tc.strategy, MaxQueueSize: tc.queue,
			}), clock, runtime.WithLogger(slog.New(h)))
			_, err := w.Get(context.Background(), "1")
			require.NoError(t, err)
			assert.Empty(t, h.records(), "nothing to say within the burst")

			done := rlGo(w, context.Background(), "2")
			if tc.strategy != runtime.StrategyDrop {
				clock.BlockUntil(1)
				clock.Advance(2 * time.Second)
			}
			err = <-done
			if tc.strategy == runtime.StrategyDrop {
				require.ErrorIs(t, err, runtime.ErrRateLimited)
			} else {
				require.NoError(t, err)
			}
			recs := h.records()
			require.Len(t, recs, 1)
			r := recs[0]
			assert.Equal(t, slog.LevelDebug, r.Level)
			assert.Equal(t, "Rate limit applied for Get. Current rate: 30 req/min. Request "+tc.action, r.Message)
			attrs := rlAttrs(r)
			assert.Equal(t, "ResilientOrders", attrs["wrapper"])
			assert.Equal(t, "Get", attrs["method"])
			assert.Equal(t, tc.action, attrs["action"])
			assert.Equal(t, "30", attrs["max_requests_per_minute"])
		})
	}
}

func TestRateLimitNoLogAboveDebug(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_000_000, 0))
	h := &rlLevelLog{rlLog: rlLog{}, min: slog.LevelInfo}
	w := rlWrapper(t, &rlOrders{}, rlConfig(runtime.RateLimitConfig{
		MaxRequestsPerMinute: 30, BurstSize: 1, Strategy: runtime.StrategyDrop,
	}), clock, runtime.WithLogger(slog.New(h)))
	_, _ = w.Get(context.Background(), "1")
	_, err := w.Get(context.Background(), "2")
	require.True(t, errors.Is(err, runtime.ErrRateLimited))
	assert.Empty(t, h.records())
}

type rlLevelLog struct {
	rlLog
	min slog.Level
}

func (h *rlLevelLog) Enabled(_ context.Context, l slog.Level) bool { return l >= h.min }
func (h *rlLevelLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < h.min {
		return nil
	}
	return h.rlLog.Handle(ctx, r)
}
