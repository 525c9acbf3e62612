package runtime

import (
	"errors"
	"strconv"
)

// The errors of calls that resgen's policies turn away or end. Each
// policy's own error type (CircuitOpenError, RateLimitError,
// ConcurrencyError, RetryError) errors.Is its sentinel.
var (
	// ErrCircuitOpen is returned, without calling the inner value, by a method
	// whose circuit breaker is open, or half-open with all its probes taken.
	// It is never retried.
	ErrCircuitOpen = errors.New("resgen: circuit breaker is open")

	// ErrRateLimited is returned by a method whose rate limit has no token for
	// an attempt: at once with StrategyDrop, and with StrategyWait and
	// StrategyQueue when the context ends, or would end, before the token comes.
	// It is never retried.
	ErrRateLimited = errors.New("resgen: rate limited")

	// ErrQueueFull is returned when StrategyQueue's queue is full.
	// errors.Is(ErrQueueFull, ErrRateLimited) is true.
	ErrQueueFull error = queueFullError{}

	// ErrThrottled is returned, without calling the inner value, when adaptive
	// throttling rejects a call (ThrottleConfig).
	ErrThrottled = errors.New("resgen: throttled: the service is accepting fewer calls than are sent")

	// ErrRetryBudget is the Stop of a RetryError when the dependency's retry
	// budget denied the next attempt (RetryBudgetConfig).
	ErrRetryBudget = errors.New("resgen: retry budget exhausted")

	// ErrConcurrencyLimit is what errors.Is finds in the error of an attempt
	// that a concurrency limit turned away: a *ConcurrencyError.
	ErrConcurrencyLimit = errors.New("resgen: concurrency limit reached")

	// ErrNotForceable is returned by ForceBreaker for a breaker that keeps its
	// state in a Store (WithStore): only breakers that live in the process can
	// be forced.
	ErrNotForceable = errors.New("resgen: breaker lives in a store and cannot be forced")
)

type queueFullError struct{}

func (queueFullError) Error() string { return "resgen: rate limit queue is full" }

func (queueFullError) Is(target error) bool { return target == ErrRateLimited }

// RetryError is returned when a method gives up after more than one
// attempt: its attempts ran out, an error that is not retried came after a
// retried one, or the breaker or the rate limit stopped the next attempt.
// Unwrap returns the last attempt's error, and the rejection when there was
// one, so errors.Is and errors.As find both.
type RetryError struct {
	// Method is the wrapper's method, as Type.Method.
	Method string
	// Attempts is the number of attempts made.
	Attempts int
	// Err is the last attempt's error.
	Err error
	// Stop is why no further attempt was made, when it was not Err itself:
	// ErrCircuitOpen or ErrRateLimited (or ErrQueueFull).
	Stop error
}

func (e *RetryError) Error() string {
	s := e.Method + ": giving up after " + strconv.Itoa(e.Attempts) + " attempt"
	if e.Attempts != 1 {
		s += "s"
	}
	if e.Stop != nil {
		s += " (" + e.Stop.Error() + ")"
	}
	if e.Err == nil {
		return s
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the last error and, when there was one, the rejection.
func (e *RetryError) Unwrap() []error {
	if e.Stop != nil {
		return []error{e.Stop, e.Err}
	}
	return []error{e.Err}
}
