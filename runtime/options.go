package runtime

import (
	"log/slog"
	"time"

	"github.com/resgen-dev/resgen/runtime/internal/link"
	"github.com/resgen-dev/resgen/runtime/store"
)

// Option configures a Manager: pass options to a generated NewResilientT.
type Option func(*options)

// options are what the options set; the engine reads them.
type options = link.Options

// ConfigSource supplies run-time overrides: runtime/config's File is one.
// Settings are applied in order, field by field, over the configuration the
// generated code carries.
//
// A ConfigSource may also tell a wrapper being built of problems that are
// not errors, with a method
//
//	Warnings(wrapper, iface string) []string
//
// returning its warnings for a wrapper (its type name, "ResilientStore")
// of an interface ("shop.Store"), each once however many wrappers are
// built from it: runtime/config's File warns so of an entry whose key no
// wrapper has but that is close to the wrapper's name. The wrapper's
// constructor logs each at Warn level.
type ConfigSource interface {
	// Overrides returns the settings for method of wrapper (a wrapper type
	// name such as "ResilientStore"), in the order they apply. methods lists
	// every method of the wrapper, so that a source can report names it
	// does not know.
	Overrides(wrapper, method string, methods []string) ([]Setting, error)
}

// Settings is a ConfigSource that applies the same settings to every method
// of every wrapper.
type Settings []Setting

// Overrides returns s.
func (s Settings) Overrides(string, string, []string) ([]Setting, error) { return s, nil }

// JoinOptions returns an Option that applies opts in order: what an
// integration that needs several options (runtime/otel) hands out as one.
func JoinOptions(opts ...Option) Option {
	return func(o *options) {
		for _, opt := range opts {
			if opt != nil {
				opt(o)
			}
		}
	}
}

// WithConfig applies run-time overrides (runtime/config.Load, or Settings)
// when the wrapper is built. Several sources apply in order.
func WithConfig(src ConfigSource) Option {
	return func(o *options) {
		if src != nil {
			o.Sources = append(o.Sources, src)
		}
	}
}

// WithLogger sends the wrapper's logs to l instead of slog.Default().
// WithLogger(nil) silences them.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		o.Logger = l
	}
}

// WithObserver reports every retry, breaker state change, rate-limit delay
// or rejection and recovery to obs, synchronously: obs must be quick and
// safe for concurrent use. Several observers are called in order. A panic
// in obs is recovered wherever the event happened (the caller's goroutine,
// a Ping prober's, a Store's), the event is dropped for obs, and the
// wrapper logs the first such panic.
func WithObserver(obs Observer) Option {
	return func(o *options) {
		if obs != nil {
			o.Observers = append(o.Observers, obs)
		}
	}
}

// WithClock replaces the system clock, for tests (see runtime/fakeclock).
// Retry delays, breaker timeouts and rate-limit waits follow it, and
// contexts' deadlines are compared with its Now, so that a test can start
// a fake clock at time.Now() and move time, deadlines included, with
// Advance. The per-attempt timeout is a context deadline and always runs on
// the system clock.
func WithClock(c Clock) Option {
	return func(o *options) {
		if c != nil {
			o.Clock = c
		}
	}
}

// WithClassifier consults c before the built-in rules of Classify. A panic
// in c leaves the error to the built-in rules, and the wrapper logs the
// first such panic.
func WithClassifier(c Classifier) Option {
	return func(o *options) { o.Classifier = c }
}

// WithHostKey names the host whose per-host rate limit the wrapper shares,
// instead of the inner value's Host() string.
func WithHostKey(host string) Option {
	return func(o *options) { o.HostKey = host }
}

// WithStore keeps breaker and rate-limit state in s instead of in the
// process, to share it between processes.
func WithStore(s Store) Option {
	return func(o *options) { o.Store = s }
}

// WithInstance names this wrapper among the wrappers of its type (one per
// shard or tenant, say): metrics carry the name (Manager.Instance), so that
// one collector can export several wrappers of one type. Without it, the
// wrappers of a type are numbered in the order the process builds them.
func WithInstance(name string) Option {
	return func(o *options) { o.Instance = name }
}

// WithLatencyHistograms times every attempt into a histogram of fixed
// buckets (Latency) with atomic counters: lock-free and
// allocation-free, but two clock reads an attempt, which is why it is off
// unless asked for.
func WithLatencyHistograms() Option {
	return func(o *options) { o.Latency = true }
}

// Store holds breaker and rate-limit state, to share it between
// processes: runtime/redisstore is one, and package store has what an
// implementation needs. The default keeps it in the process; per-host
// buckets are shared by every wrapper of the process.
type Store interface {
	// Breaker returns the breaker called name, creating it with cfg.
	Breaker(name string, cfg CircuitBreakerConfig) (store.Breaker, error)
	// Bucket returns the bucket called key, creating it with cfg.
	Bucket(key string, cfg RateLimitConfig) (store.Bucket, error)
}

// Observer receives the wrapper's events (WithObserver).
type Observer interface {
	Observe(Event)
}

// ObserverFunc is a func that is an Observer.
type ObserverFunc func(Event)

// Observe calls f(e).
func (f ObserverFunc) Observe(e Event) { f(e) }

// EventKind says what an Event reports.
type EventKind uint8

// The event kinds.
const (
	// EventRetry: an attempt failed and another follows after Delay.
	EventRetry EventKind = iota + 1
	// EventGiveUp: a call failed for good after Attempt attempts.
	EventGiveUp
	// EventStateChange: breaker Breaker went From → To.
	EventStateChange
	// EventRateLimit: an attempt was delayed, queued or dropped (Action).
	EventRateLimit
	// EventRejected: the breaker rejected an attempt.
	EventRejected
	// EventRecovery: a recovery procedure (Action: reconnect,
	// refresh_credentials, adapt_schema, ping, partial) ran; OK says whether it worked.
	EventRecovery
	// EventThrottled: adaptive throttling rejected an attempt (Breaker
	// names the dependency).
	EventThrottled
	// EventBudgetDenied: the retry budget denied the retry after Attempt.
	EventBudgetDenied
	// EventThrottle: the throttle of dependency Breaker started (Action
	// "on") or stopped ("off") rejecting calls.
	EventThrottle
	// EventConcurrencyRejected: the concurrency limit Limiter turned an
	// attempt away (Err is its *ConcurrencyError).
	EventConcurrencyRejected
	// EventConcurrencyLimit: the adaptive concurrency limit Limiter is now
	// Limit.
	EventConcurrencyLimit
	// EventRateAdapted: a rate_limited answer to Method cut its adaptive
	// rate limit to Limit requests a minute.
	EventRateAdapted
)

func (k EventKind) String() string {
	switch k {
	case EventRetry:
		return "retry"
	case EventGiveUp:
		return "give_up"
	case EventStateChange:
		return "state_change"
	case EventRateLimit:
		return "rate_limit"
	case EventRejected:
		return "rejected"
	case EventRecovery:
		return "recovery"
	case EventThrottled:
		return "throttled"
	case EventBudgetDenied:
		return "budget_denied"
	case EventThrottle:
		return "throttle"
	case EventConcurrencyRejected:
		return "concurrency_rejected"
	case EventConcurrencyLimit:
		return "concurrency_limit"
	case EventRateAdapted:
		return "rate_adapted"
	}
	return "unknown"
}

// Event is one resilience action. Only the fields of its Kind are set.
type Event struct {
	Kind     EventKind
	Wrapper  string        // the wrapper's type name
	Instance string        // the wrapper's instance name (Manager.Instance)
	Method   string        // the method's name; empty for breaker events
	Breaker  string        // the breaker's name
	From, To State         // EventStateChange
	Attempt  int           // the attempt that failed, or the number made
	Max      int           // the attempts allowed
	Delay    time.Duration // the wait that follows
	Action   string        // EventRateLimit, EventRecovery
	OK       bool          // EventRecovery
	Err      error
	Class    Class
	Limiter  string  // EventConcurrencyRejected, EventConcurrencyLimit: the limit's name
	Limit    float64 // EventConcurrencyLimit, EventRateAdapted: the new limit or rate
}
