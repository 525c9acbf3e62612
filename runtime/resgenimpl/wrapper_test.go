package resgenimpl_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/fakeclock"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
)

// flaky fails its first n calls with err, then succeeds.
type flaky struct {
	n     int32
	err   error
	calls atomic.Int32
}

func (f *flaky) Get(ctx context.Context, id string) (string, error) {
	if f.calls.Add(1) <= f.n {
		return "", f.err
	}
	return "order " + id, nil
}

type statusErr int

func (e statusErr) Error() string   { return "status " + string(rune('0'+int(e)/100)) + "xx" }
func (e statusErr) StatusCode() int { return int(e) }

func TestRetryThenSuccessOnFakeClock(t *testing.T) {
	clock := fakeclock.New(time.Unix(0, 0))
	inner := &flaky{n: 2, err: statusErr(503)}
	w, err := NewResilientOrders(inner, runtime.Config{
		Retry:     runtime.RetryConfig{MaxAttempts: 3, InitialDelay: time.Second, Jitter: runtime.JitterNone},
		RateLimit: runtime.RateLimitConfig{Disabled: true},
	}, runtime.WithClock(clock), runtime.WithLogger(nil))
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() {
		_, err := w.Get(context.Background(), "7")
		done <- err
	}()
	clock.BlockUntil(1)
	clock.Advance(time.Second) // first backoff: 1s
	clock.BlockUntil(1)
	clock.Advance(2 * time.Second) // second: 2s
	require.NoError(t, <-done)
	assert.Equal(t, int32(3), inner.calls.Load())

	m, ok := w.Resilience().MethodMetrics("Get")
	require.True(t, ok)
	assert.Equal(t, int64(1), m.Successes)
	assert.Equal(t, int64(1), m.SuccessesAfterRetry)
	assert.Equal(t, int64(2), m.RetryAttempts)
	assert.Equal(t, 3*time.Second, m.RetryDelay)
}

func TestRetryExhaustedWrapsLastError(t *testing.T) {
	clock := fakeclock.New(time.Unix(0, 0))
	inner := &flaky{n: 100, err: statusErr(503)}
	w, err := NewResilientOrders(inner, runtime.Config{
		Retry:          runtime.RetryConfig{MaxAttempts: 2, InitialDelay: time.Millisecond, Jitter: runtime.JitterNone},
		RateLimit:      runtime.RateLimitConfig{Disabled: true},
		CircuitBreaker: runtime.CircuitBreakerConfig{Disabled: true},
	}, runtime.WithClock(clock), runtime.WithLogger(nil))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { _, err := w.Get(context.Background(), "7"); done <- err }()
	clock.BlockUntil(1)
	clock.Advance(time.Millisecond)
	err = <-done
	var re *runtime.RetryError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 2, re.Attempts)
	var se statusErr
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 503, se.StatusCode())
}

func TestPermanentErrorNotRetried(t *testing.T) {
	inner := &flaky{n: 100, err: statusErr(404)}
	w, err := NewResilientOrders(inner, runtime.Config{RateLimit: runtime.RateLimitConfig{Disabled: true}},
		runtime.WithLogger(nil))
	require.NoError(t, err)
	_, err = w.Get(context.Background(), "7")
	assert.Equal(t, statusErr(404), err, "a single attempt returns its error unchanged")
	assert.Equal(t, int32(1), inner.calls.Load())
}

func TestCallerCancellationNotRetried(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	inner := &cancelling{cancel: cancel}
	w, err := NewResilientOrders(inner, runtime.Config{RateLimit: runtime.RateLimitConfig{Disabled: true}},
		runtime.WithLogger(nil))
	require.NoError(t, err)
	_, err = w.Get(ctx, "7")
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, inner.calls)
	assert.Equal(t, runtime.StateClosed, mustState(t, w.Resilience(), "ResilientOrders"))
}

type cancelling struct {
	cancel func()
	calls  int
}

func (c *cancelling) Get(ctx context.Context, _ string) (string, error) {
	c.calls++
	c.cancel()
	return "", ctx.Err()
}

func mustState(t *testing.T, m *resgenimpl.Manager, name string) runtime.State {
	t.Helper()
	s, ok := m.BreakerState(name)
	require.True(t, ok, "no breaker %q", name)
	return s
}

func TestConfigErrorsAtConstruction(t *testing.T) {
	_, err := NewResilientOrders(&flaky{}, runtime.Config{
		Retry:     runtime.RetryConfig{BackoffMultiplier: 0.5, MaxAttempts: -1},
		RateLimit: runtime.RateLimitConfig{MaxQueueSize: 5},
	})
	require.Error(t, err)
	for _, want := range []string{"retry.backoff_multiplier", "retry.max_attempts", "rate_limit.max_queue_size"} {
		assert.Contains(t, err.Error(), want)
	}
	assert.False(t, errors.Is(err, runtime.ErrCircuitOpen))
}
