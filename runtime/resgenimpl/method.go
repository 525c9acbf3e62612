package resgenimpl

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/store"
)

// Method is the resilience state of one method of a wrapper. Generated
// method bodies call it at each stage of an attempt:
//
//	Admit → (the attempt, under AttemptContext) → Success, or Failure → Backoff → Admit ...
//
// Only generated code calls these methods. A Method is safe for concurrent
// use; the state of one call lives in a Call on the caller's stack.
type Method struct {
	m           *Manager
	name        string
	cfg         runtime.Config // normalized, overrides applied
	maxAttempts int
	weight      int64 // what a failed attempt adds to the breaker's streak
	timeout     time.Duration
	deadlines   deadlineQueue // of the attempts under Timeout that someone waits on
	recover     hookSet
	breaker     *breakerEntry // nil: no breaker
	guard       *guard        // nil: no breaker, throttle or retry budget
	gate        *atomic.Bool  // the guard's active flag, or a flag never set
	bucket      store.Bucket  // nil: no rate limit
	local       *bucket       // bucket, when it lives in the process
	sysClock    bool          // the Manager's clock is the system clock: local reads it by time.Since
	stream      bool          // io.EOF ends the method's stream (not MethodSpec.Request)
	conc        *concLimiter  // nil: no concurrency limit
	stats       methodStats

	// The success path's shortcuts, set once at construction.
	admitNone   bool     // Admit has nothing to do
	admitClosed *breaker // Admit has nothing to do but check that this breaker is closed
	fastBreaker *breaker // the local breaker; nil when there is none or it lives in a Store
	successSlow bool     // Success has more to do than count and check fastBreaker
	ctxSlow     bool     // AttemptContext has more to do than return ctx: a timeout, or a Tracer
}

// Call is the state of one call of a method: its attempt number, the last
// error and the next delay. Generated code declares one per call, as a
// zero value on its stack, and passes it to every stage.
type Call struct {
	attempt    int
	extra      int // attempts granted by recovery (credential refresh, schema adaptation)
	permit     store.Permit
	delay      time.Duration
	last       error
	rgen       uint64 // the generations of reconnect, credential refresh and
	fgen       uint64 // schema adaptation when the attempt started: a recovery
	agen       uint64 // that completed since then is used, not run again
	refreshed  bool
	adapted    bool
	live       bool   // an attempt holds its permit: admitted, not yet recorded (see End)
	slot       uint8  // the attempt holds a slot of the concurrency limit: 1, or 2 when it is timed
	start      int64  // when the attempt started, in Unix nanoseconds, when attempts are timed
	rateGen    uint64 // the adaptive rate's count of cuts when the attempt asked for its token; 0: none
	slotStart  int64  // when a timed slot was taken, Unix nanoseconds
	slotFlight int64  // the attempts in flight then
	admitted   int64  // when the rate limit gave the attempt its token at once, in nanoseconds since clockBase; 0: unknown

	trace runtime.CallTrace // the call's trace, when the wrapper has a Tracer (trace.go)
	actx  context.Context   // the context the trace gave the attempt
}

// Attempt returns the number of the current attempt, from 1.
func (c *Call) Attempt() int { return c.attempt }

// Admit starts the next attempt of c: the circuit breaker admits it, then
// adaptive throttling, the concurrency limit and the rate limit do. It
// returns runtime.ErrCircuitOpen, runtime.ErrThrottled, a
// *runtime.ConcurrencyError, runtime.ErrRateLimited or runtime.ErrQueueFull
// when the attempt may not go (wrapped in a runtime.RetryError after a
// failed attempt), or the context's error when it ends
// while waiting for a slot or a token.
func (me *Method) Admit(ctx context.Context, c *Call) error {
	c.attempt++
	if b := me.admitClosed; b != nil {
		w := b.word.Load()
		if w&3 != uint64(runtime.StateClosed) || me.gate.Load() {
			return me.admit(ctx, c)
		}
		c.permit = store.Permit(w)
	} else if !me.admitNone || me.gate.Load() {
		return me.admit(ctx, c)
	}
	c.live = true
	// admitSlot, written out: this is the success path.
	l := me.conc
	if l == nil {
		return nil
	}
	if l.waiters.Load() == 0 {
		n := l.taken.Add(1)
		if l.used(n) <= l.limit.Load() {
			c.slot = 1
			if uint32(n)&l.mask.Load() == 0 && !l.cfg.Fixed {
				me.held(c, true)
			}
			return nil
		}
		l.giveBack()
	}
	return me.admitConc(ctx, c)
}

// admitSlot takes a slot of the concurrency limit, if any, for c's
// attempt. It reports whether it took the slow way (admitConc), which may
// have waited.
func (me *Method) admitSlot(ctx context.Context, c *Call) (slow bool, err error) {
	l := me.conc
	if l == nil {
		return false, nil
	}
	// tryAcquire, written out: this is the success path.
	if l.waiters.Load() == 0 {
		n := l.taken.Add(1)
		if l.used(n) <= l.limit.Load() {
			c.slot = 1
			if uint32(n)&l.mask.Load() == 0 && !l.cfg.Fixed {
				me.held(c, true)
			}
			return false, nil
		}
		l.giveBack()
	}
	return true, me.admitConc(ctx, c)
}

func (me *Method) admit(ctx context.Context, c *Call) error {
	if t := me.m.ext.tracer; t != nil {
		return me.admitTraced(ctx, c, t)
	}
	return me.admitAttempt(ctx, c)
}

func (me *Method) admitAttempt(ctx context.Context, c *Call) error {
	if e := me.breaker; e != nil {
		var err error
		if b := e.local; b != nil {
			c.permit, err = b.Allow(me.m.sclock)
		} else {
			c.permit, err = e.state.Allow(me.m.sclock)
		}
		if err != nil {
			me.stats.rejected.Add(1)
			if len(me.m.observers) > 0 {
				me.m.observe(runtime.Event{Kind: runtime.EventRejected, Method: me.name, Breaker: e.name, Attempt: c.attempt, Err: err})
			}
			return me.stop(c, me.named(err))
		}
		c.live = true // a half-open probe's slot is held from here (see End)
	}
	if g := me.guard; g != nil && g.active.Load() && !g.admit() {
		if e := me.breaker; e != nil {
			c.live = false
			e.state.Release(c.permit)
		}
		me.stats.throttled.Add(1)
		if len(me.m.observers) > 0 {
			me.m.observe(runtime.Event{Kind: runtime.EventThrottled, Method: me.name, Breaker: g.name, Attempt: c.attempt, Err: runtime.ErrThrottled})
		}
		return me.stop(c, runtime.ErrThrottled)
	}
	// A local rate limit on the system clock reads the clock before the
	// concurrency slot is taken: read right after the slot's atomic add,
	// it would wait for the add to complete. A slot taken the slow way,
	// which may have waited, has the clock read again.
	var t int64
	haveT := me.sysClock && me.local != nil
	if haveT {
		t = me.local.sinceEpoch()
	}
	if me.conc != nil {
		slow, err := me.admitSlot(ctx, c)
		if err != nil {
			return err
		}
		haveT = haveT && !slow
	}
	if me.bucket != nil {
		if err := me.take(ctx, c, t, haveT); err != nil {
			if e := me.breaker; e != nil {
				c.live = false
				e.state.Release(c.permit)
			}
			me.release(c)
			if cerr := ctx.Err(); cerr != nil && err == cerr {
				me.stats.failures.Add(1)
				return err
			}
			return me.stop(c, me.named(err))
		}
	}
	if me.recover&hookRecovery != 0 {
		r := &me.m.recovery
		c.rgen, c.fgen, c.agen = r.reconnect.gen.Load(), r.refresh.gen.Load(), r.adapt.gen.Load()
	}
	me.startAttempt(c)
	c.live = true
	return nil
}

// stop returns the error of a call that may not make attempt c.attempt.
func (me *Method) stop(c *Call, err error) error {
	me.stats.failures.Add(1)
	if c.attempt == 1 {
		return err
	}
	return &runtime.RetryError{Method: me.m.wrapper + "." + me.name, Attempts: c.attempt - 1, Err: c.last, Stop: err}
}

// take waits for a token of the method's rate limit, as its strategy says.
// When haveT is set, t is the local bucket's time now (sinceEpoch).
func (me *Method) take(ctx context.Context, c *Call, t int64, haveT bool) error {
	var now time.Time
	var r store.Reservation
	var ok bool
	if b := me.local; b != nil {
		if me.sysClock {
			if !haveT {
				t = b.sinceEpoch()
			}
			r, ok = b.reserveAt(t, 0)
			// The attempt's deadline counts from this reading (Timeout): a
			// clock read less.
			c.admitted = t + b.base
		} else {
			now = me.m.clock.Now()
			r, ok = b.Reserve(now, 0)
		}
		if a := b.adaptive; a != nil {
			// The rate of when the token was asked for: an attempt that
			// waits for it is sent later, but at that rate.
			c.rateGen = a.gen.Load()
		}
	} else {
		now = me.m.clock.Now()
		r, ok = me.bucket.Reserve(now, 0)
	}
	if ok {
		return nil // a token was there
	}
	c.admitted = 0 // the attempt may wait for its token
	if now.IsZero() {
		now = me.m.clock.Now()
	}
	rl := &me.cfg.RateLimit
	if rl.Strategy == runtime.StrategyDrop {
		return me.drop(runtime.ErrRateLimited)
	}
	queued := rl.Strategy == runtime.StrategyQueue
	if queued {
		// Take a place in the queue before a token, so that an attempt
		// turned away by a full queue takes no token from those behind it.
		if me.stats.queueDepth.Add(1) > int64(rl.MaxQueueSize) {
			me.stats.queueDepth.Add(-1)
			return me.drop(runtime.ErrQueueFull)
		}
		defer me.stats.queueDepth.Add(-1)
	}
	maxWait := time.Duration(math.MaxInt64)
	if dl, ok := ctx.Deadline(); ok {
		maxWait = dl.Sub(now)
	}
	if r, ok = me.bucket.Reserve(now, maxWait); !ok {
		return me.drop(runtime.ErrRateLimited) // the deadline comes before the token: fail at once
	}
	action := "delayed"
	if queued {
		action = "queued"
		me.stats.queued.Add(1)
	} else {
		me.stats.delayed.Add(1)
	}
	me.logRate(action)
	timer := me.m.clock.NewTimer(r.Wait)
	select {
	case <-timer.C():
		me.stats.rateWait.Add(int64(r.Wait))
		return nil
	case <-ctx.Done():
		timer.Stop()
		me.bucket.Cancel(r)
		return ctx.Err()
	}
}

func (me *Method) drop(err error) error {
	me.stats.dropped.Add(1)
	me.logRate("dropped")
	return err
}

func (me *Method) logRate(action string) {
	if me.m.logEnabled(slog.LevelDebug) {
		me.m.logger.Debug(fmt.Sprintf("Rate limit applied for %s. Current rate: %d req/min. Request %s",
			me.name, me.cfg.RateLimit.MaxRequestsPerMinute, action),
			slog.String("wrapper", me.m.wrapper), slog.String("method", me.name), slog.String("action", action),
			slog.Int("max_requests_per_minute", me.cfg.RateLimit.MaxRequestsPerMinute))
	}
	if len(me.m.observers) > 0 {
		me.m.observe(runtime.Event{Kind: runtime.EventRateLimit, Method: me.name, Action: action})
	}
}

// End ends call c. Generated code defers it once per call, so that it runs
// when the wrapped method panics: an attempt that was admitted and not yet
// recorded then holds what the breaker gave it, and End records it as a
// failed attempt. A half-open breaker whose probe panicked opens again (a
// panic shows no more than a hung probe that the service is back), and
// lets the next probe through after one open interval; a closed breaker
// counts nothing, since a panic says nothing about the service. End
// leaves the panic unchanged: it reaches the caller, and the call makes no
// other attempt. It runs no user code but when a probe's panic opens the
// breaker again: that change is logged and reaches the observers as any
// other, whose own panics are recovered. After a call
// that returned, End has nothing to do.
func (me *Method) End(c *Call) {
	if c.live || c.slot != 0 { // inlined: after a call that returned, neither is set
		me.end(c)
	}
}

func (me *Method) end(c *Call) {
	if c.live {
		me.panicked(c)
	} else {
		me.release(c)
	}
}

// panicked records the attempt of c that panicked, and gives back its slot
// of the concurrency limit without timing it: a panic is no answer of the
// service, and timing could change the limit and tell observers, user code
// that End does not run.
func (me *Method) panicked(c *Call) {
	c.live = false
	me.stats.failedAttempts.Add(1) // for a method's own limit, this gives back the slot
	if c.slot != 0 {
		c.slot = 0
		me.conc.ended()
	}
	me.stats.failures.Add(1)
	me.endAttempt(c)
	if e := me.breaker; e != nil {
		if c.permit.State() == runtime.StateHalfOpen {
			e.state.Failure(c.permit, me.weight, me.m.sclock)
		} else {
			e.state.Release(c.permit)
		}
	}
}

// Success records the success of c's attempt.
func (me *Method) Success(c *Call) {
	c.live = false
	me.stats.successes.Add(1)
	if c.slot != 0 {
		if l := me.conc; c.slot == 1 && l.succ != nil && l.waiters.Load() == 0 {
			c.slot = 0 // the count of successes gave the slot back
		} else {
			me.endSlot(c)
		}
	}
	if me.successSlow || c.attempt != 1 || c.permit&3 != 0 {
		me.success(c)
	} else if b := me.fastBreaker; b != nil && b.streak.Load() != 0 {
		me.success(c)
	}
}

func (me *Method) success(c *Call) {
	me.endAttempt(c)
	if c.trace != nil {
		me.endAttemptTrace(c, nil, 0)
		me.endCall(c, nil)
	}
	me.recordSuccess(c)
	if c.attempt > 1 {
		me.stats.retrySuccesses.Add(1)
	}
	if me.recover&hookRecovery != 0 {
		me.m.recovery.succeeded()
	}
}

// Failure classifies err, the error of c's attempt, records it, runs the
// recovery it calls for, and decides whether to try again. It returns nil
// when another attempt follows (after Backoff), or the error to return:
// err itself when the call made one attempt, a *runtime.RetryError after
// several, the caller's own context error unchanged. A method that is not
// idempotent (runtime.RetryConfig.NonIdempotent) tries again only when err
// proves that the service never processed the request (runtime.NotSent),
// or after a
// credential refresh or a schema adaptation, whose errors are the service
// refusing the request; a reconnect still runs after a connection error,
// for the calls that follow.
func (me *Method) Failure(ctx context.Context, c *Call, err error) error {
	err = me.failure(ctx, c, err)
	if err != nil && c.trace != nil {
		me.endCall(c, err)
	}
	return err
}

func (me *Method) failure(ctx context.Context, c *Call, err error) error {
	m := me.m
	me.stats.failedAttempts.Add(1)
	if c.slot != 0 {
		me.endSlot(c)
	}
	class, unsent := me.classifySent(ctx, err)
	c.last = err
	me.failedAttempt(c, class)

	if me.recover&hookPartial != 0 && class != runtime.ClassCanceled && isPartial(err) {
		// The service did part of the work: return what it gave, at once.
		me.stats.failures.Add(1)
		me.partialDone(c, err)
		return err
	}
	me.record(ctx, c, err, class)
	if class == runtime.ClassCanceled {
		me.stats.failures.Add(1)
		return err
	}
	if class == runtime.ClassRateLimited && me.bucket != nil {
		if a := me.local.adaptiveRate(); a != nil {
			// The service's answer sets the rate: a cut, not a pause.
			me.cutRate(a, c)
		} else if ra, ok := runtime.RetryAfter(err); ok {
			me.bucket.Pause(m.clock.Now().Add(ra))
		}
	}

	// A later failure of another kind shows that the refreshed credentials
	// or adapted schema worked: a call that outlives them may recover again.
	if class != runtime.ClassAuth {
		c.refreshed = false
	}
	if class != runtime.ClassSchema {
		c.adapted = false
	}
	switch class {
	case runtime.ClassConnection:
		if me.recover&hookReconnect != 0 {
			if !m.reconnect(ctx, me, c) {
				c.attempt++ // a failed reconnect counts as a failed attempt
			}
		}
	case runtime.ClassAuth:
		if me.recover&hookRefresh != 0 && !c.refreshed {
			c.refreshed = true
			if m.refresh(ctx, me, c) {
				c.extra++
				return me.retryNow(c, err, class)
			}
		}
	case runtime.ClassSchema:
		if me.recover&hookAdapt != 0 && !c.adapted {
			c.adapted = true
			if m.adapt(ctx, me, c, err) {
				c.extra++
				return me.retryNow(c, err, class)
			}
		}
	}
	if cerr := ctx.Err(); cerr != nil {
		// The caller's deadline passed, or it gave up, during a recovery:
		// its own error, unchanged, not a count of attempts it did not make.
		me.stats.failures.Add(1)
		return cerr
	}

	me.warnUnknown(err, class)
	if me.cfg.Retry.Disabled || !me.cfg.Retry.RetryOn.Matches(err, class) || c.attempt >= me.maxAttempts+c.extra {
		return me.giveUp(c, err, class)
	}
	if me.cfg.Retry.NonIdempotent && !unsent {
		// The service may have applied the request: another attempt could
		// apply it twice.
		return me.giveUp(c, err, class)
	}
	d := me.backoff(c)
	left := time.Duration(math.MaxInt64)
	if dl, ok := ctx.Deadline(); ok {
		left = dl.Sub(m.clock.Now())
	}
	if ra, ok := runtime.RetryAfter(err); ok {
		d = ra
		if ra > me.cfg.Retry.MaxDelay && left < ra {
			d = me.cfg.Retry.MaxDelay
		}
	}
	if left < d {
		// The caller's deadline comes before the next attempt could start.
		return me.giveUp(c, err, class)
	}
	if g := me.guard; g != nil && !g.allowRetry() {
		me.stats.budgetDenied.Add(1)
		me.stats.failures.Add(1)
		m.observe(runtime.Event{Kind: runtime.EventBudgetDenied, Method: me.name, Breaker: g.name, Attempt: c.attempt, Max: me.maxAttempts + c.extra, Err: err, Class: class})
		return &runtime.RetryError{Method: m.wrapper + "." + me.name, Attempts: c.attempt, Err: err, Stop: runtime.ErrRetryBudget}
	}
	c.delay = d
	me.stats.retries.Add(1)
	if m.logEnabled(slog.LevelWarn) {
		m.logger.Warn(fmt.Sprintf("Retry attempt %d/%d for operation %s after error: %v. Next retry in %.2f seconds",
			c.attempt+1, me.maxAttempts+c.extra, me.name, err, d.Seconds()),
			slog.String("wrapper", m.wrapper), slog.String("method", me.name),
			slog.Int("attempt", c.attempt+1), slog.Int("max_attempts", me.maxAttempts+c.extra),
			slog.String("class", class.String()), slog.Duration("delay", d), slog.Any("error", err))
	}
	m.observe(runtime.Event{Kind: runtime.EventRetry, Method: me.name, Attempt: c.attempt, Max: me.maxAttempts + c.extra, Delay: d, Err: err, Class: class})
	return nil
}

// retryNow lets a call that a recovery put right try again at once, with
// one attempt more than its retries allow.
func (me *Method) retryNow(c *Call, err error, class runtime.Class) error {
	c.delay = 0
	me.stats.retries.Add(1)
	me.m.observe(runtime.Event{Kind: runtime.EventRetry, Method: me.name, Attempt: c.attempt, Max: me.maxAttempts + c.extra, Err: err, Class: class})
	return nil
}

// classify returns the class of err: the caller's own cancellation first,
// then the user's classifier, then Classify's rules, with io.EOF read by
// the method's shape (MethodSpec.Request).
func (me *Method) classify(ctx context.Context, err error) runtime.Class {
	c, _ := me.classifySent(ctx, err)
	return c
}

// classifySent is classify, and also reports whether err proves that the
// attempt's request was never processed (NotSent).
func (me *Method) classifySent(ctx context.Context, err error) (runtime.Class, bool) {
	if cerr := ctx.Err(); cerr != nil {
		return runtime.ClassCanceled, false // the caller gave up; whatever failed, it was not the service
	}
	if me.m.classifier != nil {
		if c := me.m.classifyByUser(err); c != 0 {
			return c, runtime.NotSent(err)
		}
	}
	return classify(err, me.stream)
}

// record counts a failed attempt for the dependency's guard and tells the
// breaker about it. The caller's cancellation, permanent client errors,
// auth and schema errors, unknown errors that retry_on does not name and
// excluded errors do not count against the service. Overload answers (429,
// 503, timeouts) open the breaker only when its streak has lasted
// overloadGrace (see breaker.failure): a brownout is the throttle's to
// handle, the breaker's only when nothing gets through.
func (me *Method) record(ctx context.Context, c *Call, err error, class runtime.Class) {
	counts := false
	switch {
	case class == runtime.ClassCanceled:
		// The caller gave up; when its deadline passed first, the service
		// did not answer in time.
		if ctx.Err() == context.DeadlineExceeded {
			me.stats.notAccepted.Add(1)
		}
	case class&(runtime.ClassPermanent|runtime.ClassAuth|runtime.ClassSchema) != 0,
		class == runtime.ClassUnknown && !me.cfg.Retry.RetryOn.Matches(err, class),
		me.cfg.CircuitBreaker.Excluded.Matches(err, class):
		me.stats.answered.Add(1)
	default:
		me.stats.notAccepted.Add(1)
		counts = true
	}
	c.live = false
	if e := me.breaker; e != nil {
		switch {
		case counts && e.local != nil:
			e.local.failure(c.permit, me.weight, me.m.sclock, overloadAnswer(err, class))
		case counts && c.permit.State() == runtime.StateClosed && overloadAnswer(err, class) && e.holdOverload(me.m.clock):
			e.state.Release(c.permit)
		case counts:
			e.state.Failure(c.permit, me.weight, me.m.sclock)
		default:
			e.state.Release(c.permit)
		}
	}
}

// holdOverload reports whether an overload answer to a closed breaker in
// a Store is held back: it is, until the streak's first overload answer is
// overloadGrace old. A Store opens at failure_threshold whatever the
// answers; held back, a full queue's runs of 503s between successes never
// reach it, while a service that answers nothing but 503s for longer opens
// it failure_threshold answers after overloadGrace.
func (e *breakerEntry) holdOverload(clock runtime.Clock) bool {
	now := clock.Now().UnixNano()
	first := e.overloadAt.Load()
	if first == 0 {
		if e.overloadAt.CompareAndSwap(0, now) {
			return true
		}
		first = e.overloadAt.Load()
	}
	return now-first < int64(overloadGrace)
}

func (me *Method) recordSuccess(c *Call) {
	c.live = false
	if e := me.breaker; e != nil {
		e.state.Success(c.permit, me.m.sclock)
		if e.local == nil && e.overloadAt.Load() != 0 {
			e.overloadAt.Store(0) // the streak is over
		}
	}
}

func (me *Method) giveUp(c *Call, err error, class runtime.Class) error {
	me.stats.failures.Add(1)
	me.m.observe(runtime.Event{Kind: runtime.EventGiveUp, Method: me.name, Attempt: c.attempt, Max: me.maxAttempts + c.extra, Err: err, Class: class})
	if c.attempt <= 1 {
		return err
	}
	return &runtime.RetryError{Method: me.m.wrapper + "." + me.name, Attempts: c.attempt, Err: err}
}

// randInt64N is rand.Int64N, a seam for tests.
var randInt64N = rand.Int64N

// backoff returns the delay before the attempt after c's: exponential from
// InitialDelay by BackoffMultiplier, capped by MaxDelay, with jitter.
func (me *Method) backoff(c *Call) time.Duration {
	r := &me.cfg.Retry
	delay := r.MaxDelay
	// Compare as floats before converting: a delay near MaxDelay's limit
	// would overflow time.Duration.
	if d := float64(r.InitialDelay) * math.Pow(r.BackoffMultiplier, float64(c.attempt-1)); d < float64(r.MaxDelay) {
		delay = time.Duration(d)
	}
	switch r.Jitter {
	case runtime.JitterFull:
		delay = time.Duration(randUpTo(int64(delay)))
	case runtime.JitterEqual:
		delay = delay - delay/2 + time.Duration(randUpTo(int64(delay/2)))
	case runtime.JitterDecorrelated:
		prev := max(c.delay, r.InitialDelay)
		hi := r.MaxDelay
		if prev < r.MaxDelay/3 {
			hi = 3 * prev
		}
		delay = r.InitialDelay + time.Duration(randUpTo(int64(max(hi-r.InitialDelay, 0))))
	}
	return min(delay, r.MaxDelay)
}

// randUpTo returns a uniform random number in [0, n].
func randUpTo(n int64) int64 {
	if n <= 0 {
		return 0
	}
	if n == math.MaxInt64 {
		return randInt64N(n)
	}
	return randInt64N(n + 1)
}

// Backoff sleeps the delay that Failure chose, or returns the context's
// error as soon as it ends.
func (me *Method) Backoff(ctx context.Context, c *Call) error {
	if c.delay <= 0 {
		err := ctx.Err()
		if err != nil {
			me.endCall(c, err)
		}
		return err
	}
	t := me.m.clock.NewTimer(c.delay)
	select {
	case <-t.C():
		me.stats.retryDelay.Add(int64(c.delay))
		return nil
	case <-ctx.Done():
		t.Stop()
		me.stats.failures.Add(1)
		me.endCall(c, ctx.Err())
		return ctx.Err()
	}
}

// Throttle waits for a token of the method's rate limit, for a method that
// returns no error: whatever the strategy, it waits, since it cannot
// report a rejection; it returns early, without a token, when ctx ends.
func (me *Method) Throttle(ctx context.Context) {
	if me.bucket == nil {
		return
	}
	now := me.m.clock.Now()
	r, ok := me.bucket.Reserve(now, 0)
	if ok {
		return
	}
	if r, ok = me.bucket.Reserve(now, time.Duration(math.MaxInt64)); ok {
		me.stats.delayed.Add(1)
		me.logRate("delayed")
		t := me.m.clock.NewTimer(r.Wait)
		select {
		case <-t.C():
			me.stats.rateWait.Add(int64(r.Wait))
		case <-ctx.Done():
			t.Stop()
			me.bucket.Cancel(r)
		}
	}
}

// ResultErr gives the result of a method whose error hides in its result
// (Err() error, as go-redis commands) the error of a call that was
// rejected before any attempt: it allocates the result when it is nil and
// calls its SetErr. Only generated code calls it.
func ResultErr[T any, P interface {
	*T
	SetErr(error)
}](r *P, err error) {
	if *r == nil {
		*r = new(T)
	}
	(*r).SetErr(err)
}

// partialDone records a partial failure (a PartialError, under
// partial-failure recovery) as the service's answer: a success of the
// breaker's, and the recovery event.
func (me *Method) partialDone(c *Call, err error) {
	me.stats.answered.Add(1)
	me.recordSuccess(c)
	me.stats.partial.Add(1)
	me.m.observe(runtime.Event{Kind: runtime.EventRecovery, Method: me.name, Action: "partial", OK: true, Err: err, Attempt: c.attempt})
}
