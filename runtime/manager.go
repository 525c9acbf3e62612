package runtime

import "github.com/resgen-dev/resgen/runtime/internal/link"

// Manager holds the resilience state of one wrapper: its breakers, rate
// limits, recovery hooks and metrics. A wrapper's Resilience method
// returns it. It is safe for concurrent use.
type Manager struct {
	e engine
}

// engine is what a Manager reads: the state that generated code runs on
// (runtime/resgenimpl).
type engine interface {
	Close()
	Wrapper() string
	Instance() string
	Config(method string) (Config, bool)
	BreakerState(name string) (State, bool)
	Metrics() []MethodMetrics
	MethodMetrics(name string) (MethodMetrics, bool)
	Breakers() []BreakerSnapshot
	Limiter(method string) (LimiterSnapshot, bool)
	RecentErrors(method string) []ErrorRecord
	ForceBreaker(name string, mode ForceMode) error
}

func init() {
	link.NewManager = func(e any) any { return &Manager{e: e.(engine)} }
	link.SystemClock = systemClock{}
	link.Classify = func(err error, stream bool) (uint16, bool) {
		c, unsent := classify(err, stream)
		return uint16(c), unsent
	}
	link.OverloadAnswer = func(err error, c uint16) bool { return overloadAnswer(err, Class(c)) }
}

// Close stops the goroutines of the wrapper's recovery (Ping probes of an
// open breaker), and the sharing of its overload counts through the Store.
// They also stop when the wrapper is garbage collected, so calling Close
// is needed only to stop them at a known time. The wrapper keeps working
// after Close, without Ping probes, its throttle and retry budget counting
// its own calls.
func (m *Manager) Close() { m.e.Close() }

// Wrapper returns the wrapper's type name.
func (m *Manager) Wrapper() string { return m.e.Wrapper() }

// Instance returns the wrapper's instance name: the one WithInstance gave,
// or by default the order in which the process built the wrappers of its
// type ("1", "2"...). Metrics carry it, so that several wrappers of one
// type can be told apart.
func (m *Manager) Instance() string { return m.e.Instance() }

// Config returns the configuration in force for method name, after
// run-time overrides, with defaults filled in, and whether the wrapper has
// such a method.
func (m *Manager) Config(method string) (Config, bool) { return m.e.Config(method) }

// BreakerState returns the state of the breaker called name: the wrapper's
// type name for its own breaker, or a group's name.
func (m *Manager) BreakerState(name string) (State, bool) { return m.e.BreakerState(name) }

// Metrics returns a snapshot of every method's metrics, in the order of
// the interface's methods.
func (m *Manager) Metrics() []MethodMetrics { return m.e.Metrics() }

// MethodMetrics returns a snapshot of the metrics of the method called
// name, and whether the wrapper has it.
func (m *Manager) MethodMetrics(name string) (MethodMetrics, bool) { return m.e.MethodMetrics(name) }

// Breakers returns the state, settings and recent transitions of every
// breaker of the wrapper, sorted by name.
func (m *Manager) Breakers() []BreakerSnapshot { return m.e.Breakers() }

// Limiter returns the state of the rate limit of the method called
// method, and false when the wrapper has no such method or the method has
// no rate limit.
func (m *Manager) Limiter(method string) (LimiterSnapshot, bool) { return m.e.Limiter(method) }

// RecentErrors returns the last errors (at most 8) of the attempts of the
// method called method, oldest first; nil when there is no such method.
func (m *Manager) RecentErrors(method string) []ErrorRecord { return m.e.RecentErrors(method) }

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
func (m *Manager) ForceBreaker(name string, mode ForceMode) error {
	return m.e.ForceBreaker(name, mode)
}
