package resgenimpl

import (
	"math/bits"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resgen-dev/resgen/runtime"
)

// latencyBounds are the upper bounds of the attempt-latency histogram's
// buckets (WithLatencyHistograms); a last bucket takes what is longer.
var latencyBounds = [...]time.Duration{
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// histogram counts attempt durations in fixed buckets, with atomic adds:
// lock-free and allocation-free.
type histogram struct {
	counts [len(latencyBounds) + 1]atomic.Uint64
	sum    atomic.Int64 // nanoseconds
}

func (h *histogram) observe(d time.Duration) {
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

func (h *histogram) snapshot() *runtime.Latency {
	l := &runtime.Latency{Bounds: slices.Clone(latencyBounds[:]), Counts: make([]uint64, len(h.counts))}
	for i := range h.counts {
		l.Counts[i] = h.counts[i].Load()
		l.Count += l.Counts[i]
	}
	l.Sum = time.Duration(h.sum.Load())
	return l
}

// numClasses is the number of single error classes (ClassUnknown to
// ClassCanceled).
const numClasses = 10

// classIndex maps a class to its counter; a set or an unknown value counts
// by its lowest class.
func classIndex(c runtime.Class) int {
	i := bits.TrailingZeros16(uint16(c))
	if i >= numClasses {
		return 0 // ClassUnknown
	}
	return i
}

// rateWindow turns a counter into a recent rate: every read keeps a sample
// (at most one a second), and the rate is measured from the newest sample
// at least a minute old, so that the success path pays nothing for it.
type rateWindow struct {
	mu   sync.Mutex
	t, n [64]int64 // samples: Unix nanoseconds, counter value
	next int       // where the next sample goes
	size int
}

// perMinute returns the counter's rate per minute over the last minute:
// from the newest sample a minute old or older, or from created (when the
// counter was 0) when there is none.
func (w *rateWindow) perMinute(now time.Time, count int64, created time.Time) float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	nowNs := now.UnixNano()
	baseT, baseN := created.UnixNano(), int64(0)
	cut := nowNs - int64(time.Minute)
	for k := 1; k <= w.size; k++ {
		i := (w.next - k + len(w.t)) % len(w.t)
		if w.t[i] <= cut {
			baseT, baseN = w.t[i], w.n[i]
			break
		}
	}
	last := (w.next - 1 + len(w.t)) % len(w.t)
	if w.size == 0 || nowNs-w.t[last] >= int64(time.Second) {
		w.t[w.next], w.n[w.next] = nowNs, count
		w.next = (w.next + 1) % len(w.t)
		w.size = min(w.size+1, len(w.t))
	}
	if nowNs <= baseT {
		return 0
	}
	return float64(count-baseN) / time.Duration(nowNs-baseT).Minutes()
}

// instanceSeq numbers the wrappers of each type built without
// WithInstance: "1", "2"...
var instanceSeq sync.Map // wrapper type name → *atomic.Int64

func defaultInstance(wrapper string) string {
	v, _ := instanceSeq.LoadOrStore(wrapper, new(atomic.Int64))
	return strconv.FormatInt(v.(*atomic.Int64).Add(1), 10)
}

// Instance returns the wrapper's instance name: the one WithInstance gave,
// or by default the order in which the process built the wrappers of its
// type ("1", "2"...). Metrics carry it, so that several wrappers of one
// type can be told apart.
func (m *Manager) Instance() string { return m.ext.instance }

// managerExt is the Manager's observability state.
type managerExt struct {
	instance string
	timed    bool           // attempts are timed into histograms
	tracer   runtime.Tracer // WithTracer (trace.go)
}

func newManagerExt(o *options, wrapper string) managerExt {
	x := managerExt{instance: o.instance, timed: o.latency, tracer: o.tracer}
	if x.instance == "" {
		x.instance = defaultInstance(wrapper)
	}
	return x
}

// initObserve completes me once initMethod has built it: the named
// rejection errors and, when attempts are timed, the slow paths that time
// them.
func (m *Manager) initObserve(me *Method, host string) {
	if e := me.breaker; e != nil && e.openErr == nil {
		e.openErr = newCircuitOpenError(e.name)
	}
	if me.bucket != nil {
		name := m.limiterName(host, me.cfg.RateLimit)
		me.stats.limitedErr = newRateLimitError(name, false)
		me.stats.queueFullErr = newRateLimitError(name, true)
	}
	me.stats.recent = new(rateWindow)
	me.stats.byClass = new([numClasses]atomic.Int64)
	if m.ext.timed {
		me.stats.latency = new(histogram)
		me.admitNone, me.admitClosed, me.successSlow = false, nil, true
	}
	if m.ext.tracer != nil {
		// Every call is traced: Admit and Success take their slow paths.
		me.admitNone, me.admitClosed, me.successSlow = false, nil, true
	}
	me.ctxSlow = me.timeout > 0 || m.ext.tracer != nil
}

// startAttempt notes when c's admitted attempt starts, when attempts are
// timed.
func (me *Method) startAttempt(c *Call) {
	if me.stats.latency != nil {
		c.start = me.m.clock.Now().UnixNano()
	}
}

// endAttempt times c's attempt, when attempts are timed.
func (me *Method) endAttempt(c *Call) {
	if h := me.stats.latency; h != nil && c.start != 0 {
		h.observe(time.Duration(me.m.clock.Now().UnixNano() - c.start))
		c.start = 0
	}
}

// failedAttempt counts a failed attempt by class, times it, and keeps its
// error for RecentErrors.
func (me *Method) failedAttempt(c *Call, class runtime.Class) {
	me.stats.byClass[classIndex(class)].Add(1)
	me.endAttempt(c)
	me.endAttemptTrace(c, c.last, class)
	me.stats.errors.add(runtime.ErrorRecord{At: me.m.clock.Now(), Attempt: c.attempt, Class: class, Err: c.last}, keptErrors)
}
