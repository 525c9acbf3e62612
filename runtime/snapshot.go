package runtime

import (
	"time"
)

// Transition is one change of state of a circuit breaker.
type Transition struct {
	// At is when it happened, by the wrapper's clock.
	At time.Time
	// From and To are the states it left and entered.
	From, To State
	// Failures is, for a transition to open, the calls' worth of failed
	// attempts (or failed probes) that opened it.
	Failures int
	// Forced says that ForceBreaker made it.
	Forced bool
}

// BreakerSnapshot is the state of one circuit breaker, with its recent
// history: what a status page shows.
type BreakerSnapshot struct {
	// Name is the breaker's name, State its state, and Forced what
	// ForceBreaker holds it at (ForceNone: nothing).
	Name   string
	State  State
	Forced ForceMode
	// Forceable says that the breaker lives in the process: ForceBreaker
	// can force it. A breaker kept in a Store cannot be forced, and keeps
	// Transitions only when the Store reports them (store.Watcher).
	Forceable bool
	// Config is its settings.
	Config CircuitBreakerConfig
	// Methods are the methods it guards, in the interface's order.
	Methods []string
	// RecoveryTime is how long its last outage lasted, from opening to
	// closing again.
	RecoveryTime time.Duration
	// Transitions are its last changes of state (at most 16), oldest
	// first.
	Transitions []Transition
}

// LimiterSnapshot is the state of one method's rate limit.
type LimiterSnapshot struct {
	// Name is the limit's name: the host whose per-host limit it is, or
	// the wrapper's type name.
	Name string
	// Config is its settings.
	Config RateLimitConfig
	// Tokens is the number of tokens in the bucket now, from 0 to
	// BurstSize; -1 when the bucket lives in a Store.
	Tokens float64
	// QueueDepth is the number of the method's attempts waiting in the
	// queue now.
	QueueDepth int64
}

// ErrorRecord is one failed attempt of a method, as RecentErrors keeps it.
type ErrorRecord struct {
	// At is when the attempt failed, by the wrapper's clock.
	At time.Time
	// Attempt is the attempt's number in its call, from 1.
	Attempt int
	// Class is the error's class.
	Class Class
	// Err is the attempt's error.
	Err error
}
