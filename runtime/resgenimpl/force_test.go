package resgenimpl_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/fakeclock"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
)

const ordersBreaker = "ResilientOrders"

func newForceWrapper(t *testing.T, inner *pingable, opts ...runtime.Option) (*ResilientOrders, *recorder) {
	t.Helper()
	var obs recorder
	opts = append([]runtime.Option{runtime.WithClock(inner.clock), runtime.WithLogger(nil), runtime.WithObserver(&obs)}, opts...)
	cfg := pingConfig()
	cfg.Throttle.Disabled = true // every call after a close goes through: no ramp
	w, err := NewResilientOrders(inner, cfg, opts...)
	require.NoError(t, err)
	t.Cleanup(w.Resilience().Close)
	return w, &obs
}

// TestForceOpenFailsFastUntilReleased: a breaker forced open fails every
// call fast however long it stays so (no recovery_timeout, no Ping), and
// back to normal it goes half-open, so that its probes close it.
func TestForceOpenFailsFastUntilReleased(t *testing.T) {
	clock := fakeclock.New(epoch)
	inner := &pingable{clock: clock}
	w, obs := newForceWrapper(t, inner)
	m := w.Resilience()

	require.NoError(t, m.ForceBreaker(ordersBreaker, runtime.ForceOpen))
	assert.Zero(t, clock.Waiters(), "forced open, the breaker must set no recovery_timeout and start no Ping")
	for range 3 {
		clock.Advance(time.Hour)
		_, err := w.Get(context.Background(), "1")
		require.ErrorIs(t, err, runtime.ErrCircuitOpen)
	}
	assert.Zero(t, inner.calls.Load(), "a call reached the service while the breaker was forced open")
	assert.Empty(t, inner.pingTimes())
	snap := m.Breakers()
	require.Len(t, snap, 1)
	assert.Equal(t, runtime.ForceOpen, snap[0].Forced)

	require.NoError(t, m.ForceBreaker(ordersBreaker, runtime.ForceNone))
	assert.Equal(t, runtime.StateHalfOpen, mustState(t, m, ordersBreaker))
	for range 2 {
		_, err := w.Get(context.Background(), "1")
		require.NoError(t, err)
	}
	assert.Equal(t, runtime.StateClosed, mustState(t, m, ordersBreaker))
	assert.Equal(t, []string{"CLOSED→OPEN", "OPEN→HALF_OPEN", "HALF_OPEN→CLOSED"}, obs.changes())
}

// TestForceOpenOfAnOpenBreakerDropsItsRecoveryTimeout: forcing open a
// breaker that opened by itself keeps it open past its recovery_timeout,
// and stops its Ping prober.
func TestForceOpenOfAnOpenBreakerDropsItsRecoveryTimeout(t *testing.T) {
	clock := fakeclock.New(epoch)
	inner := &pingable{clock: clock}
	w, _ := newForceWrapper(t, inner)
	m := w.Resilience()
	openBreaker(t, w, inner)
	clock.BlockUntil(2) // the recovery_timeout and the prober
	require.NoError(t, m.ForceBreaker(ordersBreaker, runtime.ForceOpen))
	goleak.VerifyNone(t) // the prober has ended
	inner.down.Store(false)
	for range 10 {
		clock.Advance(time.Minute)
	}
	assert.Equal(t, runtime.StateOpen, mustState(t, m, ordersBreaker))
	_, err := w.Get(context.Background(), "1")
	require.ErrorIs(t, err, runtime.ErrCircuitOpen)
	assert.Empty(t, inner.pingTimes(), "pinged while the breaker was forced open")
	assert.Zero(t, clock.Waiters(), "a timer or a prober waits while the breaker is forced open")
}

// TestForceClosedIgnoresFailures: a breaker forced closed lets every call
// through however many fail; back to normal it counts failures again,
// from none.
func TestForceClosedIgnoresFailures(t *testing.T) {
	clock := fakeclock.New(epoch)
	inner := &pingable{clock: clock}
	w, obs := newForceWrapper(t, inner)
	m := w.Resilience()
	openBreaker(t, w, inner)

	require.NoError(t, m.ForceBreaker(ordersBreaker, runtime.ForceClosed))
	assert.Equal(t, runtime.StateClosed, mustState(t, m, ordersBreaker))
	before := inner.calls.Load()
	for range 20 {
		_, err := w.Get(context.Background(), "1")
		require.Equal(t, statusErr(500), err)
	}
	assert.Equal(t, before+20, inner.calls.Load(), "a call was failed fast while the breaker was forced closed")
	assert.Equal(t, runtime.StateClosed, mustState(t, m, ordersBreaker))

	require.NoError(t, m.ForceBreaker(ordersBreaker, runtime.ForceNone))
	for i := range 3 {
		assert.Equal(t, runtime.StateClosed, mustState(t, m, ordersBreaker), "opened after %d failures", i)
		_, _ = w.Get(context.Background(), "1")
	}
	assert.Equal(t, runtime.StateOpen, mustState(t, m, ordersBreaker))
	assert.Equal(t, []string{"CLOSED→OPEN", "OPEN→CLOSED", "CLOSED→OPEN"}, obs.changes())
}

// TestForceBreakerRefusesWhatItCannotForce: an unknown breaker, a breaker
// kept in a Store and an unknown mode are errors, and change nothing.
func TestForceBreakerRefusesWhatItCannotForce(t *testing.T) {
	clock := fakeclock.New(epoch)
	w, _ := newForceWrapper(t, &pingable{clock: clock})
	require.ErrorContains(t, w.Resilience().ForceBreaker("Nope", runtime.ForceOpen), `no circuit breaker "Nope"`)
	require.Error(t, w.Resilience().ForceBreaker(ordersBreaker, runtime.ForceMode(9)))
	assert.Equal(t, runtime.StateClosed, mustState(t, w.Resilience(), ordersBreaker))

	stored, _ := newForceWrapper(t, &pingable{clock: clock}, runtime.WithStore(resgenimpl.NewLocalStore(clock)))
	err := stored.Resilience().ForceBreaker(ordersBreaker, runtime.ForceOpen)
	require.ErrorIs(t, err, runtime.ErrNotForceable)
	snap := stored.Resilience().Breakers()
	require.Len(t, snap, 1)
	assert.False(t, snap[0].Forceable)
}

func TestForceModeTextRoundTrips(t *testing.T) {
	for _, mode := range []runtime.ForceMode{runtime.ForceNone, runtime.ForceOpen, runtime.ForceClosed} {
		text, err := mode.MarshalText()
		require.NoError(t, err)
		var got runtime.ForceMode
		require.NoError(t, got.UnmarshalText(text))
		assert.Equal(t, mode, got)
	}
	var m runtime.ForceMode
	assert.Error(t, m.UnmarshalText([]byte("ajar")))
}

// TestBreakersKeepTheLastTransitions: a breaker's snapshot holds
// its last 16 transitions, oldest first, with their times, what opened it
// and whether they were forced.
func TestBreakersKeepTheLastTransitions(t *testing.T) {
	clock := fakeclock.New(epoch)
	inner := &pingable{clock: clock}
	w, _ := newForceWrapper(t, inner)
	m := w.Resilience()
	for range 10 { // 10 outages: 30 transitions
		openBreaker(t, w, inner)
		clock.Advance(time.Minute)
		inner.down.Store(false)
		for range 2 {
			_, err := w.Get(context.Background(), "1")
			require.NoError(t, err)
		}
	}
	require.NoError(t, m.ForceBreaker(ordersBreaker, runtime.ForceOpen))
	snap := m.Breakers()
	require.Len(t, snap, 1)
	s := snap[0]
	assert.Equal(t, ordersBreaker, s.Name)
	assert.Equal(t, runtime.StateOpen, s.State)
	assert.Equal(t, []string{"Get"}, s.Methods)
	assert.Equal(t, 3, s.Config.FailureThreshold)
	require.Len(t, s.Transitions, 16)
	var got []string
	for _, tr := range s.Transitions {
		got = append(got, fmt.Sprintf("%s→%s/%d/%v", tr.From, tr.To, tr.Failures, tr.Forced))
	}
	want := []string{}
	for range 5 {
		want = append(want, "CLOSED→OPEN/3/false", "OPEN→HALF_OPEN/0/false", "HALF_OPEN→CLOSED/0/false")
	}
	want = append(want[len(want)-15:], "CLOSED→OPEN/0/true")
	assert.Equal(t, want, got)
	last := s.Transitions[len(s.Transitions)-1]
	assert.Equal(t, clock.Now(), last.At)
	assert.True(t, s.Transitions[0].At.Before(last.At))
}

// TestRecentErrorsKeepTheLastEight: a method keeps its last eight failed
// attempts' errors, oldest first, with their class and attempt.
func TestRecentErrorsKeepTheLastEight(t *testing.T) {
	clock := fakeclock.New(epoch)
	inner := &flakyN{}
	cfg := apiConfig()
	cfg.CircuitBreaker.Disabled = true
	cfg.Retry.Disabled = true
	w, err := NewResilientOrders(inner, cfg, runtime.WithClock(clock), runtime.WithLogger(nil))
	require.NoError(t, err)
	assert.Empty(t, w.Resilience().RecentErrors("Get"))
	for range 12 {
		clock.Advance(time.Second)
		_, _ = w.Get(context.Background(), "1")
	}
	got := w.Resilience().RecentErrors("Get")
	require.Len(t, got, 8)
	for i, e := range got {
		assert.EqualError(t, e.Err, fmt.Sprintf("failure %d", i+5))
		assert.Equal(t, epoch.Add(time.Duration(i+5)*time.Second), e.At)
		assert.Equal(t, 1, e.Attempt)
		assert.Equal(t, runtime.ClassUnknown, e.Class)
	}
	assert.Nil(t, w.Resilience().RecentErrors("Nope"))
}

// flakyN fails every call with an error that counts its calls.
type flakyN struct{ n int }

func (f *flakyN) Get(context.Context, string) (string, error) {
	f.n++
	return "", errors.New("failure " + fmt.Sprint(f.n))
}

// TestLimiterShowsTheTokensLeft: a method's limiter snapshot counts the
// tokens left in its bucket, which refill at the configured rate.
func TestLimiterShowsTheTokensLeft(t *testing.T) {
	clock := fakeclock.New(epoch)
	cfg := apiConfig()
	cfg.RateLimit = runtime.RateLimitConfig{MaxRequestsPerMinute: 60, BurstSize: 5, Global: true, Strategy: runtime.StrategyDrop}
	w, err := NewResilientOrders(&pingable{clock: clock}, cfg, runtime.WithClock(clock), runtime.WithLogger(nil))
	require.NoError(t, err)
	m := w.Resilience()
	l, ok := m.Limiter("Get")
	require.True(t, ok)
	assert.Equal(t, "ResilientOrders", l.Name)
	assert.Equal(t, 5.0, l.Tokens)
	for range 3 {
		_, err := w.Get(context.Background(), "1")
		require.NoError(t, err)
	}
	l, _ = m.Limiter("Get")
	assert.Equal(t, 2.0, l.Tokens)
	clock.Advance(1500 * time.Millisecond) // one token a second
	l, _ = m.Limiter("Get")
	assert.InDelta(t, 3.5, l.Tokens, 1e-9)
	clock.Advance(time.Hour)
	l, _ = m.Limiter("Get")
	assert.Equal(t, 5.0, l.Tokens, "a bucket holds at most its burst")
	for range 6 {
		_, _ = w.Get(context.Background(), "1")
	}
	l, _ = m.Limiter("Get")
	assert.Equal(t, 0.0, l.Tokens)

	_, ok = m.Limiter("Nope")
	assert.False(t, ok)
	cfg.RateLimit.Disabled = true
	w2, err := NewResilientOrders(&pingable{clock: clock}, cfg, runtime.WithClock(clock), runtime.WithLogger(nil))
	require.NoError(t, err)
	_, ok = w2.Resilience().Limiter("Get")
	assert.False(t, ok)
}
