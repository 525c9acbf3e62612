package runtime

import (
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
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

// ThrottleConfig configures client-side adaptive throttling: over Window,
// with requests the attempts of the dependency (those it throttled
// included) and accepts those the service accepted, a call is rejected
// locally with probability
//
//	max(0, (requests − Multiplier×accepts) / (requests + 1))
//
// capped by MaxRejection, so that during a brownout the client sends about
// Multiplier times what the service can take and keeps the goodput it can
// have. A throttled call fails at once with an error that errors.Is
// ErrThrottled: it is never sent, never retried, and it is not a failure of
// the service. Throttling acts only while the service accepts some
// attempts: an outage, where it accepts none, is the breaker's to handle.
type ThrottleConfig struct {
	// Disabled turns throttling off.
	Disabled bool
	// Multiplier is how many times what the service accepts the client
	// sends before it throttles. Zero means 2; at least 1.
	Multiplier float64
	// Window is how far back requests and accepts are counted. Zero
	// means 1s.
	Window time.Duration
	// MaxRejection caps the share of calls throttled, so that some always
	// reach the service and show when it is back. Zero means 0.9; at
	// most 1.
	MaxRejection float64
}

// RetryBudgetConfig configures the retry budget of a dependency, shared by
// all of its methods: over Window, retries may number at most Ratio times
// the calls plus MinPerSecond per second of the window. A call whose retry
// the budget denies gives up at once with its last error, in a RetryError
// whose Stop errors.Is ErrRetryBudget. Retries that a recovery grants (after
// refreshed credentials or an adapted schema) are not counted.
type RetryBudgetConfig struct {
	// Disabled turns the budget off: retries are bounded by max_attempts
	// alone.
	Disabled bool
	// Ratio is the share of recent calls that may be retried. Zero means
	// 0.3: 20% of attempts failing at random need 0.25 retries a call.
	Ratio float64
	// MinPerSecond is the retries a second allowed whatever the number of
	// calls, so that a quiet dependency can still retry. Zero means 10.
	MinPerSecond int
	// Window is how far back calls and retries are counted. Zero means 10s.
	Window time.Duration
}

// The overload policies' defaults, which Normalize fills in for zero
// fields.
const (
	DefaultThrottleMultiplier   = 2.0
	DefaultThrottleWindow       = time.Second
	DefaultThrottleMaxRejection = 0.9
	DefaultRetryBudgetRatio     = 0.3
	DefaultRetryBudgetMinPerSec = 10
	DefaultRetryBudgetWindow    = 10 * time.Second
	maxOverloadWindow           = time.Hour
	minThrottleRequests         = 10                     // fewer requests in the window never throttle
	overloadGrace               = 100 * time.Millisecond // the shortest streak of overload answers that opens a breaker
	rampRejection               = 0.5
	overloadSamples             = 120 // samples a guard keeps: its windows' resolution
	overloadMinTick             = 10 * time.Millisecond
	overloadRejectionScale      = 1 << 32
)

// ErrThrottled is returned, without calling the inner value, when adaptive
// throttling rejects a call (ThrottleConfig).
var ErrThrottled = errors.New("resgen: throttled: the service is accepting fewer calls than are sent")

// ErrRetryBudget is the Stop of a RetryError when the dependency's retry
// budget denied the next attempt (RetryBudgetConfig).
var ErrRetryBudget = errors.New("resgen: retry budget exhausted")

func (t *ThrottleConfig) normalize() {
	if t.Multiplier == 0 {
		t.Multiplier = DefaultThrottleMultiplier
	}
	if t.Window == 0 {
		t.Window = DefaultThrottleWindow
	}
	if t.MaxRejection == 0 {
		t.MaxRejection = DefaultThrottleMaxRejection
	}
}

func (t ThrottleConfig) validate(bad func(field, format string, args ...any)) {
	if t.Multiplier != 0 && !(t.Multiplier >= 1 && t.Multiplier <= 1e6) {
		bad("throttle.multiplier", "must be between 1 and 1e6, not %v", t.Multiplier)
	}
	if t.Window < 0 || t.Window > maxOverloadWindow {
		bad("throttle.window", "must be positive and at most %v, not %v", maxOverloadWindow, t.Window)
	}
	if t.MaxRejection != 0 && !(t.MaxRejection > 0 && t.MaxRejection <= 1) {
		bad("throttle.max_rejection", "must be more than 0 and at most 1, not %v", t.MaxRejection)
	}
}

func (b *RetryBudgetConfig) normalize() {
	if b.Ratio == 0 {
		b.Ratio = DefaultRetryBudgetRatio
	}
	if b.MinPerSecond == 0 {
		b.MinPerSecond = DefaultRetryBudgetMinPerSec
	}
	if b.Window == 0 {
		b.Window = DefaultRetryBudgetWindow
	}
}

func (b RetryBudgetConfig) validate(bad func(field, format string, args ...any)) {
	if b.Ratio != 0 && !(b.Ratio > 0 && b.Ratio <= 100) {
		bad("retry_budget.ratio", "must be more than 0 and at most 100, not %v", b.Ratio)
	}
	if b.MinPerSecond < 0 || b.MinPerSecond > 1e9 {
		bad("retry_budget.min_retries_per_second", "must be at least 1, not %d", b.MinPerSecond)
	}
	if b.Window < 0 || b.Window > maxOverloadWindow {
		bad("retry_budget.window", "must be positive and at most %v, not %v", maxOverloadWindow, b.Window)
	}
}

var throttlePolicy = &policyDesc{Name: "throttle", Field: "Throttle", Type: "ThrottleConfig",
	normalize: func(c *Config) { c.Throttle.normalize() },
	validate:  func(c Config, bad func(string, string, ...any)) { c.Throttle.validate(bad) },
	Keys: []keyDesc{
		{Name: "multiplier", Field: "Multiplier", kind: kindFloat,
			Doc: "send up to this many times what the service accepts, throttle the rest"},
		{Name: "window", Field: "Window", kind: kindDuration, Doc: "how far back attempts and accepts are counted"},
		{Name: "max_rejection", Field: "MaxRejection", kind: kindFraction, Doc: "the largest share of calls throttled"},
	}}

var retryBudgetPolicy = &policyDesc{Name: "retry_budget", Field: "RetryBudget", Type: "RetryBudgetConfig",
	normalize: func(c *Config) { c.RetryBudget.normalize() },
	validate:  func(c Config, bad func(string, string, ...any)) { c.RetryBudget.validate(bad) },
	Keys: []keyDesc{
		{Name: "ratio", Field: "Ratio", kind: kindPositive, Doc: "retries allowed as a share of the window's calls"},
		{Name: "min_retries_per_second", Field: "MinPerSecond", kind: kindInt, Doc: "retries a second allowed whatever the calls"},
		{Name: "window", Field: "Window", kind: kindDuration, Doc: "how far back calls and retries are counted"},
	}}

// sameOverload reports whether two methods' overload settings let them
// share a guard.
func sameOverload(a, b Config) bool {
	return a.Throttle == b.Throttle && a.RetryBudget == b.RetryBudget
}

// guard enforces the overload policies of one dependency.
type guard struct {
	name     string
	throttle ThrottleConfig // normalized
	budget   RetryBudgetConfig
	methods  []*Method
	clock    Clock
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

func newGuard(name string, cfg Config, clock Clock) *guard {
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

// overloadAnswer reports whether err, of class c, is the service saying it
// has more than it can take (429, 503, RESOURCE_EXHAUSTED, a timeout),
// rather than that it is broken. A 503 is read from StatusCode() or the
// AWS SDK's HTTPStatusCode(), as Classify reads them.
func overloadAnswer(err error, c Class) bool {
	switch c {
	case ClassRateLimited, ClassTimeout:
		return true
	case ClassServer:
		var sc interface{ StatusCode() int }
		if errors.As(err, &sc) {
			return sc.StatusCode() == 503
		}
		var hc interface{ HTTPStatusCode() int }
		if errors.As(err, &hc) {
			return hc.HTTPStatusCode() == 503
		}
		return kubeCode(err) == 503
	}
	return false
}

// kubeCode returns the HTTP status code of the first error of err's chain
// that has a Kubernetes status (Status() metav1.Status, read by
// reflection as Classify reads it), or 0.
func kubeCode(err error) (code int64) {
	defer func() {
		if recover() != nil { // an error whose Status panics has none
			code = 0
		}
	}()
	for err != nil {
		if t := reflect.TypeOf(err); !onlyWraps(err, t) {
			if st, ok := kubeStatus(t, reflect.ValueOf(err)); ok {
				if c := st.FieldByName("Code"); isInt(c) {
					return c.Int()
				}
			}
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if c := kubeCode(e); c != 0 {
					return c
				}
			}
			return 0
		default:
			return 0
		}
	}
	return 0
}
