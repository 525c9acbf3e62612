package resgenimpl

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/store"
)

// callWeight is the weight of one failed call's worth of failed attempts.
const callWeight = store.CallWeight

// attemptWeight is what one failed attempt of a method with maxAttempts
// attempts adds to the breaker's failure streak: callWeight/maxAttempts,
// rounded up so that maxAttempts failures always make a whole call.
func attemptWeight(maxAttempts int) int64 {
	if maxAttempts < 1 {
		maxAttempts = 1
	}
	return (callWeight + int64(maxAttempts) - 1) / int64(maxAttempts)
}

// breakerTransition is reported to the Manager when a breaker changes state.
type breakerTransition struct {
	from, to runtime.State
	failures int           // calls' worth of failures that opened it
	attempts int           // failed attempts that opened it
	openFor  time.Duration // how long it stays open, when it opened
}

// breaker is the in-process store.Breaker. Its closed-state admission and
// success are one atomic load each, and so is failing fast while it is
// open; everything else takes its mutex.
type breaker struct {
	name             string
	threshold        int64         // FailureThreshold × callWeight
	recoveryTimeout  time.Duration // the longest open interval
	initialRecovery  time.Duration // the first open interval
	successThreshold int
	onChange         func(*breaker, breakerTransition)

	word   atomic.Uint64 // generation<<2 | state
	streak atomic.Int64  // weighted consecutive failed attempts
	due    atomic.Uint64 // the word of the open state whose recovery_timeout has passed
	clock  runtime.Clock

	mu         sync.Mutex
	attempts   int           // failed attempts in the streak
	overloadAt time.Time     // when the streak's first overload answer came; zero: none yet
	lastProbe  time.Time     // when the last probe was admitted (or it went half-open)
	probes     int           // probes in flight
	successes  int           // successful probes
	timer      runtime.Timer // the open state's recovery_timeout
	openFor    time.Duration // the last open interval, before jitter
	closedAt   time.Time     // when it last closed
	left       chan struct{} // closed when the breaker leaves the open state

	// Transitions wait in pending for onChange, which one goroutine at a
	// time (notifying) calls for each, in order, outside mu: the log and
	// the observers never see a breaker close after it opened again.
	pending   []breakerTransition
	notifying bool

	forced atomic.Uint32 // a ForceMode (force.go), stored under mu
}

func newBreaker(name string, cfg runtime.CircuitBreakerConfig, clock runtime.Clock, onChange func(*breaker, breakerTransition)) *breaker {
	return &breaker{
		clock:            clock,
		name:             name,
		threshold:        int64(min(cfg.FailureThreshold, math.MaxInt64/callWeight)) * callWeight,
		recoveryTimeout:  cfg.RecoveryTimeout,
		initialRecovery:  min(cfg.InitialRecoveryTimeout, cfg.RecoveryTimeout),
		successThreshold: cfg.SuccessThreshold,
		onChange:         onChange,
	}
}

func (b *breaker) State() runtime.State { return runtime.State(b.word.Load() & 3) }

func (b *breaker) Allow(clock store.Clock) (store.Permit, error) {
	w := b.word.Load()
	switch runtime.State(w & 3) {
	case runtime.StateClosed:
		return store.Permit(w), nil
	case runtime.StateOpen:
		// A timer marks the open state due when recovery_timeout has
		// passed, so that failing fast reads no clock and takes no lock.
		if b.due.Load() != w {
			return 0, runtime.ErrCircuitOpen
		}
	}
	return b.allowSlow(clock)
}

func (b *breaker) allowSlow(clock store.Clock) (store.Permit, error) {
	now := clock.Now()
	b.mu.Lock()
	defer b.unlock()
	w := b.word.Load()
	switch runtime.State(w & 3) {
	case runtime.StateClosed:
		return store.Permit(w), nil
	case runtime.StateOpen:
		if b.due.Load() != w {
			return 0, runtime.ErrCircuitOpen
		}
		b.setLocked(runtime.StateHalfOpen, now, 0)
	case runtime.StateHalfOpen:
		// Probes that neither succeed nor fail within recoveryTimeout are
		// taken as failed, so that a hung probe cannot keep the breaker
		// half-open forever. Every probe in flight was admitted at or
		// before lastProbe, so when the last one is that old, all are.
		if b.probes >= b.successThreshold && now.Sub(b.lastProbe) >= b.recoveryTimeout {
			b.setLocked(runtime.StateOpen, now, b.probes)
			return 0, runtime.ErrCircuitOpen
		}
	}
	if b.probes >= b.successThreshold {
		return 0, runtime.ErrCircuitOpen
	}
	b.probes++
	if now.After(b.lastProbe) {
		b.lastProbe = now
	}
	return store.Permit(b.word.Load()), nil
}

// setLocked moves the breaker to state to, starting a new generation, and
// queues the transition for onChange (see unlock). failed is the number of
// probes that failed, when a half-open breaker opens again.
func (b *breaker) setLocked(to runtime.State, now time.Time, failed int) {
	w := b.word.Load()
	from := runtime.State(w & 3)
	tr := breakerTransition{from: from, to: to}
	if from == runtime.StateOpen {
		// Leaving the open state before its recovery_timeout (a Ping
		// succeeded): its timer has nothing left to do.
		if b.timer != nil {
			b.timer.Stop()
			b.timer = nil
		}
		if b.left != nil {
			close(b.left)
			b.left = nil
		}
	}
	switch to {
	case runtime.StateOpen:
		if from == runtime.StateHalfOpen {
			tr.failures, tr.attempts = failed, failed
		} else {
			tr.attempts = b.attempts
			tr.failures = int((b.streak.Load() + callWeight/2) / callWeight)
		}
		tr.openFor = b.openInterval(from, now)
	case runtime.StateHalfOpen:
		b.lastProbe = now
	case runtime.StateClosed:
		b.closedAt = now
	}
	b.probes, b.successes, b.attempts = 0, 0, 0
	b.overloadAt = time.Time{}
	b.streak.Store(0)
	next := (w>>2+1)<<2 | uint64(to)
	b.word.Store(next)
	if to == runtime.StateOpen {
		b.left = make(chan struct{})
	}
	if to == runtime.StateOpen && runtime.ForceMode(b.forced.Load()) != runtime.ForceOpen { // forced open: no recovery_timeout
		b.timer = b.clock.AfterFunc(tr.openFor, func() {
			// Words only grow: a late timer of an earlier open state must
			// not hide that a later one is due.
			for {
				d := b.due.Load()
				if d >= next || b.due.CompareAndSwap(d, next) {
					return
				}
			}
		})
	}
	if b.onChange != nil {
		b.pending = append(b.pending, tr)
	}
}

// openInterval returns how long the breaker stays open now that it opens
// from state from: InitialRecoveryTimeout the first time, half as long again as the last
// interval when it opens again without having closed (from half-open, or
// within one interval of closing), at most RecoveryTimeout, less up to a
// fifth at random so that clients that opened together do not probe
// together. When the first interval is the longest, every interval is
// exactly RecoveryTimeout.
func (b *breaker) openInterval(from runtime.State, now time.Time) time.Duration {
	if b.initialRecovery <= 0 || b.initialRecovery >= b.recoveryTimeout {
		// A fixed interval, as configured (or not normalized): exactly.
		b.openFor = b.recoveryTimeout
		return b.openFor
	}
	again := b.openFor > 0 && (from == runtime.StateHalfOpen || now.Sub(b.closedAt) < b.openFor)
	switch {
	case again:
		b.openFor = min(b.openFor*3/2, b.recoveryTimeout)
	default:
		b.openFor = b.initialRecovery
	}
	return b.openFor - time.Duration(randUpTo(int64(b.openFor/5)))
}

// unlock unlocks mu and then, unless another goroutine is at it, calls
// onChange for each pending transition, in order. A transition made while
// onChange runs (by an observer that calls the wrapper, or by another
// goroutine) waits in pending for the goroutine that is notifying.
func (b *breaker) unlock() {
	if len(b.pending) == 0 || b.notifying {
		b.mu.Unlock()
		return
	}
	b.notifying = true
	done := false
	defer func() {
		if !done { // onChange panicked: let the next transition notify
			b.mu.Lock()
			b.notifying = false
			b.mu.Unlock()
		}
	}()
	for len(b.pending) > 0 {
		tr := b.pending[0]
		b.pending = b.pending[1:]
		b.mu.Unlock()
		b.onChange(b, tr)
		b.mu.Lock()
	}
	b.pending = nil
	b.notifying = false
	done = true
	b.mu.Unlock()
}

// whileOpen returns a channel that is closed when the breaker leaves the
// open state it is in, or nil when it is not open.
func (b *breaker) whileOpen() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.State() != runtime.StateOpen {
		return nil
	}
	return b.left
}

func (b *breaker) Success(p store.Permit, clock store.Clock) {
	if p.State() == runtime.StateClosed {
		if b.streak.Load() != 0 {
			b.mu.Lock()
			// A success admitted before the breaker last opened says
			// nothing about the service now.
			if uint64(p) == b.word.Load() {
				b.streak.Store(0)
				b.attempts = 0
				b.overloadAt = time.Time{}
			}
			b.mu.Unlock()
		}
		return
	}
	b.mu.Lock()
	defer b.unlock()
	if uint64(p) == b.word.Load() && p.State() == runtime.StateHalfOpen && b.probes > 0 {
		b.probes--
		b.successes++
		if b.successes >= b.successThreshold {
			b.setLocked(runtime.StateClosed, clock.Now(), 0)
		}
	}
}

func (b *breaker) Failure(p store.Permit, weight int64, clock store.Clock) {
	b.failure(p, weight, clock, false)
}

// failure records a failed attempt. An overload answer (429, 503, a
// timeout) that brings the streak to the threshold opens the breaker only
// when the streak's first overload answer came overloadGrace ago or more:
// a full queue answers runs of 503s between successes, a service that is
// down answers nothing else for longer. Only overload answers and opening
// read the clock.
func (b *breaker) failure(p store.Permit, weight int64, clock store.Clock, overload bool) {
	b.mu.Lock()
	defer b.unlock()
	if uint64(p) == b.word.Load() {
		switch p.State() {
		case runtime.StateClosed:
			if runtime.ForceMode(b.forced.Load()) == runtime.ForceClosed {
				break
			}
			b.attempts++
			if overload && b.overloadAt.IsZero() {
				b.overloadAt = clock.Now()
			}
			if b.streak.Add(weight) >= b.threshold {
				now := clock.Now()
				if overload && now.Sub(b.overloadAt) < overloadGrace {
					return // a burst, so far: the next failure looks again
				}
				b.setLocked(runtime.StateOpen, now, 0)
			}
		case runtime.StateHalfOpen:
			if b.probes > 0 {
				b.setLocked(runtime.StateOpen, clock.Now(), 1)
			}
		}
	}
}

func (b *breaker) Release(p store.Permit) {
	if p.State() != runtime.StateHalfOpen {
		return
	}
	b.mu.Lock()
	if uint64(p) == b.word.Load() && b.probes > 0 {
		b.probes--
	}
	b.mu.Unlock()
}
