// Package store is what an implementation of runtime.Store needs: the
// state it keeps for a wrapper's circuit breakers and rate limits (Breaker,
// Bucket), with the breaker's states, permits and weights typed, so that a
// Store copies none of resgen's constants or encodings. runtime/redisstore
// is one; without a Store, wrappers keep this state in the process.
//
// Generated code never calls a Breaker or a Bucket itself: the engine it
// calls (runtime/resgenimpl) does, once per attempt. Allow, Success and Reserve are on every call's path, so
// a Store that answers them from a remote service on every call makes every
// call wait for it; runtime/redisstore decides locally and synchronizes in
// batches.
package store

import (
	"strconv"
	"time"
)

// State is a circuit breaker's state. runtime.State is the same type.
type State uint8

// The breaker states.
const (
	Closed   State = iota // calls pass; failures are counted
	Open                  // calls fail fast with runtime.ErrCircuitOpen
	HalfOpen              // a bounded number of probes pass
)

// String returns "CLOSED", "OPEN" or "HALF_OPEN".
func (s State) String() string {
	switch s {
	case Closed:
		return "CLOSED"
	case Open:
		return "OPEN"
	case HalfOpen:
		return "HALF_OPEN"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// CallWeight is what one failed call's worth of failed attempts weighs in a
// breaker's failure streak: a breaker opens when the weights its Failure
// was given since the last success reach FailureThreshold × CallWeight.
// A wrapper passes each failed attempt's share (CallWeight / max_attempts,
// rounded up).
const CallWeight = 1 << 20

// Permit is a breaker's admission of one attempt: the breaker's generation
// and state when it was admitted. Results of attempts admitted in an
// earlier generation do not move the breaker.
type Permit uint64

// NewPermit returns the permit of an attempt admitted by a breaker in
// state s during its generation gen (every change of state starts a new
// generation). gen is kept modulo 2^62.
func NewPermit(gen uint64, s State) Permit { return Permit(gen<<2 | uint64(s&3)) }

// State returns the breaker state that admitted the attempt.
func (p Permit) State() State { return State(p & 3) }

// Generation returns the breaker generation that admitted the attempt.
func (p Permit) Generation() uint64 { return uint64(p) >> 2 }

// Clock tells the time: the wrapper's (runtime.WithClock), so that a test's
// fake clock drives a Store's breakers too.
type Clock interface {
	Now() time.Time
}

// Breaker is the state of one circuit breaker.
type Breaker interface {
	// Allow admits an attempt, or returns runtime.ErrCircuitOpen. It reads
	// the clock only when the breaker is not closed.
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

// Watcher is implemented by a Breaker kept outside the process that can
// tell when its state changes, whoever changed it: the wrapper then logs
// and reports those changes as it does its own breakers' (the state-change
// event, the snapshot's transitions, the ramp-up of adaptive throttling
// when it closes).
type Watcher interface {
	// Watch calls f for every change of state the Breaker learns of, one
	// at a time, in order, until stop is called. f must not block.
	Watch(f func(Change)) (stop func())
}

// Change is a change of state of a breaker kept outside the process, as the
// process learned of it.
type Change struct {
	From, To State
	// Remote says that another process made the change; this process
	// learned of it from the Store.
	Remote bool
}

// Bucket is the state of one token bucket of a rate limit.
type Bucket interface {
	// Reserve takes the next token at now. It returns how long the caller
	// must wait before using it, or ok=false, taking nothing, when that wait
	// would exceed maxWait.
	Reserve(now time.Time, maxWait time.Duration) (r Reservation, ok bool)
	// Cancel gives back the token of a reservation that will not be used,
	// when no later reservation depends on it.
	Cancel(r Reservation)
	// Pause admits nothing before until (a server's Retry-After), for
	// everyone who shares the bucket.
	Pause(until time.Time)
}

// Reservation is a token taken from a bucket.
type Reservation struct {
	Wait  time.Duration // how long to wait before the attempt
	Token int64         // the bucket's identification of the token
}

// OverloadCounts is what the wrappers of one process counted of one
// dependency (what one breaker guards) over the windows of its overload
// policies: adaptive throttling's requests and accepts over the throttle's
// window, the retry budget's calls and retries over the budget's window.
type OverloadCounts struct {
	// Guards is how many counters the counts add up: one per dependency
	// per wrapper (runtime.Manager). The retry budget splits its floor
	// among them.
	Guards int
	// Requests and Accepts are the attempts sent (those throttled
	// included) and those the service accepted, over the throttle's
	// window.
	Requests, Accepts float64
	// Calls and Retries are the calls that ended and the retries granted,
	// over the retry budget's window.
	Calls, Retries float64
}

// Add returns the sum of c and d.
func (c OverloadCounts) Add(d OverloadCounts) OverloadCounts {
	return OverloadCounts{
		Guards:   c.Guards + d.Guards,
		Requests: c.Requests + d.Requests, Accepts: c.Accepts + d.Accepts,
		Calls: c.Calls + d.Calls, Retries: c.Retries + d.Retries,
	}
}

// OverloadSharer is implemented by a Store that shares the counts of
// adaptive throttling and of the retry budget among the processes that
// share a dependency, so that each decides from the fleet's counts: a
// process with little traffic throttles as soon as the fleet sees a
// brownout, and the fleet's retries stay within the budget's ratio of the
// fleet's calls. A wrapper whose Store does not implement it counts its
// own calls only.
//
// Neither function waits for the network: the Store calls local from its
// own goroutine, about as often as it synchronizes, and sends what it
// returns; others returns what the Store last received.
type OverloadSharer interface {
	// ShareOverload makes the counts that local returns known to every
	// process that shares the dependency called name. local must not
	// block, and must not call the Store. others returns the sum of the
	// counts last known of everyone else that shares name (the other
	// processes, and the other callers of ShareOverload in this process),
	// or ok=false when the Store has no recent counts (Redis lost): the
	// wrapper then counts its own. stop ends the sharing.
	ShareOverload(name string, local func() OverloadCounts) (others func() (c OverloadCounts, ok bool), stop func())
}
