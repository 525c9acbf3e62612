package otel

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/resgen-dev/resgen/runtime"
)

// classNames are the error.type values of the single classes, built once
// (Class.String allocates).
var classNames = func() map[runtime.Class]string {
	m := make(map[runtime.Class]string)
	for c := runtime.Class(1); c != 0 && c <= runtime.ClassCanceled; c <<= 1 {
		m[c] = c.String()
	}
	return m
}()

func className(c runtime.Class) string {
	if n, ok := classNames[c]; ok {
		return n
	}
	return c.String()
}

// method is what the spans of one method share, built once.
type method struct {
	callName, attemptName string
	base                  []attribute.KeyValue // wrapper, instance, method
	callOpts              []trace.SpanStartOption
}

// method returns the shared parts of the spans of ci's method.
func (in *Instrumentation) method(ci runtime.CallInfo) *method {
	if m, ok := in.methods.Load(ci); ok {
		return m.(*method)
	}
	m := &method{callName: ci.Wrapper + "." + ci.Method, attemptName: ci.Wrapper + "." + ci.Method + " attempt",
		base: []attribute.KeyValue{KeyWrapper.String(ci.Wrapper), KeyInstance.String(ci.Instance), KeyMethod.String(ci.Method)}}
	m.callOpts = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(m.base...)}
	v, _ := in.methods.LoadOrStore(ci, m)
	return v.(*method)
}

// StartCall starts the span of a call (runtime.Tracer); only the runtime
// calls it.
func (in *Instrumentation) StartCall(ctx context.Context, ci runtime.CallInfo) runtime.CallTrace {
	c := &callTrace{in: in, info: ci, m: in.method(ci), start: time.Now()}
	c.ctx, c.span = in.tracer.Start(ctx, c.m.callName, c.m.callOpts...)
	c.recording = c.span.IsRecording()
	return c
}

// callTrace follows one call: its span, and that of its current attempt.
type callTrace struct {
	in        *Instrumentation
	info      runtime.CallInfo
	m         *method
	ctx       context.Context // the caller's, with the call's span
	span      trace.Span
	recording bool // the call's span records: so do its attempts'
	start     time.Time

	attempts  int
	attempt   trace.Span // the current attempt's, or nil
	attemptAt time.Time
	endAt     time.Time     // when the last attempt ended
	lastClass runtime.Class // of the last failed attempt
}

func (c *callTrace) StartAttempt(_ context.Context, a runtime.AttemptInfo) context.Context {
	c.attempts = a.Attempt
	if a.Attempt == 1 && a.RateLimitWait == 0 {
		c.attemptAt = c.start // admitted at once: spare a clock read
	} else {
		c.attemptAt = time.Now()
	}
	if !c.recording {
		// The call is not sampled (or the provider is a no-op): its
		// attempts would not be either, and the wrapped method gets the
		// call's context, which carries the same trace.
		return c.ctx
	}
	attrs := make([]attribute.KeyValue, 0, 9)
	attrs = append(append(attrs, c.m.base...), KeyAttempt.Int(a.Attempt))
	if a.Delay > 0 {
		attrs = append(attrs, KeyRetryDelay.Float64(a.Delay.Seconds()))
	}
	if a.RateLimitWait > 0 {
		attrs = append(attrs, KeyRateWait.Float64(a.RateLimitWait.Seconds()))
	}
	if a.Breaker != "" {
		attrs = append(attrs, KeyBreaker.String(a.Breaker), KeyBreakerState.String(stateName(a.BreakerState)))
	}
	ctx, span := c.in.tracer.Start(c.ctx, c.m.attemptName, trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
	c.attempt = span
	return ctx
}

func (c *callTrace) EndAttempt(err error, class runtime.Class) {
	c.endAt = time.Now()
	d := c.endAt.Sub(c.attemptAt).Seconds()
	etype := ""
	if err != nil {
		c.lastClass = class
		etype = className(class)
	}
	c.in.attemptDur.Record(c.ctx, d, c.in.set(c.info, "", etype)...)
	if s := c.attempt; s != nil {
		if err != nil {
			s.SetAttributes(KeyErrorType.String(etype))
			s.RecordError(err)
			s.SetStatus(codes.Error, err.Error())
		}
		s.End()
		c.attempt = nil
	}
}

func (c *callTrace) End(err error) {
	outcome, etype := OutcomeSuccess, ""
	if err != nil {
		outcome = outcomeOf(err, c.lastClass)
		switch {
		case c.lastClass != 0:
			etype = className(c.lastClass)
		case outcome != OutcomeFailure:
			etype = outcome
		default:
			etype = className(runtime.ClassUnknown)
		}
	}
	end := c.endAt
	if err != nil || end.IsZero() {
		end = time.Now() // not right after the last attempt
	}
	c.in.callDur.Record(c.ctx, end.Sub(c.start).Seconds(), c.in.set(c.info, outcome, etype)...)
	if c.attempt != nil { // not reached: EndAttempt comes first
		c.attempt.End()
	}
	s := c.span
	if !c.recording {
		s.End()
		return
	}
	s.SetAttributes(KeyAttempts.Int(c.attempts), KeyOutcome.String(outcome))
	if err != nil {
		s.SetAttributes(KeyErrorType.String(etype))
		if rejected(outcome) {
			s.AddEvent("resgen.rejected", trace.WithAttributes(KeyReason.String(outcome), KeyAttempt.Int(c.attempts+1)))
		}
		s.SetStatus(codes.Error, err.Error())
	}
	s.End()
}

// rejected reports whether outcome is that of a call stopped by a policy.
func rejected(outcome string) bool {
	switch outcome {
	case OutcomeCircuitOpen, OutcomeThrottled, OutcomeRateLimited, OutcomeRetryBudget, OutcomeConcurrency:
		return true
	}
	return false
}

// outcomeOf returns the resgen.outcome of a call that returned err, after
// attempts whose last failed with class last (0: no attempt failed).
func outcomeOf(err error, last runtime.Class) string {
	stop := err // what stopped the call, when no attempt failed
	if last != 0 {
		stop = nil
		var re *runtime.RetryError
		if errors.As(err, &re) {
			stop = re.Stop
		}
	}
	switch {
	case stop == nil:
	case errors.Is(stop, runtime.ErrCircuitOpen):
		return OutcomeCircuitOpen
	case errors.Is(stop, runtime.ErrThrottled):
		return OutcomeThrottled
	case errors.Is(stop, runtime.ErrRateLimited), errors.Is(stop, runtime.ErrQueueFull):
		return OutcomeRateLimited
	case errors.Is(stop, runtime.ErrRetryBudget):
		return OutcomeRetryBudget
	case errors.Is(stop, runtime.ErrConcurrencyLimit):
		return OutcomeConcurrency
	}
	if last == runtime.ClassCanceled || err == context.Canceled || err == context.DeadlineExceeded {
		return OutcomeCanceled
	}
	return OutcomeFailure
}

// stateName is the value of resgen.breaker.state.
func stateName(s runtime.State) string {
	switch s {
	case runtime.StateClosed:
		return "closed"
	case runtime.StateOpen:
		return "open"
	case runtime.StateHalfOpen:
		return "half_open"
	}
	return s.String()
}

// setKey is a combination of attributes of the per-call metrics.
type setKey struct {
	info           runtime.CallInfo
	outcome, etype string
}

// set returns the measurement options of the attributes of a call of ci
// with outcome (empty for attempts) and error type (empty: no error).
func (in *Instrumentation) set(ci runtime.CallInfo, outcome, etype string) []metric.RecordOption {
	k := setKey{ci, outcome, etype}
	if o, ok := in.sets.Load(k); ok {
		return o.([]metric.RecordOption)
	}
	attrs := slices.Clone(in.method(ci).base)
	if outcome != "" {
		attrs = append(attrs, KeyOutcome.String(outcome))
	}
	if etype != "" {
		attrs = append(attrs, KeyErrorType.String(etype))
	}
	o, _ := in.sets.LoadOrStore(k, []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attrs...))})
	return o.([]metric.RecordOption)
}

// Observe counts breaker transitions (runtime.Observer); only the runtime
// calls it.
func (in *Instrumentation) Observe(e runtime.Event) {
	if e.Kind != runtime.EventStateChange {
		return
	}
	in.transitions.Add(context.Background(), 1, metric.WithAttributeSet(attribute.NewSet(
		KeyWrapper.String(e.Wrapper), KeyInstance.String(e.Instance), KeyBreaker.String(e.Breaker),
		KeyBreakerState.String(stateName(e.To)))))
}
