package runtime

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Config is the resilience configuration of one method of a wrapper.
// Generated code carries a fully resolved Config for
// every method (built-in defaults < profile < interface directive < method
// directive); WithConfig applies run-time overrides on top of it.
//
// A Config's zero value means resgen's defaults for every policy: each
// field documents what happens when it is left zero, and Normalize fills
// them in. Each policy can be switched off with its Disabled field.
type Config struct {
	Retry          RetryConfig
	CircuitBreaker CircuitBreakerConfig
	RateLimit      RateLimitConfig
	Timeout        TimeoutConfig
	Recovery       RecoveryConfig
	Throttle       ThrottleConfig
	RetryBudget    RetryBudgetConfig
	Concurrency    ConcurrencyConfig
}

// RetryConfig configures retries with exponential backoff.
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
type RetryConfig struct {
	// Disabled turns retries off: every call makes exactly one attempt.
	Disabled bool
	// MaxAttempts is the number of attempts, the first one included.
	// Zero means 3.
	MaxAttempts int
	// InitialDelay is the delay before the second attempt. Zero means 1s,
	// or MaxDelay when that is shorter.
	InitialDelay time.Duration
	// MaxDelay caps every computed delay. Zero means 60s, or InitialDelay
	// when that is longer.
	MaxDelay time.Duration
	// BackoffMultiplier multiplies the delay after each attempt. Zero means 2.
	BackoffMultiplier float64
	// Jitter randomizes delays so that clients do not retry in lockstep.
	// Zero means JitterFull.
	Jitter Jitter
	// RetryOn selects the errors that are retried. Zero means the transient
	// classes (ClassesTransient). The caller's own cancellation, ErrCircuitOpen
	// and ErrRateLimited are never retried, whatever RetryOn says. An error of
	// ClassUnknown that RetryOn selects also counts against the breaker;
	// one it does not select does not.
	RetryOn Matcher
	// NonIdempotent says that the method's request must not be applied
	// twice (an increment, a payment, an append): a failed attempt is then
	// retried only when its error proves that the service never received
	// or never processed the request (see NotSent), whatever RetryOn
	// says. Zero means idempotent: every error RetryOn selects is retried.
	// Its key is idempotent (idempotent=false sets it).
	NonIdempotent bool
}

// CircuitBreakerConfig configures the circuit breaker.
//
// # The model
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
type CircuitBreakerConfig struct {
	// Disabled turns the breaker off.
	Disabled bool
	// FailureThreshold is how many failed calls' worth of consecutive failed
	// attempts open the breaker (see above). Zero means 5.
	FailureThreshold int
	// RecoveryTimeout is the longest the breaker stays open before it lets
	// probes through: the first time it opens it stays open for
	// InitialRecoveryTimeout, and each time it opens again without having
	// closed, half as long again as the time before, up to RecoveryTimeout, less
	// up to a fifth at random. With InitialRecoveryTimeout equal to it, the
	// breaker stays open exactly RecoveryTimeout every time. Zero means 60s.
	RecoveryTimeout time.Duration
	// InitialRecoveryTimeout is how long the breaker stays open the first
	// time it opens. Zero means 1s, or RecoveryTimeout when that is shorter.
	InitialRecoveryTimeout time.Duration
	// SuccessThreshold is how many successful probes close a half-open
	// breaker; it also bounds the probes admitted at once. Zero means 2.
	SuccessThreshold int
	// Excluded selects errors that are not counted as failures of the
	// service. Zero excludes nothing beyond what is never counted: the
	// caller's cancellation, permanent client errors, auth and schema
	// errors, and unknown errors that RetryOn does not select.
	Excluded Matcher
	// Group names a breaker shared by every method of the wrapper that names
	// the same group; they must agree on its settings. Empty means the
	// wrapper's own breaker, shared by all of its methods that have no group
	// and the same settings; a method whose settings differ gets its own,
	// named Wrapper.Method.
	Group string
}

// RateLimitConfig configures the token bucket that every attempt draws from.
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
type RateLimitConfig struct {
	// Disabled turns rate limiting off.
	Disabled bool
	// MaxRequestsPerMinute is the bucket's refill rate. Zero means 60.
	MaxRequestsPerMinute int
	// BurstSize is the bucket's capacity. Zero means 10.
	BurstSize int
	// Global, when true, gives the wrapper its own bucket. When false (the
	// default, per_host=true in directives and YAML) every wrapper of the process that
	// talks to the same host, with the same rate and burst, shares one
	// bucket; the host comes from WithHostKey or the inner value's
	// Host() string, and a wrapper without a host has its own bucket.
	Global bool
	// Strategy says what an attempt does when no token is left. Zero means
	// StrategyWait.
	Strategy Strategy
	// MaxQueueSize bounds the waiters of StrategyQueue. Zero means 100; it
	// must stay zero with the other strategies.
	MaxQueueSize int
	// Adaptive makes the bucket's rate follow the service's answers: an
	// answer of class rate_limited (429, Retry-After, RESOURCE_EXHAUSTED)
	// cuts it to 0.8 times what it was, and it climbs back toward
	// MaxRequestsPerMinute along a cubic curve (CUBIC, as the AWS SDKs'
	// adaptive retry mode), levelling off where the service last said
	// "too many". Such an answer then sets the rate instead of pausing the
	// bucket for its Retry-After (the call's own retry still waits for it).
	// The rate is shared as the bucket is: per host, by every wrapper of the
	// process. A bucket that lives in a Store (WithStore) keeps its
	// configured rate. False means the configured rate, always.
	Adaptive bool
}

// TimeoutConfig configures the deadline of each attempt.
//
// An attempt whose results do not outlive it runs under a
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
// attempt (streams, bodies, iterators) get a context
// that stays alive, and cancellable by the caller, after a successful
// return.
type TimeoutConfig struct {
	// Disabled turns the per-attempt timeout off.
	Disabled bool
	// Duration limits each attempt. Zero means 30s. When the caller's
	// deadline is sooner, it is used as is.
	Duration time.Duration
}

// RecoveryConfig configures automatic recovery. Each procedure runs only
// when the wrapped value has its method: Reconnect(ctx) error after a
// connection error, RefreshCredentials(ctx) error after an auth error (the
// call is then retried), AdaptSchema(ctx, err) error after a schema error
// (retried too), and Ping(ctx) error, which probes an open breaker every
// CheckInterval so that it goes half-open as soon as the service answers.
// An error with Partial() bool true (PartialError) resumes the part of the
// request that was not done. Recoveries of one wrapper run one at a time,
// at most MaxAttempts an outage; a hook that panics is that hook's error
// (HookPanicError).
type RecoveryConfig struct {
	// Disabled turns every recovery procedure off.
	Disabled bool
	// DisableConnectionRecovery stops Reconnect from being called on
	// connection errors (enable_connection_recovery=false in directives and YAML).
	DisableConnectionRecovery bool
	// DisableCredentialRefresh stops RefreshCredentials from being called on
	// auth errors.
	DisableCredentialRefresh bool
	// DisableSchemaAdaptation stops AdaptSchema from being called on schema
	// errors.
	DisableSchemaAdaptation bool
	// DisablePartialFailureRecovery makes errors with Partial() bool ordinary
	// failures.
	DisablePartialFailureRecovery bool
	// CheckInterval is how often Ping probes an open breaker. Zero means 30s.
	CheckInterval time.Duration
	// MaxAttempts bounds the recoveries of each kind tried in an outage
	// within any CheckInterval; the budget refills after a successful call,
	// and CheckInterval after the window's first recovery. Zero means 3.
	MaxAttempts int
}

// Jitter says how a backoff delay is randomized.
type Jitter string

// The jitter modes. With d the exponential delay: JitterNone sleeps d,
// JitterFull a uniform random duration in [0, d], JitterEqual one in
// [d/2, d], and JitterDecorrelated one in [InitialDelay, 3×previous delay]
// (AWS's "decorrelated jitter"), all capped by MaxDelay.
const (
	JitterNone         Jitter = "none"
	JitterFull         Jitter = "full"
	JitterEqual        Jitter = "equal"
	JitterDecorrelated Jitter = "decorrelated"
)

// Strategy is a rate limiter's backpressure strategy.
type Strategy string

// The backpressure strategies.
const (
	// StrategyWait blocks until a token is available or the context ends;
	// it fails at once with ErrRateLimited when the context's deadline comes
	// before the token.
	StrategyWait Strategy = "wait"
	// StrategyDrop fails at once with ErrRateLimited when no token is left.
	StrategyDrop Strategy = "drop"
	// StrategyQueue waits like StrategyWait, in a FIFO queue of at most
	// MaxQueueSize waiters; beyond it, attempts fail with ErrQueueFull.
	StrategyQueue Strategy = "queue"
)

// resgen's defaults, which Normalize fills in for zero fields.
const (
	defaultMaxAttempts          = 3
	defaultInitialDelay         = time.Second
	defaultMaxDelay             = 60 * time.Second
	defaultBackoffMultiplier    = 2.0
	defaultFailureThreshold     = 5
	defaultRecoveryTimeout      = 60 * time.Second
	defaultInitialRecovery      = time.Second
	defaultSuccessThreshold     = 2
	defaultMaxRequestsPerMinute = 60
	defaultBurstSize            = 10
	defaultMaxQueueSize         = 100
	defaultTimeout              = 30 * time.Second
	defaultCheckInterval        = 30 * time.Second
	defaultMaxRecoveryAttempts  = 3
)

// Normalize returns c with every zero field replaced by its default. It
// leaves MaxQueueSize zero unless the strategy is StrategyQueue. A default
// delay never contradicts a delay that is set: with only InitialDelay set
// beyond 60s, MaxDelay becomes InitialDelay; with only MaxDelay set below
// 1s, InitialDelay becomes MaxDelay. So when c is valid, so is the result.
func (c Config) Normalize() Config {
	r := &c.Retry
	if r.MaxAttempts == 0 {
		r.MaxAttempts = defaultMaxAttempts
	}
	if r.InitialDelay == 0 {
		r.InitialDelay = defaultInitialDelay
		if r.MaxDelay > 0 {
			r.InitialDelay = min(r.InitialDelay, r.MaxDelay)
		}
	}
	if r.MaxDelay == 0 {
		r.MaxDelay = max(defaultMaxDelay, r.InitialDelay)
	}
	if r.BackoffMultiplier == 0 {
		r.BackoffMultiplier = defaultBackoffMultiplier
	}
	if r.Jitter == "" {
		r.Jitter = JitterFull
	}
	if r.RetryOn.isZero() {
		r.RetryOn.Classes = ClassesTransient
	}
	b := &c.CircuitBreaker
	if b.FailureThreshold == 0 {
		b.FailureThreshold = defaultFailureThreshold
	}
	if b.RecoveryTimeout == 0 {
		b.RecoveryTimeout = max(defaultRecoveryTimeout, b.InitialRecoveryTimeout)
	}
	if b.InitialRecoveryTimeout == 0 {
		b.InitialRecoveryTimeout = min(defaultInitialRecovery, b.RecoveryTimeout)
	}
	if b.SuccessThreshold == 0 {
		b.SuccessThreshold = defaultSuccessThreshold
	}
	l := &c.RateLimit
	if l.MaxRequestsPerMinute == 0 {
		l.MaxRequestsPerMinute = defaultMaxRequestsPerMinute
	}
	if l.BurstSize == 0 {
		l.BurstSize = defaultBurstSize
	}
	if l.Strategy == "" {
		l.Strategy = StrategyWait
	}
	if l.Strategy == StrategyQueue && l.MaxQueueSize == 0 {
		l.MaxQueueSize = defaultMaxQueueSize
	}
	if c.Timeout.Duration == 0 {
		c.Timeout.Duration = defaultTimeout
	}
	v := &c.Recovery
	if v.CheckInterval == 0 {
		v.CheckInterval = defaultCheckInterval
	}
	if v.MaxAttempts == 0 {
		v.MaxAttempts = defaultMaxRecoveryAttempts
	}
	for _, p := range policies {
		if p.normalize != nil {
			p.normalize(&c)
		}
	}
	return c
}

// Validate reports every problem of c, each naming its field by its
// directive and YAML key (retry.max_attempts, rate_limit.burst_size, ...), joined with
// errors.Join. Zero fields are valid: they mean defaults.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	badClasses := func(field string, set Class) {
		if set&ClassCanceled != 0 {
			bad(field, "the caller's cancellation (canceled) is never retried nor counted")
		}
		if rest := set &^ (ClassesAll | ClassCanceled); rest != 0 {
			bad(field, "unknown error class bits %#x", uint16(rest))
		}
	}
	r := c.Retry
	if r.MaxAttempts < 0 {
		bad("retry.max_attempts", "must be at least 1, not %d", r.MaxAttempts)
	}
	if r.InitialDelay < 0 {
		bad("retry.initial_delay", "must not be negative, not %v", r.InitialDelay)
	}
	if r.MaxDelay < 0 {
		bad("retry.max_delay", "must not be negative, not %v", r.MaxDelay)
	}
	if r.InitialDelay > 0 && r.MaxDelay > 0 && r.MaxDelay < r.InitialDelay {
		bad("retry.max_delay", "%v is less than retry.initial_delay %v", r.MaxDelay, r.InitialDelay)
	}
	if r.BackoffMultiplier != 0 && !(r.BackoffMultiplier >= 1) { // also catches NaN
		bad("retry.backoff_multiplier", "must be at least 1, not %v", r.BackoffMultiplier)
	} else if math.IsInf(r.BackoffMultiplier, 1) {
		bad("retry.backoff_multiplier", "must be a finite number, not %v", r.BackoffMultiplier)
	}
	switch r.Jitter {
	case "", JitterNone, JitterFull, JitterEqual, JitterDecorrelated:
	default:
		bad("retry.jitter", "unknown jitter %q (want none, full, equal or decorrelated)", string(r.Jitter))
	}
	badClasses("retry.retry_on", r.RetryOn.Classes)
	b := c.CircuitBreaker
	if b.FailureThreshold < 0 {
		bad("circuit_breaker.failure_threshold", "must be at least 1, not %d", b.FailureThreshold)
	}
	if b.RecoveryTimeout < 0 {
		bad("circuit_breaker.recovery_timeout", "must not be negative, not %v", b.RecoveryTimeout)
	}
	if b.InitialRecoveryTimeout < 0 {
		bad("circuit_breaker.initial_recovery_timeout", "must not be negative, not %v", b.InitialRecoveryTimeout)
	} else if b.InitialRecoveryTimeout > 0 && b.RecoveryTimeout > 0 && b.InitialRecoveryTimeout > b.RecoveryTimeout {
		bad("circuit_breaker.initial_recovery_timeout", "%v is more than circuit_breaker.recovery_timeout %v", b.InitialRecoveryTimeout, b.RecoveryTimeout)
	}
	if b.SuccessThreshold < 0 {
		bad("circuit_breaker.success_threshold", "must be at least 1, not %d", b.SuccessThreshold)
	}
	badClasses("circuit_breaker.excluded_errors", b.Excluded.Classes)
	l := c.RateLimit
	if l.MaxRequestsPerMinute < 0 {
		bad("rate_limit.max_requests_per_minute", "must be at least 1, not %d", l.MaxRequestsPerMinute)
	}
	if l.BurstSize < 0 {
		bad("rate_limit.burst_size", "must be at least 1, not %d", l.BurstSize)
	}
	switch l.Strategy {
	case "", StrategyWait, StrategyDrop, StrategyQueue:
	default:
		bad("rate_limit.backpressure_strategy", "unknown strategy %q (want wait, drop or queue)", string(l.Strategy))
	}
	if l.MaxQueueSize < 0 {
		bad("rate_limit.max_queue_size", "must be at least 1, not %d", l.MaxQueueSize)
	} else if l.MaxQueueSize > 0 && l.Strategy != StrategyQueue {
		bad("rate_limit.max_queue_size", "is set but backpressure_strategy is %q, not queue", string(l.Strategy.orDefault()))
	}
	if c.Timeout.Duration < 0 {
		bad("timeout", "must not be negative, not %v", c.Timeout.Duration)
	}
	v := c.Recovery
	if v.CheckInterval < 0 {
		bad("recovery.recovery_check_interval", "must not be negative, not %v", v.CheckInterval)
	}
	if v.MaxAttempts < 0 {
		bad("recovery.max_recovery_attempts", "must be at least 1, not %d", v.MaxAttempts)
	}
	for _, p := range policies {
		if p.validate != nil {
			p.validate(c, bad)
		}
	}
	return errors.Join(errs...)
}

func (s Strategy) orDefault() Strategy {
	if s == "" {
		return StrategyWait
	}
	return s
}

// FieldError is a problem with one field of a Config.
type FieldError struct {
	Field string // the directive and YAML key, as policy.key: "retry.max_attempts"
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }
