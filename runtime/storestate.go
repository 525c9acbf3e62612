package runtime

import (
	"fmt"
	"log/slog"
	rt "runtime"
	"time"
	"weak"
)

// What a Store that keeps breakers outside the process needs from the
// runtime, typed, so that it copies none of its constants or encodings.

// CallWeight is what one failed call's worth of failed attempts weighs in a
// breaker's failure streak: a breaker opens when the weights its Failure
// was given since the last success reach FailureThreshold × CallWeight.
// A Method passes each failed attempt's share (CallWeight / max_attempts,
// rounded up).
const CallWeight int64 = callWeight

// NewPermit returns the permit of an attempt admitted by a breaker in
// state s during its generation gen (every change of state starts a new
// generation). gen is kept modulo 2^62.
func NewPermit(gen uint64, s State) Permit { return Permit(gen<<2 | uint64(s&3)) }

// State returns the breaker state that admitted the attempt.
func (p Permit) State() State { return State(p & 3) }

// Generation returns the breaker generation that admitted the attempt.
func (p Permit) Generation() uint64 { return uint64(p) >> 2 }

// BreakerChange is a change of state of a breaker kept outside the process
// (WithStore), as the process learned of it.
type BreakerChange struct {
	From, To State
	// Remote says that another process made the change; this process
	// learned of it from the Store.
	Remote bool
}

// BreakerWatcher is implemented by a BreakerState kept outside the process
// that can tell when its state changes, whoever changed it: the Manager
// then logs and reports those changes as it does its own breakers'
// (EventStateChange, the snapshot's transitions, the ramp-up of adaptive
// throttling when it closes).
type BreakerWatcher interface {
	// Watch calls f for every change of state the BreakerState learns of,
	// one at a time, in order, until stop is called. f must not block.
	Watch(f func(BreakerChange)) (stop func())
}

// watchStore subscribes the Manager to the changes of e's state, held
// weakly: a dropped wrapper stops watching when it is collected.
func (m *Manager) watchStore(e *breakerEntry, w BreakerWatcher) {
	wm := weak.Make(m)
	stop := w.Watch(func(c BreakerChange) {
		if m := wm.Value(); m != nil {
			m.storeChanged(e, c)
		}
	})
	rt.AddCleanup(m, func(stop func()) { stop() }, stop)
}

// storeChanged logs and reports a change of a Store's breaker.
func (m *Manager) storeChanged(e *breakerEntry, c BreakerChange) {
	now := m.clock.Now()
	e.history.add(Transition{At: now, From: c.From, To: c.To}, keptTransitions)
	where := "in this process"
	if c.Remote {
		where = "by another process"
	}
	switch c.To {
	case StateOpen:
		if c.From == StateClosed {
			e.opened.Store(now.UnixNano())
			e.hasOpened.Store(true)
		}
		if m.logEnabled(slog.LevelError) {
			m.logger.Error(fmt.Sprintf("Circuit breaker OPEN for %s (shared state, opened %s). Failing fast", e.name, where),
				slog.String("breaker", e.name), slog.String("wrapper", m.wrapper),
				slog.String("from", c.From.String()), slog.Bool("remote", c.Remote))
		}
	case StateHalfOpen:
		if m.logEnabled(slog.LevelInfo) {
			m.logger.Info(fmt.Sprintf("Circuit breaker HALF_OPEN for %s (shared state, %s)", e.name, where),
				slog.String("breaker", e.name), slog.String("wrapper", m.wrapper), slog.Bool("remote", c.Remote))
		}
	case StateClosed:
		for _, g := range e.guards {
			g.ramp()
		}
		var outage time.Duration
		if e.hasOpened.Load() {
			outage = now.Sub(time.Unix(0, e.opened.Load()))
			e.recover.Store(int64(outage))
		}
		if m.logEnabled(slog.LevelInfo) {
			m.logger.Info(fmt.Sprintf("Circuit breaker CLOSED for %s after %.2f seconds (shared state, %s)", e.name, outage.Seconds(), where),
				slog.String("breaker", e.name), slog.String("wrapper", m.wrapper),
				slog.Duration("recovery_time", outage), slog.Bool("remote", c.Remote))
		}
	}
	m.observe(Event{Kind: EventStateChange, Breaker: e.name, From: c.From, To: c.To})
}
