package resgenimpl

import (
	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/store"
)

// NewLocalStore returns a Store that keeps state in the process, counting
// time by clock (nil: the system clock): what wrappers use without
// WithStore, offered to Stores that keep state elsewhere and fall back on
// the process when they cannot reach it. Each call of Breaker or Bucket
// returns a new state; the Store keeps none itself.
func NewLocalStore(clock runtime.Clock) runtime.Store {
	if clock == nil {
		clock = systemClock
	}
	return localStore{clock}
}

type localStore struct{ clock runtime.Clock }

func (s localStore) Breaker(name string, cfg runtime.CircuitBreakerConfig) (store.Breaker, error) {
	if err := (runtime.Config{CircuitBreaker: cfg}).Validate(); err != nil {
		return nil, err
	}
	return newBreaker(name, (runtime.Config{CircuitBreaker: cfg}).Normalize().CircuitBreaker, s.clock, nil), nil
}

func (s localStore) Bucket(key string, cfg runtime.RateLimitConfig) (store.Bucket, error) {
	if err := (runtime.Config{RateLimit: cfg}).Validate(); err != nil {
		return nil, err
	}
	return newBucket((runtime.Config{RateLimit: cfg}).Normalize().RateLimit, s.clock.Now()), nil
}
