package runtime

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Setting is one policy value written as text, by its directive name: a
// directive's key=value, a key of resgen.yaml or of a run-time override
// file. Apply turns it into a Config field, so that every source of
// configuration shares one set of keys, types and ranges.
//
// A Setting with an empty Key switches its policy: Value "off" disables it,
// "on" enables it. Any other Setting of a policy also enables it.
type Setting struct {
	Policy string // retry, retry_budget, circuit_breaker, throttle, concurrency, rate_limit, timeout, recovery
	Key    string // max_attempts, ...; empty to switch the policy on or off
	Value  string
}

// keyKind is the type of a setting's value.
type keyKind int

const (
	kindInt keyKind = iota
	kindDuration
	kindFloat
	kindBool
	kindJitter
	kindStrategy
	kindClasses
	kindWord
	kindFraction // a number in (0, 1]
	kindPositive // a number above 0
	kindConcurrencyStrategy
)

type keySpec struct {
	kind keyKind
	set  func(c *Config, v any)
}

// policyKeys is the table of every key of every policy: the single source of
// truth for directives, resgen.yaml and run-time overrides.
var policyKeys = map[string]map[string]keySpec{
	"retry": {
		"max_attempts":       {kindInt, func(c *Config, v any) { c.Retry.MaxAttempts = v.(int) }},
		"initial_delay":      {kindDuration, func(c *Config, v any) { c.Retry.InitialDelay = v.(time.Duration) }},
		"max_delay":          {kindDuration, func(c *Config, v any) { c.Retry.MaxDelay = v.(time.Duration) }},
		"backoff_multiplier": {kindFloat, func(c *Config, v any) { c.Retry.BackoffMultiplier = v.(float64) }},
		"jitter":             {kindJitter, func(c *Config, v any) { c.Retry.Jitter = v.(Jitter) }},
		"retry_on":           {kindClasses, func(c *Config, v any) { c.Retry.RetryOn = Matcher{Classes: v.(Class)} }},
	},
	"circuit_breaker": {
		"failure_threshold":        {kindInt, func(c *Config, v any) { c.CircuitBreaker.FailureThreshold = v.(int) }},
		"recovery_timeout":         {kindDuration, func(c *Config, v any) { c.CircuitBreaker.RecoveryTimeout = v.(time.Duration) }},
		"initial_recovery_timeout": {kindDuration, func(c *Config, v any) { c.CircuitBreaker.InitialRecoveryTimeout = v.(time.Duration) }},
		"success_threshold":        {kindInt, func(c *Config, v any) { c.CircuitBreaker.SuccessThreshold = v.(int) }},
		"excluded_errors":          {kindClasses, func(c *Config, v any) { c.CircuitBreaker.Excluded = Matcher{Classes: v.(Class)} }},
		"group":                    {kindWord, func(c *Config, v any) { c.CircuitBreaker.Group = v.(string) }},
	},
	"rate_limit": {
		"max_requests_per_minute": {kindInt, func(c *Config, v any) { c.RateLimit.MaxRequestsPerMinute = v.(int) }},
		"burst_size":              {kindInt, func(c *Config, v any) { c.RateLimit.BurstSize = v.(int) }},
		"per_host":                {kindBool, func(c *Config, v any) { c.RateLimit.Global = !v.(bool) }},
		"backpressure_strategy": {kindStrategy, func(c *Config, v any) {
			c.RateLimit.Strategy = v.(Strategy)
			if c.RateLimit.Strategy != StrategyQueue {
				c.RateLimit.MaxQueueSize = 0
			}
		}},
		"max_queue_size": {kindInt, func(c *Config, v any) { c.RateLimit.MaxQueueSize = v.(int) }},
		"adaptive":       {kindBool, func(c *Config, v any) { c.RateLimit.Adaptive = v.(bool) }},
	},
	"timeout": {
		"duration": {kindDuration, func(c *Config, v any) { c.Timeout.Duration = v.(time.Duration) }},
	},
	"recovery": {
		"enable_connection_recovery":      {kindBool, func(c *Config, v any) { c.Recovery.DisableConnectionRecovery = !v.(bool) }},
		"enable_credential_refresh":       {kindBool, func(c *Config, v any) { c.Recovery.DisableCredentialRefresh = !v.(bool) }},
		"enable_schema_adaptation":        {kindBool, func(c *Config, v any) { c.Recovery.DisableSchemaAdaptation = !v.(bool) }},
		"enable_partial_failure_recovery": {kindBool, func(c *Config, v any) { c.Recovery.DisablePartialFailureRecovery = !v.(bool) }},
		"recovery_check_interval":         {kindDuration, func(c *Config, v any) { c.Recovery.CheckInterval = v.(time.Duration) }},
		"max_recovery_attempts":           {kindInt, func(c *Config, v any) { c.Recovery.MaxAttempts = v.(int) }},
	},
	"throttle":     throttleKeys,
	"retry_budget": retryBudgetKeys,
	"concurrency":  concurrencyKeys,
}

// Policies returns the names of the policies, sorted.
func Policies() []string { return sortedKeys(policyKeys) }

// Keys returns the keys of a policy, sorted, or nil for an unknown policy.
func Keys(policy string) []string {
	keys, ok := policyKeys[policy]
	if !ok {
		return nil
	}
	return sortedKeys(keys)
}

// ClassNames returns the names accepted in retry_on and excluded_errors.
func ClassNames() []string {
	names := make([]string, 0, len(classNames)+2)
	for _, n := range classNames {
		if _, ok := ParseClass(n.name); ok { // not "canceled"
			names = append(names, n.name)
		}
	}
	return append(names, "any", "none")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Apply sets the field that s names. It checks the value's type and range
// and reports problems with the directive and YAML key names; it does not check the
// Config as a whole (Validate does).
func (c *Config) Apply(s Setting) error {
	keys, ok := policyKeys[s.Policy]
	if !ok {
		return fmt.Errorf("unknown policy %q%s", s.Policy, Suggest(s.Policy, Policies()))
	}
	if s.Key == "" {
		switch s.Value {
		case "off":
			c.setDisabled(s.Policy, true)
		case "on":
			c.setDisabled(s.Policy, false)
		default:
			return fmt.Errorf("%s: want on or off, not %q", s.Policy, s.Value)
		}
		return nil
	}
	spec, ok := keys[s.Key]
	if !ok {
		return fmt.Errorf("unknown key %q for %s%s", s.Key, s.Policy, Suggest(s.Key, Keys(s.Policy)))
	}
	v, err := parseValue(spec.kind, s.Value)
	if err != nil {
		name := s.Policy + "." + s.Key
		if s.Policy == "timeout" {
			name = "timeout"
		}
		return fmt.Errorf("%s: %v", name, err)
	}
	if s.Key == "retry_on" && v.(Class) == 0 {
		return fmt.Errorf("retry.retry_on: none retries nothing; write retry off instead")
	}
	c.setDisabled(s.Policy, false)
	spec.set(c, v)
	return nil
}

func (c *Config) setDisabled(policy string, off bool) {
	switch policy {
	case "retry":
		c.Retry.Disabled = off
	case "circuit_breaker":
		c.CircuitBreaker.Disabled = off
	case "rate_limit":
		c.RateLimit.Disabled = off
	case "timeout":
		c.Timeout.Disabled = off
	case "recovery":
		c.Recovery.Disabled = off
	case "throttle":
		c.Throttle.Disabled = off
	case "retry_budget":
		c.RetryBudget.Disabled = off
	case "concurrency":
		c.Concurrency.Disabled = off
	}
}

func parseValue(kind keyKind, s string) (any, error) {
	switch kind {
	case kindInt:
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("want a whole number, not %q", s)
		}
		if n < 1 {
			return nil, fmt.Errorf("must be at least 1, not %d", n)
		}
		return n, nil
	case kindDuration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("want a duration such as 500ms or 2s, not %q", s)
		}
		if d <= 0 {
			return nil, fmt.Errorf("must be positive, not %v", d)
		}
		return d, nil
	case kindFloat:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("want a number, not %q", s)
		}
		if f < 1 {
			return nil, fmt.Errorf("must be at least 1, not %v", f)
		}
		return f, nil
	case kindFraction, kindPositive:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("want a number, not %q", s)
		}
		if f <= 0 {
			return nil, fmt.Errorf("must be more than 0, not %v", f)
		}
		if kind == kindFraction && f > 1 {
			return nil, fmt.Errorf("must be at most 1, not %v", f)
		}
		return f, nil
	case kindBool:
		switch s {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("want true or false, not %q", s)
	case kindJitter:
		switch j := Jitter(s); j {
		case JitterNone, JitterFull, JitterEqual, JitterDecorrelated:
			return j, nil
		case "true":
			return JitterFull, nil
		case "false":
			return JitterNone, nil
		}
		return nil, fmt.Errorf("unknown jitter %q (want none, full, equal or decorrelated)%s",
			s, Suggest(s, []string{"none", "full", "equal", "decorrelated"}))
	case kindStrategy:
		switch st := Strategy(s); st {
		case StrategyWait, StrategyDrop, StrategyQueue:
			return st, nil
		}
		return nil, fmt.Errorf("unknown strategy %q (want wait, drop or queue)%s",
			s, Suggest(s, []string{"wait", "drop", "queue"}))
	case kindClasses:
		return ParseClasses(s)
	case kindConcurrencyStrategy:
		return parseConcurrencyStrategy(s)
	case kindWord:
		if s == "" || strings.ContainsAny(s, " \t,=") {
			return nil, fmt.Errorf("want a single word, not %q", s)
		}
		return s, nil
	}
	panic("unreachable")
}

// ParseClasses parses a comma-separated list of error class names
// (transient, timeout, connection, rate_limited, server, auth, schema,
// permanent, unknown, any, none); spaces around a name are ignored.
func ParseClasses(list string) (Class, error) {
	var set Class
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		c, ok := ParseClass(name)
		if !ok {
			return 0, fmt.Errorf("unknown error class %q%s", name, Suggest(name, ClassNames()))
		}
		set |= c
	}
	return set, nil
}

// Suggest returns ` (did you mean "x"?)` when one of candidates is close to
// word, and "" otherwise.
func Suggest(word string, candidates []string) string {
	best, bestDist := "", 0
	for _, c := range candidates {
		d := editDistance(word, c)
		if best == "" || d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" || bestDist > max(1, len(word)/3) || bestDist == 0 {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the number of edits that turn a into b: insertions,
// deletions, substitutions and swaps of two adjacent bytes (the optimal
// string alignment distance), so that "retyr" is one edit from "retry".
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1) // row i-2
	prev := make([]int, len(b)+1)  // row i-1
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
