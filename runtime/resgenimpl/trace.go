package resgenimpl

import (
	"context"
	"fmt"
	"time"

	"github.com/resgen-dev/resgen/runtime"
)

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
	if me.timeout > 0 && c.admitted != 0 {
		return me.timeoutKeepFrom(ctx, nowFrom(c.admitted))
	}
	return me.TimeoutKeep(ctx)
}

// admitTraced is admit for a wrapper with a Tracer: it starts the call's
// trace at its first attempt, times the wait for a token, and tells the
// trace how the admission went.
func (me *Method) admitTraced(ctx context.Context, c *Call, t runtime.Tracer) error {
	if c.attempt == 1 && c.trace == nil {
		me.traceCall(ctx, c, t)
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
	a := runtime.AttemptInfo{Attempt: c.attempt}
	if c.attempt > 1 {
		a.Delay = c.delay
	}
	if me.bucket != nil {
		a.RateLimitWait = me.m.clock.Now().Sub(start)
	}
	if e := me.breaker; e != nil {
		a.Breaker, a.BreakerState = e.name, c.permit.State()
	}
	me.traceAttempt(ctx, c, a)
	return nil
}

// The calls of the user's Tracer. A panic in one is recovered: the call
// goes on untraced, and the Manager logs the first such panic. Left to
// run, a panic in StartAttempt would fail an admitted attempt that was
// never made, so that a half-open breaker whose probes a broken tracer
// fails would never close; and one in End would reach a caller whose call
// succeeded.

func (me *Method) traceCall(ctx context.Context, c *Call, t runtime.Tracer) {
	defer me.recoverTracer(c, "StartCall")
	c.trace = t.StartCall(ctx, runtime.CallInfo{Wrapper: me.m.wrapper, Instance: me.m.ext.instance, Method: me.name})
}

func (me *Method) traceAttempt(ctx context.Context, c *Call, a runtime.AttemptInfo) {
	defer me.recoverTracer(c, "StartAttempt")
	c.actx = c.trace.StartAttempt(ctx, a)
}

// recoverTracer, deferred around a call of c's Tracer called hook,
// recovers a panic in it.
func (me *Method) recoverTracer(c *Call, hook string) {
	if v := recover(); v != nil {
		c.trace, c.actx = nil, nil
		me.m.userPanic(fmt.Sprintf("the Tracer of %s panicked in %s: %v; the call goes on untraced", me.m.wrapper, hook, v))
	}
}

// endAttemptTrace tells c's trace that its attempt returned err.
func (me *Method) endAttemptTrace(c *Call, err error, class runtime.Class) {
	if c.trace != nil {
		defer me.recoverTracer(c, "EndAttempt")
		c.actx = nil
		c.trace.EndAttempt(err, class)
	}
}

// endCall tells c's trace, if any, that the call returns err.
func (me *Method) endCall(c *Call, err error) {
	if t := c.trace; t != nil {
		defer me.recoverTracer(c, "End")
		c.trace, c.actx = nil, nil
		t.End(err)
	}
}
