package resgenimpl

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/store"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// testClock is a manual Clock for the breaker's internal tests (fakeclock
// imports this package, so they cannot use it). It counts the calls of Now,
// so that a test can tell that failing fast reads no clock.
type testClock struct {
	mu     sync.Mutex
	now    time.Time
	nows   atomic.Int64
	timers []*testTimer
}

type testTimer struct {
	c    *testClock
	when time.Time
	f    func()
	ch   chan time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Unix(1_000_000, 0)} }

func (c *testClock) Now() time.Time {
	c.nows.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) NewTimer(d time.Duration) runtime.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &testTimer{c: c, when: c.now.Add(d), ch: make(chan time.Time, 1)}
	c.timers = append(c.timers, t)
	return t
}

func (c *testClock) AfterFunc(d time.Duration, f func()) runtime.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &testTimer{c: c, when: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

// Advance moves the clock forward by d and fires, in order, the timers that
// fall due, running AfterFunc functions before it returns.
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	sort.SliceStable(c.timers, func(i, j int) bool { return c.timers[i].when.Before(c.timers[j].when) })
	var due []*testTimer
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.when.After(c.now) {
			kept = append(kept, t)
		} else {
			due = append(due, t)
		}
	}
	c.timers = kept
	c.mu.Unlock()
	for _, t := range due {
		if t.f != nil {
			t.f()
		} else {
			t.ch <- t.when
		}
	}
}

// pending returns the number of timers that have neither fired nor been
// stopped.
func (c *testClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

func (t *testTimer) C() <-chan time.Time { return t.ch }

func (t *testTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			return true
		}
	}
	return false
}

// transitions records a breaker's state changes.
type transitions struct {
	mu  sync.Mutex
	all []breakerTransition
}

func (r *transitions) record(_ *breaker, tr breakerTransition) {
	r.mu.Lock()
	r.all = append(r.all, tr)
	r.mu.Unlock()
}

func (r *transitions) list() []breakerTransition {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]breakerTransition(nil), r.all...)
}

// legalEdge reports whether a breaker may go from one state to another.
func legalEdge(from, to runtime.State) bool {
	switch from {
	case runtime.StateClosed:
		return to == runtime.StateOpen
	case runtime.StateOpen:
		return to == runtime.StateHalfOpen
	case runtime.StateHalfOpen:
		return to == runtime.StateOpen || to == runtime.StateClosed
	}
	return false
}

// The actions of a breaker step.
const (
	doAllow    = "allow"    // Allow; the permit is kept under step.permit
	doSuccess  = "success"  // Success of the permit step.permit
	doFailure  = "failure"  // Failure of the permit step.permit, weighing attemptWeight(step.maxAttempts)
	doRelease  = "release"  // Release of the permit step.permit
	doAdvance  = "advance"  // move the clock forward by step.d
	doProbeNow = "probeNow" // a Ping succeeded
)

type breakerStep struct {
	do          string
	permit      string          // the name a permit is kept under
	n           int             // times the action is repeated; 0 means 1
	maxAttempts int             // doFailure: the method's max_attempts; 0 means 1
	d           time.Duration   // doAdvance
	err         error           // doAllow: the error each Allow returns
	noClock     bool            // doAllow: Allow must not read the clock
	want        runtime.State   // the state after the step
	wantChange  []runtime.State // the states the step moves through, in order
}

type breakerCase struct {
	name  string
	cfg   runtime.CircuitBreakerConfig
	steps []breakerStep
}

// apiBreaker is the api profile's breaker.
var apiBreaker = runtime.CircuitBreakerConfig{FailureThreshold: 3, RecoveryTimeout: 60 * time.Second, SuccessThreshold: 2}

// openSteps open a breaker with threshold 3 of single-attempt calls.
func openSteps() []breakerStep {
	return []breakerStep{
		{do: doAllow, permit: "c", want: runtime.StateClosed},
		{do: doFailure, permit: "c", n: 3, want: runtime.StateOpen, wantChange: []runtime.State{runtime.StateOpen}},
	}
}

func steps(groups ...[]breakerStep) []breakerStep {
	var out []breakerStep
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// toHalfOpen waits out recovery_timeout and lets the first probe, p1, in.
func toHalfOpen() []breakerStep {
	return []breakerStep{
		{do: doAdvance, d: 60 * time.Second, want: runtime.StateOpen},
		{do: doAllow, permit: "p1", want: runtime.StateHalfOpen, wantChange: []runtime.State{runtime.StateHalfOpen}},
	}
}

func TestBreakerSteps(t *testing.T) {
	cases := []breakerCase{
		{
			name: "opens after threshold calls' worth of failed attempts, max_attempts 5",
			cfg:  apiBreaker,
			steps: []breakerStep{
				{do: doAllow, permit: "c", want: runtime.StateClosed},
				{do: doFailure, permit: "c", maxAttempts: 5, n: 14, want: runtime.StateClosed},
				{do: doFailure, permit: "c", maxAttempts: 5, want: runtime.StateOpen, wantChange: []runtime.State{runtime.StateOpen}},
				{do: doAllow, err: runtime.ErrCircuitOpen, noClock: true, want: runtime.StateOpen},
			},
		},
		{
			name: "opens after threshold failures, max_attempts 1",
			cfg:  apiBreaker,
			steps: []breakerStep{
				{do: doAllow, permit: "c", want: runtime.StateClosed},
				{do: doFailure, permit: "c", n: 2, want: runtime.StateClosed},
				{do: doFailure, permit: "c", want: runtime.StateOpen, wantChange: []runtime.State{runtime.StateOpen}},
			},
		},
		{
			name: "mixed weights add up: two calls of 5 attempts and one of 1",
			cfg:  apiBreaker,
			steps: []breakerStep{
				{do: doAllow, permit: "c", want: runtime.StateClosed},
				{do: doFailure, permit: "c", maxAttempts: 5, n: 10, want: runtime.StateClosed},
				{do: doFailure, permit: "c", maxAttempts: 1, want: runtime.StateOpen, wantChange: []runtime.State{runtime.StateOpen}},
			},
		},
		{
			name: "a success resets the streak",
			cfg:  apiBreaker,
			steps: []breakerStep{
				{do: doAllow, permit: "c", want: runtime.StateClosed},
				{do: doFailure, permit: "c", maxAttempts: 5, n: 14, want: runtime.StateClosed},
				{do: doSuccess, permit: "c", want: runtime.StateClosed},
				{do: doFailure, permit: "c", maxAttempts: 5, n: 14, want: runtime.StateClosed},
				{do: doSuccess, permit: "c", want: runtime.StateClosed},
				{do: doFailure, permit: "c", n: 2, want: runtime.StateClosed},
				{do: doFailure, permit: "c", want: runtime.StateOpen, wantChange: []runtime.State{runtime.StateOpen}},
			},
		},
		{
			name: "a release does not reset the streak",
			cfg:  apiBreaker,
			steps: []breakerStep{
				{do: doAllow, permit: "c", want: runtime.StateClosed},
				{do: doFailure, permit: "c", n: 2, want: runtime.StateClosed},
				{do: doRelease, permit: "c", want: runtime.StateClosed},
				{do: doFailure, permit: "c", want: runtime.StateOpen, wantChange: []runtime.State{runtime.StateOpen}},
			},
		},
		{
			name: "open fails fast without reading the clock until recovery_timeout",
			cfg:  apiBreaker,
			steps: steps(openSteps(), []breakerStep{
				{do: doAllow, n: 5, err: runtime.ErrCircuitOpen, noClock: true, want: runtime.StateOpen},
				{do: doAdvance, d: 60*time.Second - 1, want: runtime.StateOpen},
				{do: doAllow, n: 5, err: runtime.ErrCircuitOpen, noClock: true, want: runtime.StateOpen},
				{do: doAdvance, d: 1, want: runtime.StateOpen},
				{do: doAllow, permit: "p1", want: runtime.StateHalfOpen, wantChange: []runtime.State{runtime.StateHalfOpen}},
			}),
		},
		{
			name: "half-open admits at most success_threshold probes, which close it",
			cfg:  apiBreaker,
			steps: steps(openSteps(), toHalfOpen(), []breakerStep{
				{do: doAllow, permit: "p2", want: runtime.StateHalfOpen},
				{do: doAllow, n: 3, err: runtime.ErrCircuitOpen, want: runtime.StateHalfOpen},
				{do: doSuccess, permit: "p1", want: runtime.StateHalfOpen},
				{do: doAllow, permit: "p3", want: runtime.StateHalfOpen},
				{do: doAllow, err: runtime.ErrCircuitOpen, want: runtime.StateHalfOpen},
				{do: doSuccess, permit: "p2", want: runtime.StateClosed, wantChange: []runtime.State{runtime.StateClosed}},
				{do: doAllow, permit: "c2", noClock: true, want: runtime.StateClosed},
				{do: doSuccess, permit: "p3", want: runtime.StateClosed}, // stale now
			}),
		},
		{
			name: "success_threshold 3 needs three successes",
			cfg:  runtime.CircuitBreakerConfig{FailureThreshold: 3, RecoveryTimeout: 60 * time.Second, SuccessThreshold: 3},
			steps: steps(openSteps(), toHalfOpen(), []breakerStep{
				{do: doAllow, permit: "p2", want: runtime.StateHalfOpen},
				{do: doAllow, permit: "p3", want: runtime.StateHalfOpen},
				{do: doAllow, err: runtime.ErrCircuitOpen, want: runtime.StateHalfOpen},
				{do: doSuccess, permit: "p1", want: runtime.StateHalfOpen},
				{do: doSuccess, permit: "p2", want: runtime.StateHalfOpen},
				{do: doSuccess, permit: "p3", want: runtime.StateClosed, wantChange: []runtime.State{runtime.StateClosed}},
			}),
		},
		{
			name: "one probe failure reopens it for another recovery_timeout",
			cfg:  apiBreaker,
			steps: steps(openSteps(), toHalfOpen(), []breakerStep{
				{do: doAllow, permit: "p2", want: runtime.StateHalfOpen},
				{do: doSuccess, permit: "p1", want: runtime.StateHalfOpen},
				{do: doFailure, permit: "p2", want: runtime.StateOpen, wantChange: []runtime.State{runtime.StateOpen}},
				{do: doAllow, err: runtime.ErrCircuitOpen, noClock: true, want: runtime.StateOpen},
				{do: doAdvance, d: 60*time.Second - 1, want: runtime.StateOpen},
				{do: doAllow, err: runtime.ErrCircuitOpen, noClock: true, want: runtime.StateOpen},
				{do: doAdvance, d: 1, want: runtime.StateOpen},
				{do: doAllow, permit: "q1", want: runtime.StateHalfOpen, wantChange: []runtime.State{runtime.StateHalfOpen}},
			}),
		},
		{
			name: "stale permits do not move the breaker",
			cfg:  apiBreaker,
			steps: steps([]breakerStep{
				{do: doAllow, permit: "old", want: runtime.StateClosed},
			}, openSteps(), []breakerStep{
				// A slow attempt admitted while closed fails after it opened.
				{do: doFailure, permit: "old", want: runtime.StateOpen},
			}, toHalfOpen(), []breakerStep{
				{do: doFailure, permit: "old", want: runtime.StateHalfOpen},
				{do: doSuccess, permit: "old", want: runtime.StateHalfOpen},
				{do: doRelease, permit: "old", want: runtime.StateHalfOpen},
				{do: doAllow, permit: "p2", want: runtime.StateHalfOpen},
				{do: doSuccess, permit: "p1", want: runtime.StateHalfOpen},
				{do: doSuccess, permit: "p2", want: runtime.StateClosed, wantChange: []runtime.State{runtime.StateClosed}},
				// Permits of the earlier closed and half-open states.
				{do: doFailure, permit: "old", n: 5, want: runtime.StateClosed},
				{do: doFailure, permit: "p1", n: 5, want: runtime.StateClosed},
				{do: doAllow, permit: "c2", want: runtime.StateClosed},
				{do: doFailure, permit: "c2", n: 2, want: runtime.StateClosed},
				{do: doSuccess, permit: "old", want: runtime.StateClosed}, // must not reset the new streak
				{do: doFailure, permit: "c2", want: runtime.StateOpen, wantChange: []runtime.State{runtime.StateOpen}},
			}),
		},
		{
			name: "a stale probe failure does not reopen a later half-open state",
			cfg:  apiBreaker,
			steps: steps(openSteps(), toHalfOpen(), []breakerStep{
				{do: doFailure, permit: "p1", want: runtime.StateOpen, wantChange: []runtime.State{runtime.StateOpen}},
				{do: doAdvance, d: 60 * time.Second, want: runtime.StateOpen},
				{do: doAllow, permit: "q1", want: runtime.StateHalfOpen, wantChange: []runtime.State{runtime.StateHalfOpen}},
				{do: doFailure, permit: "p1", want: runtime.StateHalfOpen},
				{do: doRelease, permit: "p1", want: runtime.StateHalfOpen},
				{do: doAllow, permit: "q2", want: runtime.StateHalfOpen},
				{do: doAllow, err: runtime.ErrCircuitOpen, want: runtime.StateHalfOpen},
			}),
		},
		{
			name: "release frees a probe slot without counting",
			cfg:  apiBreaker,
			steps: steps(openSteps(), toHalfOpen(), []breakerStep{
				{do: doAllow, permit: "p2", want: runtime.StateHalfOpen},
				{do: doAllow, err: runtime.ErrCircuitOpen, want: runtime.StateHalfOpen},
				{do: doRelease, permit: "p1", want: runtime.StateHalfOpen},
				{do: doAllow, permit: "p3", want: runtime.StateHalfOpen},
				{do: doAllow, err: runtime.ErrCircuitOpen, want: runtime.StateHalfOpen},
				{do: doSuccess, permit: "p2", want: runtime.StateHalfOpen},
				{do: doSuccess, permit: "p3", want: runtime.StateClosed, wantChange: []runtime.State{runtime.StateClosed}},
			}),
		},
		{
			name: "releasing a closed permit does nothing",
			cfg:  apiBreaker,
			steps: []breakerStep{
				{do: doAllow, permit: "c", want: runtime.StateClosed},
				{do: doRelease, permit: "c", n: 10, want: runtime.StateClosed},
				{do: doFailure, permit: "c", n: 2, want: runtime.StateClosed},
				{do: doFailure, permit: "c", want: runtime.StateOpen, wantChange: []runtime.State{runtime.StateOpen}},
			},
		},
		{
			name: "hung probes reopen it after recovery_timeout, then fresh probes go",
			cfg:  apiBreaker,
			steps: steps(openSteps(), toHalfOpen(), []breakerStep{
				{do: doAllow, permit: "p2", want: runtime.StateHalfOpen},
				{do: doAdvance, d: 60*time.Second - 1, want: runtime.StateHalfOpen},
				{do: doAllow, err: runtime.ErrCircuitOpen, want: runtime.StateHalfOpen},
				{do: doAdvance, d: 1, want: runtime.StateHalfOpen},
				{do: doAllow, err: runtime.ErrCircuitOpen, want: runtime.StateOpen, wantChange: []runtime.State{runtime.StateOpen}},
				{do: doAllow, err: runtime.ErrCircuitOpen, noClock: true, want: runtime.StateOpen},
				{do: doAdvance, d: 60*time.Second - 1, want: runtime.StateOpen},
				{do: doAllow, err: runtime.ErrCircuitOpen, noClock: true, want: runtime.StateOpen},
				{do: doAdvance, d: 1, want: runtime.StateOpen},
				{do: doAllow, permit: "q1", want: runtime.StateHalfOpen, wantChange: []runtime.State{runtime.StateHalfOpen}},
				{do: doAllow, permit: "q2", want: runtime.StateHalfOpen},
				// The hung probes answer at last: too late to count.
				{do: doSuccess, permit: "p1", want: runtime.StateHalfOpen},
				{do: doFailure, permit: "p2", want: runtime.StateHalfOpen},
				{do: doSuccess, permit: "q1", want: runtime.StateHalfOpen},
				{do: doSuccess, permit: "q2", want: runtime.StateClosed, wantChange: []runtime.State{runtime.StateClosed}},
			}),
		},
		{
			name: "probes admitted late in a long half-open state are not taken as hung",
			cfg:  apiBreaker,
			steps: steps(openSteps(), toHalfOpen(), []breakerStep{
				// p1 answers with an error that does not count, and no
				// traffic comes for longer than recovery_timeout.
				{do: doRelease, permit: "p1", want: runtime.StateHalfOpen},
				{do: doAdvance, d: 5 * time.Minute, want: runtime.StateHalfOpen},
				{do: doAllow, permit: "q1", want: runtime.StateHalfOpen},
				{do: doAllow, permit: "q2", want: runtime.StateHalfOpen},
				// q1 and q2 have just started: the next caller is refused,
				// but the breaker stays half-open.
				{do: doAllow, err: runtime.ErrCircuitOpen, want: runtime.StateHalfOpen},
				{do: doSuccess, permit: "q1", want: runtime.StateHalfOpen},
				{do: doAllow, permit: "q3", want: runtime.StateHalfOpen},
				{do: doSuccess, permit: "q2", want: runtime.StateClosed, wantChange: []runtime.State{runtime.StateClosed}},
			}),
		},
		{
			name: "a hung probe while the other slot turns over does not reopen it",
			cfg:  apiBreaker,
			steps: steps(openSteps(), toHalfOpen(), []breakerStep{
				{do: doAllow, permit: "p2", want: runtime.StateHalfOpen},
				{do: doAdvance, d: 50 * time.Second, want: runtime.StateHalfOpen},
				{do: doRelease, permit: "p2", want: runtime.StateHalfOpen},
				{do: doAllow, permit: "p3", want: runtime.StateHalfOpen},
				// p1 is 60s old, p3 only 10s.
				{do: doAdvance, d: 10 * time.Second, want: runtime.StateHalfOpen},
				{do: doAllow, err: runtime.ErrCircuitOpen, want: runtime.StateHalfOpen},
				// Now p3 is 60s old too: both are hung.
				{do: doAdvance, d: 50 * time.Second, want: runtime.StateHalfOpen},
				{do: doAllow, err: runtime.ErrCircuitOpen, want: runtime.StateOpen, wantChange: []runtime.State{runtime.StateOpen}},
			}),
		},
		{
			name: "probeNow moves open to half-open before recovery_timeout",
			cfg:  apiBreaker,
			steps: steps(openSteps(), []breakerStep{
				{do: doAdvance, d: 10 * time.Second, want: runtime.StateOpen},
				{do: doProbeNow, want: runtime.StateHalfOpen, wantChange: []runtime.State{runtime.StateHalfOpen}},
				{do: doProbeNow, want: runtime.StateHalfOpen}, // only from open
				{do: doAllow, permit: "p1", want: runtime.StateHalfOpen},
				{do: doAllow, permit: "p2", want: runtime.StateHalfOpen},
				{do: doAllow, err: runtime.ErrCircuitOpen, want: runtime.StateHalfOpen},
				{do: doFailure, permit: "p1", want: runtime.StateOpen, wantChange: []runtime.State{runtime.StateOpen}},
				// The first open state's timer, due at 60s, must not cut
				// the second one short.
				{do: doAdvance, d: 50 * time.Second, want: runtime.StateOpen},
				{do: doAllow, err: runtime.ErrCircuitOpen, noClock: true, want: runtime.StateOpen},
				{do: doAdvance, d: 10*time.Second - 1, want: runtime.StateOpen},
				{do: doAllow, err: runtime.ErrCircuitOpen, noClock: true, want: runtime.StateOpen},
				{do: doAdvance, d: 1, want: runtime.StateOpen},
				{do: doAllow, permit: "q1", want: runtime.StateHalfOpen, wantChange: []runtime.State{runtime.StateHalfOpen}},
			}),
		},
		{
			name: "probeNow does nothing to a closed breaker",
			cfg:  apiBreaker,
			steps: []breakerStep{
				{do: doProbeNow, want: runtime.StateClosed},
				{do: doAllow, permit: "c", noClock: true, want: runtime.StateClosed},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runBreakerSteps(t, tc.cfg, tc.steps)
		})
	}
}

func runBreakerSteps(t *testing.T, cfg runtime.CircuitBreakerConfig, steps []breakerStep) {
	t.Helper()
	clock := newTestClock()
	var rec transitions
	b := newBreaker("orders", cfg, clock, rec.record)
	permits := map[string]store.Permit{}
	seen := 0
	for i, s := range steps {
		where := fmt.Sprintf("step %d (%s %s)", i, s.do, s.permit)
		n := max(s.n, 1)
		for range n {
			switch s.do {
			case doAllow:
				before := clock.nows.Load()
				p, err := b.Allow(clock)
				if s.err != nil {
					require.ErrorIs(t, err, s.err, where)
				} else {
					require.NoError(t, err, where)
				}
				if s.noClock {
					require.Equal(t, before, clock.nows.Load(), "%s: Allow read the clock", where)
				}
				if err == nil && s.permit != "" {
					permits[s.permit] = p
				}
			case doSuccess, doFailure, doRelease:
				p, ok := permits[s.permit]
				require.True(t, ok, "%s: no permit %q", where, s.permit)
				switch s.do {
				case doSuccess:
					b.Success(p, clock)
				case doFailure:
					b.Failure(p, attemptWeight(max(s.maxAttempts, 1)), clock)
				case doRelease:
					b.Release(p)
				}
			case doAdvance:
				clock.Advance(s.d)
			case doProbeNow:
				b.probeNow(clock)
			default:
				t.Fatalf("%s: unknown action", where)
			}
		}
		require.Equal(t, s.want, b.State(), where)
		all := rec.list()
		var got []runtime.State
		for _, tr := range all[seen:] {
			require.True(t, legalEdge(tr.from, tr.to), "%s: illegal transition %v → %v", where, tr.from, tr.to)
			got = append(got, tr.to)
		}
		seen = len(all)
		require.Equal(t, s.wantChange, got, "%s: transitions", where)
	}
}

func TestBreakerTransitionCounts(t *testing.T) {
	clock := newTestClock()
	var rec transitions
	b := newBreaker("orders", apiBreaker, clock, rec.record)
	p, err := b.Allow(clock)
	require.NoError(t, err)
	for range 15 {
		b.Failure(p, attemptWeight(5), clock)
	}
	clock.Advance(60 * time.Second)
	p1, err := b.Allow(clock)
	require.NoError(t, err)
	b.Failure(p1, attemptWeight(5), clock)
	clock.Advance(60 * time.Second)
	_, err = b.Allow(clock)
	require.NoError(t, err)
	_, err = b.Allow(clock)
	require.NoError(t, err)
	clock.Advance(60 * time.Second)
	_, err = b.Allow(clock)
	require.ErrorIs(t, err, runtime.ErrCircuitOpen)

	assert.Equal(t, []breakerTransition{
		{from: runtime.StateClosed, to: runtime.StateOpen, failures: 3, attempts: 15, openFor: time.Minute},
		{from: runtime.StateOpen, to: runtime.StateHalfOpen},
		{from: runtime.StateHalfOpen, to: runtime.StateOpen, failures: 1, attempts: 1, openFor: time.Minute}, // a failed probe
		{from: runtime.StateOpen, to: runtime.StateHalfOpen},
		{from: runtime.StateHalfOpen, to: runtime.StateOpen, failures: 2, attempts: 2, openFor: time.Minute}, // two hung probes
	}, rec.list())
}

// TestBreakerThresholdExact checks, for every max_attempts and threshold
// in a realistic range, that threshold×max_attempts failed attempts open
// the breaker and one fewer does not.
func TestBreakerThresholdExact(t *testing.T) {
	for threshold := 1; threshold <= 20; threshold++ {
		for maxAttempts := 1; maxAttempts <= 12; maxAttempts++ {
			clock := newTestClock()
			b := newBreaker("x", runtime.CircuitBreakerConfig{FailureThreshold: threshold, RecoveryTimeout: time.Minute, SuccessThreshold: 1}, clock, nil)
			p, err := b.Allow(clock)
			require.NoError(t, err)
			for range threshold*maxAttempts - 1 {
				b.Failure(p, attemptWeight(maxAttempts), clock)
			}
			require.Equal(t, runtime.StateClosed, b.State(), "threshold %d, max_attempts %d: opened early", threshold, maxAttempts)
			b.Failure(p, attemptWeight(maxAttempts), clock)
			require.Equal(t, runtime.StateOpen, b.State(), "threshold %d, max_attempts %d: did not open", threshold, maxAttempts)
		}
	}
}

// TestBreakerOpenTakesNoLock holds the breaker's mutex while an open
// breaker fails fast: Allow must return all the same.
func TestBreakerOpenTakesNoLock(t *testing.T) {
	clock := newTestClock()
	b := newBreaker("orders", apiBreaker, clock, nil)
	p, err := b.Allow(clock)
	require.NoError(t, err)
	for range 3 {
		b.Failure(p, attemptWeight(1), clock)
	}
	require.Equal(t, runtime.StateOpen, b.State())

	b.mu.Lock()
	defer b.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		var err error
		for range 1000 {
			if _, err = b.Allow(clock); !errors.Is(err, runtime.ErrCircuitOpen) {
				break
			}
		}
		done <- err
	}()
	select {
	case err := <-done:
		require.ErrorIs(t, err, runtime.ErrCircuitOpen)
	case <-time.After(10 * time.Second): // a watchdog, not timing logic
		t.Fatal("Allow of an open breaker blocked on the breaker's mutex")
	}
}

// TestBreakerOpenTimerStoppedByProbeNow checks that leaving the open state
// early stops its recovery timer instead of leaving it pending.
func TestBreakerOpenTimerStoppedByProbeNow(t *testing.T) {
	clock := newTestClock()
	b := newBreaker("orders", apiBreaker, clock, nil)
	p, err := b.Allow(clock)
	require.NoError(t, err)
	for range 3 {
		b.Failure(p, attemptWeight(1), clock)
	}
	require.Equal(t, 1, clock.pending())
	left := b.whileOpen()
	require.NotNil(t, left)
	b.probeNow(clock)
	assert.Equal(t, 0, clock.pending(), "the open state's timer is still pending")
	select {
	case <-left:
	default:
		t.Fatal("whileOpen's channel was not closed when the breaker left the open state")
	}
	assert.Nil(t, b.whileOpen())
}

// TestBreakerClosedPathReadsNoClock checks the contract of Allow and
// Success in the closed state.
func TestBreakerClosedPathReadsNoClock(t *testing.T) {
	clock := newTestClock()
	b := newBreaker("orders", apiBreaker, clock, nil)
	for range 100 {
		p, err := b.Allow(clock)
		require.NoError(t, err)
		b.Failure(p, attemptWeight(5), clock)
		b.Success(p, clock)
	}
	// Failure reads the clock only when it opens the breaker (or meets an
	// overload answer, which Failure is not).
	assert.Zero(t, clock.nows.Load())
	assert.Equal(t, runtime.StateClosed, b.State())
}

func TestStateString(t *testing.T) {
	assert.Equal(t, "CLOSED", runtime.StateClosed.String())
	assert.Equal(t, "OPEN", runtime.StateOpen.String())
	assert.Equal(t, "HALF_OPEN", runtime.StateHalfOpen.String())
	assert.Equal(t, "State(3)", runtime.State(3).String())
}

// breakerModel is the reference the property test holds the breaker to: the
// package doc's rules, written out as plainly as possible.
type breakerModel struct {
	threshold, successThreshold int64
	timeout                     time.Duration

	state     runtime.State
	gen       uint64 // transitions so far
	streak    int64  // weighted failed attempts in a row
	probes    int64  // probes in flight
	successes int64
	openedAt  time.Time
	lastProbe time.Time
}

func (m *breakerModel) set(to runtime.State, now time.Time) {
	m.state = to
	m.gen++
	m.streak, m.probes, m.successes = 0, 0, 0
	switch to {
	case runtime.StateOpen:
		m.openedAt = now
	case runtime.StateHalfOpen:
		m.lastProbe = now
	}
}

// allow returns whether the model admits an attempt at now.
func (m *breakerModel) allow(now time.Time) bool {
	switch m.state {
	case runtime.StateClosed:
		return true
	case runtime.StateOpen:
		if now.Sub(m.openedAt) < m.timeout {
			return false
		}
		m.set(runtime.StateHalfOpen, now)
	case runtime.StateHalfOpen:
		if m.probes >= m.successThreshold && now.Sub(m.lastProbe) >= m.timeout {
			m.set(runtime.StateOpen, now) // every probe in flight hung
			return false
		}
	}
	if m.probes >= m.successThreshold {
		return false
	}
	m.probes++
	m.lastProbe = now
	return true
}

type modelPermit struct {
	p     store.Permit
	gen   uint64
	state runtime.State
}

func (m *breakerModel) success(p modelPermit, now time.Time) {
	if p.gen != m.gen {
		return
	}
	switch m.state {
	case runtime.StateClosed:
		m.streak = 0
	case runtime.StateHalfOpen:
		m.probes--
		if m.successes++; m.successes >= m.successThreshold {
			m.set(runtime.StateClosed, now)
		}
	}
}

func (m *breakerModel) failure(p modelPermit, weight int64, now time.Time) {
	if p.gen != m.gen {
		return
	}
	switch m.state {
	case runtime.StateClosed:
		if m.streak += weight; m.streak >= m.threshold*callWeight {
			m.set(runtime.StateOpen, now)
		}
	case runtime.StateHalfOpen:
		m.set(runtime.StateOpen, now)
	}
}

func (m *breakerModel) release(p modelPermit) {
	if p.gen == m.gen && m.state == runtime.StateHalfOpen {
		m.probes--
	}
}

// TestBreakerMatchesModel runs random sequences of admissions, results,
// releases, clock advances and successful pings against the breaker and
// the model, and checks the invariants: probes in flight never exceed
// success_threshold, an open breaker admits nothing before
// recovery_timeout, states change only along legal edges.
func TestBreakerMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := runtime.CircuitBreakerConfig{
			FailureThreshold: rapid.IntRange(1, 5).Draw(t, "failure_threshold"),
			SuccessThreshold: rapid.IntRange(1, 4).Draw(t, "success_threshold"),
			RecoveryTimeout:  rapid.SampledFrom([]time.Duration{time.Second, 30 * time.Second, 60 * time.Second}).Draw(t, "recovery_timeout"),
		}
		clock := newTestClock()
		var rec transitions
		b := newBreaker("orders", cfg, clock, rec.record)
		m := &breakerModel{
			threshold:        int64(cfg.FailureThreshold),
			successThreshold: int64(cfg.SuccessThreshold),
			timeout:          cfg.RecoveryTimeout,
		}
		var (
			held     []modelPermit         // admitted, not yet reported
			seen     int                   // transitions checked
			observed = runtime.StateClosed // the state the transitions say it is in
			openedAt time.Time             // when the transitions say it last opened
			probed   bool                  // a ping moved it out of the open state
		)
		take := func(t *rapid.T) modelPermit {
			if len(held) == 0 {
				t.Skip("no permit held")
			}
			i := rapid.IntRange(0, len(held)-1).Draw(t, "permit")
			p := held[i]
			held = append(held[:i], held[i+1:]...)
			return p
		}
		actions := map[string]func(*rapid.T){
			"allow": func(t *rapid.T) {
				now := clock.Now()
				before := b.State()
				want := m.allow(now)
				p, err := b.Allow(clock)
				if want != (err == nil) {
					t.Fatalf("Allow at %v in %v: got error %v, model admits: %v", now, before, err, want)
				}
				if err != nil {
					if !errors.Is(err, runtime.ErrCircuitOpen) {
						t.Fatalf("Allow: %v, want ErrCircuitOpen", err)
					}
					return
				}
				if before == runtime.StateOpen && !probed && now.Sub(openedAt) < cfg.RecoveryTimeout {
					t.Fatalf("an open breaker admitted an attempt %v after opening, before recovery_timeout %v",
						now.Sub(openedAt), cfg.RecoveryTimeout)
				}
				if uint64(p)>>2 != m.gen || p.State() != m.state {
					t.Fatalf("permit %#x, model is in generation %d, %v", uint64(p), m.gen, m.state)
				}
				held = append(held, modelPermit{p: p, gen: m.gen, state: m.state})
			},
			"success": func(t *rapid.T) {
				p := take(t)
				m.success(p, clock.Now())
				b.Success(p.p, clock)
			},
			"failure": func(t *rapid.T) {
				p := take(t)
				w := attemptWeight(rapid.IntRange(1, 6).Draw(t, "max_attempts"))
				m.failure(p, w, clock.Now())
				b.Failure(p.p, w, clock)
			},
			"release": func(t *rapid.T) {
				p := take(t)
				m.release(p)
				b.Release(p.p)
			},
			"advance": func(t *rapid.T) {
				d := rapid.SampledFrom([]time.Duration{
					1, time.Second, 10 * time.Second, 29 * time.Second, 30 * time.Second,
					59 * time.Second, 60 * time.Second, 61 * time.Second, 5 * time.Minute,
				}).Draw(t, "advance")
				clock.Advance(d)
			},
			"probeNow": func(t *rapid.T) {
				if m.state == runtime.StateOpen {
					m.set(runtime.StateHalfOpen, clock.Now())
				}
				b.probeNow(clock)
			},
			"": func(t *rapid.T) {
				if got := b.State(); got != m.state {
					t.Fatalf("breaker is %v, model %v", got, m.state)
				}
				all := rec.list()
				for _, tr := range all[seen:] {
					if !legalEdge(tr.from, tr.to) || tr.from != observed {
						t.Fatalf("transition %v → %v while in %v", tr.from, tr.to, observed)
					}
					switch {
					case tr.to == runtime.StateOpen:
						openedAt, probed = clock.Now(), false
					case tr.from == runtime.StateOpen && clock.Now().Sub(openedAt) < cfg.RecoveryTimeout:
						probed = true // only probeNow may do this
					}
					observed = tr.to
				}
				seen = len(all)
				if observed != m.state {
					t.Fatalf("transitions say %v, model %v", observed, m.state)
				}
				var inFlight int64
				for _, p := range held {
					if p.gen == m.gen && p.state == runtime.StateHalfOpen {
						inFlight++
					}
				}
				if inFlight > m.successThreshold {
					t.Fatalf("%d probes in flight, success_threshold %d", inFlight, m.successThreshold)
				}
				if inFlight != m.probes {
					t.Fatalf("%d probes in flight, model counts %d", inFlight, m.probes)
				}
			},
		}
		for range 5 { // longer runs than rapid's default reach more states
			t.Repeat(actions)
		}
	})
}

// TestBreakerConcurrent hammers one breaker from many goroutines while the
// clock moves and pings succeed. Nothing may panic or race, no more than
// success_threshold probes of one half-open state may be in flight at
// once, and every transition must follow a legal edge.
func TestBreakerConcurrent(t *testing.T) {
	const (
		workers    = 16
		minTurns   = 5000   // clock advances, at least
		maxTurns   = 20_000 // give up on seeing every edge
		opsPerTurn = 10
	)
	cfg := runtime.CircuitBreakerConfig{FailureThreshold: 2, RecoveryTimeout: time.Second, SuccessThreshold: 3}
	clock := newTestClock()
	var edges [3][3]atomic.Int64
	b := newBreaker("orders", cfg, clock, func(_ *breaker, tr breakerTransition) {
		if !legalEdge(tr.from, tr.to) {
			panic(fmt.Sprintf("illegal transition %v → %v", tr.from, tr.to))
		}
		edges[tr.from][tr.to].Add(1)
	})
	allEdges := func(n int64) bool {
		return edges[runtime.StateClosed][runtime.StateOpen].Load() >= n && edges[runtime.StateOpen][runtime.StateHalfOpen].Load() >= n &&
			edges[runtime.StateHalfOpen][runtime.StateOpen].Load() >= n && edges[runtime.StateHalfOpen][runtime.StateClosed].Load() >= n
	}

	var (
		mu       sync.Mutex
		inFlight = map[uint64]int{} // half-open permits held, by word
		worst    int
	)
	hold := func(p store.Permit, d int) {
		if p.State() != runtime.StateHalfOpen {
			return
		}
		mu.Lock()
		inFlight[uint64(p)] += d
		worst = max(worst, inFlight[uint64(p)])
		mu.Unlock()
	}
	var ops, probesAdmitted atomic.Int64
	// The workers run in turns of opsPerTurn attempts each; between turns
	// and during them the test moves the clock and pings succeed.
	turn := make([]chan bool, workers) // true: go on, false: stop
	var inTurn, all sync.WaitGroup
	for w := range workers {
		turn[w] = make(chan bool)
		rng := rand.New(rand.NewPCG(uint64(w), 1))
		all.Go(func() {
			for <-turn[w] {
				for range opsPerTurn {
					ops.Add(1)
					p, err := b.Allow(clock)
					if err != nil {
						if !errors.Is(err, runtime.ErrCircuitOpen) {
							panic(err)
						}
						continue
					}
					probe := p.State() == runtime.StateHalfOpen
					if probe {
						probesAdmitted.Add(1)
					}
					// The count goes up after admission and down before the
					// report, so it never exceeds the breaker's own.
					hold(p, +1)
					r := rng.IntN(100)
					hold(p, -1)
					switch {
					case probe && r < 70, !probe && r < 50:
						b.Success(p, clock)
					case probe && r < 85, !probe && r < 90:
						b.Failure(p, attemptWeight(1+r%5), clock)
					default:
						b.Release(p)
					}
				}
				inTurn.Done()
			}
		})
	}
	turns := 0
	for ; turns < maxTurns && (turns < minTurns || !allEdges(3)); turns++ {
		inTurn.Add(workers)
		for _, c := range turn {
			c <- true
		}
		clock.Advance(100 * time.Millisecond)
		if turns%7 == 0 {
			b.probeNow(clock)
		}
		b.mu.Lock()
		probes := b.probes
		b.mu.Unlock()
		require.GreaterOrEqual(t, probes, 0)
		require.LessOrEqual(t, probes, cfg.SuccessThreshold)
		inTurn.Wait()
	}
	for _, c := range turn {
		c <- false
	}
	all.Wait()

	assert.LessOrEqual(t, worst, cfg.SuccessThreshold, "probes of one half-open state in flight at once")
	// The run must have gone along every edge, or it proves little.
	assert.True(t, allEdges(3), "not every transition happened in %d turns", turns)
	assert.Positive(t, probesAdmitted.Load())
	t.Logf("%d turns, %d attempts, %d probes; C→O %d, O→H %d, H→O %d, H→C %d", turns, ops.Load(), probesAdmitted.Load(),
		edges[runtime.StateClosed][runtime.StateOpen].Load(), edges[runtime.StateOpen][runtime.StateHalfOpen].Load(),
		edges[runtime.StateHalfOpen][runtime.StateOpen].Load(), edges[runtime.StateHalfOpen][runtime.StateClosed].Load())
}

// TestBreakerNotifiesInOrder: transitions reach onChange one at a time and
// in the order they happened, even when the goroutine that made one is slow
// to report it while another goroutine makes the next. Before, a breaker
// could be logged CLOSED after it had opened again, and the outage's length
// was taken from the wrong opening.
func TestBreakerNotifiesInOrder(t *testing.T) {
	clock := newTestClock()
	var (
		mu      sync.Mutex
		got     []breakerTransition
		running int
		entered = make(chan struct{})
		release = make(chan struct{})
	)
	b := newBreaker("orders", runtime.CircuitBreakerConfig{FailureThreshold: 1, RecoveryTimeout: time.Minute, SuccessThreshold: 1}, clock,
		func(_ *breaker, tr breakerTransition) {
			mu.Lock()
			running++
			overlap := running > 1
			mu.Unlock()
			if overlap {
				panic("onChange called while it runs")
			}
			if tr.from == runtime.StateHalfOpen && tr.to == runtime.StateClosed {
				close(entered)
				<-release // the goroutine that closed it is slow to report it
			}
			mu.Lock()
			got = append(got, tr)
			running--
			mu.Unlock()
		})
	p, err := b.Allow(clock)
	require.NoError(t, err)
	b.Failure(p, attemptWeight(1), clock)
	clock.Advance(time.Minute)
	probe, err := b.Allow(clock)
	require.NoError(t, err)
	require.Equal(t, runtime.StateHalfOpen, b.State())

	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Success(probe, clock) // closes it
	}()
	<-entered
	p, err = b.Allow(clock)
	require.NoError(t, err)
	b.Failure(p, attemptWeight(1), clock) // opens it again, and returns
	require.Equal(t, runtime.StateOpen, b.State())
	mu.Lock()
	assert.Len(t, got, 2, "the new opening was reported before the closing")
	mu.Unlock()
	close(release)
	<-done

	assert.Equal(t, []breakerTransition{
		{from: runtime.StateClosed, to: runtime.StateOpen, failures: 1, attempts: 1, openFor: time.Minute},
		{from: runtime.StateOpen, to: runtime.StateHalfOpen},
		{from: runtime.StateHalfOpen, to: runtime.StateClosed},
		{from: runtime.StateClosed, to: runtime.StateOpen, failures: 1, attempts: 1, openFor: time.Minute},
	}, got)
}

// TestBreakerObserverMayCallBack: an onChange that moves the breaker again
// (an observer that calls the wrapper) neither deadlocks nor reorders.
func TestBreakerObserverMayCallBack(t *testing.T) {
	clock := newTestClock()
	var got []runtime.State
	var b *breaker
	b = newBreaker("orders", runtime.CircuitBreakerConfig{FailureThreshold: 1, RecoveryTimeout: time.Minute, SuccessThreshold: 1}, clock,
		func(_ *breaker, tr breakerTransition) {
			got = append(got, tr.to)
			if tr.to == runtime.StateOpen && len(got) == 1 {
				b.probeNow(clock) // runs inside onChange
				got = append(got, 99)
			}
		})
	p, err := b.Allow(clock)
	require.NoError(t, err)
	b.Failure(p, attemptWeight(1), clock)
	assert.Equal(t, []runtime.State{runtime.StateOpen, 99, runtime.StateHalfOpen}, got)
	assert.Equal(t, runtime.StateHalfOpen, b.State())
}

// gatedClock is a testClock whose NewTimer reports each timer it makes
// and whose next timer Stop, once armed, waits for the test.
type gatedClock struct {
	*testClock
	made        chan struct{} // receives at each NewTimer
	armed       atomic.Bool
	stopEntered chan struct{}
	stopRelease chan struct{}
}

type gatedTimer struct {
	runtime.Timer
	c *gatedClock
}

func (c *gatedClock) NewTimer(d time.Duration) runtime.Timer {
	t := gatedTimer{c.testClock.NewTimer(d), c}
	c.made <- struct{}{}
	return t
}

func (t gatedTimer) Stop() bool {
	if t.c.armed.CompareAndSwap(true, false) {
		close(t.c.stopEntered)
		<-t.c.stopRelease
	}
	return t.Timer.Stop()
}

type failingPinger struct{}

func (failingPinger) Ping(context.Context) error { return errors.New("still down") }

// TestProberSurvivesQuickReopen: when the breaker opens again while the
// prober of its last open state is winding down, that prober carries on
// probing the new open state. Before, startProber saw a prober still
// running and started none, and the one running then ended: the breaker
// stayed open without pings.
func TestProberSurvivesQuickReopen(t *testing.T) {
	clock := &gatedClock{
		testClock:   newTestClock(),
		made:        make(chan struct{}, 10),
		stopEntered: make(chan struct{}),
		stopRelease: make(chan struct{}),
	}
	m, err := NewManager(failingPinger{}, &Spec{Wrapper: "W", Methods: []MethodSpec{{Name: "Get", Config: runtime.Config{
		Retry:          runtime.RetryConfig{Disabled: true},
		RateLimit:      runtime.RateLimitConfig{Disabled: true},
		CircuitBreaker: runtime.CircuitBreakerConfig{FailureThreshold: 1, RecoveryTimeout: time.Minute, SuccessThreshold: 1},
		Recovery:       runtime.RecoveryConfig{CheckInterval: 10 * time.Second},
	}}}}, runtime.WithClock(clock), runtime.WithLogger(nil))
	require.NoError(t, err)
	defer m.Close()
	b := m.breakers["W"].local
	require.NotNil(t, b)

	p, err := b.Allow(clock)
	require.NoError(t, err)
	b.Failure(p, attemptWeight(1), clock)
	require.Equal(t, runtime.StateOpen, b.State())
	<-clock.made // the prober waits for its first ping

	clock.armed.Store(true)
	b.probeNow(clock) // as if a ping succeeded: the prober sees the breaker leave the open state
	<-clock.stopEntered
	// While that prober winds down, a failed probe opens the breaker again.
	probe, err := b.Allow(clock)
	require.NoError(t, err)
	b.Failure(probe, attemptWeight(1), clock)
	require.Equal(t, runtime.StateOpen, b.State())
	close(clock.stopRelease)

	select {
	case <-clock.made: // a prober waits for the next ping
	case <-time.After(10 * time.Second): // a watchdog, not timing logic
		t.Fatal("nothing probes the breaker that opened again")
	}
}
