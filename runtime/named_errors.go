package runtime

import "strconv"

// CircuitOpenError is the error of an attempt rejected by an open breaker:
// it names the breaker, and errors.Is(err, ErrCircuitOpen) is true. Each
// breaker builds its own once, so that a rejection allocates nothing.
type CircuitOpenError struct {
	// Breaker is the breaker's name: the wrapper's type name, a group's
	// name, or Wrapper.Method for a method with a breaker of its own.
	Breaker string
}

func (e *CircuitOpenError) Error() string {
	return "resgen: circuit breaker " + strconv.Quote(e.Breaker) + " is open"
}

// Is reports whether target is ErrCircuitOpen.
func (e *CircuitOpenError) Is(target error) bool { return target == ErrCircuitOpen }

// RateLimitError is the error of an attempt refused by a rate limit: it
// names the limiter, and errors.Is(err, ErrRateLimited) is true; when the
// queue was full, errors.Is(err, ErrQueueFull) is true too. Each method
// builds its own once, so that a rejection allocates nothing.
type RateLimitError struct {
	// Limiter is the limit's name: the host whose per-host limit it is, or
	// the wrapper's type name for a global limit.
	Limiter string
	// QueueFull says that StrategyQueue's queue was full.
	QueueFull bool
}

func (e *RateLimitError) Error() string {
	if e.QueueFull {
		return "resgen: rate limit queue of " + strconv.Quote(e.Limiter) + " is full"
	}
	return "resgen: rate limited by " + strconv.Quote(e.Limiter)
}

// Is reports whether target is ErrRateLimited, or ErrQueueFull when the
// queue was full.
func (e *RateLimitError) Is(target error) bool {
	return target == ErrRateLimited || (e.QueueFull && target == ErrQueueFull)
}
