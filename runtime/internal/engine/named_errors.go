package engine

func newCircuitOpenError(breaker string) *CircuitOpenError {
	return &CircuitOpenError{Breaker: breaker}
}

func newRateLimitError(limiter string, queueFull bool) *RateLimitError {
	return &RateLimitError{Limiter: limiter, QueueFull: queueFull}
}

// named returns the named form of a sentinel rejection: the breaker's own
// CircuitOpenError or the method's RateLimitError; any other error
// unchanged.
func (me *Method) named(err error) error {
	switch err {
	case ErrCircuitOpen:
		if e := me.breaker; e != nil && e.openErr != nil {
			return e.openErr
		}
	case ErrRateLimited:
		if me.stats.limitedErr != nil {
			return me.stats.limitedErr
		}
	case ErrQueueFull:
		if me.stats.queueFullErr != nil {
			return me.stats.queueFullErr
		}
	}
	return err
}
