// Package link joins package runtime, which holds what users of resgen
// call, to the engine that generated code runs (runtime/resgenimpl),
// which builds on runtime: runtime sets these at init, and the engine
// reads them. It imports nothing of resgen, so that both can import it;
// values of runtime's types travel as any.
package link

import "log/slog"

// Options are what a Manager's options (runtime.Option) set.
type Options struct {
	Sources    []any // runtime.ConfigSource, in order
	Logger     *slog.Logger
	Observers  []any // runtime.Observer, in order
	Clock      any   // runtime.Clock, or nil
	Classifier any   // runtime.Classifier, or nil
	HostKey    string
	Store      any // runtime.Store, or nil
	Instance   string
	Latency    bool
	Tracer     any // runtime.Tracer, or nil
}

var (
	// NewManager returns the *runtime.Manager that reads e, an engine's
	// Manager.
	NewManager func(e any) any
	// SystemClock is the runtime.Clock of the system.
	SystemClock any
	// Classify returns the class of err by runtime's rules, and whether
	// err shows that its request was never sent; stream says the method
	// reads a stream, so that io.EOF ends it.
	Classify func(err error, stream bool) (class uint16, unsent bool)
	// OverloadAnswer reports whether err, of class class, is a service's
	// answer that it is overloaded rather than broken.
	OverloadAnswer func(err error, class uint16) bool
)
