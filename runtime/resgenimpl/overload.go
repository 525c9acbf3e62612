package resgenimpl

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/store"
)

// This file holds the guard that enforces the two overload policies of a
// dependency, client-side adaptive throttling and the retry budget; their
// configuration, defaults, checks and keys are in package runtime
// (overload.go).
//
// A dependency is what one circuit breaker guards: the wrapper, a breaker
// group, or a method with a breaker of its own (a wrapper without a breaker
// is one dependency). Its guard counts, over sliding windows, the attempts
// its methods sent, those the service accepted (answered, even with a
// client error) and those it did not (overload answers, server errors,
// broken connections, timeouts), and the calls and retries. It reads the
// methods' own counters, so a successful call pays nothing for it.
//
// With a Store that shares these counts (OverloadSharer), the Store asks
// the guard for its window's counts from its own goroutine (shared), and
// the guard adds the rest of the fleet's, as last received, to its own
// whenever it updates (update): the throttle decides from the fleet's
// requests and accepts, and the retry budget splits its floor among the
// fleet's guards (allowRetry). Without them, each counts its own.

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

	// The rest of the fleet, when a Store shares the counts (see
	// shareOverload): others reads what the Store last received; fleet is
	// what it returned at the last update, zero unless fleetOK.
	others    func() (store.OverloadCounts, bool)
	fleet     store.OverloadCounts
	fleetOK   bool
	fleetSeen bool    // the fleet's counts were known once
	fleetFlip int8    // set by update when fleetOK changes after fleetSeen, taken by notify
	localReq  float64 // this process's requests and accepts of the throttle's
	localAcc  float64 // window at the last update
	// onFleet is told when the fleet's counts are lost or back, outside mu.
	onFleet func(g *guard, ok bool)
}

// The changes of fleetOK that notify reports.
const (
	fleetLost int8 = 1 + iota
	fleetBack
)

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
	flip := g.takeFlip()
	g.mu.Unlock()
	g.notify(was, flip, req, acc)
}

// takeFlip returns and clears the change of fleetOK that update saw; mu
// is held.
func (g *guard) takeFlip() int8 {
	f := g.fleetFlip
	g.fleetFlip = 0
	return f
}

// notify reports a change of the throttle's state to onChange, and flip, a
// change of the fleet's counts, to onFleet.
func (g *guard) notify(was bool, flip int8, req, acc float64) {
	if flip != 0 && g.onFleet != nil {
		g.onFleet(g, flip == fleetBack)
	}
	if on := g.active.Load(); on != was && g.onChange != nil {
		g.onChange(g, on, float64(g.rejection.Load())/overloadRejectionScale, req, acc)
	}
}

// update samples the counters at now, reads the fleet's counts when a
// Store shares them, and recomputes the throttle; it returns the requests
// and accepts of the throttle's window, the fleet's when they are known.
func (g *guard) update(now int64) (req, acc float64) {
	cur := g.sum(now)
	req0, acc0 := g.at(now-int64(g.throttle.Window), cur)
	req, acc = float64(cur.req)-req0, float64(cur.acc)-acc0
	g.localReq, g.localAcc = req, acc
	if g.others != nil {
		o, ok := g.others()
		if !ok {
			o = store.OverloadCounts{}
		}
		if ok != g.fleetOK && g.fleetSeen {
			g.fleetFlip = fleetLost
			if ok {
				g.fleetFlip = fleetBack
			}
		}
		g.fleet, g.fleetOK = o, ok
		g.fleetSeen = g.fleetSeen || ok
		req, acc = req+o.Requests, acc+o.Accepts
	}

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
//
// With the fleet's counts (a Store that shares them), the floor is split
// among the guards that share the dependency, so that the fleet's retries
// stay within Ratio times the fleet's calls plus one floor; and a retry is
// denied while the fleet's retries last known reach the fleet's bound
// (processes that count otherwise, or that joined since).
func (g *guard) allowRetry() bool {
	if g.budget.Disabled {
		return true
	}
	now := g.clock.Now().UnixNano()
	g.refresh(now)
	g.mu.Lock()
	defer g.mu.Unlock()
	calls, used := g.budgetWindow(now)
	ratio := g.budget.Ratio
	floor := float64(g.budget.MinPerSecond) * g.budget.Window.Seconds()
	allowed := ratio*float64(calls) + floor
	if g.fleetOK {
		o := g.fleet
		if o.Retries+float64(used) >= ratio*(o.Calls+float64(calls))+floor {
			return false
		}
		allowed = ratio*float64(calls) + floor/float64(1+o.Guards)
	}
	if float64(used) >= allowed {
		return false
	}
	tick := now / int64(g.tick)
	rt := &g.retryTicks[tick%int64(len(g.retryTicks))]
	if rt.tick != tick {
		*rt = retryTick{tick: tick}
	}
	rt.n++
	return true
}

// budgetWindow returns the calls and the retries of the budget's window
// ending at now, on the safe side (see allowRetry); mu is held.
func (g *guard) budgetWindow(now int64) (calls, used int64) {
	start := now - int64(g.budget.Window)
	newest := g.samples[(g.head+g.n-1)%overloadSamples]
	for i := range g.n {
		if s := g.samples[(g.head+i)%overloadSamples]; s.t > start {
			calls = newest.calls - s.calls
			break
		}
	}
	tick := now / int64(g.tick)
	first := start / int64(g.tick)
	for i := range g.retryTicks {
		if rt := &g.retryTicks[i]; rt.tick >= first && rt.tick <= tick {
			used += rt.n
		}
	}
	return calls, used
}

// shared refreshes the guard and returns this process's counts of its
// windows, for a Store that shares them: the Store calls it from its own
// goroutine, about as often as it synchronizes, so that the throttle also
// follows the fleet's counts while this process sends little.
func (g *guard) shared() store.OverloadCounts {
	now := g.clock.Now().UnixNano()
	g.mu.Lock()
	was := g.active.Load()
	req, acc := g.update(now)
	c := store.OverloadCounts{Guards: 1, Requests: g.localReq, Accepts: g.localAcc}
	if !g.budget.Disabled {
		calls, used := g.budgetWindow(now)
		c.Calls, c.Retries = float64(calls), float64(used)
	}
	flip := g.takeFlip()
	g.mu.Unlock()
	g.notify(was, flip, req, acc)
	return c
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
	flip := g.takeFlip()
	g.mu.Unlock()
	g.notify(was, flip, req, acc)
}

const (
	minThrottleRequests    = 10                     // fewer requests in the window never throttle
	overloadGrace          = 100 * time.Millisecond // the shortest streak of overload answers that opens a breaker
	rampRejection          = 0.5
	overloadSamples        = 120 // samples a guard keeps: its windows' resolution
	overloadMinTick        = 10 * time.Millisecond
	overloadRejectionScale = 1 << 32
)
