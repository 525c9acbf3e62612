package runtime

// CallWeight is what one failed call's worth of failed attempts weighs in a
// breaker's failure streak: a breaker opens when the weights its Failure
// was given since the last success reach FailureThreshold × CallWeight.
// A Method passes each failed attempt's share (CallWeight / max_attempts,
// rounded up).
const CallWeight = 1 << 20

// NewPermit returns the permit of an attempt admitted by a breaker in
// state s during its generation gen (every change of state starts a new
// generation). gen is kept modulo 2^62.
func NewPermit(gen uint64, s State) Permit { return Permit(gen<<2 | uint64(s&3)) }

// State returns the breaker state that admitted the attempt.
func (p Permit) State() State { return State(p & 3) }

// Generation returns the breaker generation that admitted the attempt.
func (p Permit) Generation() uint64 { return uint64(p) >> 2 }

// BreakerChange is a change of state of a breaker kept outside the process
// (WithStore), as the process learned of it.
type BreakerChange struct {
	From, To State
	// Remote says that another process made the change; this process
	// learned of it from the Store.
	Remote bool
}

// BreakerWatcher is implemented by a BreakerState kept outside the process
// that can tell when its state changes, whoever changed it: the Manager
// then logs and reports those changes as it does its own breakers'
// (EventStateChange, the snapshot's transitions, the ramp-up of adaptive
// throttling when it closes).
type BreakerWatcher interface {
	// Watch calls f for every change of state the BreakerState learns of,
	// one at a time, in order, until stop is called. f must not block.
	Watch(f func(BreakerChange)) (stop func())
}
