package runtime

import "github.com/resgen-dev/resgen/runtime/store"

// State is a circuit breaker's state: closed, open or half-open.
type State = store.State

// The breaker states.
const (
	StateClosed   = store.Closed   // calls pass; failures are counted
	StateOpen     = store.Open     // calls fail fast with ErrCircuitOpen
	StateHalfOpen = store.HalfOpen // a bounded number of probes pass
)
