package runtime

import (
	"context"
	"time"
)

// Tracer follows every call of a wrapper and each of its attempts, for
// tracing and per-call metrics (WithTracer; runtime/otel's Instrumentation
// is one). A wrapper built without one pays nothing for it.
//
// A Tracer must be safe for concurrent use; the CallTrace of one call is
// used only by the goroutine that makes the call. Methods that return no
// error, which only wait for the rate limit, are not traced.
type Tracer interface {
	// StartCall is called when a call starts, before its first attempt is
	// admitted, with the caller's context. It returns the call's trace, or
	// nil to leave the call untraced.
	StartCall(ctx context.Context, call CallInfo) CallTrace
}

// CallInfo names the method a call is made to.
type CallInfo struct {
	Wrapper  string // the wrapper's type name
	Instance string // Manager.Instance
	Method   string
}

// CallTrace follows one call. Its methods are called in this order:
//
//	StartAttempt → EndAttempt → StartAttempt → EndAttempt ... → End
//
// End is called once, when the call returns, with what it returns: after
// the last attempt, or when an attempt was not admitted (the breaker is
// open, the limiter or the throttle refused it, the caller's context
// ended while it waited), or when the retry budget denied a retry. When
// the wrapped method panics, neither EndAttempt nor End is called.
type CallTrace interface {
	// StartAttempt is called when an attempt has been admitted, just
	// before it is made. The context it returns is the one the wrapped
	// method receives (under the method's per-attempt timeout): ctx, or
	// a context derived from it, such as one carrying the attempt's span.
	StartAttempt(ctx context.Context, a AttemptInfo) context.Context
	// EndAttempt is called when the attempt returns: err is nil when it
	// succeeded, and class is the class of err otherwise.
	EndAttempt(err error, class Class)
	// End is called when the call returns err (nil: it succeeded).
	End(err error)
}

// AttemptInfo describes an attempt that is about to be made.
type AttemptInfo struct {
	// Attempt is its number, from 1.
	Attempt int
	// Delay is the backoff slept before it (0 for the first attempt, or
	// after a recovery that lets the call try again at once), and
	// RateLimitWait the time it waited for a token of the rate limit.
	Delay, RateLimitWait time.Duration
	// Breaker names the breaker that admitted it, and BreakerState is the
	// state it admitted it in; Breaker is empty when the method has none.
	Breaker      string
	BreakerState State
}

// WithTracer reports every call and attempt of the wrapper to t (see
// Tracer). The success path of a wrapper then calls t's methods; without
// WithTracer it costs what it costs without tracing.
func WithTracer(t Tracer) Option {
	return func(o *options) {
		if t != nil {
			o.tracer = t
		}
	}
}

// AttemptContext returns the context of c's attempt, as Timeout does: the
// context the call's Tracer gave the attempt, when there is one, under the
// method's per-attempt deadline. Only generated code calls it.
func (me *Method) AttemptContext(ctx context.Context, c *Call) (context.Context, context.CancelFunc) {
	if !me.ctxSlow {
		return ctx, noCancel
	}
	return me.attemptContext(ctx, c)
}

func (me *Method) attemptContext(ctx context.Context, c *Call) (context.Context, context.CancelFunc) {
	if c.actx != nil {
		ctx = c.actx
	}
	if me.timeout > 0 && c.admitted != 0 {
		return me.timeoutFrom(ctx, nowFrom(c.admitted))
	}
	return me.Timeout(ctx)
}

// AttemptContextKeep is TimeoutKeep with the context the call's Tracer gave
// the attempt, when there is one. Only generated code calls it.
func (me *Method) AttemptContextKeep(ctx context.Context, c *Call) (context.Context, func(error)) {
	if !me.ctxSlow {
		return ctx, noRelease
	}
	return me.attemptContextKeep(ctx, c)
}

func (me *Method) attemptContextKeep(ctx context.Context, c *Call) (context.Context, func(error)) {
	if c.actx != nil {
		ctx = c.actx
	}
	return me.TimeoutKeep(ctx)
}

// admitTraced is admit for a wrapper with a Tracer: it starts the call's
// trace at its first attempt, times the wait for a token, and tells the
// trace how the admission went.
func (me *Method) admitTraced(ctx context.Context, c *Call, t Tracer) error {
	if c.attempt == 1 && c.trace == nil {
		c.trace = t.StartCall(ctx, CallInfo{Wrapper: me.m.wrapper, Instance: me.m.ext.instance, Method: me.name})
	}
	if c.trace == nil {
		return me.admitAttempt(ctx, c)
	}
	var start time.Time
	if me.bucket != nil {
		start = me.m.clock.Now()
	}
	if err := me.admitAttempt(ctx, c); err != nil {
		me.endCall(c, err)
		return err
	}
	a := AttemptInfo{Attempt: c.attempt}
	if c.attempt > 1 {
		a.Delay = c.delay
	}
	if me.bucket != nil {
		a.RateLimitWait = me.m.clock.Now().Sub(start)
	}
	if e := me.breaker; e != nil {
		a.Breaker, a.BreakerState = e.name, c.permit.state()
	}
	c.actx = c.trace.StartAttempt(ctx, a)
	return nil
}

// endAttemptTrace tells c's trace that its attempt returned err.
func (c *Call) endAttemptTrace(err error, class Class) {
	if c.trace != nil {
		c.actx = nil
		c.trace.EndAttempt(err, class)
	}
}

// endCall tells c's trace, if any, that the call returns err.
func (me *Method) endCall(c *Call, err error) {
	if t := c.trace; t != nil {
		c.trace, c.actx = nil, nil
		t.End(err)
	}
}
