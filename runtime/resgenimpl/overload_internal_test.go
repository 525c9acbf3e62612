package resgenimpl

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/store"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// overloadManager builds a Manager of one method with cfg on clock.
func overloadManager(t testing.TB, cfg runtime.Config, clock runtime.Clock, opts ...runtime.Option) *Manager {
	t.Helper()
	m, err := NewManager(struct{}{}, &Spec{Wrapper: "W", Methods: []MethodSpec{{Name: "Get", Config: cfg}}},
		append([]runtime.Option{runtime.WithClock(clock), runtime.WithLogger(nil)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(m.Close)
	return m
}

// onlyOverload is a Config with every policy off but the overload ones
// (and the breaker when breaker is true).
func onlyOverload(breaker bool) runtime.Config {
	return runtime.Config{
		Retry:          runtime.RetryConfig{MaxAttempts: 5, InitialDelay: time.Millisecond, Jitter: runtime.JitterNone},
		CircuitBreaker: runtime.CircuitBreakerConfig{Disabled: !breaker, FailureThreshold: 3},
		RateLimit:      runtime.RateLimitConfig{Disabled: true},
		Timeout:        runtime.TimeoutConfig{Disabled: true},
		Recovery:       runtime.RecoveryConfig{Disabled: true},
	}
}

type status503 struct{}

func (status503) Error() string   { return "503 Service Unavailable" }
func (status503) StatusCode() int { return 503 }

type status500 struct{}

func (status500) Error() string   { return "500 Internal Server Error" }
func (status500) StatusCode() int { return 500 }

// TestThrottleProbabilityMatchesModel: whatever the window's requests and
// accepts, the rejection probability is max(0, (requests − K×accepts) /
// (requests + 1)), capped by max_rejection, and zero when the service
// accepted nothing (an outage, the breaker's) or the window holds fewer
// than ten requests.
func TestThrottleProbabilityMatchesModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		clock := newTestClock()
		cfg := onlyOverload(false)
		cfg.Throttle.Multiplier = rapid.Float64Range(1, 4).Draw(rt, "multiplier")
		cfg.Throttle.MaxRejection = rapid.Float64Range(0.05, 1).Draw(rt, "max_rejection")
		m := overloadManager(t, cfg, clock)
		me := m.Method(0)
		g := me.guard
		req := rapid.Int64Range(0, 5000).Draw(rt, "requests")
		acc := rapid.Int64Range(0, req).Draw(rt, "accepts")
		throttled := rapid.Int64Range(0, req-acc).Draw(rt, "throttled")
		// Everything happened within the last tick of the window.
		clock.Advance(g.throttle.Window - g.tick/2)
		me.stats.successes.Store(acc)
		me.stats.throttled.Store(throttled)
		me.stats.notAccepted.Store(req - acc - throttled)
		g.mu.Lock()
		g.update(clock.Now().UnixNano())
		g.mu.Unlock()

		want := 0.0
		if acc > 0 && req >= minThrottleRequests {
			want = min(max(0, (float64(req)-cfg.Throttle.Multiplier*float64(acc))/float64(req+1)), cfg.Throttle.MaxRejection)
		}
		got := float64(g.rejection.Load()) / overloadRejectionScale
		if math.Abs(got-want) > 1e-6 {
			rt.Fatalf("rejection %v, want %v", got, want)
		}
		if g.active.Load() != (want > 0) {
			rt.Fatalf("active %v with rejection %v", g.active.Load(), want)
		}
	})
}

// TestThrottleForgetsOutsideWindow: requests and accepts older than the
// window do not count: a brownout that ended a window ago throttles
// nothing.
func TestThrottleForgetsOutsideWindow(t *testing.T) {
	clock := newTestClock()
	m := overloadManager(t, onlyOverload(false), clock)
	me := m.Method(0)
	g := me.guard
	me.stats.successes.Store(100)
	me.stats.notAccepted.Store(900)
	clock.Advance(g.tick)
	g.refresh(clock.Now().UnixNano())
	require.True(t, g.active.Load(), "90%% of attempts failed: it throttles")
	for range 12 {
		clock.Advance(g.throttle.Window / 10)
		g.refresh(clock.Now().UnixNano())
	}
	assert.False(t, g.active.Load(), "a window later, nothing is left to throttle for")
	assert.Zero(t, g.rejection.Load())
}

// TestRetryBudgetBound: when the budget grants a retry, the retries of the
// window that ends then number at most ratio × its calls plus
// min_retries_per_second × the window; so over any window, at most ratio ×
// the calls of that window and the one before, plus the same floor;
// whatever the order of calls, retries and time.
func TestRetryBudgetBound(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		clock := newTestClock()
		cfg := onlyOverload(false)
		cfg.Throttle.Disabled = true
		cfg.RetryBudget.Ratio = rapid.Float64Range(0.05, 1).Draw(rt, "ratio")
		cfg.RetryBudget.MinPerSecond = rapid.IntRange(1, 5).Draw(rt, "min_per_second")
		cfg.RetryBudget.Window = time.Duration(rapid.IntRange(1, 20).Draw(rt, "window_s")) * time.Second
		m := overloadManager(t, cfg, clock)
		me := m.Method(0)
		g := me.guard
		type event struct {
			t     time.Time
			calls int64
			retry bool
		}
		var events []event
		steps := rapid.IntRange(1, 300).Draw(rt, "steps")
		for range steps {
			clock.Advance(time.Duration(rapid.Int64Range(0, int64(cfg.RetryBudget.Window/4)).Draw(rt, "advance")))
			if n := rapid.Int64Range(0, 50).Draw(rt, "calls"); n > 0 {
				me.stats.failures.Add(n)
				events = append(events, event{t: clock.Now(), calls: n})
			}
			for range rapid.IntRange(0, 60).Draw(rt, "retries") {
				if g.allowRetry() {
					events = append(events, event{t: clock.Now(), retry: true})
				}
			}
		}
		w := cfg.RetryBudget.Window
		floor := float64(cfg.RetryBudget.MinPerSecond) * w.Seconds()
		count := func(from, to time.Time) (calls, retries float64) {
			for _, e := range events {
				if e.t.After(from) && !e.t.After(to) {
					calls += float64(e.calls)
					if e.retry {
						retries++
					}
				}
			}
			return calls, retries
		}
		for _, end := range events {
			// At each retry granted, over the window that ends there.
			calls, retries := count(end.t.Add(-w), end.t)
			if bound := cfg.RetryBudget.Ratio*calls + floor; end.retry && retries > bound+1 {
				rt.Fatalf("%v retries in the window ending at a retry at %v, bound %v (%v calls)", retries, end.t, bound, calls)
			}
			// Over any window, against the calls of that window and the one
			// before: a retry granted early in it counted calls from then.
			calls2, _ := count(end.t.Add(-2*w), end.t)
			if bound := cfg.RetryBudget.Ratio*calls2 + floor; retries > bound+1 {
				rt.Fatalf("%v retries in the window ending %v, bound %v (%v calls over two windows)", retries, end.t, bound, calls2)
			}
		}
	})
}

// TestBreakerOpenIntervalGrows: the first opening lasts
// initial_recovery_timeout, each re-opening without a close 1.5 times the
// last, up to recovery_timeout, less up to a fifth at random; a close
// starts over.
func TestBreakerOpenIntervalGrows(t *testing.T) {
	clock := newTestClock()
	cfg := (runtime.Config{CircuitBreaker: runtime.CircuitBreakerConfig{FailureThreshold: 1, SuccessThreshold: 1,
		InitialRecoveryTimeout: time.Second, RecoveryTimeout: 5 * time.Second}}).Normalize().CircuitBreaker
	b := newBreaker("b", cfg, clock, nil)
	var rnd int64 // what the jitter draws
	old := randInt64N
	randInt64N = func(n int64) int64 { return min(rnd, n-1) }
	t.Cleanup(func() { randInt64N = old })

	openFor := func() time.Duration {
		t.Helper()
		require.Equal(t, runtime.StateOpen, b.State())
		start := clock.Now()
		for {
			clock.Advance(10 * time.Millisecond)
			if _, err := b.Allow(clock); err == nil {
				return clock.Now().Sub(start)
			}
		}
	}
	fail := func() {
		t.Helper()
		p, err := b.Allow(clock)
		require.NoError(t, err)
		b.Failure(p, callWeight, clock)
	}
	// The open state's admissions above take the half-open probe: fail it.
	reopen := func() {
		t.Helper()
		b.mu.Lock()
		p := store.Permit(b.word.Load())
		b.mu.Unlock()
		b.Failure(p, callWeight, clock)
	}
	fail()
	assert.Equal(t, time.Second, openFor())
	reopen()
	assert.Equal(t, 1500*time.Millisecond, openFor())
	reopen()
	assert.Equal(t, 2250*time.Millisecond, openFor())
	reopen()
	assert.Equal(t, 3380*time.Millisecond, openFor(), "3.375s, seen at the next 10ms step")
	reopen()
	assert.Equal(t, 5*time.Second, openFor(), "capped by recovery_timeout")
	rnd = math.MaxInt64 // the most jitter takes off: a fifth
	reopen()
	assert.Equal(t, 4*time.Second, openFor())
	rnd = 0

	// A success closes it; a later outage starts from the first interval.
	b.mu.Lock()
	p := store.Permit(b.word.Load())
	b.mu.Unlock()
	b.Success(p, clock)
	require.Equal(t, runtime.StateClosed, b.State())
	clock.Advance(time.Minute)
	fail()
	assert.Equal(t, time.Second, openFor())
}

// TestBreakerIgnoresOverloadWhileServiceAccepts: 503s, 429s and timeouts
// while other attempts succeed are a brownout, not an outage: they do not
// open the breaker, whatever their runs. Server errors of another kind do.
func TestBreakerIgnoresOverloadWhileServiceAccepts(t *testing.T) {
	for _, tt := range []struct {
		name  string
		err   error
		opens bool
	}{
		{"503", status503{}, false},
		{"timeout", context.DeadlineExceeded, false},
		{"500", status500{}, true},
	} {
		for _, store := range []bool{false, true} {
			t.Run(tt.name+breakerKind(store), func(t *testing.T) {
				clock := newTestClock()
				cfg := onlyOverload(true)
				cfg.Retry.Disabled = true
				cfg.Throttle.Disabled = true
				m := overloadManager(t, cfg, clock, storeOption(store, clock)...)
				me := m.Method(0)
				call := func(err error) {
					var c Call
					if me.Admit(context.Background(), &c) != nil {
						return
					}
					if err == nil {
						me.Success(&c)
						return
					}
					me.Failure(context.Background(), &c, err)
				}
				for range 50 {
					call(nil)
					for range 4 { // runs longer than failure_threshold
						call(tt.err)
					}
					clock.Advance(10 * time.Millisecond)
				}
				state, _ := m.BreakerState("W")
				assert.Equal(t, tt.opens, state == runtime.StateOpen, "state %v", state)
			})
		}
	}
}

// breakerKind names a subtest by where its breaker lives.
func breakerKind(store bool) string {
	if store {
		return "/store"
	}
	return "/local"
}

// storeOption puts the breaker in a Store (its BreakerState counts every
// failure it is told of) when store is true.
func storeOption(store bool, clock runtime.Clock) []runtime.Option {
	if store {
		return []runtime.Option{runtime.WithStore(NewLocalStore(clock))}
	}
	return nil
}

// TestBreakerOpensOnOverloadOutage: a streak of 503s opens the breaker
// once it has lasted 100ms, and at failure_threshold calls' worth of them
// when they come slower than that; faster, the streak goes on and the
// first failure after 100ms opens it.
func TestBreakerOpensOnOverloadOutage(t *testing.T) {
	for _, tt := range []struct {
		name   string
		gap    time.Duration // between failed attempts
		opened int           // the failed attempt that opens it
		store  bool          // the breaker lives in a Store
	}{
		{"slow", overloadGrace, 3, false},
		{"fast", overloadGrace / 10, 11, false},
		// A Store counts what it is told: the answers held back during
		// the first 100ms are not, so it takes failure_threshold more.
		{"slow/store", overloadGrace, 4, true},
		{"fast/store", overloadGrace / 10, 13, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clock := newTestClock()
			cfg := onlyOverload(true)
			cfg.Retry.Disabled = true
			m := overloadManager(t, cfg, clock, storeOption(tt.store, clock)...)
			me := m.Method(0)
			for range 20 {
				var c Call
				require.NoError(t, me.Admit(context.Background(), &c))
				me.Success(&c)
			}
			for i := 1; i <= 20; i++ {
				var c Call
				require.NoError(t, me.Admit(context.Background(), &c), "attempt %d", i)
				require.Error(t, me.Failure(context.Background(), &c, status503{}))
				if state, _ := m.BreakerState("W"); state == runtime.StateOpen {
					assert.Equal(t, tt.opened, i)
					return
				}
				clock.Advance(tt.gap)
			}
			t.Fatal("20 503s in a row did not open the breaker")
		})
	}
}

// TestThrottledCallIsNotSentNorRetried: a throttled call fails with an
// error that errors.Is ErrThrottled before its attempt, and is not a
// failure of the service.
func TestThrottledCallIsNotSentNorRetried(t *testing.T) {
	clock := newTestClock()
	m := overloadManager(t, onlyOverload(true), clock)
	me := m.Method(0)
	g := me.guard
	me.stats.successes.Store(10)
	me.stats.notAccepted.Store(990)
	clock.Advance(g.tick)
	g.refresh(clock.Now().UnixNano())
	require.True(t, g.active.Load())
	old := randInt64N
	randInt64N = func(int64) int64 { return 0 } // always under the probability
	t.Cleanup(func() { randInt64N = old })

	var c Call
	err := me.Admit(context.Background(), &c)
	require.ErrorIs(t, err, runtime.ErrThrottled)
	assert.Equal(t, int64(1), me.stats.throttled.Load())
	assert.Equal(t, runtime.StateClosed, me.breaker.state.State())
	// After a failed attempt, the throttled retry ends the call with it.
	c = Call{}
	randInt64N = func(n int64) int64 { return n - 1 } // always over it
	require.NoError(t, me.Admit(context.Background(), &c))
	require.NoError(t, me.Failure(context.Background(), &c, status500{}))
	randInt64N = func(int64) int64 { return 0 }
	err = me.Admit(context.Background(), &c)
	var re *runtime.RetryError
	require.ErrorAs(t, err, &re)
	assert.ErrorIs(t, err, runtime.ErrThrottled)
	assert.Equal(t, status500{}, re.Err)
}

// TestRetryBudgetDeniedSaysWhy: a call whose retry the budget denies
// returns at once a RetryError whose Stop is ErrRetryBudget, with the last
// error kept.
func TestRetryBudgetDeniedSaysWhy(t *testing.T) {
	clock := newTestClock()
	cfg := onlyOverload(false)
	cfg.Throttle.Disabled = true
	cfg.RetryBudget.MinPerSecond = 1
	cfg.RetryBudget.Window = time.Second
	m := overloadManager(t, cfg, clock)
	me := m.Method(0)
	var c Call
	require.NoError(t, me.Admit(context.Background(), &c))
	require.NoError(t, me.Failure(context.Background(), &c, status503{}), "the floor allows one retry")
	require.NoError(t, me.Admit(context.Background(), &c))
	err := me.Failure(context.Background(), &c, status503{})
	var re *runtime.RetryError
	require.ErrorAs(t, err, &re)
	assert.True(t, errors.Is(err, runtime.ErrRetryBudget))
	assert.Equal(t, 2, re.Attempts)
	assert.Equal(t, status503{}, re.Err)
	assert.Contains(t, err.Error(), "retry budget exhausted")
	assert.Equal(t, int64(1), me.stats.budgetDenied.Load())
}

// TestRampAfterBreakerCloses: when the breaker closes, the throttle lets
// traffic back in over its window: about half of the calls at first, all
// of them a window later.
func TestRampAfterBreakerCloses(t *testing.T) {
	clock := newTestClock()
	cfg := onlyOverload(true)
	cfg.Retry.Disabled = true
	cfg.CircuitBreaker.SuccessThreshold = 1
	m := overloadManager(t, cfg, clock)
	me := m.Method(0)
	for range 3 {
		var c Call
		require.NoError(t, me.Admit(context.Background(), &c))
		me.Failure(context.Background(), &c, status500{})
	}
	require.Equal(t, runtime.StateOpen, me.breaker.state.State())
	clock.Advance(2 * time.Second)
	var c Call
	require.NoError(t, me.Admit(context.Background(), &c))
	me.Success(&c)
	require.Equal(t, runtime.StateClosed, me.breaker.state.State())
	require.True(t, me.guard.active.Load(), "a ramp runs")
	p := float64(me.guard.rejection.Load()) / overloadRejectionScale
	assert.InDelta(t, rampRejection, p, 0.01)
	clock.Advance(me.guard.throttle.Window / 2)
	me.guard.refresh(clock.Now().UnixNano())
	p = float64(me.guard.rejection.Load()) / overloadRejectionScale
	assert.InDelta(t, rampRejection/2, p, 0.1)
	clock.Advance(me.guard.throttle.Window)
	me.guard.refresh(clock.Now().UnixNano())
	assert.False(t, me.guard.active.Load(), "the ramp is over")
}

type awsStatus int

func (s awsStatus) Error() string       { return "aws " + strconv.Itoa(int(s)) }
func (s awsStatus) HTTPStatusCode() int { return int(s) }

// TestOverloadAnswers: what the breaker leaves to the throttle while the
// streak is young, whichever shape carries the status.
func TestOverloadAnswers(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{status503{}, true},
		{fmt.Errorf("get: %w", status503{}), true},
		{awsStatus(503), true},
		{status500{}, false},
		{awsStatus(502), false},
		{context.DeadlineExceeded, true},
		{errors.New("plain"), false},
		// Kubernetes' *apierrors.StatusError: its code is in Status(),
		// a struct of another module read by reflection.
		{fmt.Errorf("list pods: %w", &kubeErr{kubeStatus{Reason: "ServiceUnavailable", Code: 503}}), true},
		{&kubeErr{kubeStatus{Reason: "InternalError", Code: 500}}, false},
		// An error whose Status panics (a nil *StatusError) hides no 503
		// joined beside it.
		{errors.Join((*kubeErr)(nil), &kubeErr{kubeStatus{Reason: "ServiceUnavailable", Code: 503}}), true},
	} {
		if got := overloadAnswer(tt.err, runtime.Classify(tt.err)); got != tt.want {
			t.Errorf("overloadAnswer(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// TestRampReachesEveryGuardOfABreaker: two methods that share a breaker
// but not their throttle settings have a guard each; when the breaker
// closes, both ramp, not only the first method's.
func TestRampReachesEveryGuardOfABreaker(t *testing.T) {
	clock := newTestClock()
	a, b := onlyOverload(true), onlyOverload(true)
	a.Retry.Disabled, b.Retry.Disabled = true, true
	a.CircuitBreaker.SuccessThreshold, b.CircuitBreaker.SuccessThreshold = 1, 1
	b.Throttle.Multiplier = 3
	m, err := NewManager(struct{}{}, &Spec{Wrapper: "W", Methods: []MethodSpec{{Name: "A", Config: a}, {Name: "B", Config: b}}},
		runtime.WithClock(clock), runtime.WithLogger(nil))
	require.NoError(t, err)
	t.Cleanup(m.Close)
	ma, mb := m.Method(0), m.Method(1)
	require.Same(t, ma.breaker, mb.breaker)
	require.NotSame(t, ma.guard, mb.guard)
	for range 3 {
		var c Call
		require.NoError(t, ma.Admit(context.Background(), &c))
		ma.Failure(context.Background(), &c, status500{})
	}
	clock.Advance(2 * time.Second)
	var c Call
	require.NoError(t, ma.Admit(context.Background(), &c))
	ma.Success(&c)
	require.Equal(t, runtime.StateClosed, ma.breaker.state.State())
	assert.True(t, ma.guard.active.Load(), "A ramps")
	assert.True(t, mb.guard.active.Load(), "B ramps")
}
