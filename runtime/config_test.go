package runtime_test

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resgen-dev/resgen/runtime"
)

// configField reads and writes one field of a Config, for the tables below.
type configField struct {
	name string // the directive and YAML key
	get  func(runtime.Config) any
	def  any                   // what Normalize fills in for zero
	set  func(*runtime.Config) // sets a value that is not the default
	val  any                   // the value set sets
}

var configFields = []configField{
	{"retry.max_attempts", func(c runtime.Config) any { return c.Retry.MaxAttempts }, 3,
		func(c *runtime.Config) { c.Retry.MaxAttempts = 7 }, 7},
	{"retry.initial_delay", func(c runtime.Config) any { return c.Retry.InitialDelay }, time.Second,
		func(c *runtime.Config) { c.Retry.InitialDelay = 250 * time.Millisecond }, 250 * time.Millisecond},
	{"retry.max_delay", func(c runtime.Config) any { return c.Retry.MaxDelay }, 60 * time.Second,
		func(c *runtime.Config) { c.Retry.MaxDelay = 10 * time.Second }, 10 * time.Second},
	{"retry.backoff_multiplier", func(c runtime.Config) any { return c.Retry.BackoffMultiplier }, 2.0,
		func(c *runtime.Config) { c.Retry.BackoffMultiplier = 1.5 }, 1.5},
	{"retry.jitter", func(c runtime.Config) any { return c.Retry.Jitter }, runtime.JitterFull,
		func(c *runtime.Config) { c.Retry.Jitter = runtime.JitterDecorrelated }, runtime.JitterDecorrelated},
	{"retry.retry_on", func(c runtime.Config) any { return c.Retry.RetryOn.Classes }, runtime.ClassesTransient,
		func(c *runtime.Config) { c.Retry.RetryOn.Classes = runtime.ClassServer }, runtime.ClassServer},
	{"circuit_breaker.failure_threshold", func(c runtime.Config) any { return c.CircuitBreaker.FailureThreshold }, 5,
		func(c *runtime.Config) { c.CircuitBreaker.FailureThreshold = 1 }, 1},
	{"circuit_breaker.recovery_timeout", func(c runtime.Config) any { return c.CircuitBreaker.RecoveryTimeout }, 60 * time.Second,
		func(c *runtime.Config) { c.CircuitBreaker.RecoveryTimeout = time.Hour }, time.Hour},
	{"circuit_breaker.success_threshold", func(c runtime.Config) any { return c.CircuitBreaker.SuccessThreshold }, 2,
		func(c *runtime.Config) { c.CircuitBreaker.SuccessThreshold = 4 }, 4},
	{"circuit_breaker.excluded_errors", func(c runtime.Config) any { return c.CircuitBreaker.Excluded.Classes }, runtime.Class(0),
		func(c *runtime.Config) { c.CircuitBreaker.Excluded.Classes = runtime.ClassSchema }, runtime.ClassSchema},
	{"circuit_breaker.group", func(c runtime.Config) any { return c.CircuitBreaker.Group }, "",
		func(c *runtime.Config) { c.CircuitBreaker.Group = "db" }, "db"},
	{"rate_limit.max_requests_per_minute", func(c runtime.Config) any { return c.RateLimit.MaxRequestsPerMinute }, 60,
		func(c *runtime.Config) { c.RateLimit.MaxRequestsPerMinute = 6000 }, 6000},
	{"rate_limit.burst_size", func(c runtime.Config) any { return c.RateLimit.BurstSize }, 10,
		func(c *runtime.Config) { c.RateLimit.BurstSize = 1 }, 1},
	{"rate_limit.per_host", func(c runtime.Config) any { return c.RateLimit.Global }, false,
		func(c *runtime.Config) { c.RateLimit.Global = true }, true},
	{"rate_limit.backpressure_strategy", func(c runtime.Config) any { return c.RateLimit.Strategy }, runtime.StrategyWait,
		func(c *runtime.Config) { c.RateLimit.Strategy = runtime.StrategyDrop }, runtime.StrategyDrop},
	{"rate_limit.max_queue_size", func(c runtime.Config) any { return c.RateLimit.MaxQueueSize }, 0, // without the queue strategy
		nil, nil},
	{"timeout", func(c runtime.Config) any { return c.Timeout.Duration }, 30 * time.Second,
		func(c *runtime.Config) { c.Timeout.Duration = 2 * time.Second }, 2 * time.Second},
	{"recovery.recovery_check_interval", func(c runtime.Config) any { return c.Recovery.CheckInterval }, 30 * time.Second,
		func(c *runtime.Config) { c.Recovery.CheckInterval = time.Second }, time.Second},
	{"recovery.max_recovery_attempts", func(c runtime.Config) any { return c.Recovery.MaxAttempts }, 3,
		func(c *runtime.Config) { c.Recovery.MaxAttempts = 9 }, 9},
}

func TestNormalizeFillsDefaults(t *testing.T) {
	n := runtime.Config{}.Normalize()
	for _, f := range configFields {
		assert.Equal(t, f.def, f.get(n), "%s of a normalized zero Config", f.name)
	}
	// The exported constants are resgen's documented defaults.
	assert.Equal(t, 3, n.Retry.MaxAttempts)
	assert.Equal(t, time.Second, n.Retry.InitialDelay)
	assert.Equal(t, time.Minute, n.Retry.MaxDelay)
	assert.Equal(t, 2.0, n.Retry.BackoffMultiplier)
	assert.Equal(t, 5, n.CircuitBreaker.FailureThreshold)
	assert.Equal(t, time.Minute, n.CircuitBreaker.RecoveryTimeout)
	assert.Equal(t, 2, n.CircuitBreaker.SuccessThreshold)
	assert.Equal(t, 60, n.RateLimit.MaxRequestsPerMinute)
	assert.Equal(t, 10, n.RateLimit.BurstSize)
	assert.Equal(t, 30*time.Second, n.Timeout.Duration)
	assert.Equal(t, 30*time.Second, n.Recovery.CheckInterval)
	assert.Equal(t, 3, n.Recovery.MaxAttempts)
	// No policy is disabled by default, every recovery is on.
	assert.False(t, n.Retry.Disabled || n.CircuitBreaker.Disabled || n.RateLimit.Disabled || n.Timeout.Disabled || n.Recovery.Disabled)
	assert.False(t, n.Recovery.DisableConnectionRecovery || n.Recovery.DisableCredentialRefresh ||
		n.Recovery.DisableSchemaAdaptation || n.Recovery.DisablePartialFailureRecovery)
	assert.Nil(t, n.Retry.RetryOn.Match)
}

func TestNormalizeLeavesSetFieldsAlone(t *testing.T) {
	for _, f := range configFields {
		if f.set == nil {
			continue
		}
		t.Run(f.name, func(t *testing.T) {
			var c runtime.Config
			f.set(&c)
			require.NoError(t, c.Validate())
			n := c.Normalize()
			assert.Equal(t, f.val, f.get(n))
			// Every other field gets its default.
			for _, g := range configFields {
				if g.name != f.name && !delayDefaultsLinked(f.name, g.name) {
					assert.Equal(t, g.def, g.get(n), "setting %s changed %s", f.name, g.name)
				}
			}
		})
	}
}

// delayDefaultsLinked reports whether Normalize derives b's default from a.
func delayDefaultsLinked(a, b string) bool {
	return (a == "retry.max_delay" && b == "retry.initial_delay") || (a == "retry.initial_delay" && b == "retry.max_delay")
}

func TestNormalizeKeepsEverythingSet(t *testing.T) {
	c := runtime.Config{
		Retry: runtime.RetryConfig{Disabled: true, MaxAttempts: 9, InitialDelay: time.Millisecond, MaxDelay: time.Minute,
			BackoffMultiplier: 1.25, Jitter: runtime.JitterEqual, RetryOn: runtime.Matcher{Classes: runtime.ClassAuth}},
		CircuitBreaker: runtime.CircuitBreakerConfig{Disabled: true, FailureThreshold: 2, RecoveryTimeout: time.Second,
			InitialRecoveryTimeout: time.Millisecond, SuccessThreshold: 1, Excluded: runtime.Matcher{Classes: runtime.ClassSchema}, Group: "g"},
		RateLimit: runtime.RateLimitConfig{Disabled: true, MaxRequestsPerMinute: 1, BurstSize: 2, Global: true,
			Strategy: runtime.StrategyQueue, MaxQueueSize: 3, Adaptive: true},
		Timeout: runtime.TimeoutConfig{Disabled: true, Duration: time.Millisecond},
		Recovery: runtime.RecoveryConfig{Disabled: true, DisableConnectionRecovery: true, DisableCredentialRefresh: true,
			DisableSchemaAdaptation: true, DisablePartialFailureRecovery: true, CheckInterval: time.Hour, MaxAttempts: 1},
		Throttle:    runtime.ThrottleConfig{Disabled: true, Multiplier: 1.5, Window: time.Minute, MaxRejection: 0.5},
		RetryBudget: runtime.RetryBudgetConfig{Disabled: true, Ratio: 0.5, MinPerSecond: 1, Window: time.Minute},
		Concurrency: runtime.ConcurrencyConfig{Disabled: true, MaxInFlight: 9, MinInFlight: 3, Fixed: true,
			Strategy: runtime.StrategyDrop, Group: "g"},
	}
	require.NoError(t, c.Validate())
	assert.Equal(t, c, c.Normalize())
}

func TestNormalizeRetryOnMatchIsNotReplaced(t *testing.T) {
	var c runtime.Config
	c.Retry.RetryOn.Match = func(error) bool { return true }
	n := c.Normalize()
	assert.Zero(t, n.Retry.RetryOn.Classes, "a Match alone selects what it matches, not the transient classes")
	assert.NotNil(t, n.Retry.RetryOn.Match)
}

func TestNormalizeMaxQueueSize(t *testing.T) {
	for _, s := range []runtime.Strategy{"", runtime.StrategyWait, runtime.StrategyDrop} {
		n := runtime.Config{RateLimit: runtime.RateLimitConfig{Strategy: s}}.Normalize()
		assert.Zero(t, n.RateLimit.MaxQueueSize, "strategy %q", s)
	}
	n := runtime.Config{RateLimit: runtime.RateLimitConfig{Strategy: runtime.StrategyQueue}}.Normalize()
	assert.Equal(t, 100, n.RateLimit.MaxQueueSize)
	n = runtime.Config{RateLimit: runtime.RateLimitConfig{Strategy: runtime.StrategyQueue, MaxQueueSize: 7}}.Normalize()
	assert.Equal(t, 7, n.RateLimit.MaxQueueSize)
}

// TestNormalizeDefaultDelaysRespectSetDelays is the bug where a valid Config
// with only initial_delay set above 60s (or only max_delay below 1s)
// normalized to max_delay < initial_delay, which Validate rejects.
func TestNormalizeDefaultDelaysRespectSetDelays(t *testing.T) {
	tests := []struct {
		name             string
		initial, maxD    time.Duration
		wantIni, wantMax time.Duration
	}{
		{"initial beyond the default max", 2 * time.Minute, 0, 2 * time.Minute, 2 * time.Minute},
		{"max below the default initial", 0, 500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond},
		{"initial within the default max", 10 * time.Second, 0, 10 * time.Second, time.Minute},
		{"max above the default initial", 0, 5 * time.Second, time.Second, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := runtime.Config{Retry: runtime.RetryConfig{InitialDelay: tt.initial, MaxDelay: tt.maxD}}
			require.NoError(t, c.Validate())
			n := c.Normalize()
			assert.Equal(t, tt.wantIni, n.Retry.InitialDelay)
			assert.Equal(t, tt.wantMax, n.Retry.MaxDelay)
			assert.NoError(t, n.Validate())
		})
	}
}

func TestValidateZeroIsValid(t *testing.T) {
	assert.NoError(t, runtime.Config{}.Validate())
	assert.NoError(t, runtime.Config{}.Normalize().Validate())
}

// fieldErrors returns the fields named by the FieldErrors joined in err.
func fieldErrors(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	require.True(t, ok, "Validate's error is an errors.Join: %T", err)
	var fields []string
	for _, e := range j.Unwrap() {
		var fe *runtime.FieldError
		require.ErrorAs(t, e, &fe)
		fields = append(fields, fe.Field)
		assert.Contains(t, e.Error(), fe.Field+": ", "the message starts with the field")
	}
	return fields
}

func TestValidateEachProblem(t *testing.T) {
	tests := []struct {
		name string
		cfg  runtime.Config
		want string // the field named; every case has exactly one problem
		msg  string // a substring of the message
	}{
		{"max_attempts negative", runtime.Config{Retry: runtime.RetryConfig{MaxAttempts: -1}}, "retry.max_attempts", "at least 1"},
		{"initial_delay negative", runtime.Config{Retry: runtime.RetryConfig{InitialDelay: -time.Second}}, "retry.initial_delay", "negative"},
		{"max_delay negative", runtime.Config{Retry: runtime.RetryConfig{MaxDelay: -time.Second}}, "retry.max_delay", "negative"},
		{"max_delay below initial_delay", runtime.Config{Retry: runtime.RetryConfig{InitialDelay: 2 * time.Second, MaxDelay: time.Second}},
			"retry.max_delay", "less than retry.initial_delay"},
		{"multiplier below 1", runtime.Config{Retry: runtime.RetryConfig{BackoffMultiplier: 0.5}}, "retry.backoff_multiplier", "at least 1"},
		{"multiplier negative", runtime.Config{Retry: runtime.RetryConfig{BackoffMultiplier: -2}}, "retry.backoff_multiplier", "at least 1"},
		{"multiplier NaN", runtime.Config{Retry: runtime.RetryConfig{BackoffMultiplier: math.NaN()}}, "retry.backoff_multiplier", "NaN"},
		{"multiplier +Inf", runtime.Config{Retry: runtime.RetryConfig{BackoffMultiplier: math.Inf(1)}}, "retry.backoff_multiplier", "finite"},
		{"multiplier -Inf", runtime.Config{Retry: runtime.RetryConfig{BackoffMultiplier: math.Inf(-1)}}, "retry.backoff_multiplier", "at least 1"},
		{"jitter unknown", runtime.Config{Retry: runtime.RetryConfig{Jitter: "sometimes"}}, "retry.jitter", `unknown jitter "sometimes"`},
		{"retry_on unknown bits", runtime.Config{Retry: runtime.RetryConfig{RetryOn: runtime.Matcher{Classes: 1 << 14}}}, "retry.retry_on", "0x4000"},
		{"retry_on canceled", runtime.Config{Retry: runtime.RetryConfig{RetryOn: runtime.Matcher{Classes: runtime.ClassCanceled}}}, "retry.retry_on", "cancellation"},
		{"failure_threshold negative", runtime.Config{CircuitBreaker: runtime.CircuitBreakerConfig{FailureThreshold: -3}}, "circuit_breaker.failure_threshold", "-3"},
		{"recovery_timeout negative", runtime.Config{CircuitBreaker: runtime.CircuitBreakerConfig{RecoveryTimeout: -time.Second}}, "circuit_breaker.recovery_timeout", "negative"},
		{"success_threshold negative", runtime.Config{CircuitBreaker: runtime.CircuitBreakerConfig{SuccessThreshold: -1}}, "circuit_breaker.success_threshold", "at least 1"},
		{"excluded unknown bits", runtime.Config{CircuitBreaker: runtime.CircuitBreakerConfig{Excluded: runtime.Matcher{Classes: 1 << 15}}}, "circuit_breaker.excluded_errors", "0x8000"},
		{"rpm negative", runtime.Config{RateLimit: runtime.RateLimitConfig{MaxRequestsPerMinute: -60}}, "rate_limit.max_requests_per_minute", "-60"},
		{"burst_size negative", runtime.Config{RateLimit: runtime.RateLimitConfig{BurstSize: -1}}, "rate_limit.burst_size", "at least 1"},
		{"strategy unknown", runtime.Config{RateLimit: runtime.RateLimitConfig{Strategy: "block"}}, "rate_limit.backpressure_strategy", `unknown strategy "block"`},
		{"max_queue_size without queue", runtime.Config{RateLimit: runtime.RateLimitConfig{MaxQueueSize: 5}}, "rate_limit.max_queue_size", `backpressure_strategy is "wait"`},
		{"max_queue_size with drop", runtime.Config{RateLimit: runtime.RateLimitConfig{Strategy: runtime.StrategyDrop, MaxQueueSize: 5}}, "rate_limit.max_queue_size", `"drop"`},
		{"max_queue_size negative", runtime.Config{RateLimit: runtime.RateLimitConfig{Strategy: runtime.StrategyQueue, MaxQueueSize: -1}}, "rate_limit.max_queue_size", "at least 1"},
		{"timeout negative", runtime.Config{Timeout: runtime.TimeoutConfig{Duration: -time.Millisecond}}, "timeout", "negative"},
		{"check interval negative", runtime.Config{Recovery: runtime.RecoveryConfig{CheckInterval: -time.Second}}, "recovery.recovery_check_interval", "negative"},
		{"recovery attempts negative", runtime.Config{Recovery: runtime.RecoveryConfig{MaxAttempts: -1}}, "recovery.max_recovery_attempts", "at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			require.Error(t, err)
			assert.Equal(t, []string{tt.want}, fieldErrors(t, err))
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	c := runtime.Config{
		Retry: runtime.RetryConfig{MaxAttempts: -1, InitialDelay: -1, MaxDelay: -1, BackoffMultiplier: math.NaN(),
			Jitter: "wobbly", RetryOn: runtime.Matcher{Classes: 1 << 13}},
		CircuitBreaker: runtime.CircuitBreakerConfig{FailureThreshold: -1, RecoveryTimeout: -1, SuccessThreshold: -1,
			Excluded: runtime.Matcher{Classes: 1 << 13}},
		RateLimit: runtime.RateLimitConfig{MaxRequestsPerMinute: -1, BurstSize: -1, Strategy: "block", MaxQueueSize: 4},
		Timeout:   runtime.TimeoutConfig{Duration: -1},
		Recovery:  runtime.RecoveryConfig{CheckInterval: -1, MaxAttempts: -1},
	}
	err := c.Validate()
	require.Error(t, err)
	got := fieldErrors(t, err)
	want := []string{
		"retry.max_attempts", "retry.initial_delay", "retry.max_delay", "retry.backoff_multiplier", "retry.jitter", "retry.retry_on",
		"circuit_breaker.failure_threshold", "circuit_breaker.recovery_timeout", "circuit_breaker.success_threshold",
		"circuit_breaker.excluded_errors",
		"rate_limit.max_requests_per_minute", "rate_limit.burst_size", "rate_limit.backpressure_strategy", "rate_limit.max_queue_size",
		"timeout",
		"recovery.recovery_check_interval", "recovery.max_recovery_attempts",
	}
	slices.Sort(got)
	slices.Sort(want)
	assert.Equal(t, want, got)

	// errors.As finds a *FieldError in the joined error.
	var fe *runtime.FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "retry.max_attempts", fe.Field, "the first problem, in field order")
}

func TestValidateDisabledPolicyIsStillChecked(t *testing.T) {
	// A disabled policy's fields may be switched on again by a run-time
	// override: they must be valid too.
	c := runtime.Config{Retry: runtime.RetryConfig{Disabled: true, MaxAttempts: -1}}
	assert.Equal(t, []string{"retry.max_attempts"}, fieldErrors(t, c.Validate()))
}

func TestFieldError(t *testing.T) {
	e := &runtime.FieldError{Field: "retry.max_attempts", Msg: "must be at least 1, not -1"}
	assert.Equal(t, "retry.max_attempts: must be at least 1, not -1", e.Error())
	var target *runtime.FieldError
	assert.True(t, errors.As(errors.Join(errors.New("x"), e), &target))
	assert.Same(t, e, target)
}

// FuzzValidate builds Configs from fuzzed values: Validate never panics, and
// a Config it accepts normalizes to one it still accepts, in which every
// field has a usable value.
func FuzzValidate(f *testing.F) {
	f.Add(0, int64(0), int64(0), 0.0, "", uint16(0), 0, int64(0), 0, uint16(0), 0, 0, "", 0, int64(0), int64(0), 0)
	f.Add(5, int64(time.Second), int64(time.Minute), 2.0, "full", uint16(runtime.ClassesTransient), 3, int64(time.Minute), 2,
		uint16(runtime.ClassSchema), 600, 10, "queue", 50, int64(30*time.Second), int64(30*time.Second), 3)
	f.Add(0, int64(2*time.Minute), int64(0), 1.0, "none", uint16(0), 0, int64(0), 0, uint16(0), 0, 0, "wait", 0, int64(0), int64(0), 0)
	f.Add(0, int64(0), int64(time.Millisecond), 0.0, "decorrelated", uint16(0), 0, int64(0), 0, uint16(0), 0, 0, "drop", 0, int64(0), int64(0), 0)
	f.Add(-1, int64(-1), int64(-1), math.NaN(), "x", uint16(0xffff), -1, int64(-1), -1, uint16(0xffff), -1, -1, "y", -1, int64(-1), int64(-1), -1)
	f.Fuzz(func(t *testing.T, maxAttempts int, initial, maxDelay int64, mult float64, jitter string, retryOn uint16,
		failureThreshold int, recoveryTimeout int64, successThreshold int, excluded uint16,
		rpm, burst int, strategy string, queue int, timeout, checkInterval int64, recoveryAttempts int) {
		c := runtime.Config{
			Retry: runtime.RetryConfig{MaxAttempts: maxAttempts, InitialDelay: time.Duration(initial), MaxDelay: time.Duration(maxDelay),
				BackoffMultiplier: mult, Jitter: runtime.Jitter(jitter), RetryOn: runtime.Matcher{Classes: runtime.Class(retryOn)}},
			CircuitBreaker: runtime.CircuitBreakerConfig{FailureThreshold: failureThreshold, RecoveryTimeout: time.Duration(recoveryTimeout),
				SuccessThreshold: successThreshold, Excluded: runtime.Matcher{Classes: runtime.Class(excluded)}},
			RateLimit: runtime.RateLimitConfig{MaxRequestsPerMinute: rpm, BurstSize: burst, Strategy: runtime.Strategy(strategy), MaxQueueSize: queue},
			Timeout:   runtime.TimeoutConfig{Duration: time.Duration(timeout)},
			Recovery:  runtime.RecoveryConfig{CheckInterval: time.Duration(checkInterval), MaxAttempts: recoveryAttempts},
		}
		if err := c.Validate(); err != nil {
			var fe *runtime.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate's error has no *FieldError: %v", err)
			}
			return
		}
		n := c.Normalize()
		if err := n.Validate(); err != nil {
			t.Fatalf("Normalize of a valid Config is invalid: %v\n%+v", err, n)
		}
		r, b, l := n.Retry, n.CircuitBreaker, n.RateLimit
		switch {
		case r.MaxAttempts < 1, r.InitialDelay <= 0, r.MaxDelay < r.InitialDelay, !(r.BackoffMultiplier >= 1),
			math.IsInf(r.BackoffMultiplier, 0), r.RetryOn.Classes == 0:
			t.Fatalf("unusable retry config %+v", r)
		case b.FailureThreshold < 1, b.RecoveryTimeout <= 0, b.SuccessThreshold < 1:
			t.Fatalf("unusable breaker config %+v", b)
		case l.MaxRequestsPerMinute < 1, l.BurstSize < 1, (l.Strategy == runtime.StrategyQueue) != (l.MaxQueueSize >= 1):
			t.Fatalf("unusable rate limit config %+v", l)
		case n.Timeout.Duration <= 0, n.Recovery.CheckInterval <= 0, n.Recovery.MaxAttempts < 1:
			t.Fatalf("unusable timeout or recovery config %+v %+v", n.Timeout, n.Recovery)
		}
		if !slices.Contains([]runtime.Jitter{runtime.JitterNone, runtime.JitterFull, runtime.JitterEqual, runtime.JitterDecorrelated}, r.Jitter) {
			t.Fatalf("unknown jitter %q", r.Jitter)
		}
		if !slices.Contains([]runtime.Strategy{runtime.StrategyWait, runtime.StrategyDrop, runtime.StrategyQueue}, l.Strategy) {
			t.Fatalf("unknown strategy %q", l.Strategy)
		}
		if n2 := n.Normalize(); !reflect.DeepEqual(n2, n) {
			t.Fatalf("Normalize is not idempotent:\n%+v\n%+v", n, n2)
		}
	})
}
