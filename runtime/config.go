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
type CircuitBreakerConfig struct {
	// Disabled turns the breaker off.
	Disabled bool
	// FailureThreshold is how many failed calls' worth of consecutive failed
	// attempts open the breaker (see the package doc). Zero means 5.
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
type TimeoutConfig struct {
	// Disabled turns the per-attempt timeout off.
	Disabled bool
	// Duration limits each attempt. Zero means 30s. When the caller's
	// deadline is sooner, it is used as is.
	Duration time.Duration
}

// RecoveryConfig configures automatic recovery. Recovery runs only when the
// inner value has the matching method (see the package doc).
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
	DefaultMaxAttempts          = 3
	DefaultInitialDelay         = time.Second
	DefaultMaxDelay             = 60 * time.Second
	DefaultBackoffMultiplier    = 2.0
	DefaultFailureThreshold     = 5
	DefaultRecoveryTimeout      = 60 * time.Second
	DefaultInitialRecovery      = time.Second
	DefaultSuccessThreshold     = 2
	DefaultMaxRequestsPerMinute = 60
	DefaultBurstSize            = 10
	DefaultMaxQueueSize         = 100
	DefaultTimeout              = 30 * time.Second
	DefaultCheckInterval        = 30 * time.Second
	DefaultMaxRecoveryAttempts  = 3
)

// Normalize returns c with every zero field replaced by its default. It
// leaves MaxQueueSize zero unless the strategy is StrategyQueue. A default
// delay never contradicts a delay that is set: with only InitialDelay set
// beyond 60s, MaxDelay becomes InitialDelay; with only MaxDelay set below
// 1s, InitialDelay becomes MaxDelay. So when c is valid, so is the result.
func (c Config) Normalize() Config {
	r := &c.Retry
	if r.MaxAttempts == 0 {
		r.MaxAttempts = DefaultMaxAttempts
	}
	if r.InitialDelay == 0 {
		r.InitialDelay = DefaultInitialDelay
		if r.MaxDelay > 0 {
			r.InitialDelay = min(r.InitialDelay, r.MaxDelay)
		}
	}
	if r.MaxDelay == 0 {
		r.MaxDelay = max(DefaultMaxDelay, r.InitialDelay)
	}
	if r.BackoffMultiplier == 0 {
		r.BackoffMultiplier = DefaultBackoffMultiplier
	}
	if r.Jitter == "" {
		r.Jitter = JitterFull
	}
	if r.RetryOn.isZero() {
		r.RetryOn.Classes = ClassesTransient
	}
	b := &c.CircuitBreaker
	if b.FailureThreshold == 0 {
		b.FailureThreshold = DefaultFailureThreshold
	}
	if b.RecoveryTimeout == 0 {
		b.RecoveryTimeout = max(DefaultRecoveryTimeout, b.InitialRecoveryTimeout)
	}
	if b.InitialRecoveryTimeout == 0 {
		b.InitialRecoveryTimeout = min(DefaultInitialRecovery, b.RecoveryTimeout)
	}
	if b.SuccessThreshold == 0 {
		b.SuccessThreshold = DefaultSuccessThreshold
	}
	l := &c.RateLimit
	if l.MaxRequestsPerMinute == 0 {
		l.MaxRequestsPerMinute = DefaultMaxRequestsPerMinute
	}
	if l.BurstSize == 0 {
		l.BurstSize = DefaultBurstSize
	}
	if l.Strategy == "" {
		l.Strategy = StrategyWait
	}
	if l.Strategy == StrategyQueue && l.MaxQueueSize == 0 {
		l.MaxQueueSize = DefaultMaxQueueSize
	}
	if c.Timeout.Duration == 0 {
		c.Timeout.Duration = DefaultTimeout
	}
	v := &c.Recovery
	if v.CheckInterval == 0 {
		v.CheckInterval = DefaultCheckInterval
	}
	if v.MaxAttempts == 0 {
		v.MaxAttempts = DefaultMaxRecoveryAttempts
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
