package engine

// NewLocalStore returns a Store that keeps state in the process, counting
// time by clock (nil: the system clock): what wrappers use without
// WithStore, offered to Stores that keep state elsewhere and fall back on
// the process when they cannot reach it. Each call of Breaker or Bucket
// returns a new state; the Store keeps none itself.
func NewLocalStore(clock Clock) Store {
	if clock == nil {
		clock = systemClock
	}
	return localStore{clock}
}

type localStore struct{ clock Clock }

func (s localStore) Breaker(name string, cfg CircuitBreakerConfig) (BreakerState, error) {
	if err := (Config{CircuitBreaker: cfg}).Validate(); err != nil {
		return nil, err
	}
	return newBreaker(name, (Config{CircuitBreaker: cfg}).Normalize().CircuitBreaker, s.clock, nil), nil
}

func (s localStore) Bucket(key string, cfg RateLimitConfig) (BucketState, error) {
	if err := (Config{RateLimit: cfg}).Validate(); err != nil {
		return nil, err
	}
	return newBucket((Config{RateLimit: cfg}).Normalize().RateLimit, s.clock.Now()), nil
}
