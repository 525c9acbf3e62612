// Package runtime is what resgen's generated wrappers call: the state and
// the decisions of retry, circuit breaking, rate limiting, per-attempt
// timeouts and automatic recovery. The control flow itself is written out
// in each generated method; this package keeps it small and fast.
//
// # For users
//
// Options passed to a generated NewResilientT: WithConfig, WithLogger,
// WithObserver, WithClock, WithClassifier, WithHostKey, WithStore. The
// configuration types: Config, RetryConfig, CircuitBreakerConfig,
// RateLimitConfig, TimeoutConfig, RecoveryConfig, Setting. The errors:
// ErrCircuitOpen, ErrRateLimited, ErrQueueFull, RetryError; Classify and
// the Class constants; ParseRetryAfter; PartialError. A wrapper's
// Resilience method returns its Manager, which gives metrics (Metrics), the
// configuration in force (Config), the state of its breakers, limits and
// last errors (BreakerSnapshots, Limiter, RecentErrors: what runtime/statusz
// shows), and forces a breaker open or closed (ForceBreaker).
//
// Only generated code calls NewManager, Spec, MethodSpec, Method, Call and
// the version constants.
//
// # What a call does
//
// Each attempt is admitted by the circuit breaker, then by the rate limit
// (every attempt takes a token, retries included); runs under its own
// timeout; on failure its error is classified (Classify), recorded by the
// breaker, and may trigger a recovery (Reconnect, RefreshCredentials,
// AdaptSchema on the inner value); then the call backs off (exponential,
// with jitter, or the server's Retry-After) and tries again, until its
// attempts run out or an error comes that is not retried. A panic in the
// inner call is not recovered: it propagates to the caller, as if the
// wrapper were not there, and the attempt counts for nothing.
//
// # What the breaker counts
//
// The breaker must open on an outage and stay closed under noise: with
// 20% of attempts failing independently, retries carry 99.5% of calls to
// success only if the breaker does not open. Counting consecutive failed
// attempts cannot tell the two apart (three failures in a row come every
// few hundred attempts at 20%), and counting failed calls alone reacts only
// after whole retry ladders, which under an outage with many callers keeps
// the service hammered for tens of seconds.
//
// So the breaker counts consecutive failed attempts, each weighing
// 1/max_attempts of a call, and opens when the streak reaches
// failure_threshold calls' worth; any successful attempt resets it. One
// caller at a time, that is exactly failure_threshold failed calls; under
// an outage with many concurrent callers it opens as soon as their failed
// attempts add up to that many calls, long before any of them has finished
// its retries. Under 20% noise with the api profile (failure_threshold 3,
// max_attempts 5) it would take 15 failed attempts in a row, which happens
// with probability 0.2^15 ≈ 3e-11. Errors that are not the service's fault
// do not count: the caller's cancellation, permanent client errors (4xx
// other than 408 and 429), auth and schema errors, and excluded errors.
//
// After recovery_timeout an open breaker becomes half-open and admits up to
// success_threshold probes at once; success_threshold successes close it,
// one failure opens it again. Probes that have not answered within another
// recovery_timeout are taken as failed (a hung probe cannot hold the
// breaker half-open: resilience4j #903). When the inner value has
// Ping(ctx) error, an open breaker is probed every recovery_check_interval
// and goes half-open as soon as a ping succeeds.
//
// # Rate limits
//
// A bucket of burst_size tokens refills at max_requests_per_minute (the
// generic cell rate algorithm, one compare-and-swap per attempt): in any
// window of length T it admits at most burst_size + rate×T attempts. With
// per_host (the default) every wrapper of the process that talks to the
// same host with the same limits shares a bucket; a 429 with Retry-After
// pauses it for all of them.
package runtime

// The versions of generated code this runtime supports. Generated files
// refer to them in constant expressions that overflow, and so fail to
// compile, when the generator and the runtime have drifted apart.
const (
	MinGenVersion = 1
	MaxGenVersion = 1
)

// EnforceVersion is used in generated code as
// const _ = runtime.EnforceVersion(1 - runtime.MinGenVersion), which fails
// to compile when the runtime no longer supports generated version 1.
type EnforceVersion uint
