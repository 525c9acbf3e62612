package resgenimpl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	rt "runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	runtime "github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/store"
)

// Spec describes a generated wrapper: its name and each method's resolved
// configuration. Only generated code builds one.
type Spec struct {
	Wrapper   string // the wrapper's type name: "ResilientStore"
	Interface string // the wrapped interface: "shop.Store"
	Methods   []MethodSpec
}

// MethodSpec is one method of a Spec. Only generated code builds one.
type MethodSpec struct {
	Name   string
	Config runtime.Config
	// Request says that the method sends a request and waits for its
	// answer, as every method does but those that read a stream (Read...,
	// Recv..., Receive..., Next..., Decode...): a bare io.EOF is then a
	// connection closed under the request, class connection. Without it
	// (the methods that read a stream, and code generated before resgen
	// read io.EOF by shape) a bare io.EOF is the end of a stream, an
	// answer, never retried and never counted against the service.
	Request bool
	// InStream says that the method is one of a stream's (a gRPC stream
	// client's Recv, SendMsg, CloseSend...): retry, the circuit breaker,
	// adaptive throttling, the concurrency limit and the rate limit stay
	// off, whatever run-time overrides say. A stream ends at its first
	// error, which every later call returns again, and a message sent
	// again could be received twice; those policies belong to the call
	// that opens the stream.
	InStream bool
}

// Manager holds the resilience state of one wrapper: its breakers, rate
// limits, recovery hooks and metrics, built from the generated Spec and the
// options. A wrapper's Resilience method returns the runtime.Manager that
// reads it. It is safe for concurrent use.
type Manager struct {
	wrapper string
	iface   string
	clock   runtime.Clock
	// sclock is clock as a store.Clock, converted once: a breaker's methods
	// take one, and converting on every attempt would cost an itab lookup.
	sclock store.Clock
	// userPanicked says that an observer, the Classifier or the Tracer
	// panicked once already: the first panic is logged, not the following
	// ones (userPanic).
	userPanicked atomic.Bool
	logger       *slog.Logger
	observers    []runtime.Observer
	classifier   runtime.Classifier
	methods      []Method
	breakers     map[string]*breakerEntry
	guards       map[string]*guard
	limiters     map[string]*limiterEntry // concurrency limits, by name
	// wrapperBreaker is the settings of the wrapper's own breaker.
	wrapperBreaker runtime.CircuitBreakerConfig
	hooks          recoveryHooks
	recovery       recoveryState
	shared         []*bucket // per-host buckets to give back
	own            map[[3]int]*bucket
	created        time.Time
	closeOnce      sync.Once
	closed         chan struct{}
	unshare        []func()   // stop sharing the guards' counts (shareOverload)
	ext            managerExt // instance name, timing (metrics_observe.go)
	user           *runtime.Manager
}

type breakerEntry struct {
	name  string
	cfg   runtime.CircuitBreakerConfig // the settings it was built with
	owner string                       // the method it was built for
	state store.Breaker
	local *breaker // nil when the state lives in a Store

	// overloadAt is, for a breaker in a Store, when the current streak's
	// first overload answer came, in Unix nanoseconds (0: none since the
	// last success). A Store's breaker counts every failure it is told of,
	// so the Method holds back overload answers for overloadGrace, as a
	// local breaker does by itself (see Method.record).
	overloadAt atomic.Int64

	probing   atomic.Bool  // a Ping prober runs
	opened    atomic.Int64 // when it last opened from closed, in Unix nanoseconds
	hasOpened atomic.Bool
	recover   atomic.Int64              // nanoseconds the last outage lasted (open → closed)
	openErr   *runtime.CircuitOpenError // its rejection error, built once
	guards    []*guard                  // the overload policies of its methods: one, unless their settings differ
	history   ring[runtime.Transition]  // its last transitions (snapshot.go)
}

// configWarner is a ConfigSource with warnings (see runtime.ConfigSource).
type configWarner interface {
	Warnings(wrapper, iface string) []string
}

// noGate is the gate of a method without a guard: never set.
var noGate atomic.Bool

// NewManager builds the Manager of a wrapper of inner. Generated
// constructors call it; users read it through the runtime.Manager the
// wrapper's Resilience method returns.
// It applies the options' run-time overrides, validates every method's
// configuration and returns every problem at once.
func NewManager(inner any, spec *Spec, opts ...runtime.Option) (*Manager, error) {
	o := resolve(opts)
	m := &Manager{
		wrapper:    spec.Wrapper,
		iface:      spec.Interface,
		clock:      o.clock,
		logger:     o.logger,
		observers:  o.observers,
		classifier: o.classifier,
		methods:    make([]Method, len(spec.Methods)),
		breakers:   make(map[string]*breakerEntry),
		guards:     make(map[string]*guard),
		limiters:   make(map[string]*limiterEntry),
		own:        make(map[[3]int]*bucket),
		hooks:      findHooks(inner),
		closed:     make(chan struct{}),
		ext:        newManagerExt(&o, spec.Wrapper),
	}
	if m.clock == nil {
		m.clock = systemClock
	}
	if m.logger == nil {
		m.logger = slog.Default()
	}
	m.sclock = m.clock
	m.created = m.clock.Now()
	m.user = userManager(m)
	for _, src := range o.sources {
		if w, ok := src.(configWarner); ok {
			for _, msg := range w.Warnings(spec.Wrapper, spec.Interface) {
				m.logger.Warn(msg, "wrapper", spec.Wrapper)
			}
		}
	}
	host := o.hostKey
	if host == "" {
		if h, ok := inner.(interface{ Host() string }); ok {
			host = h.Host()
		}
	}
	names := make([]string, len(spec.Methods))
	for i, ms := range spec.Methods {
		names[i] = ms.Name
	}
	var errs []error
	cfgs := make([]runtime.Config, len(spec.Methods))
	valid := make([]bool, len(spec.Methods))
	for i, ms := range spec.Methods {
		cfg := ms.Config
		for _, src := range o.sources {
			settings, err := src.Overrides(spec.Wrapper, ms.Name, names)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, s := range settings {
				if err := cfg.Apply(s); err != nil {
					errs = append(errs, fmt.Errorf("%s.%s: %w", spec.Wrapper, ms.Name, err))
				}
			}
		}
		if ms.InStream {
			cfg.Retry.Disabled, cfg.CircuitBreaker.Disabled, cfg.Throttle.Disabled = true, true, true
			cfg.Concurrency.Disabled, cfg.RateLimit.Disabled = true, true
		}
		if err := cfg.Validate(); err != nil {
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				errs = append(errs, fmt.Errorf("%s.%s: %w", spec.Wrapper, ms.Name, e))
			}
			continue
		}
		cfgs[i], valid[i] = cfg.Normalize(), true
	}
	m.wrapperBreaker = commonBreaker(cfgs, valid)
	for i, ms := range spec.Methods {
		if !valid[i] {
			continue
		}
		if err := m.initMethod(&m.methods[i], ms.Name, cfgs[i], host, o.store); err != nil {
			errs = append(errs, fmt.Errorf("%s.%s: %w", spec.Wrapper, ms.Name, err))
		}
		m.methods[i].stream = !ms.Request
	}
	if len(m.shared) > 0 {
		rt.AddCleanup(m, releaseHostBuckets, m.shared)
	}
	if err := errors.Join(errs...); err != nil {
		m.Close()
		return nil, err
	}
	if sh, ok := o.store.(store.OverloadSharer); ok {
		// Once every method has its guard: the Store reads them from its
		// own goroutine.
		for _, g := range m.guards {
			if !(g.throttle.Disabled && g.budget.Disabled) {
				m.shareOverload(g, sh)
			}
		}
	}
	return m, nil
}

func (m *Manager) initMethod(me *Method, name string, cfg runtime.Config, host string, st runtime.Store) error {
	*me = Method{
		m:      m,
		name:   name,
		cfg:    cfg,
		weight: attemptWeight(1),
	}
	if !cfg.Retry.Disabled {
		me.maxAttempts = cfg.Retry.MaxAttempts
		me.weight = attemptWeight(cfg.Retry.MaxAttempts)
	} else {
		me.maxAttempts = 1
	}
	if !cfg.Timeout.Disabled {
		me.timeout = cfg.Timeout.Duration
	}
	if !cfg.Recovery.Disabled {
		me.recover = m.hooks.enabled(cfg.Recovery)
	}
	if !cfg.CircuitBreaker.Disabled {
		// One breaker per wrapper, or per group: the methods that share it
		// must agree on its settings. The wrapper's breaker has the
		// settings most of its ungrouped methods have (commonBreaker); a
		// method without a group whose settings differ gets its own,
		// named Wrapper.Method.
		bc := cfg.CircuitBreaker
		name := bc.Group
		if name == "" {
			name = m.wrapper
			if !sameBreaker(m.wrapperBreaker, bc) {
				name = m.wrapper + "." + me.name
			}
		}
		e, ok := m.breakers[name]
		if ok && !sameBreaker(e.cfg, bc) {
			return fmt.Errorf("circuit_breaker: group %q has other settings in %s (%s)", bc.Group, e.owner, breakerSettings(e.cfg))
		}
		if !ok {
			e = &breakerEntry{name: name, cfg: bc, owner: me.name}
			if st != nil {
				s, err := st.Breaker(name, bc)
				if err != nil {
					return err
				}
				e.state = s
				if w, ok := s.(store.Watcher); ok {
					m.watchStore(e, w)
				}
			} else {
				e.local = newBreaker(name, bc, m.clock, m.breakerChanged(e))
				e.state = e.local
			}
			m.breakers[name] = e
		}
		me.breaker = e
	}
	if !cfg.RateLimit.Disabled {
		switch {
		case st != nil:
			key := fmt.Sprintf("%s/%d/%d", m.limiterName(host, cfg.RateLimit), cfg.RateLimit.MaxRequestsPerMinute, cfg.RateLimit.BurstSize)
			s, err := st.Bucket(key, cfg.RateLimit)
			if err != nil {
				return err
			}
			me.bucket = s
		case host != "" && !cfg.RateLimit.Global:
			b := acquireHostBucket(host, cfg.RateLimit, clockKey(m.clock), m.clock.Now())
			m.shared = append(m.shared, b)
			me.bucket, me.local = b, b
		default:
			// The wrapper's own bucket, shared by its methods with the same limits.
			k := [3]int{cfg.RateLimit.MaxRequestsPerMinute, cfg.RateLimit.BurstSize}
			if cfg.RateLimit.Adaptive {
				k[2] = 1
			}
			b, ok := m.own[k]
			if !ok {
				b = newBucket(cfg.RateLimit, m.clock.Now())
				m.own[k] = b
			}
			me.bucket, me.local = b, b
		}
	}
	me.sysClock = m.clock == systemClock
	m.initGuard(me)
	if err := m.initConcurrency(me); err != nil {
		return err
	}
	if me.breaker != nil {
		me.fastBreaker = me.breaker.local
	}
	if me.bucket == nil && me.recover&hookRecovery == 0 {
		me.admitNone = me.breaker == nil
		me.admitClosed = me.fastBreaker
	}
	me.successSlow = me.recover&hookRecovery != 0 || (me.breaker != nil && me.fastBreaker == nil)
	m.initObserve(me, host)
	return nil
}

// initGuard gives me the guard of its dependency: its breaker's, or the
// wrapper's when it has no breaker. A method whose overload settings differ
// from those of the guard's first method gets a guard of its own.
func (m *Manager) initGuard(me *Method) {
	me.gate = &noGate
	cfg := me.cfg
	if cfg.CircuitBreaker.Disabled && cfg.Throttle.Disabled && cfg.RetryBudget.Disabled {
		return
	}
	name := m.wrapper
	if e := me.breaker; e != nil {
		name = e.name
	}
	g, ok := m.guards[name]
	if ok && !sameOverload(g.methods[0].cfg, cfg) {
		name = m.wrapper + "." + me.name
		g, ok = m.guards[name]
	}
	if !ok {
		g = newGuard(name, cfg, m.clock)
		g.onChange = m.throttleChanged
		m.guards[name] = g
	}
	g.methods = append(g.methods, me)
	me.guard, me.gate = g, &g.active
	if e := me.breaker; e != nil && !slices.Contains(e.guards, g) {
		e.guards = append(e.guards, g)
	}
}

// shareOverload has sh share g's counts with the rest of the fleet (a
// Store that implements OverloadSharer), under the guard's name, held
// weakly: a dropped wrapper stops sharing when it is collected.
func (m *Manager) shareOverload(g *guard, sh store.OverloadSharer) {
	wg := weak.Make(g)
	g.onFleet = m.fleetChanged
	others, stop := sh.ShareOverload(g.name, func() store.OverloadCounts {
		if g := wg.Value(); g != nil {
			return g.shared()
		}
		return store.OverloadCounts{}
	})
	g.mu.Lock() // the Store may call already
	g.others = others
	g.mu.Unlock()
	m.unshare = append(m.unshare, func() {
		stop()
		g.mu.Lock()
		g.others, g.fleet, g.fleetOK = nil, store.OverloadCounts{}, false
		g.mu.Unlock()
	})
	rt.AddCleanup(m, func(stop func()) { stop() }, stop)
}

// fleetChanged logs that a dependency's guard lost the fleet's counts, or
// has them again.
func (m *Manager) fleetChanged(g *guard, ok bool) {
	if !ok && m.logEnabled(slog.LevelWarn) {
		m.logger.Warn(fmt.Sprintf("Fleet counts lost for %s: adaptive throttling and the retry budget count this process's calls only", g.name),
			slog.String("dependency", g.name), slog.String("wrapper", m.wrapper))
	} else if ok && m.logEnabled(slog.LevelInfo) {
		m.logger.Info(fmt.Sprintf("Fleet counts back for %s: adaptive throttling and the retry budget count the fleet's calls", g.name),
			slog.String("dependency", g.name), slog.String("wrapper", m.wrapper))
	}
}

// throttleChanged logs and reports that a dependency's throttle started
// or stopped rejecting calls.
func (m *Manager) throttleChanged(g *guard, on bool, rejection, requests, accepts float64) {
	if on && m.logEnabled(slog.LevelWarn) {
		m.logger.Warn(fmt.Sprintf("Adaptive throttling ON for %s: the service accepted %.0f of the last %s's %.0f requests. Rejecting %.0f%% of calls",
			g.name, accepts, fmtSeconds(g.throttle.Window), requests, 100*rejection),
			slog.String("dependency", g.name), slog.String("wrapper", m.wrapper),
			slog.Float64("requests", requests), slog.Float64("accepts", accepts), slog.Float64("rejection", rejection))
	} else if !on && m.logEnabled(slog.LevelInfo) {
		m.logger.Info(fmt.Sprintf("Adaptive throttling OFF for %s", g.name),
			slog.String("dependency", g.name), slog.String("wrapper", m.wrapper))
	}
	action := "off"
	if on {
		action = "on"
	}
	m.observe(runtime.Event{Kind: runtime.EventThrottle, Breaker: g.name, Action: action})
}

// fmtSeconds writes d as log messages do: 1s, 2.5s.
func fmtSeconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s" }

// commonBreaker returns the breaker settings that most of the methods
// without a group have: those of the wrapper's own breaker, whatever the
// methods' names. A tie goes to the settings that reach it first in the
// spec's order.
func commonBreaker(cfgs []runtime.Config, valid []bool) runtime.CircuitBreakerConfig {
	type key struct {
		failures, successes int
		open, initial       time.Duration
	}
	count := make(map[key]int)
	var best runtime.CircuitBreakerConfig
	bestN := 0
	for i, c := range cfgs {
		bc := c.CircuitBreaker
		if !valid[i] || bc.Disabled || bc.Group != "" {
			continue
		}
		k := key{bc.FailureThreshold, bc.SuccessThreshold, bc.RecoveryTimeout, bc.InitialRecoveryTimeout}
		count[k]++
		if count[k] > bestN {
			best, bestN = bc, count[k]
		}
	}
	return best
}

func sameBreaker(a, b runtime.CircuitBreakerConfig) bool {
	return a.FailureThreshold == b.FailureThreshold && a.RecoveryTimeout == b.RecoveryTimeout &&
		a.SuccessThreshold == b.SuccessThreshold && a.InitialRecoveryTimeout == b.InitialRecoveryTimeout
}

func breakerSettings(c runtime.CircuitBreakerConfig) string {
	return fmt.Sprintf("failure_threshold=%d initial_recovery_timeout=%v recovery_timeout=%v success_threshold=%d",
		c.FailureThreshold, c.InitialRecoveryTimeout, c.RecoveryTimeout, c.SuccessThreshold)
}

// Close stops the goroutines of the wrapper's recovery (Ping probes of an
// open breaker), and the sharing of its overload counts through the Store.
// They also stop when the wrapper is garbage collected, so calling Close
// is needed only to stop them at a known time. The wrapper keeps working
// after Close, without Ping probes, its throttle and retry budget counting
// its own calls.
func (m *Manager) Close() {
	m.closeOnce.Do(func() {
		close(m.closed)
		for _, stop := range m.unshare {
			stop() // a closed wrapper's counts no longer share the fleet's budget
		}
	})
}

// Wrapper returns the wrapper's type name.
func (m *Manager) Wrapper() string { return m.wrapper }

// Resilience returns what users read of m: the Manager of package runtime.
func (m *Manager) Resilience() *runtime.Manager { return m.user }

// Method returns the state of the i-th method of the Spec.
func (m *Manager) Method(i int) *Method { return &m.methods[i] }

// Config returns the configuration in force for method name, after
// run-time overrides, with defaults filled in, and whether the wrapper has
// such a method.
func (m *Manager) Config(method string) (runtime.Config, bool) {
	if me := m.method(method); me != nil {
		return me.cfg, true
	}
	return runtime.Config{}, false
}

// BreakerState returns the state of the breaker called name: the wrapper's
// type name for its own breaker, or a group's name.
func (m *Manager) BreakerState(name string) (runtime.State, bool) {
	e, ok := m.breakers[name]
	if !ok {
		return 0, false
	}
	return e.state.State(), true
}

func (m *Manager) observe(e runtime.Event) {
	e.Wrapper, e.Instance = m.wrapper, m.ext.instance
	for _, o := range m.observers {
		m.observeOne(o, e)
	}
}

// observeOne gives e to o. An observer is the user's code, called where the
// event happens: on the caller's goroutine, a Ping prober's, or a timer's
// that ends an open interval. A panic in it must neither crash the process
// from a goroutine no one can recover in nor leave a breaker's transition
// half done, so it is recovered, the event is dropped for that observer,
// and the first such panic of the Manager is logged.
func (m *Manager) observeOne(o runtime.Observer, e runtime.Event) {
	defer func() {
		if v := recover(); v != nil {
			m.userPanic(fmt.Sprintf("an observer of %s panicked on a %s event: %v; the event is dropped for it", m.wrapper, e.Kind, v))
		}
	}()
	o.Observe(e)
}

// userPanic logs, at Error level with the stack, the first panic of the
// user's code (an observer, the Classifier, the Tracer) that the Manager
// recovered: msg says what panicked and what became of it.
func (m *Manager) userPanic(msg string) {
	if m.userPanicked.CompareAndSwap(false, true) {
		m.logger.Error("resgen: "+msg+"; later panics of the user's observers, Classifier and Tracer are not logged",
			slog.String("wrapper", m.wrapper), slog.String("stack", string(debug.Stack())))
	}
}

// classifyByUser returns the class the user's Classifier gives err, or 0 to
// leave err to the built-in rules. A Classifier that panics leaves err to
// them too, and the first such panic of the Manager is logged: a failure
// that the user's code cannot classify is still a failure to classify, not
// a reason to crash the caller.
func (m *Manager) classifyByUser(err error) (c runtime.Class) {
	defer func() {
		if v := recover(); v != nil {
			c = 0
			m.userPanic(fmt.Sprintf("the Classifier of %s panicked on %q: %v; its errors are classified by resgen's rules", m.wrapper, err.Error(), v))
		}
	}()
	return m.classifier(err)
}

func (m *Manager) logEnabled(level slog.Level) bool {
	return m.logger.Enabled(context.Background(), level)
}

// breakerChanged returns the callback through which e's breaker reports its
// transitions: it logs them, notifies observers, and starts or stops the
// Ping prober.
//
// It holds the Manager weakly, so that a Ping prober, which holds the
// breaker, does not keep a dropped wrapper alive.
func (m *Manager) breakerChanged(e *breakerEntry) func(*breaker, breakerTransition) {
	wm := weak.Make(m)
	return func(b *breaker, tr breakerTransition) {
		m := wm.Value()
		if m == nil {
			return
		}
		now := m.clock.Now()
		forced := b.forceMode() != runtime.ForceNone
		e.history.add(runtime.Transition{At: now, From: tr.from, To: tr.to, Failures: tr.failures, Forced: forced}, keptTransitions)
		switch tr.to {
		case runtime.StateOpen:
			e.noteOpen(tr.from, now)
			if forced {
				if m.logEnabled(slog.LevelWarn) {
					m.logger.Warn(fmt.Sprintf("Circuit breaker OPEN for %s: forced open. Failing fast until released", e.name),
						slog.String("breaker", e.name), slog.String("wrapper", m.wrapper),
						slog.String("from", tr.from.String()), slog.Bool("forced", true))
				}
				break // no Ping while it is forced open
			}
			if m.logEnabled(slog.LevelError) {
				m.logger.Error(fmt.Sprintf("Circuit breaker OPEN for %s after %d failures. Failing fast for %.2f seconds",
					e.name, tr.failures, tr.openFor.Seconds()),
					slog.String("breaker", e.name), slog.String("wrapper", m.wrapper),
					slog.String("from", tr.from.String()), slog.Int("failures", tr.failures),
					slog.Int("failed_attempts", tr.attempts), slog.Duration("recovery_timeout", tr.openFor))
			}
			m.startProber(e, b)
		case runtime.StateHalfOpen:
			if m.logEnabled(slog.LevelInfo) {
				m.logger.Info(fmt.Sprintf("Circuit breaker HALF_OPEN for %s. Letting %d probes through", e.name, b.successThreshold),
					slog.String("breaker", e.name), slog.String("wrapper", m.wrapper))
			}
		case runtime.StateClosed:
			// An operator who forces it closed wants the traffic back: no ramp.
			outage := e.noteClosed(now, !forced)
			if m.logEnabled(slog.LevelInfo) {
				m.logger.Info(fmt.Sprintf("Circuit breaker CLOSED for %s after %.2f seconds", e.name, outage.Seconds()),
					slog.String("breaker", e.name), slog.String("wrapper", m.wrapper), slog.Duration("recovery_time", outage))
			}
		}
		m.observe(runtime.Event{Kind: runtime.EventStateChange, Breaker: e.name, From: tr.from, To: tr.to})
	}
}

// noteOpen records that e opened from from at now: the start of an
// outage when it was closed.
func (e *breakerEntry) noteOpen(from runtime.State, now time.Time) {
	if from == runtime.StateClosed {
		e.opened.Store(now.UnixNano())
		e.hasOpened.Store(true)
	}
}

// noteClosed records that e closed at now, ramps its guards' traffic back
// in when ramp is set, and returns how long the outage lasted (0 if it
// never opened).
func (e *breakerEntry) noteClosed(now time.Time, ramp bool) time.Duration {
	if ramp {
		for _, g := range e.guards {
			g.ramp()
		}
	}
	var outage time.Duration
	if e.hasOpened.Load() {
		outage = now.Sub(time.Unix(0, e.opened.Load()))
		e.recover.Store(int64(outage))
	}
	return outage
}

// limiterName is the name of a method's rate limit: its host's, unless
// the limit is global or the wrapper has no host, then the wrapper's.
func (m *Manager) limiterName(host string, rl runtime.RateLimitConfig) string {
	if host != "" && !rl.Global {
		return host
	}
	return m.wrapper
}
