package resgenimpl_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func openWrapper(t *testing.T, opts ...runtime.Option) *ResilientOrders {
	t.Helper()
	w, err := NewResilientOrders(failingOrders{}, runtime.Config{
		RateLimit: runtime.RateLimitConfig{Disabled: true}, Timeout: runtime.TimeoutConfig{Disabled: true},
		Retry:          runtime.RetryConfig{Disabled: true},
		CircuitBreaker: runtime.CircuitBreakerConfig{FailureThreshold: 1, RecoveryTimeout: time.Hour},
	}, append([]runtime.Option{runtime.WithLogger(nil)}, opts...)...)
	require.NoError(t, err)
	w.Get(context.Background(), "1")
	return w
}

func TestErrCircuitOpenNamesItsBreaker(t *testing.T) {
	w := openWrapper(t)
	_, err := w.Get(context.Background(), "1")
	require.ErrorIs(t, err, runtime.ErrCircuitOpen)
	var ce *runtime.CircuitOpenError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "ResilientOrders", ce.Breaker)
	assert.Contains(t, err.Error(), `"ResilientOrders"`)
	allocs := testing.AllocsPerRun(100, func() { w.Get(context.Background(), "1") })
	assert.Zero(t, allocs, "a rejection allocates")
}

// limiterRuns numbers the runs of TestErrRateLimitedNamesItsLimiter: a
// host's bucket is shared by every wrapper of the process, so each run
// (-count=N) needs a host of its own to start with a full bucket.
var limiterRuns atomic.Int64

func TestErrRateLimitedNamesItsLimiter(t *testing.T) {
	host := fmt.Sprintf("api-%d.example.com", limiterRuns.Add(1))
	w, err := NewResilientOrders(nopOrders{}, runtime.Config{
		RateLimit: runtime.RateLimitConfig{MaxRequestsPerMinute: 1, BurstSize: 1, Strategy: runtime.StrategyDrop},
		Timeout:   runtime.TimeoutConfig{Disabled: true},
	}, runtime.WithLogger(nil), runtime.WithHostKey(host))
	require.NoError(t, err)
	_, err = w.Get(context.Background(), "1")
	require.NoError(t, err)
	_, err = w.Get(context.Background(), "1")
	require.ErrorIs(t, err, runtime.ErrRateLimited)
	assert.NotErrorIs(t, err, runtime.ErrQueueFull)
	var re *runtime.RateLimitError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, host, re.Limiter)
}

func TestTwoInstancesOfOneTypeHaveDistinctNames(t *testing.T) {
	a, b := openWrapper(t), openWrapper(t)
	assert.NotEqual(t, a.Resilience().Instance(), b.Resilience().Instance())
	c := openWrapper(t, runtime.WithInstance("tenant-a"))
	assert.Equal(t, "tenant-a", c.Resilience().Instance())
}

func TestLatencyHistogramAndFailuresByClass(t *testing.T) {
	w, err := NewResilientOrders(nopOrders{}, runtime.Config{
		RateLimit: runtime.RateLimitConfig{Disabled: true}, Timeout: runtime.TimeoutConfig{Disabled: true},
	}, runtime.WithLogger(nil), runtime.WithLatencyHistograms())
	require.NoError(t, err)
	for range 5 {
		_, err := w.Get(context.Background(), "1")
		require.NoError(t, err)
	}
	mm, ok := w.Resilience().MethodMetrics("Get")
	require.True(t, ok)
	require.NotNil(t, mm.Latency)
	assert.Equal(t, uint64(5), mm.Latency.Count)
	assert.Equal(t, int64(5), mm.Attempts)
	allocs := testing.AllocsPerRun(100, func() { w.Get(context.Background(), "1") })
	assert.Zero(t, allocs, "a timed success allocates")

	f := openWrapper(t)
	mm, _ = f.Resilience().MethodMetrics("Get")
	var transient int64
	for _, cc := range mm.FailuresByClass {
		if cc.Class == runtime.ClassTransient {
			transient = cc.Count
		}
	}
	assert.Equal(t, int64(1), transient, "runtime.Transient(errors.New(\"down\")) is of class transient")
	assert.Nil(t, mm.Latency, "not timed unless asked")
	_ = errors.New
}
