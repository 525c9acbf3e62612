package resgenimpl

import (
	"fmt"

	"github.com/resgen-dev/resgen/runtime"
)

// ForceBreaker forces the breaker called name (as Breakers names it) open
// or closed, or gives it back to normal operation:
//
//   - ForceOpen opens it now, whatever its state, and keeps it open until
//     it is forced otherwise: no recovery_timeout, no probes, no Ping.
//   - ForceClosed closes it now and keeps it closed: failed attempts are not
//     counted against it.
//   - ForceNone ends either: a breaker forced open goes half-open, so that
//     its probes decide whether the service is back; one forced closed
//     stays closed, counting failures again from none.
//
// Each change of state is logged and observed as any other transition, and
// the breaker's snapshot (Breakers) shows the mode. The success path
// of a breaker that is not forced costs what it costs without this.
func (m *Manager) ForceBreaker(name string, mode runtime.ForceMode) error {
	if mode > runtime.ForceClosed {
		return fmt.Errorf("resgen: ForceBreaker(%q): unknown %v", name, mode)
	}
	e, ok := m.breakers[name]
	if !ok {
		return fmt.Errorf("resgen: %s has no circuit breaker %q", m.wrapper, name)
	}
	if e.local == nil {
		return fmt.Errorf("%w: %q", runtime.ErrNotForceable, name)
	}
	e.local.force(mode, m.clock)
	return nil
}

// force sets the breaker's mode and moves it to the state the mode calls
// for, as one transition under mu.
func (b *breaker) force(mode runtime.ForceMode, clock runtime.Clock) {
	b.mu.Lock()
	defer b.unlock()
	prev := runtime.ForceMode(b.forced.Load())
	b.forced.Store(uint32(mode))
	state := b.State()
	switch mode {
	case runtime.ForceOpen:
		if prev != runtime.ForceOpen || state != runtime.StateOpen {
			// Even when it is open already: a new open state, without the
			// recovery_timeout's timer.
			b.setLocked(runtime.StateOpen, clock.Now(), 0)
		}
	case runtime.ForceClosed:
		if state != runtime.StateClosed {
			b.setLocked(runtime.StateClosed, clock.Now(), 0)
		} else {
			b.streak.Store(0)
			b.attempts = 0
		}
	case runtime.ForceNone:
		if prev == runtime.ForceOpen && state == runtime.StateOpen {
			b.setLocked(runtime.StateHalfOpen, clock.Now(), 0)
		}
	}
}

// forceMode returns the breaker's mode.
func (b *breaker) forceMode() runtime.ForceMode { return runtime.ForceMode(b.forced.Load()) }
