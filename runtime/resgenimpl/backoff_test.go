package resgenimpl_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/fakeclock"
)

// stallAfter only turns a hung call into a test failure instead of a
// package timeout; no test logic depends on real time.
const stallAfter = 30 * time.Second

// alwaysFailing fails every call with err.
type alwaysFailing struct {
	err   error
	calls atomic.Int32
}

func (f *alwaysFailing) Get(context.Context, string) (string, error) {
	f.calls.Add(1)
	return "", f.err
}

// backoffRig drives the hand-written wrapper on a fake clock and records
// its events. Only retry is on: the breaker, the rate limit and the
// per-attempt timeout are off, so that the delays are the only waits.
type backoffRig struct {
	t      *testing.T
	clock  *fakeclock.Clock
	start  time.Time
	inner  *alwaysFailing
	w      *ResilientOrders
	events chan runtime.Event
}

func newBackoffRig(t *testing.T, retry runtime.RetryConfig, err error) *backoffRig {
	t.Helper()
	// The fake clock starts at the real time, so that a real context's
	// deadline can be set relative to it.
	start := time.Now()
	r := &backoffRig{
		t:      t,
		clock:  fakeclock.New(start),
		start:  start,
		inner:  &alwaysFailing{err: err},
		events: make(chan runtime.Event, 4096),
	}
	w, err := NewResilientOrders(r.inner, runtime.Config{
		Retry:          retry,
		CircuitBreaker: runtime.CircuitBreakerConfig{Disabled: true},
		RateLimit:      runtime.RateLimitConfig{Disabled: true},
		Timeout:        runtime.TimeoutConfig{Disabled: true},
	}, runtime.WithClock(r.clock), runtime.WithLogger(nil),
		runtime.WithObserver(runtime.ObserverFunc(func(e runtime.Event) { r.events <- e })))
	require.NoError(t, err)
	r.w = w
	return r
}

func (r *backoffRig) call(ctx context.Context) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := r.w.Get(ctx, "7")
		done <- err
	}()
	return done
}

// drive runs one call to its end, sleeping through each backoff by
// advancing the clock by exactly the delay the retry event announced. It
// returns the announced delays and the call's error.
func (r *backoffRig) drive(ctx context.Context) ([]time.Duration, error) {
	r.t.Helper()
	done := r.call(ctx)
	var delays []time.Duration
	for {
		select {
		case e := <-r.events:
			if e.Kind != runtime.EventRetry {
				continue
			}
			delays = append(delays, e.Delay)
			if e.Delay > 0 {
				r.clock.BlockUntil(1) // the call sleeps
				r.clock.Advance(e.Delay)
			}
		case err := <-done:
			for len(r.events) > 0 {
				if e := <-r.events; e.Kind == runtime.EventRetry {
					r.t.Fatalf("a retry event after the call returned: %+v", e)
				}
			}
			return delays, err
		case <-time.After(stallAfter):
			r.t.Fatal("the call stalled")
		}
	}
}

// callNoSleep runs one call that must return without sleeping on the clock.
func (r *backoffRig) callNoSleep(ctx context.Context) error {
	r.t.Helper()
	done := r.call(ctx)
	slept := make(chan struct{})
	go func() {
		r.clock.BlockUntil(1)
		close(slept)
	}()
	defer func() {
		// Release the watcher when the call did not sleep.
		t := r.clock.NewTimer(time.Hour)
		<-slept
		t.Stop()
	}()
	select {
	case err := <-done:
		return err
	case <-slept:
		r.t.Fatal("the call slept on the clock instead of giving up at once")
	}
	return nil
}

func (r *backoffRig) kinds() []runtime.EventKind {
	var ks []runtime.EventKind
	for len(r.events) > 0 {
		ks = append(ks, (<-r.events).Kind)
	}
	return ks
}

// exponential returns initial × mult^(n-1) capped by maxD, for n = 1..count.
func exponential(initial time.Duration, mult float64, maxD time.Duration, count int) []time.Duration {
	var out []time.Duration
	d := float64(initial)
	for range count {
		out = append(out, min(time.Duration(d), maxD))
		d *= mult
	}
	return out
}

func TestBackoffJitterNoneIsExactExponential(t *testing.T) {
	tests := []struct {
		name    string
		retry   runtime.RetryConfig
		want    []time.Duration
		wantErr string
	}{
		{"doubling, capped",
			runtime.RetryConfig{MaxAttempts: 7, InitialDelay: 100 * time.Millisecond, MaxDelay: time.Second, BackoffMultiplier: 2, Jitter: runtime.JitterNone},
			[]time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second}, ""},
		{"tripling",
			runtime.RetryConfig{MaxAttempts: 5, InitialDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second, BackoffMultiplier: 3, Jitter: runtime.JitterNone},
			[]time.Duration{100 * time.Millisecond, 300 * time.Millisecond, 900 * time.Millisecond, 2 * time.Second}, ""},
		{"one and a half",
			runtime.RetryConfig{MaxAttempts: 4, InitialDelay: time.Second, BackoffMultiplier: 1.5, Jitter: runtime.JitterNone},
			[]time.Duration{time.Second, 1500 * time.Millisecond, 2250 * time.Millisecond}, ""},
		{"multiplier 1 is constant",
			runtime.RetryConfig{MaxAttempts: 4, InitialDelay: 300 * time.Millisecond, BackoffMultiplier: 1, Jitter: runtime.JitterNone},
			[]time.Duration{300 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond}, ""},
		{"defaults: 3 attempts from 1s doubling",
			runtime.RetryConfig{Jitter: runtime.JitterNone},
			[]time.Duration{time.Second, 2 * time.Second}, ""},
		{"initial equal to max",
			runtime.RetryConfig{MaxAttempts: 3, InitialDelay: 5 * time.Second, MaxDelay: 5 * time.Second, Jitter: runtime.JitterNone},
			[]time.Duration{5 * time.Second, 5 * time.Second}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newBackoffRig(t, tt.retry, statusErr(503))
			done := r.call(context.Background())
			var elapsed time.Duration
			for i, want := range tt.want {
				var e runtime.Event
				for e.Kind != runtime.EventRetry {
					e = <-r.events
				}
				require.Equal(t, want, e.Delay, "delay after attempt %d", i+1)
				assert.Equal(t, i+1, e.Attempt)
				assert.Equal(t, len(tt.want)+1, e.Max)
				assert.Equal(t, runtime.ClassServer, e.Class)
				// The call sleeps exactly the delay: not woken a nanosecond early.
				r.clock.BlockUntil(1)
				r.clock.Advance(want - 1)
				require.Equal(t, 1, r.clock.Waiters(), "the call woke before its delay")
				require.Equal(t, int32(i+1), r.inner.calls.Load(), "attempt %d started early", i+2)
				r.clock.Advance(1)
				elapsed += want
			}
			err := <-done
			assert.Equal(t, elapsed, r.clock.Now().Sub(r.start))
			assert.Equal(t, int32(len(tt.want)+1), r.inner.calls.Load())
			var re *runtime.RetryError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, len(tt.want)+1, re.Attempts)
			assert.Equal(t, statusErr(503), re.Err)
			m, ok := r.w.Resilience().MethodMetrics("Get")
			require.True(t, ok)
			assert.Equal(t, elapsed, m.RetryDelay)
		})
	}
}

// jitterSamples runs calls calls of 4 attempts and returns the delays of
// each: initial 1s, doubling, capped at 3s, so the exponential delays are
// 1s, 2s, 3s.
func jitterSamples(t *testing.T, jitter runtime.Jitter, calls int) [][]time.Duration {
	r := newBackoffRig(t, runtime.RetryConfig{
		MaxAttempts: 4, InitialDelay: time.Second, MaxDelay: 3 * time.Second, BackoffMultiplier: 2, Jitter: jitter,
	}, statusErr(503))
	var out [][]time.Duration
	for range calls {
		delays, err := r.drive(context.Background())
		var re *runtime.RetryError
		require.ErrorAs(t, err, &re)
		require.Len(t, delays, 3)
		out = append(out, delays)
	}
	return out
}

const jitterCalls = 100

func TestBackoffJitterFull(t *testing.T) {
	exp := exponential(time.Second, 2, 3*time.Second, 3)
	samples := jitterSamples(t, runtime.JitterFull, jitterCalls)
	for i := range exp {
		lo, hi := exp[i], time.Duration(0)
		for _, s := range samples {
			d := s[i]
			require.True(t, d >= 0 && d <= exp[i], "full jitter delay %v after attempt %d outside [0, %v]", d, i+1, exp[i])
			lo, hi = min(lo, d), max(hi, d)
		}
		// Spread over the whole range: a constant delay would fail (each
		// bound holds with probability 1 - 2^-100).
		assert.Less(t, lo, exp[i]/2, "attempt %d", i+1)
		assert.Greater(t, hi, exp[i]/2, "attempt %d", i+1)
	}
}

func TestBackoffJitterEqual(t *testing.T) {
	exp := exponential(time.Second, 2, 3*time.Second, 3)
	samples := jitterSamples(t, runtime.JitterEqual, jitterCalls)
	for i := range exp {
		lo, hi := exp[i], time.Duration(0)
		for _, s := range samples {
			d := s[i]
			require.True(t, d >= exp[i]/2 && d <= exp[i], "equal jitter delay %v after attempt %d outside [%v, %v]", d, i+1, exp[i]/2, exp[i])
			lo, hi = min(lo, d), max(hi, d)
		}
		assert.Less(t, lo, exp[i]*3/4, "attempt %d", i+1)
		assert.Greater(t, hi, exp[i]*3/4, "attempt %d", i+1)
	}
}

func TestBackoffJitterDecorrelated(t *testing.T) {
	const initial = time.Second
	for _, maxD := range []time.Duration{3 * time.Second, time.Hour} {
		t.Run(maxD.String(), func(t *testing.T) {
			r := newBackoffRig(t, runtime.RetryConfig{
				MaxAttempts: 4, InitialDelay: initial, MaxDelay: maxD, BackoffMultiplier: 2, Jitter: runtime.JitterDecorrelated,
			}, statusErr(503))
			lo, hi, later := maxD, time.Duration(0), time.Duration(0)
			capped := 0
			for range jitterCalls {
				delays, err := r.drive(context.Background())
				var re *runtime.RetryError
				require.ErrorAs(t, err, &re)
				require.Len(t, delays, 3)
				prev := initial
				for i, d := range delays {
					upper := min(maxD, 3*prev)
					require.True(t, d >= initial && d <= upper,
						"decorrelated delay %v after attempt %d outside [%v, %v] (previous %v)", d, i+1, initial, upper, prev)
					prev = d
					if d == maxD {
						capped++
					}
					if i > 0 {
						later = max(later, d)
					}
				}
				lo, hi = min(lo, delays[0]), max(hi, delays[0])
			}
			// The first delay spreads over [initial, 3×initial].
			assert.Less(t, lo, 2*initial)
			assert.Greater(t, hi, 2*initial)
			assert.Less(t, capped, 3*jitterCalls, "not every delay is the cap")
			if maxD > 3*initial {
				// Later delays grow from the previous one, beyond 3×initial.
				assert.Greater(t, later, 3*initial)
			}
		})
	}
}

func TestBackoffRetryAfterWins(t *testing.T) {
	tests := []struct {
		name  string
		retry runtime.RetryConfig
		hint  time.Duration
	}{
		{"longer than the computed delay", runtime.RetryConfig{MaxAttempts: 2, InitialDelay: time.Second, Jitter: runtime.JitterNone}, 7 * time.Second},
		{"shorter than the computed delay", runtime.RetryConfig{MaxAttempts: 2, InitialDelay: 10 * time.Second, Jitter: runtime.JitterNone}, 2 * time.Second},
		{"no jitter on the hint", runtime.RetryConfig{MaxAttempts: 2, InitialDelay: time.Second, Jitter: runtime.JitterFull}, 7 * time.Second},
		{"no decorrelation of the hint", runtime.RetryConfig{MaxAttempts: 2, InitialDelay: time.Second, Jitter: runtime.JitterDecorrelated}, 20 * time.Second},
		{"longer than max_delay without a deadline", runtime.RetryConfig{MaxAttempts: 2, InitialDelay: time.Second, MaxDelay: time.Minute, Jitter: runtime.JitterNone}, 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, err := range []error{
				retryAfterErr{503, tt.hint},
				retryAfterErr{429, tt.hint},
				fmt.Errorf("get: %w", fmt.Errorf("http: %w", retryAfterErr{503, tt.hint})),
			} {
				r := newBackoffRig(t, tt.retry, err)
				delays, gotErr := r.drive(context.Background())
				assert.Equal(t, []time.Duration{tt.hint}, delays, "%v", err)
				assert.Equal(t, tt.hint, r.clock.Now().Sub(r.start), "the call slept the hint")
				var re *runtime.RetryError
				require.ErrorAs(t, gotErr, &re)
				assert.Equal(t, 2, re.Attempts)
			}
		})
	}
}

func TestBackoffRetryAfterAndDeadline(t *testing.T) {
	retry := runtime.RetryConfig{MaxAttempts: 2, InitialDelay: time.Second, MaxDelay: time.Minute, Jitter: runtime.JitterNone}
	hint := 5 * time.Minute

	t.Run("deadline after the hint: the hint", func(t *testing.T) {
		r := newBackoffRig(t, retry, retryAfterErr{503, hint})
		ctx, cancel := context.WithDeadline(context.Background(), r.start.Add(10*time.Minute))
		defer cancel()
		delays, _ := r.drive(ctx)
		assert.Equal(t, []time.Duration{hint}, delays)
	})
	t.Run("deadline before the hint: max_delay", func(t *testing.T) {
		r := newBackoffRig(t, retry, retryAfterErr{503, hint})
		ctx, cancel := context.WithDeadline(context.Background(), r.start.Add(2*time.Minute))
		defer cancel()
		delays, err := r.drive(ctx)
		assert.Equal(t, []time.Duration{time.Minute}, delays)
		var re *runtime.RetryError
		require.ErrorAs(t, err, &re)
		assert.Equal(t, 2, re.Attempts)
	})
	t.Run("deadline before max_delay: give up at once", func(t *testing.T) {
		r := newBackoffRig(t, retry, retryAfterErr{503, hint})
		ctx, cancel := context.WithDeadline(context.Background(), r.start.Add(30*time.Second))
		defer cancel()
		err := r.callNoSleep(ctx)
		assert.Equal(t, retryAfterErr{503, hint}, err, "one attempt: its error, unchanged")
		assert.Equal(t, int32(1), r.inner.calls.Load())
		assert.Equal(t, []runtime.EventKind{runtime.EventGiveUp}, r.kinds())
	})
}

func TestBackoffGivesUpWhenDeadlineComesFirst(t *testing.T) {
	r := newBackoffRig(t, runtime.RetryConfig{MaxAttempts: 5, InitialDelay: 10 * time.Second, Jitter: runtime.JitterNone}, statusErr(503))
	ctx, cancel := context.WithDeadline(context.Background(), r.start.Add(5*time.Second))
	defer cancel()
	err := r.callNoSleep(ctx)
	assert.Equal(t, statusErr(503), err, "one attempt: its error, unchanged")
	assert.Equal(t, int32(1), r.inner.calls.Load())
	assert.Equal(t, 0, r.clock.Waiters())
	assert.Equal(t, r.start, r.clock.Now())
	assert.Equal(t, []runtime.EventKind{runtime.EventGiveUp}, r.kinds())
}

func TestBackoffGivesUpAfterRetriesWhenDeadlineComes(t *testing.T) {
	// 1s, then 2s: the deadline at 2.5s leaves room for the first delay
	// only, so the call gives up after two attempts, without a second sleep.
	r := newBackoffRig(t, runtime.RetryConfig{MaxAttempts: 5, InitialDelay: time.Second, Jitter: runtime.JitterNone}, statusErr(503))
	ctx, cancel := context.WithDeadline(context.Background(), r.start.Add(2500*time.Millisecond))
	defer cancel()
	delays, err := r.drive(ctx)
	assert.Equal(t, []time.Duration{time.Second}, delays)
	var re *runtime.RetryError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 2, re.Attempts)
	assert.Equal(t, statusErr(503), re.Err)
	assert.Equal(t, time.Second, r.clock.Now().Sub(r.start))
}

func TestBackoffCancelDuringSleep(t *testing.T) {
	r := newBackoffRig(t, runtime.RetryConfig{MaxAttempts: 5, InitialDelay: time.Hour, MaxDelay: time.Hour, Jitter: runtime.JitterNone}, statusErr(503))
	ctx, cancel := context.WithCancel(context.Background())
	done := r.call(ctx)
	r.clock.BlockUntil(1) // the call sleeps its hour
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(stallAfter):
		t.Fatal("the call kept sleeping after its context was cancelled")
	}
	assert.Equal(t, context.Canceled, err, "the caller's ctx.Err(), unchanged")
	assert.Equal(t, int32(1), r.inner.calls.Load())
	assert.Equal(t, 0, r.clock.Waiters(), "the backoff timer is stopped")
	assert.Equal(t, r.start, r.clock.Now(), "no time passed")
}

var errSentinel = errors.New("sentinel")

type tempErr struct{ msg string }

func (e *tempErr) Error() string { return e.msg }

func TestBackoffRetryOn(t *testing.T) {
	isSentinel := func(err error) bool { return errors.Is(err, errSentinel) }
	isTemp := func(err error) bool {
		var te *tempErr
		return errors.As(err, &te)
	}
	always := func(error) bool { return true }
	tests := []struct {
		name    string
		retryOn runtime.Matcher
		err     error
		retried bool
	}{
		{"default retries a 503", runtime.Matcher{}, statusErr(503), true},
		{"default retries a timeout", runtime.Matcher{}, statusErr(504), true},
		{"default retries a 429", runtime.Matcher{}, statusErr(429), true},
		{"default retries EAGAIN", runtime.Matcher{}, fmt.Errorf("lock: %w", syscall.EAGAIN), true},
		{"default retries a reset", runtime.Matcher{}, fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"default does not retry a 404", runtime.Matcher{}, statusErr(404), false},
		{"default does not retry a 401", runtime.Matcher{}, statusErr(401), false},
		{"default does not retry an unknown error", runtime.Matcher{}, errors.New("odd"), false},
		{"timeout only: 504", runtime.Matcher{Classes: runtime.ClassTimeout}, statusErr(504), true},
		{"timeout only: not 503", runtime.Matcher{Classes: runtime.ClassTimeout}, statusErr(503), false},
		{"any retries unknown", runtime.Matcher{Classes: runtime.ClassesAll}, errors.New("odd"), true},
		{"any retries a 404", runtime.Matcher{Classes: runtime.ClassesAll}, statusErr(404), true},
		{"errors.Is matcher: sentinel", runtime.Matcher{Match: isSentinel}, fmt.Errorf("get: %w", errSentinel), true},
		{"errors.Is matcher: not a 503", runtime.Matcher{Match: isSentinel}, statusErr(503), false},
		{"errors.As matcher", runtime.Matcher{Match: isTemp}, fmt.Errorf("get: %w", &tempErr{"busy"}), true},
		{"errors.As matcher: other", runtime.Matcher{Match: isTemp}, errors.New("busy"), false},
		{"class or matcher: class", runtime.Matcher{Classes: runtime.ClassServer, Match: isSentinel}, statusErr(502), true},
		{"class or matcher: matcher", runtime.Matcher{Classes: runtime.ClassServer, Match: isSentinel}, errSentinel, true},
		{"never ErrCircuitOpen", runtime.Matcher{Classes: runtime.ClassesAll, Match: always}, runtime.ErrCircuitOpen, false},
		{"never ErrRateLimited", runtime.Matcher{Classes: runtime.ClassesAll, Match: always}, fmt.Errorf("inner: %w", runtime.ErrRateLimited), false},
		{"never ErrQueueFull", runtime.Matcher{Classes: runtime.ClassesAll, Match: always}, runtime.ErrQueueFull, false},
		{"never an inner wrapper's rejection after its retries", runtime.Matcher{},
			&runtime.RetryError{Method: "Inner.Get", Attempts: 3, Err: statusErr(503), Stop: runtime.ErrCircuitOpen}, false},
		{"never context.Canceled", runtime.Matcher{Classes: runtime.ClassesAll, Match: always}, context.Canceled, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newBackoffRig(t, runtime.RetryConfig{MaxAttempts: 3, InitialDelay: time.Millisecond, Jitter: runtime.JitterNone, RetryOn: tt.retryOn}, tt.err)
			delays, err := r.drive(context.Background())
			if !tt.retried {
				assert.Empty(t, delays)
				assert.Equal(t, int32(1), r.inner.calls.Load())
				assert.Equal(t, tt.err, err, "one attempt: its error, unchanged")
				return
			}
			assert.Equal(t, []time.Duration{time.Millisecond, 2 * time.Millisecond}, delays)
			assert.Equal(t, int32(3), r.inner.calls.Load())
			var re *runtime.RetryError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, 3, re.Attempts)
			assert.Equal(t, tt.err, re.Err)
		})
	}
}

func TestBackoffRetryDisabled(t *testing.T) {
	r := newBackoffRig(t, runtime.RetryConfig{Disabled: true, MaxAttempts: 5, Jitter: runtime.JitterNone}, statusErr(503))
	delays, err := r.drive(context.Background())
	assert.Empty(t, delays)
	assert.Equal(t, statusErr(503), err)
	assert.Equal(t, int32(1), r.inner.calls.Load())
}
