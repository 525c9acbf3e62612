package resgenimpl_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/fakeclock"
)

// The promise of the README and of the package doc's "What the
// breaker counts": an outage opens the breaker, noise does not.

// apiConfig is the api profile (templates/api.yaml) with rate limiting off: retry max_attempts 5,
// initial_delay 2s, backoff 2; breaker failure_threshold 3,
// recovery_timeout 60s; but with a fixed open interval of 60s, so that
// the tests of one outage see one open state.
func apiConfig() runtime.Config {
	return runtime.Config{
		Retry: runtime.RetryConfig{MaxAttempts: 5, InitialDelay: 2 * time.Second, BackoffMultiplier: 2},
		CircuitBreaker: runtime.CircuitBreakerConfig{
			FailureThreshold:       3,
			RecoveryTimeout:        60 * time.Second,
			InitialRecoveryTimeout: 60 * time.Second,
		},
		RateLimit: runtime.RateLimitConfig{Disabled: true},
	}
}

// noisy fails each attempt independently with a 503, with probability
// rate, from a seeded generator.
type noisy struct {
	rate   float64
	calls  atomic.Int64
	failed atomic.Int64

	mu  sync.Mutex
	rng *rand.Rand
}

func newNoisy(rate float64, seed uint64) *noisy {
	return &noisy{rate: rate, rng: rand.New(rand.NewPCG(seed, 0x5eed))}
}

func (n *noisy) Get(_ context.Context, id string) (string, error) {
	n.calls.Add(1)
	n.mu.Lock()
	fail := n.rng.Float64() < n.rate
	n.mu.Unlock()
	if fail {
		n.failed.Add(1)
		return "", statusErr(503)
	}
	return "order " + id, nil
}

// recorder is an Observer that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []runtime.Event
	onOpen func() // called at each change to OPEN
}

func (r *recorder) Observe(e runtime.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	if e.Kind == runtime.EventStateChange && e.To == runtime.StateOpen && r.onOpen != nil {
		r.onOpen()
	}
}

// changes returns the state changes, as "FROM→TO".
func (r *recorder) changes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.Kind == runtime.EventStateChange {
			out = append(out, e.From.String()+"→"+e.To.String())
		}
	}
	return out
}

// driveClock moves clock forward by step whenever a goroutine waits on one
// of its timers, until the returned stop is called, so that callers in
// backoff sleep only fake time. Timers that belong to no caller (an open
// breaker's recovery_timeout) are counted by idle, and alone never move the
// clock: an open breaker does not become half-open behind the test's back.
//
// It cannot deadlock: it blocks only while no caller waits on the clock,
// and callers block only on the clock. The test must not move the clock
// itself while the driver runs: the driver could then take the timer of an
// open breaker that just fired for a caller's.
func driveClock(clock *fakeclock.Clock, step time.Duration, idle func() int) (stop func()) {
	var quit atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			clock.BlockUntil(idle() + 1)
			if quit.Load() {
				return
			}
			if clock.Waiters() > idle() {
				clock.Advance(step)
			}
		}
	}()
	return func() {
		quit.Store(true)
		// Wake the driver: enough timers to end any BlockUntil, far
		// enough ahead that one step cannot fire them.
		var wake []runtime.Timer
		for range 3 {
			wake = append(wake, clock.NewTimer(24*time.Hour))
		}
		<-done
		for _, t := range wake {
			t.Stop()
		}
	}
}

// openTimers returns the idle function of driveClock for w: one timer
// while w's breaker is open.
func openTimers(w *ResilientOrders) func() int {
	return func() int {
		if s, _ := w.Resilience().BreakerState("ResilientOrders"); s == runtime.StateOpen {
			return 1
		}
		return 0
	}
}

// TestBreakerStaysClosedUnderNoise: with 20% of attempts failing
// independently, the api profile's retries carry at least 99.5% of calls
// to success and the breaker never opens, one caller at a time and with 8.
func TestBreakerStaysClosedUnderNoise(t *testing.T) {
	const calls = 20_000
	for _, workers := range []int{1, 8} {
		t.Run(fmt.Sprintf("%d callers", workers), func(t *testing.T) {
			clock := fakeclock.New(time.Unix(0, 0))
			inner := newNoisy(0.2, uint64(workers))
			var obs recorder
			w, err := NewResilientOrders(inner, apiConfig(),
				runtime.WithClock(clock), runtime.WithLogger(nil), runtime.WithObserver(&obs))
			require.NoError(t, err)
			defer w.Resilience().Close()
			stop := driveClock(clock, time.Second, openTimers(w))
			defer stop()

			var ok, failed atomic.Int64
			var wg sync.WaitGroup
			for g := range workers {
				wg.Go(func() {
					for i := g; i < calls; i += workers {
						if _, err := w.Get(context.Background(), "1"); err != nil {
							failed.Add(1)
							if errors.Is(err, runtime.ErrCircuitOpen) {
								return // the failure below says it all
							}
						} else {
							ok.Add(1)
						}
					}
				})
			}
			wg.Wait()

			assert.Empty(t, obs.changes(), "the breaker changed state under noise")
			assert.Equal(t, runtime.StateClosed, mustState(t, w.Resilience(), "ResilientOrders"))
			require.Equal(t, int64(calls), ok.Load()+failed.Load())
			rate := float64(ok.Load()) / calls
			assert.GreaterOrEqual(t, rate, 0.995, "%d of %d calls failed", failed.Load(), calls)
			// The noise was there: about a fifth of the attempts failed.
			attempts := inner.calls.Load()
			assert.InDelta(t, 0.2, float64(inner.failed.Load())/float64(attempts), 0.02)
			m, _ := w.Resilience().MethodMetrics("Get")
			assert.Equal(t, inner.failed.Load(), m.FailedAttempts)
			assert.Zero(t, m.Rejected)
			t.Logf("%d calls, %d attempts, %d failed attempts, %d failed calls (%.3f%% success)",
				calls, attempts, inner.failed.Load(), failed.Load(), 100*rate)
		})
	}
}

// TestBreakerOpensOnOutageSequential: one caller at a time against a
// service that is down, the breaker opens within failure_threshold calls
// and then fails fast with ErrCircuitOpen, not calling the service.
func TestBreakerOpensOnOutageSequential(t *testing.T) {
	clock := fakeclock.New(time.Unix(0, 0))
	inner := newNoisy(1, 1)
	var obs recorder
	w, err := NewResilientOrders(inner, apiConfig(),
		runtime.WithClock(clock), runtime.WithLogger(nil), runtime.WithObserver(&obs))
	require.NoError(t, err)
	defer w.Resilience().Close()
	stop := driveClock(clock, time.Second, openTimers(w))
	defer stop()

	for call := 1; call <= 3; call++ {
		_, err := w.Get(context.Background(), "1")
		var re *runtime.RetryError
		require.ErrorAs(t, err, &re, "call %d", call)
		assert.Equal(t, 5, re.Attempts, "call %d: every attempt is made", call)
		assert.Equal(t, int64(5*call), inner.calls.Load(), "call %d", call)
		assert.NotErrorIs(t, err, runtime.ErrCircuitOpen, "call %d", call)
		want := runtime.StateClosed
		if call == 3 {
			want = runtime.StateOpen
		}
		assert.Equal(t, want, mustState(t, w.Resilience(), "ResilientOrders"), "after call %d", call)
	}
	opened := clock.Now()
	for range 100 {
		_, err := w.Get(context.Background(), "1")
		require.ErrorIs(t, err, runtime.ErrCircuitOpen, "a call that makes no attempt returns the breaker's rejection itself")
	}
	assert.Equal(t, int64(15), inner.calls.Load(), "the open breaker let calls through")
	assert.Equal(t, opened, clock.Now(), "failing fast waited on the clock")
	assert.Equal(t, []string{"CLOSED→OPEN"}, obs.changes())
	m, _ := w.Resilience().MethodMetrics("Get")
	assert.Equal(t, int64(100), m.Rejected)
	assert.Equal(t, int64(103), m.Failures)
	assert.Equal(t, runtime.StateOpen, m.BreakerState)
}

// TestBreakerOpensOnOutageConcurrent: 8 callers against a service that is
// down; the breaker opens once their failed attempts add up to
// failure_threshold calls' worth (15 attempts), long before every caller
// has exhausted its retries (40 attempts), and stops the callers still
// retrying with ErrCircuitOpen. How the callers' attempts interleave is up
// to the scheduler, so the test asserts only what holds for every
// interleaving.
func TestBreakerOpensOnOutageConcurrent(t *testing.T) {
	const callers = 8
	clock := fakeclock.New(time.Unix(0, 0))
	inner := newNoisy(1, 1)
	var atOpen atomic.Int64
	obs := recorder{onOpen: func() { atOpen.CompareAndSwap(0, inner.calls.Load()) }}
	w, err := NewResilientOrders(inner, apiConfig(),
		runtime.WithClock(clock), runtime.WithLogger(nil), runtime.WithObserver(&obs))
	require.NoError(t, err)
	defer w.Resilience().Close()

	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { _, errs[i] = w.Get(context.Background(), "1") })
	}
	stop := driveClock(clock, time.Second, openTimers(w))
	wg.Wait()
	stop()

	assert.Equal(t, []string{"CLOSED→OPEN"}, obs.changes())
	// 15 failed attempts open it; each other caller may have had one
	// attempt in flight then, and no attempt starts after it.
	assert.GreaterOrEqual(t, atOpen.Load(), int64(15))
	calls := inner.calls.Load()
	assert.GreaterOrEqual(t, calls, int64(15))
	assert.LessOrEqual(t, calls, int64(15+callers-1))
	var attempts int64
	stopped := 0
	for i, err := range errs {
		if _, made := err.(*runtime.RetryError); !made && errors.Is(err, runtime.ErrCircuitOpen) {
			stopped++ // it came after the breaker opened
			continue
		}
		var re *runtime.RetryError
		require.ErrorAs(t, err, &re, "caller %d", i)
		attempts += int64(re.Attempts)
		var se statusErr
		assert.ErrorAs(t, err, &se, "caller %d: the last attempt's error is kept", i)
		if errors.Is(err, runtime.ErrCircuitOpen) {
			stopped++
			assert.Less(t, re.Attempts, 5, "caller %d", i)
		} else {
			assert.Equal(t, 5, re.Attempts, "caller %d gave up early, not stopped by the breaker", i)
		}
	}
	assert.Equal(t, calls, attempts)
	// At most 22 attempts were made, so at most 4 callers made all 5.
	assert.GreaterOrEqual(t, stopped, callers-int(15+callers-1)/5, "callers stopped by the open breaker")
	// And it fails fast from then on.
	_, err = w.Get(context.Background(), "1")
	assert.ErrorIs(t, err, runtime.ErrCircuitOpen)
	assert.Equal(t, calls, inner.calls.Load())
	m, _ := w.Resilience().MethodMetrics("Get")
	assert.Equal(t, int64(stopped+1), m.Rejected)
}

// TestBreakerRecoversAfterOutage: after recovery_timeout the open breaker
// lets probes through and closes after success_threshold successes.
func TestBreakerRecoversAfterOutage(t *testing.T) {
	// Not the Unix epoch: breakerChanged takes an opening time of 0 for
	// "never opened" (manager.go), and would report no recovery time.
	clock := fakeclock.New(time.Unix(1_000_000, 0))
	inner := &switchable{}
	inner.down.Store(true)
	var obs recorder
	cfg := apiConfig()
	cfg.Retry.Disabled = true
	w, err := NewResilientOrders(inner, cfg,
		runtime.WithClock(clock), runtime.WithLogger(nil), runtime.WithObserver(&obs))
	require.NoError(t, err)
	defer w.Resilience().Close()

	for range 3 {
		_, err := w.Get(context.Background(), "1")
		require.Equal(t, statusErr(500), err)
	}
	require.Equal(t, runtime.StateOpen, mustState(t, w.Resilience(), "ResilientOrders"))
	inner.down.Store(false)
	clock.Advance(60*time.Second - 1)
	_, err = w.Get(context.Background(), "1")
	require.ErrorIs(t, err, runtime.ErrCircuitOpen)
	clock.Advance(1)
	_, err = w.Get(context.Background(), "1")
	require.NoError(t, err)
	assert.Equal(t, runtime.StateHalfOpen, mustState(t, w.Resilience(), "ResilientOrders"))
	_, err = w.Get(context.Background(), "1")
	require.NoError(t, err)
	assert.Equal(t, runtime.StateClosed, mustState(t, w.Resilience(), "ResilientOrders"))
	assert.Equal(t, []string{"CLOSED→OPEN", "OPEN→HALF_OPEN", "HALF_OPEN→CLOSED"}, obs.changes())
	assert.Equal(t, int64(5), inner.calls.Load())
	m, _ := w.Resilience().MethodMetrics("Get")
	assert.Equal(t, 60*time.Second, m.RecoveryTime)
	assert.Zero(t, clock.Waiters(), "a timer outlived the open state")
}

// switchable fails with a 500 while down (a hard failure: a lone 503 opens
// no breaker until its streak has lasted 100ms).
type switchable struct {
	down  atomic.Bool
	calls atomic.Int64
}

func (s *switchable) Get(_ context.Context, id string) (string, error) {
	s.calls.Add(1)
	if s.down.Load() {
		return "", statusErr(500)
	}
	return "order " + id, nil
}
