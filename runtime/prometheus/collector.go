// Package prometheus exports the metrics of resgen wrappers to Prometheus
// (github.com/prometheus/client_golang). It lives apart from package
// runtime so that importing runtime pulls in nothing beyond the standard
// library.
//
//	s, _ := shop.NewResilientStore(client)
//	prometheus.MustRegister(resgenprom.NewCollector(s.Resilience()))
//
// Every metric carries the labels wrapper, instance (Manager.Instance: set
// it with runtime.WithInstance, so that several wrappers of one type can
// share a collector) and method, but the breaker series, which carry
// wrapper, instance and breaker; resgen_method_breaker_info joins them; counters are read
// from Manager.Metrics at each scrape, so the wrappers' success path pays
// nothing for them.
package prometheus

import (
	"fmt"
	"sync"

	prom "github.com/prometheus/client_golang/prometheus"

	"github.com/resgen-dev/resgen/runtime"
)

// Collector is a prometheus.Collector of the metrics of one or more
// wrappers' Managers. Its zero value collects nothing; it is safe for
// concurrent use.
type Collector struct {
	mu       sync.Mutex
	managers []*runtime.Manager
}

var _ prom.Collector = (*Collector)(nil)

// NewCollector returns a Collector of the given Managers (a wrapper's
// Resilience method returns its own).
func NewCollector(managers ...*runtime.Manager) *Collector {
	return &Collector{managers: managers}
}

// Add collects m's metrics too. It returns an error, and collects
// nothing more, when the Collector already has m, or another Manager of the
// same wrapper type and instance name: their series would have the same
// labels, which breaks the whole scrape. Name instances apart with
// runtime.WithInstance.
func (c *Collector) Add(m *runtime.Manager) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := duplicateOf(c.managers, m); err != nil {
		return err
	}
	c.managers = append(c.managers, m)
	return nil
}

// duplicateOf reports a Manager of managers whose series m's would repeat.
func duplicateOf(managers []*runtime.Manager, m *runtime.Manager) error {
	for _, x := range managers {
		if x == m {
			return fmt.Errorf("resgen/prometheus: %s instance %q is already collected", m.Wrapper(), m.Instance())
		}
		if x.Wrapper() == m.Wrapper() && x.Instance() == m.Instance() {
			return fmt.Errorf("resgen/prometheus: two %s wrappers named instance %q: name them apart with runtime.WithInstance",
				m.Wrapper(), m.Instance())
		}
	}
	return nil
}

var labels = []string{"wrapper", "instance", "method"}

func desc(name, help string, extra ...string) *prom.Desc {
	return prom.NewDesc("resgen_"+name, help, append(append([]string(nil), labels...), extra...), nil)
}

// The metrics: retry, circuit breaker, rate limiting and recovery.
var (
	callsDesc          = desc("calls_total", "Calls made, by how they ended (success or failure; rejected calls are failures).", "result")
	retrySuccessDesc   = desc("successes_after_retry_total", "Calls that succeeded after at least one failed attempt.")
	retriesDesc        = desc("retry_attempts_total", "Attempts after the first of their call.")
	failedAttemptsDesc = desc("failed_attempts_total", "Attempts that failed.")
	retryDelayDesc     = desc("retry_delay_seconds_total", "Time spent sleeping between attempts.")
	breakerStateDesc   = bdesc("breaker_state", "State of the circuit breaker: 0 closed, 1 open, 2 half-open.")
	rejectedDesc       = desc("breaker_rejected_total", "Attempts failed fast by an open circuit breaker.")
	recoveryTimeDesc   = bdesc("breaker_recovery_seconds", "How long the breaker's last outage lasted, from opening to closing.")
	breakerInfoDesc    = desc("method_breaker_info", "1 for each method and the breaker that guards it.", "breaker")
	attemptsDesc       = desc("attempts_total", "Attempts made (successes and failed attempts; rejected attempts are not made).")
	failedByClassDesc  = desc("failed_attempts_by_class_total", "Failed attempts by error class.", "class")
	latencyDesc        = desc("attempt_duration_seconds", "Duration of attempts (with runtime.WithLatencyHistograms).")
	rateDesc           = desc("requests_per_minute", "Attempt rate over the last minute.")
	queueDepthDesc     = desc("rate_limit_queue_depth", "Attempts waiting in the rate limit's queue now.")
	rateActionsDesc    = desc("rate_limit_actions_total", "Attempts that waited for a token, queued for one, or were refused one.", "action")
	rateWaitDesc       = desc("rate_limit_wait_seconds_total", "Time spent waiting for rate-limit tokens.")
	partialDesc        = desc("partial_failures_total", "Calls that returned partial results.")
	recoveriesDesc     = desc("recoveries_total", "Recovery procedures (reconnect, credential refresh, schema adaptation) run, by result.", "result")
	timeToRecoveryDesc = desc("time_to_recovery_seconds", "Average time a successful recovery procedure took.")
	throttledDesc      = desc("throttled_total", "Calls rejected by adaptive throttling before any attempt.")
	throttleDesc       = desc("throttle_rejection_ratio", "Share of calls adaptive throttling rejects now (0 when it does not throttle).")
	budgetDeniedDesc   = desc("retry_budget_denied_total", "Retries the retry budget denied.")
	concLimitDesc      = desc("concurrency_limit", "The concurrency limit now (adaptive or fixed; the method's group's, with a group).")
	inFlightDesc       = desc("in_flight", "Attempts in flight under the concurrency limit (the group's, with a group).")
	concRejectedDesc   = desc("concurrency_rejected_total", "Attempts the concurrency limit turned away.")
	adaptiveRateDesc   = desc("adaptive_rate_requests_per_minute", "The adaptive rate limit's rate now, in requests a minute.")
	rateCutsDesc       = desc("adaptive_rate_cuts_total", "Cuts of the adaptive rate limit that this method's rate_limited answers made.")
)

var allDescs = []*prom.Desc{
	callsDesc, retrySuccessDesc, retriesDesc, failedAttemptsDesc, retryDelayDesc, breakerStateDesc, rejectedDesc,
	recoveryTimeDesc, rateDesc, queueDepthDesc, rateActionsDesc, rateWaitDesc, partialDesc, recoveriesDesc, timeToRecoveryDesc,
	breakerInfoDesc, attemptsDesc, failedByClassDesc, latencyDesc, throttledDesc, throttleDesc, budgetDeniedDesc,
	concLimitDesc, inFlightDesc, concRejectedDesc, adaptiveRateDesc, rateCutsDesc,
}

func bdesc(name, help string) *prom.Desc {
	return prom.NewDesc("resgen_"+name, help, []string{"wrapper", "instance", "breaker"}, nil)
}

// Describe sends the descriptions of every metric.
func (c *Collector) Describe(ch chan<- *prom.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Remove stops collecting m's metrics, and reports whether it was
// collected.
func (c *Collector) Remove(m *runtime.Manager) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.managers {
		if x == m {
			c.managers = append(c.managers[:i], c.managers[i+1:]...)
			return true
		}
	}
	return false
}

// Collect sends a snapshot of every method of every Manager.
func (c *Collector) Collect(ch chan<- prom.Metric) {
	c.mu.Lock()
	managers := append([]*runtime.Manager(nil), c.managers...)
	c.mu.Unlock()
	for i, m := range managers {
		if err := duplicateOf(managers[:i], m); err != nil {
			// NewCollector takes duplicates without a word: say it here,
			// once, rather than in an error a series.
			ch <- prom.NewInvalidMetric(callsDesc, err)
			continue
		}
		w, in := m.Wrapper(), m.Instance()
		for _, b := range m.Breakers() {
			ch <- prom.MustNewConstMetric(breakerStateDesc, prom.GaugeValue, float64(b.State), w, in, b.Name)
			ch <- prom.MustNewConstMetric(recoveryTimeDesc, prom.GaugeValue, b.RecoveryTime.Seconds(), w, in, b.Name)
		}
		for _, mm := range m.Metrics() {
			me := mm.Method
			counter := func(d *prom.Desc, v float64, extra ...string) {
				ch <- prom.MustNewConstMetric(d, prom.CounterValue, v, append([]string{w, in, me}, extra...)...)
			}
			gauge := func(d *prom.Desc, v float64, extra ...string) {
				ch <- prom.MustNewConstMetric(d, prom.GaugeValue, v, append([]string{w, in, me}, extra...)...)
			}
			counter(attemptsDesc, float64(mm.Attempts))
			for _, cc := range mm.FailuresByClass {
				counter(failedByClassDesc, float64(cc.Count), cc.Class.String())
			}
			if l := mm.Latency; l != nil {
				buckets := make(map[float64]uint64, len(l.Bounds))
				var cum uint64
				for i, b := range l.Bounds {
					cum += l.Counts[i]
					buckets[b.Seconds()] = cum
				}
				ch <- prom.MustNewConstHistogram(latencyDesc, l.Count, l.Sum.Seconds(), buckets, w, in, me)
			}
			counter(callsDesc, float64(mm.Successes), "success")
			counter(callsDesc, float64(mm.Failures), "failure")
			counter(retrySuccessDesc, float64(mm.SuccessesAfterRetry))
			counter(retriesDesc, float64(mm.RetryAttempts))
			counter(failedAttemptsDesc, float64(mm.FailedAttempts))
			counter(retryDelayDesc, mm.RetryDelay.Seconds())
			if mm.Breaker != "" {
				gauge(breakerInfoDesc, 1, mm.Breaker)
			}
			counter(rejectedDesc, float64(mm.Rejected))
			gauge(rateDesc, mm.RequestsPerMinute)
			gauge(queueDepthDesc, float64(mm.QueueDepth))
			counter(rateActionsDesc, float64(mm.Delayed), "delayed")
			counter(rateActionsDesc, float64(mm.Queued), "queued")
			counter(rateActionsDesc, float64(mm.Dropped), "dropped")
			counter(rateWaitDesc, mm.RateLimitWait.Seconds())
			counter(partialDesc, float64(mm.PartialFailures))
			counter(recoveriesDesc, float64(mm.RecoveriesSucceeded), "succeeded")
			counter(recoveriesDesc, float64(mm.RecoveriesTried-mm.RecoveriesSucceeded), "failed")
			gauge(timeToRecoveryDesc, mm.TimeToRecovery.Seconds())
			counter(throttledDesc, float64(mm.Throttled))
			gauge(throttleDesc, mm.Throttle)
			counter(budgetDeniedDesc, float64(mm.BudgetDenied))
			if mm.ConcurrencyLimit > 0 {
				gauge(concLimitDesc, float64(mm.ConcurrencyLimit))
				gauge(inFlightDesc, float64(mm.InFlight))
				counter(concRejectedDesc, float64(mm.ConcurrencyRejected))
			}
			if mm.AdaptiveRate > 0 {
				gauge(adaptiveRateDesc, mm.AdaptiveRate)
				counter(rateCutsDesc, float64(mm.RateCuts))
			}
		}
	}
}
