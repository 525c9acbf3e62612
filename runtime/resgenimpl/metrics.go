package resgenimpl

import (
	"sync/atomic"
	"time"

	"github.com/resgen-dev/resgen/runtime"
)

// methodStats are one method's counters. The success path adds to one of
// them (two after a retry), with atomic adds that allocate nothing.
type methodStats struct {
	successes       atomic.Int64 // calls that succeeded
	failures        atomic.Int64 // calls that failed, rejected ones included
	retrySuccesses  atomic.Int64 // calls that succeeded after a retry
	failedAttempts  atomic.Int64
	retries         atomic.Int64 // attempts after the first
	retryDelay      atomic.Int64 // nanoseconds slept between attempts
	rejected        atomic.Int64 // attempts the breaker rejected
	delayed         atomic.Int64
	queued          atomic.Int64
	dropped         atomic.Int64
	queueDepth      atomic.Int64
	rateWait        atomic.Int64 // nanoseconds waited for tokens
	partial         atomic.Int64
	recoveriesTried atomic.Int64
	recoveriesOK    atomic.Int64
	recoveryTime    atomic.Int64 // nanoseconds spent in successful recoveries
	answered        atomic.Int64 // failed attempts the service answered (client errors): accepted
	notAccepted     atomic.Int64 // failed attempts the service did not accept
	throttled       atomic.Int64 // calls adaptive throttling rejected
	budgetDenied    atomic.Int64 // retries the retry budget denied
	concRejected    atomic.Int64 // attempts the concurrency limit turned away
	rateCuts        atomic.Int64 // cuts of the adaptive rate this method's answers made

	byClass *[numClasses]atomic.Int64 // failed attempts by class
	latency *histogram                // nil unless attempts are timed
	recent  *rateWindow               // for the recent attempt rate
	errors  ring[runtime.ErrorRecord] // the last failed attempts (snapshot.go)

	// The method's rejection errors, built once (named_errors.go).
	limitedErr, queueFullErr error

	unknownWarned atomic.Bool // an unknown error met the retry policy (warnUnknown)
}

// Metrics returns a snapshot of every method's metrics, in the order of
// the interface's methods.
func (m *Manager) Metrics() []runtime.MethodMetrics {
	out := make([]runtime.MethodMetrics, len(m.methods))
	now := m.clock.Now()
	for i := range m.methods {
		out[i] = m.methods[i].metrics(now)
	}
	return out
}

// MethodMetrics returns a snapshot of the metrics of the method called
// name, and whether the wrapper has it.
func (m *Manager) MethodMetrics(name string) (runtime.MethodMetrics, bool) {
	if me := m.method(name); me != nil {
		return me.metrics(m.clock.Now()), true
	}
	return runtime.MethodMetrics{}, false
}

func (me *Method) metrics(now time.Time) runtime.MethodMetrics {
	s := &me.stats
	mm := runtime.MethodMetrics{
		Method:              me.name,
		Successes:           s.successes.Load(),
		Failures:            s.failures.Load(),
		SuccessesAfterRetry: s.retrySuccesses.Load(),
		RetryAttempts:       s.retries.Load(),
		FailedAttempts:      s.failedAttempts.Load(),
		RetryDelay:          time.Duration(s.retryDelay.Load()),
		Rejected:            s.rejected.Load(),
		QueueDepth:          s.queueDepth.Load(),
		Delayed:             s.delayed.Load(),
		Queued:              s.queued.Load(),
		Dropped:             s.dropped.Load(),
		RateLimitWait:       time.Duration(s.rateWait.Load()),
		PartialFailures:     s.partial.Load(),
		RecoveriesTried:     s.recoveriesTried.Load(),
		RecoveriesSucceeded: s.recoveriesOK.Load(),
		Throttled:           s.throttled.Load(),
		BudgetDenied:        s.budgetDenied.Load(),
		ConcurrencyRejected: s.concRejected.Load(),
		RateCuts:            s.rateCuts.Load(),
	}
	if l := me.conc; l != nil {
		mm.ConcurrencyLimit, mm.InFlight = l.limit.Load(), l.inFlight()
	}
	if a := me.local.adaptiveRate(); a != nil {
		mm.AdaptiveRate = a.rate() * 60
	}
	if g := me.guard; g != nil {
		mm.Throttle = float64(g.rejection.Load()) / overloadRejectionScale
	}
	mm.Calls = mm.Successes + mm.Failures
	if mm.RecoveriesSucceeded > 0 {
		mm.TimeToRecovery = time.Duration(s.recoveryTime.Load() / mm.RecoveriesSucceeded)
	}
	mm.Attempts = mm.Successes + mm.FailedAttempts
	mm.RequestsPerMinute = s.recent.perMinute(now, mm.Attempts, me.m.created)
	mm.FailuresByClass = make([]runtime.ClassCount, numClasses)
	for i := range s.byClass {
		mm.FailuresByClass[i] = runtime.ClassCount{Class: runtime.Class(1) << i, Count: s.byClass[i].Load()}
	}
	if s.latency != nil {
		mm.Latency = s.latency.snapshot()
	}
	if e := me.breaker; e != nil {
		mm.Breaker = e.name
		mm.BreakerState = e.state.State()
		mm.RecoveryTime = time.Duration(e.recover.Load())
	}
	return mm
}
