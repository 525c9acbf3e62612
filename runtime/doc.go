// Package runtime is what resgen's generated wrappers call: the state and
// the decisions of retry, circuit breaking, rate limiting, per-attempt
// timeouts and automatic recovery. The control flow itself is written out
// in each generated method; this package keeps it small and fast.
//
// # For users
//
// Options passed to a generated NewResilientT: WithConfig, WithLogger,
// WithObserver, WithTracer (a Tracer follows each call and attempt:
// runtime/otel's), WithClock, WithClassifier, WithHostKey, WithStore, and
// JoinOptions to hand several out as one. The
// configuration types: Config, RetryConfig, CircuitBreakerConfig,
// RateLimitConfig, TimeoutConfig, RecoveryConfig, ThrottleConfig,
// RetryBudgetConfig, Setting. The errors: ErrCircuitOpen, ErrRateLimited,
// ErrQueueFull, ErrThrottled, ErrRetryBudget, RetryError; Classify and
// the Class constants; NotSent; ParseRetryAfter; PartialError. A wrapper's
// Resilience method returns its Manager, which gives metrics (Metrics), the
// configuration in force (Config), the state of its breakers, limits and
// last errors (BreakerSnapshots, Limiter, RecentErrors: what runtime/statusz
// shows), and forces a breaker open or closed (ForceBreaker).
//
// Only generated code calls NewManager, Spec, MethodSpec, Method (its
// Admit, AttemptContext, Success, Failure, Backoff...), Call and the version
// constants.
//
// For Stores that keep state outside the process (runtime/redisstore):
// Store, BreakerState, BucketState, Permit (NewPermit, State, Generation),
// Reservation, CallWeight, NewLocalStore for the fallback, and
// BreakerWatcher, through which their breakers' changes reach the Manager.
//
// # What a call does
//
// Each attempt is admitted by the circuit breaker, then by adaptive
// throttling, then by the rate limit (every attempt takes a token, retries
// included); runs under its own
// timeout; on failure its error is classified (Classify), recorded by the
// breaker, and may trigger a recovery (Reconnect, RefreshCredentials,
// AdaptSchema on the inner value); then the call backs off (exponential,
// with jitter, or the server's Retry-After) and tries again, until its
// attempts run out, the retry budget denies the retry, or an error comes
// that is not retried. A panic in the
// inner call is not recovered: it propagates to the caller, as if the
// wrapper were not there, and is not retried. Generated code defers
// Method.End, which gives back what the attempt held: a half-open
// breaker's probe that panicked counts as a failed probe (the breaker opens
// again for one interval, instead of waiting for the probe to be taken for
// hung); a closed breaker counts nothing, since a panic says nothing about
// the service.
//
// # Requests that must not be applied twice
//
// A retry after a timeout, a reset or a connection closed under a request
// may apply it twice: the service may have processed it and lost only the
// answer. A method declared not idempotent (idempotent=false,
// RetryConfig.NonIdempotent) is retried only when its error proves that the
// request was never processed (NotSent): a refused connection or another
// failed dial, an error whose SafeToRetry() is true (pgconn),
// driver.ErrBadConn, a rate-limit rejection (429, AWS throttling codes,
// Kubernetes' TooManyRequests), a gRPC Unavailable of a failed dial. A
// timeout, a reset, io.EOF, a 5xx answer, RESOURCE_EXHAUSTED and gRPC
// Unavailable after the call went out prove nothing. gRPC itself retries,
// transparently, the calls that never left the client or that the server
// refused unprocessed, and reports the rest; database/sql retries only
// driver.ErrBadConn, which a driver may return only when the server cannot
// have run the operation; pgx marks with SafeToRetry the errors from
// before anything was sent; go-redis, by contrast, retries every command
// after io.EOF or a timeout, whatever it does (turn its MaxRetries off
// under a wrapper), and the AWS SDK retries writes relying on idempotency
// tokens. A reconnect still runs after a connection error, for the
// calls that follow; a credential refresh or schema adaptation is followed
// by a retry, since a 401 or an undefined column is the service refusing
// the request.
//
// # io.EOF by shape
//
// A bare io.EOF is the end of a stream for methods that read one (Read...,
// Recv..., Receive..., Next..., Decode..., with an error result): an
// answer, never retried, never counted against the service. For every
// other method it is a connection closed under the request (go-redis
// reports it so): class connection, retried unless the method is not
// idempotent. Classify, which knows no method, reads it as the end of a
// stream.
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
// other than 408 and 429), auth and schema errors, excluded errors, and
// errors of unknown class unless retry_on names them.
//
// Overload answers — 429, 503, RESOURCE_EXHAUSTED and timeouts — count
// too, but a streak that they complete opens the breaker only once it has
// lasted 100ms: a service that answers 40% of calls with 503 because its
// queue is full has lost capacity, not failed, and the runs of 503s a full
// queue produces last milliseconds between successes; opening on them
// would shed every call where a third needed shedding. Such a brownout is
// adaptive throttling's to handle (below). A service that answers nothing
// but 503s is out: the breaker opens on failure_threshold calls' worth of
// them, or at the first after 100ms when they came faster than that. A
// breaker in a Store is not told of the overload answers of a streak's
// first 100ms, so it opens failure_threshold answers after that.
//
// An open breaker stays open initial_recovery_timeout (1s by default) the
// first time; each time it opens again without having closed, half as long again
// as the time before, up to recovery_timeout, less up to a fifth at random
// so that clients that opened together do not probe together. A blip costs
// a second, a long outage is probed every recovery_timeout. Then it becomes
// half-open and admits up to success_threshold probes at once;
// success_threshold successes close it, one failure opens it again. When
// it closes, the throttle lets traffic back in over its window (half of
// the calls at first, all of them a window later), so that a service that
// just came back is not hit by every caller at once. Probes that have not answered within another
// recovery_timeout are taken as failed (a hung probe cannot hold the
// breaker half-open: resilience4j #903). When the inner value has
// Ping(ctx) error, an open breaker is probed every recovery_check_interval
// and goes half-open as soon as a ping succeeds.
//
// # Overload: adaptive throttling and the retry budget
//
// Each dependency (what one breaker guards) counts, over sliding windows,
// the attempts its methods sent (requests), those the service accepted —
// answered, even with a client error — and the calls and retries. It reads
// the methods' own counters on the failure path, so that a success pays
// nothing for it.
//
// Adaptive throttling (the client-side throttling of Google's SRE book)
// rejects a call locally with probability max(0, (requests −
// multiplier×accepts) / (requests + 1)) over its window, capped by
// max_rejection: during a brownout the client sends about multiplier times
// what the service accepts, so the service spends its capacity on calls it
// can finish, not on refusing the rest. With multiplier 2 it acts only when
// more than half of the attempts fail, so noise never triggers it; it acts
// only while the service accepts something (an outage is the breaker's),
// and not before the window holds ten requests. A throttled call fails at
// once with an error that errors.Is ErrThrottled; it is never sent, never
// retried, and it is not a failure of the service.
//
// The retry budget bounds what retries add to the load: over its window a
// dependency may retry at most ratio (0.3) times its calls plus
// min_retries_per_second (10) per second of the window, so that retries
// never multiply the load of a struggling service by max_attempts. When
// a retry is granted, the retries of the window that ends then are within
// that bound; so over any window, the retries are within ratio times the
// calls of that window and the one before, plus the floor. A denied retry
// ends the call with a RetryError whose Stop is ErrRetryBudget.
//
// # Rate limits
//
// A bucket of burst_size tokens refills at max_requests_per_minute (the
// generic cell rate algorithm, one compare-and-swap per attempt): in any
// window of length T it admits at most burst_size + rate×T attempts. With
// per_host (the default) every wrapper of the process that talks to the
// same host with the same limits shares a bucket; a 429 with Retry-After
// pauses it for all of them.
//
// With adaptive=true (every built-in profile) the bucket's rate follows
// the service instead: an answer of class rate_limited (429, Retry-After,
// RESOURCE_EXHAUSTED) to an attempt sent after the last cut cuts it to 0.8
// times what it was, and it climbs back toward max_requests_per_minute
// along a cubic curve (CUBIC, as the AWS SDKs' adaptive retry mode): fast
// at first, level near the rate of the last cut for about two seconds,
// then probing beyond it. The rate is a function of time, recomputed every
// 10ms by the attempt that takes a token while it is below the maximum, so
// a success does nothing for it; it is shared as the bucket is.
//
// # Per-attempt timeouts
//
// An attempt whose results do not outlive it (Method.Timeout) runs under a
// context of resgen's that behaves as context.WithTimeout's would —
// Deadline, Done, Err, Value, context.Cause, context.AfterFunc, the
// contexts derived from it, the caller's cancellation — for one allocation
// and no timer. Until the callee asks for its Done channel or registers
// with it, nothing is armed: Err and Cause find out for themselves whether
// the deadline has passed or the caller's context is done. Once it is
// waited on, its deadline joins the method's deadline queue (a few lists in
// deadline order, one timer each, which fires about once per timeout while
// attempts come and go) and it registers with the caller's context through
// context.AfterFunc. The attempt's return takes it out of both, so nothing
// stays registered or holds it afterwards, and it stays cancelled for a
// callee that kept it: contexts are never reused. Results that outlive the
// attempt (Method.TimeoutKeep: streams, bodies, iterators) get a context
// that stays alive, and cancellable by the caller, after a successful
// return.
//
// # Concurrency limits
//
// A concurrency limit (a bulkhead) lets at most a limit of a method's
// attempts, or of a group's, be in flight at once; one beyond it waits
// for a slot, the newest waiter first, as long as its context allows
// (backpressure_strategy wait), or fails at once with a *ConcurrencyError
// that errors.Is ErrConcurrencyLimit (drop): never sent, never retried, not
// a failure of the service. The limit is adaptive by default, following
// latency as Netflix's Gradient2 does (see ConcurrencyConfig): when the
// service's queue grows, latency grows before anything fails, and the
// limit falls, so that the attempts beyond wait in the client, where
// giving up costs the service nothing, and not in the service's queue,
// where they would still be served after their caller left. Taking a slot
// is one atomic add; giving it back costs a method of its own nothing
// more, since it counts from the method's counters of successes and
// failed attempts. Generated code defers End, so a panic in the wrapped
// call gives its slot back.
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
