package otel

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/resgen-dev/resgen/runtime"
)

// observables are the instruments read from the Managers given to Add.
type observables struct {
	retries, rejections, budgetDenials, rateWaits metric.Int64ObservableCounter
	rateWaitTime                                  metric.Float64ObservableCounter
	throttle                                      metric.Float64ObservableGauge
	breakerState                                  metric.Int64ObservableGauge
	concLimit, inFlight                           metric.Int64ObservableGauge
	adaptiveRate                                  metric.Float64ObservableGauge
	rateCuts                                      metric.Int64ObservableCounter
}

// register creates the observable instruments and their callback.
func (in *Instrumentation) register() error {
	var o observables
	var err, e error
	m := in.meter
	o.retries, e = m.Int64ObservableCounter("resgen.client.retries", metric.WithUnit("{retry}"),
		metric.WithDescription("Attempts after the first of their call."))
	err = errors.Join(err, e)
	o.rejections, e = m.Int64ObservableCounter("resgen.client.rejections", metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts not made: the circuit breaker, adaptive throttling, the concurrency limit or the rate limit refused them (resgen.reason)."))
	err = errors.Join(err, e)
	o.budgetDenials, e = m.Int64ObservableCounter("resgen.retry_budget.denials", metric.WithUnit("{retry}"),
		metric.WithDescription("Retries the retry budget denied."))
	err = errors.Join(err, e)
	o.rateWaits, e = m.Int64ObservableCounter("resgen.ratelimit.waits", metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts that waited for a rate-limit token, or queued for one (resgen.ratelimit.action)."))
	err = errors.Join(err, e)
	o.rateWaitTime, e = m.Float64ObservableCounter("resgen.ratelimit.wait.duration", metric.WithUnit("s"),
		metric.WithDescription("Time spent waiting for rate-limit tokens."))
	err = errors.Join(err, e)
	o.throttle, e = m.Float64ObservableGauge("resgen.throttle.rejection_ratio", metric.WithUnit("1"),
		metric.WithDescription("Share of calls adaptive throttling rejects now (0 when it does not throttle)."))
	err = errors.Join(err, e)
	o.breakerState, e = m.Int64ObservableGauge("resgen.breaker.state", metric.WithUnit("1"),
		metric.WithDescription("1 for the circuit breaker's current state (resgen.breaker.state), 0 for the others."))
	err = errors.Join(err, e)
	o.concLimit, e = m.Int64ObservableGauge("resgen.concurrency.limit", metric.WithUnit("{attempt}"),
		metric.WithDescription("The concurrency limit now, adaptive or fixed (the group's, with a group)."))
	err = errors.Join(err, e)
	o.inFlight, e = m.Int64ObservableGauge("resgen.concurrency.in_flight", metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts in flight under the concurrency limit (the group's, with a group)."))
	err = errors.Join(err, e)
	o.adaptiveRate, e = m.Float64ObservableGauge("resgen.ratelimit.adaptive_rate", metric.WithUnit("{request}/min"),
		metric.WithDescription("The adaptive rate limit's rate now, in requests a minute."))
	err = errors.Join(err, e)
	o.rateCuts, e = m.Int64ObservableCounter("resgen.ratelimit.adaptive_cuts", metric.WithUnit("{cut}"),
		metric.WithDescription("Cuts of the adaptive rate limit that the method's rate_limited answers made."))
	err = errors.Join(err, e)
	if err != nil {
		return err
	}
	reg, err := m.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		in.collect(&o, ob)
		return nil
	}, o.retries, o.rejections, o.budgetDenials, o.rateWaits, o.rateWaitTime, o.throttle, o.breakerState,
		o.concLimit, o.inFlight, o.adaptiveRate, o.rateCuts)
	in.reg = reg
	return err
}

var breakerStates = []runtime.State{runtime.StateClosed, runtime.StateOpen, runtime.StateHalfOpen}

// collect observes the metrics of every Manager added.
func (in *Instrumentation) collect(o *observables, ob metric.Observer) {
	in.mu.Lock()
	managers := slices.Clone(in.managers)
	in.mu.Unlock()
	for _, m := range managers {
		w, inst := KeyWrapper.String(m.Wrapper()), KeyInstance.String(m.Instance())
		for _, b := range m.Breakers() {
			for _, s := range breakerStates {
				v := int64(0)
				if b.State == s {
					v = 1
				}
				ob.ObserveInt64(o.breakerState, v, metric.WithAttributes(w, inst, KeyBreaker.String(b.Name), KeyBreakerState.String(stateName(s))))
			}
		}
		for _, mm := range m.Metrics() {
			base := []attribute.KeyValue{w, inst, KeyMethod.String(mm.Method)}
			with := func(kv attribute.KeyValue) metric.ObserveOption {
				return metric.WithAttributes(append(slices.Clip(base), kv)...)
			}
			attrs := metric.WithAttributes(base...)
			ob.ObserveInt64(o.retries, mm.RetryAttempts, attrs)
			ob.ObserveInt64(o.rejections, mm.Rejected, with(KeyReason.String(OutcomeCircuitOpen)))
			ob.ObserveInt64(o.rejections, mm.Throttled, with(KeyReason.String(OutcomeThrottled)))
			ob.ObserveInt64(o.rejections, mm.Dropped, with(KeyReason.String(OutcomeRateLimited)))
			ob.ObserveInt64(o.budgetDenials, mm.BudgetDenied, attrs)
			ob.ObserveInt64(o.rateWaits, mm.Delayed, with(KeyRateAction.String("delayed")))
			ob.ObserveInt64(o.rateWaits, mm.Queued, with(KeyRateAction.String("queued")))
			ob.ObserveFloat64(o.rateWaitTime, mm.RateLimitWait.Seconds(), attrs)
			ob.ObserveFloat64(o.throttle, mm.Throttle, attrs)
			if mm.ConcurrencyLimit > 0 {
				ob.ObserveInt64(o.concLimit, mm.ConcurrencyLimit, attrs)
				ob.ObserveInt64(o.inFlight, mm.InFlight, attrs)
				ob.ObserveInt64(o.rejections, mm.ConcurrencyRejected, with(KeyReason.String(OutcomeConcurrency)))
			}
			if mm.AdaptiveRate > 0 {
				ob.ObserveFloat64(o.adaptiveRate, mm.AdaptiveRate, attrs)
				ob.ObserveInt64(o.rateCuts, mm.RateCuts, attrs)
			}
		}
	}
}

// Add reports m's metrics (retries, rejections, the breakers' states...)
// each time a reader collects, as well as those that in.Option records.
// It returns an error, and adds nothing, when m is already added, or when
// another Manager of the same wrapper type has the same instance name:
// their series would be one (name them with runtime.WithInstance).
func (in *Instrumentation) Add(m *runtime.Manager) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, o := range in.managers {
		switch {
		case o == m:
			return fmt.Errorf("resgen/otel: %s instance %q is already added", m.Wrapper(), m.Instance())
		case o.Wrapper() == m.Wrapper() && o.Instance() == m.Instance():
			return fmt.Errorf("resgen/otel: another %s is already added as instance %q: name each with runtime.WithInstance", m.Wrapper(), m.Instance())
		}
	}
	in.managers = append(in.managers, m)
	return nil
}

// Remove stops reporting m's metrics read from the Manager, and reports
// whether m was added.
func (in *Instrumentation) Remove(m *runtime.Manager) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	i := slices.Index(in.managers, m)
	if i < 0 {
		return false
	}
	in.managers = slices.Delete(in.managers, i, i+1)
	return true
}

// Close unregisters in's metrics read from the Managers from its
// MeterProvider.
func (in *Instrumentation) Close() error {
	if in.reg == nil {
		return nil
	}
	return in.reg.Unregister()
}
