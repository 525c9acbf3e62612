package resgenimpl

import "github.com/resgen-dev/resgen/runtime"

func newCircuitOpenError(breaker string) *runtime.CircuitOpenError {
	return &runtime.CircuitOpenError{Breaker: breaker}
}

func newRateLimitError(limiter string, queueFull bool) *runtime.RateLimitError {
	return &runtime.RateLimitError{Limiter: limiter, QueueFull: queueFull}
}

// named returns the named form of a sentinel rejection: the breaker's own
// CircuitOpenError or the method's RateLimitError; any other error
// unchanged.
func (me *Method) named(err error) error {
	switch err {
	case runtime.ErrCircuitOpen:
		if e := me.breaker; e != nil && e.openErr != nil {
			return e.openErr
		}
	case runtime.ErrRateLimited:
		if me.stats.limitedErr != nil {
			return me.stats.limitedErr
		}
	case runtime.ErrQueueFull:
		if me.stats.queueFullErr != nil {
			return me.stats.queueFullErr
		}
	}
	return err
}
