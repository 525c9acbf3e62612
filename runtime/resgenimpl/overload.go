package resgenimpl

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/resgen-dev/resgen/runtime"
)

// This file holds the two overload policies of a dependency, client-side
// adaptive throttling and the retry budget, each with its configuration,
// defaults, checks and keys, and the guard that enforces both.
//
// A dependency is what one circuit breaker guards: the wrapper, a breaker
// group, or a method with a breaker of its own (a wrapper without a breaker
// is one dependency). Its guard counts, over sliding windows, the attempts
// its methods sent, those the service accepted (answered, even with a
// client error) and those it did not (overload answers, server errors,
// broken connections, timeouts), and the calls and retries. It reads the
// methods' own counters, so a successful call pays nothing for it.

// sameOverload reports whether two methods' overload settings let them
// share a guard.
func sameOverload(a, b runtime.Config) bool {
	return a.Throttle == b.Throttle && a.RetryBudget == b.RetryBudget
}

// guard enforces the overload policies of one dependency.
type guard struct {
	name     string
	throttle runtime.ThrottleConfig // normalized
	budget   runtime.RetryBudgetConfig
	methods  []*Method
	clock    runtime.Clock
	// onChange is told when throttling starts or stops, outside mu.
	onChange func(g *guard, on bool, rejection, requests, accepts float64)

	// active is set while admission must ask the throttle: the rejection
	// probability is above zero, or a ramp runs. Admission reads it once;
	// everything else here is on the failure path.
	active    atomic.Bool
	rejection atomic.Uint64 // the rejection probability × 2³²
	next      atomic.Int64  // when the samples are next due, Unix nanoseconds

	mu      sync.Mutex
	tick    time.Duration
	samples [overloadSamples]overloadSample // a ring, oldest at head
	head, n int
	// The retries granted in each tick of the budget's window and one more.
	retryTicks []retryTick
	rampStart  int64 // a ramp after the breaker closed: when it began
	rampEnd    int64 // and when it ends, Unix nanoseconds; zero: none
}

// retryTick counts the retries granted in one tick.
type retryTick struct{ tick, n int64 }

// overloadSample is the dependency's counters at one time.
type overloadSample struct {
	t               int64
	req, acc, calls int64
}

func newGuard(name string, cfg runtime.Config, clock runtime.Clock) *guard {
	g := &guard{name: name, throttle: cfg.Throttle, budget: cfg.RetryBudget, clock: clock}
	w := g.throttle.Window
	if !g.budget.Disabled {
		w = max(w, g.budget.Window)
	}
	g.tick = max(overloadMinTick, w/(overloadSamples-2), min(g.throttle.Window, g.budget.Window)/10)
	if !g.budget.Disabled {
		g.retryTicks = make([]retryTick, g.budget.Window/g.tick+2)
	}
	now := clock.Now().UnixNano()
	g.samples[0] = overloadSample{t: now}
	g.n = 1
	g.next.Store(now + int64(g.tick))
	return g
}

// sum returns the dependency's counters now.
func (g *guard) sum(now int64) overloadSample {
	s := overloadSample{t: now}
	for _, me := range g.methods {
		st := &me.stats
		ok := st.successes.Load()
		acc := ok + st.answered.Load()
		s.acc += acc
		s.req += acc + st.notAccepted.Load() + st.throttled.Load()
		s.calls += ok + st.failures.Load()
	}
	return s
}

// at returns the counters at time t, interpolated between the samples
// around it (and cur, the counters now).
func (g *guard) at(t int64, cur overloadSample) (req, acc float64) {
	prev := g.samples[g.head]
	if t <= prev.t {
		return float64(prev.req), float64(prev.acc)
	}
	for i := 1; i <= g.n; i++ {
		next := cur
		if i < g.n {
			next = g.samples[(g.head+i)%overloadSamples]
		}
		if t <= next.t {
			f := float64(t-prev.t) / float64(max(next.t-prev.t, 1))
			lerp := func(a, b int64) float64 { return float64(a) + f*float64(b-a) }
			return lerp(prev.req, next.req), lerp(prev.acc, next.acc)
		}
		prev = next
	}
	return float64(cur.req), float64(cur.acc)
}

// refresh samples the counters when a tick has passed since the last
// sample, and recomputes the throttle's probability.
func (g *guard) refresh(now int64) {
	if now < g.next.Load() {
		return
	}
	g.mu.Lock()
	if now < g.next.Load() {
		g.mu.Unlock()
		return
	}
	was := g.active.Load()
	req, acc := g.update(now)
	g.mu.Unlock()
	g.notify(was, req, acc)
}

// notify reports a change of the throttle's state to onChange.
func (g *guard) notify(was bool, req, acc float64) {
	if on := g.active.Load(); on != was && g.onChange != nil {
		g.onChange(g, on, float64(g.rejection.Load())/overloadRejectionScale, req, acc)
	}
}

// update samples the counters at now and recomputes the throttle; it
// returns the requests and accepts of the throttle's window.
func (g *guard) update(now int64) (req, acc float64) {
	cur := g.sum(now)
	req0, acc0 := g.at(now-int64(g.throttle.Window), cur)
	req, acc = float64(cur.req)-req0, float64(cur.acc)-acc0

	if now-g.samples[(g.head+g.n-1)%overloadSamples].t >= int64(g.tick) {
		if g.n == overloadSamples {
			g.head = (g.head + 1) % overloadSamples
			g.n--
		}
		g.samples[(g.head+g.n)%overloadSamples] = cur
		g.n++
	}
	g.next.Store(now + int64(g.tick))

	var p float64
	if t := &g.throttle; !t.Disabled {
		// Only while the service accepts something: an outage is the
		// breaker's.
		if acc >= 0.5 && req >= minThrottleRequests {
			p = min(max(0, (req-t.Multiplier*acc)/(req+1)), t.MaxRejection)
		}
		if now < g.rampEnd {
			p = max(p, rampRejection*float64(g.rampEnd-now)/float64(g.rampEnd-g.rampStart))
		} else {
			g.rampEnd = 0
		}
	}
	g.rejection.Store(uint64(p * overloadRejectionScale))
	g.active.Store(p > 0)
	return req, acc
}

// admit decides whether the throttle lets a call through.
func (g *guard) admit() bool {
	now := g.clock.Now().UnixNano()
	g.refresh(now)
	p := g.rejection.Load()
	return p == 0 || uint64(randInt64N(overloadRejectionScale)) >= p
}

// allowRetry takes one retry from the budget, or reports that none is
// left. It counts on the safe side: the retries of every tick that overlaps
// the window, and only the calls that ended after the window's first
// sample, so that over any window the retries granted never exceed Ratio
// times its calls plus MinPerSecond per second of it.
func (g *guard) allowRetry() bool {
	if g.budget.Disabled {
		return true
	}
	now := g.clock.Now().UnixNano()
	g.refresh(now)
	g.mu.Lock()
	defer g.mu.Unlock()
	start := now - int64(g.budget.Window)
	var calls int64
	newest := g.samples[(g.head+g.n-1)%overloadSamples]
	for i := range g.n {
		if s := g.samples[(g.head+i)%overloadSamples]; s.t > start {
			calls = newest.calls - s.calls
			break
		}
	}
	tick := now / int64(g.tick)
	first := start / int64(g.tick)
	var used int64
	for i := range g.retryTicks {
		if rt := &g.retryTicks[i]; rt.tick >= first && rt.tick <= tick {
			used += rt.n
		}
	}
	allowed := g.budget.Ratio*float64(calls) + float64(g.budget.MinPerSecond)*g.budget.Window.Seconds()
	if float64(used) >= allowed {
		return false
	}
	rt := &g.retryTicks[tick%int64(len(g.retryTicks))]
	if rt.tick != tick {
		*rt = retryTick{tick: tick}
	}
	rt.n++
	return true
}

// ramp lets traffic back in over the throttle's window after the breaker
// closed: the throttle rejects half of the calls at first, then fewer,
// then none, so that a service that just came back is not hit by every
// caller at once.
func (g *guard) ramp() {
	if g.throttle.Disabled {
		return
	}
	now := g.clock.Now().UnixNano()
	g.mu.Lock()
	was := g.active.Load()
	g.rampStart, g.rampEnd = now, now+int64(g.throttle.Window)
	req, acc := g.update(now)
	g.mu.Unlock()
	g.notify(was, req, acc)
}

const (
	minThrottleRequests    = 10                     // fewer requests in the window never throttle
	overloadGrace          = 100 * time.Millisecond // the shortest streak of overload answers that opens a breaker
	rampRejection          = 0.5
	overloadSamples        = 120 // samples a guard keeps: its windows' resolution
	overloadMinTick        = 10 * time.Millisecond
	overloadRejectionScale = 1 << 32
)
