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
// WithTracer it costs what it costs without tracing. A panic in t's
// methods is recovered: that call goes on untraced, and the wrapper logs
// the first such panic.
func WithTracer(t Tracer) Option {
	return func(o *options) {
		if t != nil {
			o.Tracer = t
		}
	}
}
