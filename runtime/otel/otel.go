// Package otel reports resgen wrappers to OpenTelemetry: a span for every
// call with a child span for each of its attempts, and metrics of bounded
// cardinality. It is a module of its own, so that neither package runtime
// nor the main resgen module depends on OpenTelemetry.
//
//	in, err := otel.New() // the global TracerProvider and MeterProvider
//	s, err := shop.NewResilientStore(client, in.Option())
//	err = in.Add(s.Resilience()) // the metrics read from the Manager
//
// # Spans
//
// A call is an INTERNAL span named after its wrapper and method
// ("ResilientStore.GetOrder"), a child of the span in the caller's context.
// Each attempt is an INTERNAL child span of the call ("ResilientStore.GetOrder
// attempt"), and the wrapped method receives the attempt's context: the
// spans that the client under the wrapper makes (otelhttp's, otelsql's)
// are children of the attempt that made them.
//
// Both carry resgen.wrapper, resgen.instance and resgen.method. An attempt
// also carries resgen.attempt (its number, from 1), resgen.retry.delay
// (the backoff slept before it, in seconds), resgen.ratelimit.wait (the
// time it waited for a token), resgen.breaker and resgen.breaker.state
// (the breaker that admitted it, and its state then), and, when it failed,
// error.type (its error class: server, timeout, rate_limited...) and the
// error as a span event; its status is Error. The call carries
// resgen.attempts (the attempts made) and resgen.outcome (see below), and
// error.type and an Error status when it failed. A call that the breaker,
// the throttle, the rate limit or the retry budget stopped has a
// "resgen.rejected" event whose resgen.reason says which.
//
// # Metrics
//
// Every metric carries resgen.wrapper, resgen.instance and resgen.method, or
// resgen.breaker in place of resgen.method for the breaker's own:
//
//	resgen.client.attempt.duration   histogram, s     attempts, by error.type (absent: success)
//	resgen.client.call.duration      histogram, s     calls, by resgen.outcome and error.type
//	resgen.client.retries            counter          attempts after the first of their call
//	resgen.client.rejections         counter          attempts not made, by resgen.reason
//	resgen.retry_budget.denials      counter          retries the retry budget denied
//	resgen.throttle.rejection_ratio  gauge, 1         share of calls adaptive throttling rejects now
//	resgen.ratelimit.waits           counter          attempts that waited for a token, by resgen.ratelimit.action
//	resgen.ratelimit.wait.duration   counter, s       time spent waiting for tokens
//	resgen.breaker.state             gauge            1 for the breaker's state (resgen.breaker.state), 0 for the others
//	resgen.breaker.transitions       counter          changes of state, by the state entered
//	resgen.concurrency.limit         gauge            the concurrency limit now (methods with a limit)
//	resgen.concurrency.in_flight     gauge            attempts in flight under it
//	resgen.ratelimit.adaptive_rate   gauge, /min      the adaptive rate limit's rate now
//	resgen.ratelimit.adaptive_cuts   counter          cuts of the adaptive rate by rate_limited answers
//
// resgen.outcome is success, failure, canceled (the caller gave up),
// circuit_open, throttled, rate_limited, retry_budget or
// concurrency_limit; resgen.reason (of rejections) is one of the last
// five; error.type is the class of the
// last failed attempt (runtime.Class's String), or the reason of a call
// stopped before any attempt. The two histograms and the transitions are
// recorded as they happen, through the hooks that Option installs; the
// other metrics are read from the Managers given to Add when a reader
// collects, and cost the wrapper's calls nothing.
//
// No OpenTelemetry semantic convention covers resilience yet: the names
// follow gRPC's (grpc.client.attempt.duration, grpc.client.call.duration)
// and the attribute error.type of OpenTelemetry's general conventions; the
// events those of Polly's resilience telemetry.
package otel

import (
	"errors"
	"fmt"
	"sync"

	gotel "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/resgen-dev/resgen/runtime"
)

// scope is the instrumentation scope of the tracer and the meter.
const scope = "github.com/resgen-dev/resgen/runtime/otel"

// The attribute keys.
const (
	KeyWrapper      = attribute.Key("resgen.wrapper")
	KeyInstance     = attribute.Key("resgen.instance")
	KeyMethod       = attribute.Key("resgen.method")
	KeyBreaker      = attribute.Key("resgen.breaker")
	KeyBreakerState = attribute.Key("resgen.breaker.state")
	KeyAttempt      = attribute.Key("resgen.attempt")
	KeyAttempts     = attribute.Key("resgen.attempts")
	KeyRetryDelay   = attribute.Key("resgen.retry.delay")
	KeyRateWait     = attribute.Key("resgen.ratelimit.wait")
	KeyRateAction   = attribute.Key("resgen.ratelimit.action")
	KeyOutcome      = attribute.Key("resgen.outcome")
	KeyReason       = attribute.Key("resgen.reason")
	KeyErrorType    = attribute.Key("error.type")
)

// The values of resgen.outcome and resgen.reason.
const (
	OutcomeSuccess     = "success"
	OutcomeFailure     = "failure"
	OutcomeCanceled    = "canceled"
	OutcomeCircuitOpen = "circuit_open"
	OutcomeThrottled   = "throttled"
	OutcomeRateLimited = "rate_limited"
	OutcomeRetryBudget = "retry_budget"
	OutcomeConcurrency = "concurrency_limit"
)

// Instrumentation reports wrappers to a TracerProvider and a MeterProvider.
// Build one with New and share it between wrappers; it is safe for
// concurrent use.
type Instrumentation struct {
	tracer trace.Tracer
	meter  metric.Meter

	attemptDur  metric.Float64Histogram
	callDur     metric.Float64Histogram
	transitions metric.Int64Counter

	// The measurement options of each combination of attributes met,
	// built once: recording then allocates nothing for them.
	sets    sync.Map // setKey → []metric.RecordOption
	methods sync.Map // runtime.CallInfo → *method

	mu       sync.Mutex
	managers []*runtime.Manager
	reg      metric.Registration
}

// Option configures New.
type Option func(*config)

type config struct {
	tp trace.TracerProvider
	mp metric.MeterProvider
}

// WithTracerProvider sends spans to tp instead of the global
// TracerProvider (otel.GetTracerProvider).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tp = tp }
}

// WithMeterProvider sends metrics to mp instead of the global
// MeterProvider (otel.GetMeterProvider).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.mp = mp }
}

// attemptBuckets are the histograms' bucket bounds, in seconds: those of
// gRPC's attempt duration, from 5µs to 100s.
var attemptBuckets = []float64{
	0, 0.00001, 0.00005, 0.0001, 0.0003, 0.0006, 0.0008, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006,
	0.008, 0.01, 0.013, 0.016, 0.02, 0.025, 0.03, 0.04, 0.05, 0.065, 0.08, 0.1, 0.13, 0.16, 0.2,
	0.25, 0.3, 0.4, 0.5, 0.65, 0.8, 1, 2, 5, 10, 20, 50, 100,
}

// New returns an Instrumentation that reports to the global providers, or
// to those the options give. It returns an error when the MeterProvider
// refuses an instrument.
func New(opts ...Option) (*Instrumentation, error) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.tp == nil {
		c.tp = gotel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = gotel.GetMeterProvider()
	}
	in := &Instrumentation{tracer: c.tp.Tracer(scope), meter: c.mp.Meter(scope)}
	var err, e error
	in.attemptDur, e = in.meter.Float64Histogram("resgen.client.attempt.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of the attempts of resgen wrappers' calls."),
		metric.WithExplicitBucketBoundaries(attemptBuckets...))
	err = errors.Join(err, e)
	in.callDur, e = in.meter.Float64Histogram("resgen.client.call.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of resgen wrappers' calls, from their start to their end, backoffs and waits included."),
		metric.WithExplicitBucketBoundaries(attemptBuckets...))
	err = errors.Join(err, e)
	in.transitions, e = in.meter.Int64Counter("resgen.breaker.transitions", metric.WithUnit("{transition}"),
		metric.WithDescription("Circuit breakers' changes of state, by the state entered."))
	err = errors.Join(err, e, in.register())
	if err != nil {
		return nil, fmt.Errorf("resgen/otel: %w", err)
	}
	return in, nil
}

// Option returns the wrapper option (for a generated NewResilientT) that
// reports its calls, attempts and breaker transitions to in: it installs
// in as the wrapper's runtime.Tracer and as one of its observers.
func (in *Instrumentation) Option() runtime.Option {
	return runtime.JoinOptions(runtime.WithTracer(in), runtime.WithObserver(in))
}
