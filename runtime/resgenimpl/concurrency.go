package resgenimpl

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resgen-dev/resgen/runtime"
)

// This file holds the limiter that enforces the concurrency limit (a
// bulkhead); its configuration, defaults, checks and keys are in package
// runtime (concurrency.go).

// concLimiter enforces one concurrency limit. Taking a slot is one atomic
// add. The limit of one method (no group) counts the slots given back from
// the method's own counters of successes and failed attempts, which the
// success path adds to anyway, so giving a slot back costs it nothing; a
// group's limit adds once more. Waiting, adapting the limit and everything
// else are off the success path.
type concLimiter struct {
	name  string
	cfg   runtime.ConcurrencyConfig // normalized
	clock runtime.Clock
	// onChange is told of a new limit, outside the locks.
	onChange func(l *concLimiter, limit int, short, long time.Duration)

	limit atomic.Int64
	// taken counts the slots taken: all of them for one method's limit,
	// which subtracts those given back (inFlight); those in flight for a
	// group's.
	taken atomic.Int64
	back  atomic.Int64 // one method's limit: slots given back other than by its counters
	// One method's limit: its counters of successes and failed attempts,
	// each of which ends an attempt. Nil for a group's.
	succ, failed *atomic.Int64
	waiters      atomic.Int64
	mask         atomic.Uint32 // an attempt is timed when the slots taken & mask == 0

	mu    sync.Mutex
	stack []chan struct{} // the waiters, newest last

	amu      sync.Mutex
	estimate float64 // the adaptive limit, unrounded
	long     float64 // the long-term latency, nanoseconds; 0: none yet
	winStart int64
	winSum   float64
	winN     int
	winPeak  int64 // the most in flight at a sampled start
	shift    int   // one attempt in 2^shift is timed
}

func newConcLimiter(name string, cfg runtime.ConcurrencyConfig, clock runtime.Clock) *concLimiter {
	l := &concLimiter{name: name, cfg: cfg, clock: clock}
	start := cfg.MaxInFlight
	if !cfg.Fixed {
		start = cfg.MinInFlight
		l.estimate = float64(start)
		l.winStart = clock.Now().UnixNano()
	}
	l.limit.Store(int64(start))
	return l
}

// tryAcquire takes a slot when one is free and nobody waits. It reports
// whether the attempt should be timed for the adaptive limit. Two callers
// racing for the last slot may both miss it (each counts itself, sees one
// too many and steps back), never both get it.
func (l *concLimiter) tryAcquire() (ok, timed bool) {
	if l.waiters.Load() > 0 {
		return false, false
	}
	n := l.taken.Add(1)
	if l.used(n) > l.limit.Load() {
		l.giveBack()
		return false, false
	}
	// Every 2^shift-th slot taken is timed: the count is at hand, and
	// attempts do not come in step with it.
	return true, !l.cfg.Fixed && uint32(n)&l.mask.Load() == 0
}

// acquire takes a slot, waiting for one as the strategy says. It returns
// nil, ctx's error when it ended first, or a *ConcurrencyError.
func (l *concLimiter) acquire(ctx context.Context) (timed bool, err error) {
	if ok, timed := l.tryAcquire(); ok {
		return timed, nil
	}
	if l.cfg.Strategy == runtime.StrategyDrop {
		return false, &runtime.ConcurrencyError{Limiter: l.name, Limit: int(l.limit.Load())}
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	l.mu.Lock()
	// Count as a waiter before the last try: a slot given back after it
	// sees the waiter and hands the slot over (release).
	l.waiters.Add(1)
	for {
		n := l.taken.Load()
		if l.used(n) >= l.limit.Load() {
			break
		}
		if l.taken.CompareAndSwap(n, n+1) {
			l.waiters.Add(-1)
			l.mu.Unlock()
			return !l.cfg.Fixed, nil
		}
	}
	ch := make(chan struct{})
	l.stack = append(l.stack, ch)
	l.mu.Unlock()
	select {
	case <-ch:
		return !l.cfg.Fixed, nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	for i, w := range l.stack {
		if w == ch {
			l.stack = append(l.stack[:i], l.stack[i+1:]...)
			l.waiters.Add(-1)
			l.mu.Unlock()
			return false, ctx.Err()
		}
	}
	l.mu.Unlock()
	// A slot was handed over as the context ended: give it back.
	l.giveBack()
	return false, ctx.Err()
}

// used returns the slots in flight, with taken the count of slots taken.
func (l *concLimiter) used(taken int64) int64 {
	if l.succ != nil {
		return taken - l.succ.Load() - l.failed.Load() - l.back.Load()
	}
	return taken
}

// inFlight returns the attempts in flight now.
func (l *concLimiter) inFlight() int64 { return l.used(l.taken.Load()) }

// giveBack gives back a slot whose attempt the method's counters do not
// count as ended (one turned away after it took its slot, or one that
// panicked), handing it to the newest waiter if any.
func (l *concLimiter) giveBack() {
	if l.succ != nil {
		l.back.Add(1)
	} else {
		l.taken.Add(-1)
	}
	if l.waiters.Load() > 0 {
		l.handOff()
	}
}

// ended gives back the slot of an attempt that the method's counters just
// counted as ended.
func (l *concLimiter) ended() {
	if l.succ == nil {
		l.taken.Add(-1)
	}
	if l.waiters.Load() > 0 {
		l.handOff()
	}
}

// handOff gives free slots to waiters, the newest first.
func (l *concLimiter) handOff() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.stack) > 0 {
		n := l.taken.Load()
		if l.used(n) >= l.limit.Load() {
			return
		}
		if !l.taken.CompareAndSwap(n, n+1) {
			continue
		}
		last := len(l.stack) - 1
		close(l.stack[last])
		l.stack[last] = nil
		l.stack = l.stack[:last]
		l.waiters.Add(-1)
	}
}

// observe feeds the latency of a timed attempt, which started with
// inFlight attempts in flight, to the adaptive limit.
func (l *concLimiter) observe(now int64, rtt time.Duration, inFlight int64) {
	if l.cfg.Fixed || rtt <= 0 {
		return
	}
	l.amu.Lock()
	l.winSum += float64(rtt)
	l.winN++
	l.winPeak = max(l.winPeak, inFlight)
	elapsed := now - l.winStart
	if l.winN < concFullWindow && (elapsed < int64(concWindow) || l.winN < concMinSamples && elapsed < int64(concMaxWindow)) {
		l.amu.Unlock()
		return
	}
	shortRTT := l.winSum / float64(l.winN)
	old := int(l.limit.Load())
	limit := l.update(shortRTT, l.winPeak)
	switch {
	case l.winN > concMaxSamples:
		// Time fewer: as many times fewer as there were too many, so that a
		// busy method stops paying for the clock within a few windows.
		for n := l.winN; n > concMaxSamples && l.shift < concMaxShift; n >>= 1 {
			l.shift++
		}
	case l.winN < concMinSamples && l.shift > 0:
		l.shift--
	}
	l.mask.Store(1<<l.shift - 1)
	long := l.long
	l.winStart, l.winSum, l.winN, l.winPeak = now, 0, 0, 0
	l.amu.Unlock()
	if limit > old {
		l.handOff()
	}
	if limit != old && l.onChange != nil {
		l.onChange(l, limit, time.Duration(shortRTT), time.Duration(long))
	}
}

// update is one Gradient2 step with the window's mean latency and peak in
// flight; it returns the new limit. l.amu is held.
func (l *concLimiter) update(short float64, peak int64) int {
	switch {
	case l.long == 0:
		l.long = short
	case short > concTolerance*l.long:
		// Queueing: long follows only slowly, or the queue would become
		// the new normal and the limit grow back into it (the drift of a
		// plain average). A service that really got slower is followed
		// within a minute.
		l.long += concLongDrift * (short - l.long)
	default:
		l.long += concLongWeight * (short - l.long)
	}
	if l.long > 2*short {
		// The service got faster: forget the slow past sooner.
		l.long *= concLongDecay
	}
	gradient := max(concMinGradient, min(1, concTolerance*l.long/short))
	est := l.estimate
	if gradient == 1 && float64(peak) < est/2 {
		// The callers use less than half the limit: no evidence that more
		// would be served well.
	} else {
		next := est*gradient + math.Sqrt(est)
		est = est*(1-concSmoothing) + next*concSmoothing
	}
	est = min(max(est, float64(l.cfg.MinInFlight)), float64(l.cfg.MaxInFlight))
	l.estimate = est
	limit := int(est)
	l.limit.Store(int64(limit))
	return limit
}

// concurrencyChanged logs and reports a concurrency limit's new value.
func (m *Manager) concurrencyChanged(l *concLimiter, limit int, short, long time.Duration) {
	if m.logEnabled(slog.LevelDebug) {
		m.logger.Debug(fmt.Sprintf("Concurrency limit for %s now %d: latency %v, usually %v",
			l.name, limit, short.Round(time.Microsecond), long.Round(time.Microsecond)),
			slog.String("limiter", l.name), slog.String("wrapper", m.wrapper), slog.Int("limit", limit),
			slog.Duration("latency", short), slog.Duration("usual_latency", long))
	}
	if len(m.observers) > 0 {
		m.observe(runtime.Event{Kind: runtime.EventConcurrencyLimit, Limiter: l.name, Limit: float64(limit)})
	}
}

// initConcurrency gives me its concurrency limit: its group's, or its own.
func (m *Manager) initConcurrency(me *Method) error {
	cc := me.cfg.Concurrency
	if cc.Disabled {
		return nil
	}
	name := m.wrapper + "." + me.name
	if cc.Group != "" {
		name = cc.Group
	}
	l, ok := m.limiters[name]
	if ok && l.cfg != cc {
		return fmt.Errorf("concurrency: group %q has other settings in %s", cc.Group, l.owner)
	}
	if !ok {
		l = &limiterEntry{concLimiter: newConcLimiter(name, cc, m.clock), owner: me.name}
		l.onChange = m.concurrencyChanged
		if cc.Group == "" {
			l.succ, l.failed = &me.stats.successes, &me.stats.failedAttempts
		}
		m.limiters[name] = l
	}
	me.conc = l.concLimiter
	return nil
}

// limiterEntry is a concurrency limiter of a Manager and the method it was
// built for.
type limiterEntry struct {
	*concLimiter
	owner string
}

// admitConc takes a slot of me's concurrency limit for c's attempt, after
// the breaker admitted it with c.permit.
func (me *Method) admitConc(ctx context.Context, c *Call) error {
	l := me.conc
	timed, err := l.acquire(ctx)
	if err != nil {
		c.live = false
		if e := me.breaker; e != nil {
			e.state.Release(c.permit)
		}
		if cerr := ctx.Err(); cerr != nil && err == cerr {
			me.stats.failures.Add(1)
			return err
		}
		me.stats.concRejected.Add(1)
		if me.m.logEnabled(slog.LevelDebug) {
			me.m.logger.Debug(fmt.Sprintf("Concurrency limit applied for %s: %d attempts in flight. Request dropped", me.name, l.limit.Load()),
				slog.String("wrapper", me.m.wrapper), slog.String("method", me.name), slog.String("limiter", l.name),
				slog.Int64("limit", l.limit.Load()))
		}
		if len(me.m.observers) > 0 {
			me.m.observe(runtime.Event{Kind: runtime.EventConcurrencyRejected, Method: me.name, Limiter: l.name, Attempt: c.attempt, Err: err})
		}
		return me.stop(c, err)
	}
	me.held(c, timed)
	return nil
}

// held marks c as holding a slot, timed for the adaptive limit or not.
func (me *Method) held(c *Call, timed bool) {
	c.slot = 1
	if timed {
		c.slot = 2
		c.slotStart = me.m.clock.Now().UnixNano()
		c.slotFlight = me.conc.inFlight()
	}
}

// endSlot gives back the slot of c's attempt, which the method's counters
// just counted as ended (a success or a failed attempt).
func (me *Method) endSlot(c *Call) {
	l := me.conc
	if c.slot == 2 {
		now := me.m.clock.Now().UnixNano()
		l.observe(now, time.Duration(now-c.slotStart), c.slotFlight)
	}
	c.slot = 0
	l.ended()
}

// release gives back the slot of the concurrency limit that c's attempt
// holds, if any, when the method's counters do not count that attempt as
// ended (it was turned away after it took its slot).
func (me *Method) release(c *Call) {
	if c.slot != 0 {
		c.slot = 0
		me.conc.giveBack()
	}
}

const (
	concWindow      = 100 * time.Millisecond // the shortest window of latency samples
	concMaxWindow   = time.Second            // the longest: a window ends then whatever its samples
	concMinSamples  = 16                     // a window of fewer samples halves the sampling shift
	concMaxSamples  = 64                     // a window of more doubles it
	concFullWindow  = 1024                   // a window of this many samples ends at once
	concMaxShift    = 20
	concTolerance   = 1.5   // short latency within this many times long is no queueing
	concSmoothing   = 0.5   // how much of the new estimate each window takes
	concLongWeight  = 0.05  // how much of each window the long latency takes
	concLongDrift   = 0.002 // and of a window that queues
	concLongDecay   = 0.95  // long shrinks so while it is more than twice short
	concMinGradient = 0.5
)
