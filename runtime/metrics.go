package runtime

import (
	"time"
)

// MethodMetrics is a snapshot of one method's metrics: its retry,
// circuit breaker, rate limiting and recovery counters.
type MethodMetrics struct {
	Method string

	// Calls is the number of calls made, and Successes and Failures how
	// they ended; calls rejected by the breaker or the rate limit are
	// failures.
	Calls, Successes, Failures int64
	// SuccessesAfterRetry counts the calls that succeeded after at least
	// one failed attempt.
	SuccessesAfterRetry int64
	// RetryAttempts counts the attempts after the first of their call.
	RetryAttempts int64
	// FailedAttempts counts every failed attempt, and FailuresByClass
	// splits them by error class (every single class, in the order of
	// the Class constants).
	FailedAttempts  int64
	FailuresByClass []ClassCount
	// Attempts counts the attempts made: successes and failed attempts
	// (rejected attempts are not made).
	Attempts int64
	// Latency is the histogram of attempt durations; nil unless the
	// wrapper was built WithLatencyHistograms.
	Latency *Latency
	// RetryDelay is the time spent sleeping between attempts.
	RetryDelay time.Duration

	// Breaker names the method's circuit breaker, and BreakerState is its
	// state; Breaker is empty when the method has none.
	Breaker      string
	BreakerState State
	// Rejected counts the attempts the open breaker failed fast.
	Rejected int64
	// RecoveryTime is how long the breaker's last outage lasted, from
	// opening to closing again.
	RecoveryTime time.Duration

	// Throttled counts the calls that adaptive throttling rejected, and
	// Throttle is the share of calls its dependency rejects now (0 when it
	// does not throttle).
	Throttled int64
	Throttle  float64
	// BudgetDenied counts the retries that the retry budget denied.
	BudgetDenied int64

	// ConcurrencyLimit is the method's concurrency limit now (adaptive or
	// fixed; 0 without one), InFlight the attempts of its limit in flight
	// (its group's, with a group), and ConcurrencyRejected counts the
	// attempts the limit turned away.
	ConcurrencyLimit, InFlight int64
	ConcurrencyRejected        int64
	// AdaptiveRate is the rate of an adaptive rate limit now, in requests a
	// minute (0 without one), and RateCuts counts the cuts of that rate
	// this method's answers made.
	AdaptiveRate float64
	RateCuts     int64

	// RequestsPerMinute is the method's recent attempt rate: over the last
	// minute, measured from the newest earlier read of the metrics at least
	// a minute old (or from the wrapper's construction when there is none).
	RequestsPerMinute float64
	// QueueDepth is the number of attempts waiting in the queue now.
	QueueDepth int64
	// Delayed, Queued and Dropped count the attempts that waited for a
	// token, queued for one, or were refused one.
	Delayed, Queued, Dropped int64
	// RateLimitWait is the time spent waiting for tokens.
	RateLimitWait time.Duration

	// PartialFailures counts calls that returned partial results.
	PartialFailures int64
	// RecoveriesTried and RecoveriesSucceeded count the recovery procedures
	// run (reconnect, credential refresh, schema adaptation); TimeToRecovery
	// is the average time a successful one took.
	RecoveriesTried, RecoveriesSucceeded int64
	TimeToRecovery                       time.Duration
}
