package runtime

// State is a circuit breaker's state.
type State uint8

// The breaker states.
const (
	StateClosed   State = iota // calls pass; failures are counted
	StateOpen                  // calls fail fast with ErrCircuitOpen
	StateHalfOpen              // a bounded number of probes pass
)

func (s State) String() string {
	switch s {
	case StateClosed:
		return "CLOSED"
	case StateOpen:
		return "OPEN"
	case StateHalfOpen:
		return "HALF_OPEN"
	}
	return "State(" + string(rune('0'+s)) + ")"
}

// Permit is a breaker's admission of one attempt: the breaker's generation
// and state when it was admitted. Results of attempts admitted in an
// earlier generation do not move the breaker.
type Permit uint64

func (p Permit) state() State { return State(p & 3) }

// BreakerState is the state of one circuit breaker, behind an interface so
// that it can live outside the process (WithStore). Generated code never
// calls it; a Method does.
type BreakerState interface {
	// Allow admits an attempt or returns ErrCircuitOpen. It reads the clock
	// only when the breaker is not closed.
	Allow(clock Clock) (Permit, error)
	// Success records a successful attempt admitted by p.
	Success(p Permit, clock Clock)
	// Failure records a failed attempt admitted by p, weighing weight
	// (see CallWeight).
	Failure(p Permit, weight int64, clock Clock)
	// Release returns p's probe slot without counting its attempt either
	// way (the attempt was not made, or its error does not count).
	Release(p Permit)
	// State returns the current state.
	State() State
}
