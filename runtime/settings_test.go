package runtime_test

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resgen-dev/resgen/internal/tooling"
	"github.com/resgen-dev/resgen/runtime"
)

// policyDisabled reads each policy's Disabled field.
var policyDisabled = map[string]func(runtime.Config) bool{
	"retry":           func(c runtime.Config) bool { return c.Retry.Disabled },
	"circuit_breaker": func(c runtime.Config) bool { return c.CircuitBreaker.Disabled },
	"rate_limit":      func(c runtime.Config) bool { return c.RateLimit.Disabled },
	"timeout":         func(c runtime.Config) bool { return c.Timeout.Disabled },
	"recovery":        func(c runtime.Config) bool { return c.Recovery.Disabled },
	"throttle":        func(c runtime.Config) bool { return c.Throttle.Disabled },
	"retry_budget":    func(c runtime.Config) bool { return c.RetryBudget.Disabled },
	"concurrency":     func(c runtime.Config) bool { return c.Concurrency.Disabled },
}

// allPoliciesOff is a Config with every policy policyDisabled.
func allPoliciesOff() runtime.Config {
	var c runtime.Config
	c.Retry.Disabled = true
	c.CircuitBreaker.Disabled = true
	c.RateLimit.Disabled = true
	c.Timeout.Disabled = true
	c.Recovery.Disabled = true
	c.Throttle.Disabled = true
	c.RetryBudget.Disabled = true
	c.Concurrency.Disabled = true
	return c
}

type applyValid struct {
	value string
	want  any // what get returns after Apply
}

// keyCase is the test of one key: valid values with what they set, and
// invalid values that must be rejected with the key's name.
type keyCase struct {
	name    string // the key's name in errors
	get     func(runtime.Config) any
	valid   []applyValid
	invalid []string
}

var (
	badInt      = []string{"", "abc", "0", "-1", "1.5", "3x", "99999999999999999999999"}
	badDuration = []string{"", "abc", "0", "0s", "-1s", "5", "1 s", "9999999999h"}
	badBool     = []string{"", "yes", "1", "TRUE", "on"}
	badFraction = []string{"", "abc", "0", "-0.5", "1.01", "2", "NaN", "Inf"}
	badPositive = []string{"", "abc", "0", "-1", "NaN", "-Inf"}
)

var keyCases = map[string]keyCase{
	"retry.max_attempts": {"retry.max_attempts", func(c runtime.Config) any { return c.Retry.MaxAttempts },
		[]applyValid{{"1", 1}, {"7", 7}, {"+3", 3}}, badInt},
	"retry.initial_delay": {"retry.initial_delay", func(c runtime.Config) any { return c.Retry.InitialDelay },
		[]applyValid{{"500ms", 500 * time.Millisecond}, {"1.5s", 1500 * time.Millisecond}, {"1ns", time.Nanosecond}}, badDuration},
	"retry.max_delay": {"retry.max_delay", func(c runtime.Config) any { return c.Retry.MaxDelay },
		[]applyValid{{"2m", 2 * time.Minute}}, badDuration},
	"retry.backoff_multiplier": {"retry.backoff_multiplier", func(c runtime.Config) any { return c.Retry.BackoffMultiplier },
		[]applyValid{{"1", 1.0}, {"1.5", 1.5}, {"3", 3.0}},
		[]string{"", "abc", "0", "0.99", "-2", "NaN", "Inf", "+Inf", "1e400"}},
	"retry.jitter": {"retry.jitter", func(c runtime.Config) any { return c.Retry.Jitter },
		[]applyValid{{"none", runtime.JitterNone}, {"full", runtime.JitterFull}, {"equal", runtime.JitterEqual},
			{"decorrelated", runtime.JitterDecorrelated}, {"true", runtime.JitterFull}, {"false", runtime.JitterNone}},
		[]string{"", "random", "Full", "1"}},
	"retry.retry_on": {"retry.retry_on", func(c runtime.Config) any { return c.Retry.RetryOn.Classes },
		[]applyValid{{"transient", runtime.ClassesTransient}, {"any", runtime.ClassesAll},
			{"timeout,server", runtime.ClassTimeout | runtime.ClassServer}},
		[]string{"", "none", "transint", "canceled", "timeout,"}},
	"circuit_breaker.failure_threshold": {"circuit_breaker.failure_threshold",
		func(c runtime.Config) any { return c.CircuitBreaker.FailureThreshold }, []applyValid{{"3", 3}}, badInt},
	"circuit_breaker.recovery_timeout": {"circuit_breaker.recovery_timeout",
		func(c runtime.Config) any { return c.CircuitBreaker.RecoveryTimeout }, []applyValid{{"45s", 45 * time.Second}}, badDuration},
	"circuit_breaker.success_threshold": {"circuit_breaker.success_threshold",
		func(c runtime.Config) any { return c.CircuitBreaker.SuccessThreshold }, []applyValid{{"1", 1}}, badInt},
	"circuit_breaker.excluded_errors": {"circuit_breaker.excluded_errors",
		func(c runtime.Config) any { return c.CircuitBreaker.Excluded.Classes },
		[]applyValid{{"schema,auth", runtime.ClassSchema | runtime.ClassAuth}, {"none", runtime.Class(0)}},
		[]string{"", "schemas", "canceled"}},
	"circuit_breaker.group": {"circuit_breaker.group", func(c runtime.Config) any { return c.CircuitBreaker.Group },
		[]applyValid{{"payments", "payments"}}, []string{"", "a b", "a,b", "a=b", "a\tb"}},
	"rate_limit.max_requests_per_minute": {"rate_limit.max_requests_per_minute",
		func(c runtime.Config) any { return c.RateLimit.MaxRequestsPerMinute }, []applyValid{{"600", 600}}, badInt},
	"rate_limit.burst_size": {"rate_limit.burst_size", func(c runtime.Config) any { return c.RateLimit.BurstSize },
		[]applyValid{{"1", 1}, {"20", 20}}, badInt},
	"rate_limit.per_host": {"rate_limit.per_host", func(c runtime.Config) any { return c.RateLimit.Global },
		[]applyValid{{"false", true}, {"true", false}}, badBool},
	"rate_limit.backpressure_strategy": {"rate_limit.backpressure_strategy", func(c runtime.Config) any { return c.RateLimit.Strategy },
		[]applyValid{{"wait", runtime.StrategyWait}, {"drop", runtime.StrategyDrop}, {"queue", runtime.StrategyQueue}},
		[]string{"", "block", "Queue"}},
	"rate_limit.max_queue_size": {"rate_limit.max_queue_size", func(c runtime.Config) any { return c.RateLimit.MaxQueueSize },
		[]applyValid{{"50", 50}}, badInt},
	"timeout.duration": {"timeout", func(c runtime.Config) any { return c.Timeout.Duration },
		[]applyValid{{"5s", 5 * time.Second}, {"250ms", 250 * time.Millisecond}}, badDuration},
	"recovery.enable_connection_recovery": {"recovery.enable_connection_recovery",
		func(c runtime.Config) any { return c.Recovery.DisableConnectionRecovery }, []applyValid{{"false", true}, {"true", false}}, badBool},
	"recovery.enable_credential_refresh": {"recovery.enable_credential_refresh",
		func(c runtime.Config) any { return c.Recovery.DisableCredentialRefresh }, []applyValid{{"false", true}, {"true", false}}, badBool},
	"recovery.enable_schema_adaptation": {"recovery.enable_schema_adaptation",
		func(c runtime.Config) any { return c.Recovery.DisableSchemaAdaptation }, []applyValid{{"false", true}, {"true", false}}, badBool},
	"recovery.enable_partial_failure_recovery": {"recovery.enable_partial_failure_recovery",
		func(c runtime.Config) any { return c.Recovery.DisablePartialFailureRecovery }, []applyValid{{"false", true}, {"true", false}}, badBool},
	"recovery.recovery_check_interval": {"recovery.recovery_check_interval",
		func(c runtime.Config) any { return c.Recovery.CheckInterval }, []applyValid{{"10s", 10 * time.Second}}, badDuration},
	"circuit_breaker.initial_recovery_timeout": {"circuit_breaker.initial_recovery_timeout",
		func(c runtime.Config) any { return c.CircuitBreaker.InitialRecoveryTimeout }, []applyValid{{"500ms", 500 * time.Millisecond}}, badDuration},
	"throttle.multiplier": {"throttle.multiplier", func(c runtime.Config) any { return c.Throttle.Multiplier },
		[]applyValid{{"2", 2.0}, {"1.5", 1.5}, {"1", 1.0}}, []string{"", "abc", "0", "0.5", "-2", "NaN", "Inf"}},
	"throttle.window": {"throttle.window", func(c runtime.Config) any { return c.Throttle.Window },
		[]applyValid{{"2s", 2 * time.Second}}, badDuration},
	"throttle.max_rejection": {"throttle.max_rejection", func(c runtime.Config) any { return c.Throttle.MaxRejection },
		[]applyValid{{"0.9", 0.9}, {"1", 1.0}, {"0.01", 0.01}}, badFraction},
	"retry_budget.ratio": {"retry_budget.ratio", func(c runtime.Config) any { return c.RetryBudget.Ratio },
		[]applyValid{{"0.2", 0.2}, {"1", 1.0}, {"3", 3.0}}, badPositive},
	"retry_budget.min_retries_per_second": {"retry_budget.min_retries_per_second",
		func(c runtime.Config) any { return c.RetryBudget.MinPerSecond }, []applyValid{{"10", 10}, {"1", 1}}, badInt},
	"retry_budget.window": {"retry_budget.window", func(c runtime.Config) any { return c.RetryBudget.Window },
		[]applyValid{{"10s", 10 * time.Second}}, badDuration},
	"retry.idempotent": {"retry.idempotent", func(c runtime.Config) any { return c.Retry.NonIdempotent },
		[]applyValid{{"false", true}, {"true", false}}, badBool},
	"rate_limit.adaptive": {"rate_limit.adaptive", func(c runtime.Config) any { return c.RateLimit.Adaptive },
		[]applyValid{{"true", true}, {"false", false}}, badBool},
	"concurrency.max_in_flight": {"concurrency.max_in_flight", func(c runtime.Config) any { return c.Concurrency.MaxInFlight },
		[]applyValid{{"64", 64}, {"1", 1}}, badInt},
	"concurrency.min_in_flight": {"concurrency.min_in_flight", func(c runtime.Config) any { return c.Concurrency.MinInFlight },
		[]applyValid{{"8", 8}}, badInt},
	"concurrency.adaptive": {"concurrency.adaptive", func(c runtime.Config) any { return c.Concurrency.Fixed },
		[]applyValid{{"false", true}, {"true", false}}, badBool},
	"concurrency.backpressure_strategy": {"concurrency.backpressure_strategy",
		func(c runtime.Config) any { return c.Concurrency.Strategy },
		[]applyValid{{"wait", runtime.StrategyWait}, {"drop", runtime.StrategyDrop}}, []string{"", "queue", "Wait", "dorp", "reject"}},
	"concurrency.group": {"concurrency.group", func(c runtime.Config) any { return c.Concurrency.Group },
		[]applyValid{{"db", "db"}}, []string{"", "a b", "a,b", "a=b"}},
	"recovery.max_recovery_attempts": {"recovery.max_recovery_attempts",
		func(c runtime.Config) any { return c.Recovery.MaxAttempts }, []applyValid{{"5", 5}}, badInt},
}

func TestPoliciesAndKeys(t *testing.T) {
	assert.Equal(t, []string{"circuit_breaker", "concurrency", "rate_limit", "recovery", "retry", "retry_budget", "throttle", "timeout"}, tooling.PolicyNames())
	for _, p := range tooling.PolicyNames() {
		keys := tooling.Keys(p)
		assert.NotEmpty(t, keys, p)
		assert.True(t, slices.IsSorted(keys), "Keys(%q) is sorted", p)
	}
	assert.Nil(t, tooling.Keys("retries"))
}

// TestApplyEveryKey iterates over every key of every policy, so that a key
// added without a test fails here.
func TestApplyEveryKey(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range tooling.PolicyNames() {
		for _, k := range tooling.Keys(p) {
			id := p + "." + k
			seen[id] = true
			kc, ok := keyCases[id]
			if !ok {
				t.Errorf("no test for key %s", id)
				continue
			}
			t.Run(id, func(t *testing.T) {
				require.NotEmpty(t, kc.valid)
				require.NotEmpty(t, kc.invalid)
				for _, v := range kc.valid {
					// The policy is off: a key setting switches it on again.
					c := allPoliciesOff()
					require.NoError(t, c.Apply(runtime.Setting{Policy: p, Key: k, Value: v.value}), "value %q", v.value)
					assert.Equal(t, v.want, kc.get(c), "value %q", v.value)
					assert.False(t, policyDisabled[p](c), "%s=%s re-enables %s", id, v.value, p)
					for q, off := range policyDisabled {
						if q != p {
							assert.True(t, off(c), "%s=%s enabled %s too", id, v.value, q)
						}
					}
				}
				for _, v := range kc.invalid {
					c := allPoliciesOff()
					before := c
					err := c.Apply(runtime.Setting{Policy: p, Key: k, Value: v})
					require.Error(t, err, "value %q", v)
					assert.Regexp(t, "^"+kc.name+": ", err.Error(), "value %q: the error names the key", v)
					assert.True(t, reflect.DeepEqual(before, c), "a rejected value %q changed the Config", v)
				}
			})
		}
	}
	for id := range keyCases {
		if !seen[id] {
			t.Errorf("test for key %s, which Keys does not list", id)
		}
	}
}

func TestApplyRetryOnNoneRejected(t *testing.T) {
	var c runtime.Config
	err := c.Apply(runtime.Setting{Policy: "retry", Key: "retry_on", Value: "none"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "retry.retry_on")
	assert.Contains(t, err.Error(), "retry off")
	assert.Zero(t, c.Retry.RetryOn.Classes)
}

func TestApplyOnOff(t *testing.T) {
	for _, p := range tooling.PolicyNames() {
		t.Run(p, func(t *testing.T) {
			isOff, ok := policyDisabled[p]
			require.True(t, ok, "no Disabled field known for policy %s", p)
			var c runtime.Config
			require.NoError(t, c.Apply(runtime.Setting{Policy: p, Value: "off"}))
			assert.True(t, isOff(c))
			for q, off := range policyDisabled {
				if q != p {
					assert.False(t, off(c), "switching %s off switched %s off", p, q)
				}
			}
			require.NoError(t, c.Apply(runtime.Setting{Policy: p, Value: "on"}))
			assert.False(t, isOff(c))
			assert.True(t, reflect.DeepEqual(runtime.Config{}, c), "off then on leaves nothing behind")

			for _, bad := range []string{"", "policyDisabled", "OFF", "false"} {
				err := c.Apply(runtime.Setting{Policy: p, Value: bad})
				require.Error(t, err, "value %q", bad)
				assert.Contains(t, err.Error(), p)
				assert.Contains(t, err.Error(), "want on or off")
			}
		})
	}
}

func TestApplyOffKeepsValues(t *testing.T) {
	c := runtime.Config{Retry: runtime.RetryConfig{MaxAttempts: 7}}
	require.NoError(t, c.Apply(runtime.Setting{Policy: "retry", Value: "off"}))
	require.NoError(t, c.Apply(runtime.Setting{Policy: "retry", Value: "on"}))
	assert.Equal(t, 7, c.Retry.MaxAttempts)
}

func TestApplyUnknownNames(t *testing.T) {
	tests := []struct {
		s    runtime.Setting
		want string
	}{
		{runtime.Setting{Policy: "retyr", Key: "max_attempts", Value: "3"}, `unknown policy "retyr" (did you mean "retry"?)`},
		{runtime.Setting{Policy: "circuitbreaker", Value: "off"}, `unknown policy "circuitbreaker" (did you mean "circuit_breaker"?)`},
		{runtime.Setting{Policy: "bulkhead", Value: "off"}, `unknown policy "bulkhead"`},
		{runtime.Setting{Policy: "retry", Key: "max_attempt", Value: "3"}, `unknown key "max_attempt" for retry (did you mean "max_attempts"?)`},
		{runtime.Setting{Policy: "rate_limit", Key: "burst", Value: "3"}, `unknown key "burst" for rate_limit`},
		{runtime.Setting{Policy: "rate_limit", Key: "max_request_per_minute", Value: "3"}, `(did you mean "max_requests_per_minute"?)`},
		{runtime.Setting{Policy: "timeout", Key: "durration", Value: "1s"}, `(did you mean "duration"?)`},
		{runtime.Setting{Policy: "retry", Key: "jitter", Value: "ful"}, `retry.jitter: unknown jitter "ful"`},
		{runtime.Setting{Policy: "retry", Key: "jitter", Value: "equl"}, `(did you mean "equal"?)`},
		{runtime.Setting{Policy: "rate_limit", Key: "backpressure_strategy", Value: "droop"}, `(did you mean "drop"?)`},
		{runtime.Setting{Policy: "retry", Key: "retry_on", Value: "transient,servr"}, `(did you mean "server"?)`},
	}
	for _, tt := range tests {
		var c runtime.Config
		err := c.Apply(tt.s)
		require.Error(t, err, "%+v", tt.s)
		assert.Contains(t, err.Error(), tt.want)
		assert.True(t, reflect.DeepEqual(runtime.Config{}, c), "a rejected %+v changed the Config", tt.s)
	}
	// Far from every name: no suggestion.
	var c runtime.Config
	err := c.Apply(runtime.Setting{Policy: "bulkhead", Value: "off"})
	assert.NotContains(t, err.Error(), "did you mean")
	err = c.Apply(runtime.Setting{Policy: "retry", Key: "zzzzzzzz", Value: "1"})
	assert.NotContains(t, err.Error(), "did you mean")
}

func TestApplyBackpressureStrategyClearsQueueSize(t *testing.T) {
	var c runtime.Config
	require.NoError(t, c.Apply(runtime.Setting{Policy: "rate_limit", Key: "max_queue_size", Value: "5"}))
	require.NoError(t, c.Apply(runtime.Setting{Policy: "rate_limit", Key: "backpressure_strategy", Value: "queue"}))
	assert.Equal(t, 5, c.RateLimit.MaxQueueSize, "queue keeps the size set before it")
	require.NoError(t, c.Validate())
	// An override that switches a queue profile to wait must leave a valid Config.
	require.NoError(t, c.Apply(runtime.Setting{Policy: "rate_limit", Key: "backpressure_strategy", Value: "wait"}))
	assert.Zero(t, c.RateLimit.MaxQueueSize)
	assert.NoError(t, c.Validate())
}

func TestApplyThenValidateWholeConfig(t *testing.T) {
	// Apply checks each value; Validate checks how they fit together.
	var c runtime.Config
	require.NoError(t, c.Apply(runtime.Setting{Policy: "retry", Key: "initial_delay", Value: "10s"}))
	require.NoError(t, c.Apply(runtime.Setting{Policy: "retry", Key: "max_delay", Value: "1s"}))
	err := c.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "retry.max_delay: 1s is less than retry.initial_delay 10s")
}

func TestSuggest(t *testing.T) {
	candidates := []string{"max_attempts", "max_delay", "initial_delay", "jitter"}
	tests := []struct {
		word string
		want string
	}{
		{"max_attempt", ` (did you mean "max_attempts"?)`},
		{"Max_Attempts", ` (did you mean "max_attempts"?)`},         // distance 2, threshold 12/3 = 4
		{"max_delya", ` (did you mean "max_delay"?)`},               // a swap is one edit
		{"jiter", ` (did you mean "jitter"?)`},                      // threshold max(1, 5/3) = 1
		{"jttr", ""},                                                // distance 2 > max(1, 4/3)
		{"max_attempts", ""},                                        // an exact match needs no suggestion
		{"timeout", ""},                                             // far from everything
		{"", ""},                                                    // every candidate is further than 1
		{"initial_delay_xyzab", ` (did you mean "initial_delay"?)`}, // distance 6, threshold 19/3 = 6
		{"initial_delay_xyzabc", ""},                                // distance 7, threshold 20/3 = 6
		{"jitetr", ` (did you mean "jitter"?)`},                     // a swap is one edit
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tooling.Suggest(tt.word, candidates), "Suggest(%q)", tt.word)
	}
	assert.Equal(t, "", tooling.Suggest("anything", nil))
	// Ties go to the first candidate.
	assert.Equal(t, ` (did you mean "cat"?)`, tooling.Suggest("bat", []string{"cat", "hat"}))
	assert.Equal(t, ` (did you mean "hat"?)`, tooling.Suggest("bat", []string{"hat", "cat"}))
	// Short words get one edit, a swap included.
	assert.Equal(t, ` (did you mean "retry"?)`, tooling.Suggest("retyr", []string{"retry", "timeout"}))
	assert.Equal(t, "", tooling.Suggest("ertyr", []string{"retry"}), "two swaps are two edits")
	// A one-letter word: threshold 1.
	assert.Equal(t, ` (did you mean "a"?)`, tooling.Suggest("b", []string{"a"}))
	assert.Equal(t, "", tooling.Suggest("b", []string{"abc"}))
}
