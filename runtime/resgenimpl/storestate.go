package resgenimpl

import (
	"fmt"
	"log/slog"
	rt "runtime"
	"weak"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/store"
)

// How the Manager follows a Store's breakers when another process changes
// them (store.Watcher).

// watchStore subscribes the Manager to the changes of e's state, held
// weakly: a dropped wrapper stops watching when it is collected.
func (m *Manager) watchStore(e *breakerEntry, w store.Watcher) {
	wm := weak.Make(m)
	stop := w.Watch(func(c store.Change) {
		if m := wm.Value(); m != nil {
			m.storeChanged(e, c)
		}
	})
	rt.AddCleanup(m, func(stop func()) { stop() }, stop)
}

// storeChanged logs and reports a change of a Store's breaker.
func (m *Manager) storeChanged(e *breakerEntry, c store.Change) {
	now := m.clock.Now()
	e.history.add(runtime.Transition{At: now, From: c.From, To: c.To}, keptTransitions)
	where := "in this process"
	if c.Remote {
		where = "by another process"
	}
	switch c.To {
	case runtime.StateOpen:
		e.noteOpen(c.From, now)
		if m.logEnabled(slog.LevelError) {
			m.logger.Error(fmt.Sprintf("Circuit breaker OPEN for %s (shared state, opened %s). Failing fast", e.name, where),
				slog.String("breaker", e.name), slog.String("wrapper", m.wrapper),
				slog.String("from", c.From.String()), slog.Bool("remote", c.Remote))
		}
	case runtime.StateHalfOpen:
		if m.logEnabled(slog.LevelInfo) {
			m.logger.Info(fmt.Sprintf("Circuit breaker HALF_OPEN for %s (shared state, %s)", e.name, where),
				slog.String("breaker", e.name), slog.String("wrapper", m.wrapper), slog.Bool("remote", c.Remote))
		}
	case runtime.StateClosed:
		outage := e.noteClosed(now, true)
		if m.logEnabled(slog.LevelInfo) {
			m.logger.Info(fmt.Sprintf("Circuit breaker CLOSED for %s after %.2f seconds (shared state, %s)", e.name, outage.Seconds(), where),
				slog.String("breaker", e.name), slog.String("wrapper", m.wrapper),
				slog.Duration("recovery_time", outage), slog.Bool("remote", c.Remote))
		}
	}
	m.observe(runtime.Event{Kind: runtime.EventStateChange, Breaker: e.name, From: c.From, To: c.To})
}
