package runtime

import (
	"errors"
	"strconv"
)

// ErrCircuitOpen is returned, without calling the inner value, by a method
// whose circuit breaker is open, or half-open with all its probes taken.
// It is never retried.
var ErrCircuitOpen = errors.New("resgen: circuit breaker is open")

// ErrRateLimited is returned by a method whose rate limit has no token for
// an attempt: at once with StrategyDrop, and with StrategyWait and
// StrategyQueue when the context ends, or would end, before the token comes.
// It is never retried.
var ErrRateLimited = errors.New("resgen: rate limited")

// ErrQueueFull is returned when StrategyQueue's queue is full.
// errors.Is(ErrQueueFull, ErrRateLimited) is true.
var ErrQueueFull error = queueFullError{}

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
