// Package bench compares a resgen wrapper's cost with the direct call and
// with the peer libraries (failsafe-go, sony/gobreaker, x/time/rate). It is
// its own module so that resgen does not depend on them: run it with
// `make bench` or `cd bench && go test -bench . -benchmem`.
package bench

import "context"

//go:generate go tool resgen

// Orders is the connector the benchmarks wrap.
//
//resgen:rate_limit max_requests_per_minute=1000000000 burst_size=1000000000 per_host=false
//resgen:timeout off
type Orders interface {
	Get(ctx context.Context, id string) (string, error)
}

// RetryBreaker is Orders with retry and a breaker only.
//
//resgen:rate_limit off
//resgen:timeout off
type RetryBreaker interface {
	Get(ctx context.Context, id string) (string, error)
}

// Timeout is Orders with a per-attempt timeout only.
//
//resgen:retry off
//resgen:circuit_breaker off
//resgen:rate_limit off
//resgen:timeout 1m
type Timeout interface {
	Get(ctx context.Context, id string) (string, error)
}

type nop struct{}

func (nop) Get(context.Context, string) (string, error) { return "ok", nil }
