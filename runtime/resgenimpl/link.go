package resgenimpl

import (
	"log/slog"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/internal/link"
)

// options are what a Manager's options set, typed.
type options struct {
	sources    []runtime.ConfigSource
	logger     *slog.Logger
	observers  []runtime.Observer
	clock      runtime.Clock
	classifier runtime.Classifier
	hostKey    string
	store      runtime.Store
	instance   string
	latency    bool
	tracer     runtime.Tracer
}

// resolve applies opts in order. Only package runtime's With... functions
// make options, so each value has the type its field says.
func resolve(opts []runtime.Option) options {
	var l link.Options
	for _, opt := range opts {
		if opt != nil {
			opt(&l)
		}
	}
	o := options{logger: l.Logger, hostKey: l.HostKey, instance: l.Instance, latency: l.Latency}
	for _, s := range l.Sources {
		o.sources = append(o.sources, s.(runtime.ConfigSource))
	}
	for _, obs := range l.Observers {
		o.observers = append(o.observers, obs.(runtime.Observer))
	}
	o.clock, _ = l.Clock.(runtime.Clock)
	o.classifier, _ = l.Classifier.(runtime.Classifier)
	o.store, _ = l.Store.(runtime.Store)
	o.tracer, _ = l.Tracer.(runtime.Tracer)
	return o
}

// userManager returns the *runtime.Manager that reads m.
func userManager(m *Manager) *runtime.Manager { return link.NewManager(m).(*runtime.Manager) }

// classify returns the class of err by runtime's rules (Classify), and
// whether err shows that its request was never sent.
func classify(err error, stream bool) (runtime.Class, bool) {
	c, unsent := link.Classify(err, stream)
	return runtime.Class(c), unsent
}

// overloadAnswer reports whether err, of class c, is a service's answer
// that it is overloaded rather than broken.
func overloadAnswer(err error, c runtime.Class) bool { return link.OverloadAnswer(err, uint16(c)) }

// systemClock is the clock of a Manager without WithClock.
var systemClock = link.SystemClock.(runtime.Clock)
