package runtime

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/resgen-dev/resgen/internal/tooling"
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
	kindEnum // one of the key's Values
	kindClasses
	kindWord
	kindFraction // a number in (0, 1]
	kindPositive // a number above 0
)

// policyDesc describes one policy: the single source of truth for its
// directive, its block of resgen.yaml and of run-time files, and for what
// resgen's tools print of it (resgen init, resgen profiles, the doc
// comments and the Config literal of generated code). The policies table
// lists every policy; a policy with a file of its own (overload.go)
// declares its descriptor there.
type policyDesc struct {
	Name  string // in directives, resgen.yaml and run-time files: retry_budget
	Field string // its field of Config: RetryBudget
	Type  string // the type of that field: RetryBudgetConfig
	// Positional is the key that its directive and YAML block take as a
	// bare value (timeout 5s), or "".
	Positional string
	Keys       []keyDesc
	index      int // of Field in Config
	// normalize and validate, when set, are the policy's part of
	// Config.Normalize and Config.Validate: a policy in a file of its own
	// brings them (ThrottleConfig.normalize).
	normalize func(c *Config)
	validate  func(c Config, bad func(field, format string, args ...any))
}

// keyDesc describes one key of a policy.
type keyDesc struct {
	Name  string // in directives and YAML: max_attempts
	Field string // the Go field of the policy's config: MaxAttempts
	Doc   string // what it means, one line, lower case: for resgen init and resgen profiles
	// Unset says what no value means, for a key whose value may be
	// absent (a breaker group, the queue of another strategy): printed
	// as "# key: Unset". Example is a value to show commented out.
	Unset, Example string
	// Values are the words an enum key takes: its Go type is a string
	// type whose constants are named after them (Jitter "full" is
	// JitterFull). aliases are other words for some of them.
	Values  []string
	aliases map[string]string
	kind    keyKind
	// negated keys are true when their Go field is false:
	// per_host=true is Global false.
	negated bool
	index   []int // of Field in Config
	// then runs after the key is set.
	then func(c *Config)
}

// policies is every policy, in the order resgen prints them.
var policies = []*policyDesc{
	{Name: "retry", Field: "Retry", Type: "RetryConfig", Keys: []keyDesc{
		{Name: "max_attempts", Field: "MaxAttempts", kind: kindInt, Doc: "attempts per call, the first one included"},
		{Name: "initial_delay", Field: "InitialDelay", kind: kindDuration, Doc: "delay before the second attempt"},
		{Name: "max_delay", Field: "MaxDelay", kind: kindDuration, Doc: "cap of every delay"},
		{Name: "backoff_multiplier", Field: "BackoffMultiplier", kind: kindFloat, Doc: "each delay is the previous one times this"},
		{Name: "jitter", Field: "Jitter", kind: kindEnum, Doc: "none, full, equal or decorrelated",
			Values: []string{"none", "full", "equal", "decorrelated"}, aliases: map[string]string{"true": "full", "false": "none"}},
		{Name: "retry_on", Field: "RetryOn", kind: kindClasses,
			Doc: "error classes retried: transient, timeout, connection, rate_limited, server, auth, schema, permanent, unknown or any"},
		{Name: "idempotent", Field: "NonIdempotent", kind: kindBool, negated: true,
			Doc:   "when not, a failed call is retried only if the request was never processed (refused, SafeToRetry, 429)",
			Unset: "true, a failed call may be sent again", Example: "false"},
	}},
	retryBudgetPolicy,
	{Name: "circuit_breaker", Field: "CircuitBreaker", Type: "CircuitBreakerConfig", Keys: []keyDesc{
		{Name: "failure_threshold", Field: "FailureThreshold", kind: kindInt,
			Doc: "failed calls in a row that open the breaker (overload answers count only when nothing succeeds)"},
		{Name: "initial_recovery_timeout", Field: "InitialRecoveryTimeout", kind: kindDuration,
			Doc: "how long it stays open the first time, before probes go through"},
		{Name: "recovery_timeout", Field: "RecoveryTimeout", kind: kindDuration,
			Doc: "the longest it stays open: each re-opening lasts 1.5 times the last"},
		{Name: "success_threshold", Field: "SuccessThreshold", kind: kindInt, Doc: "successful probes that close it again"},
		{Name: "excluded_errors", Field: "Excluded", kind: kindClasses, Doc: "error classes that do not count as failures"},
		{Name: "group", Field: "Group", kind: kindWord, Doc: "methods naming the same group share a breaker",
			Unset: "none, one breaker per wrapper", Example: "orders"},
	}},
	throttlePolicy,
	concurrencyPolicy,
	{Name: "rate_limit", Field: "RateLimit", Type: "RateLimitConfig", Keys: []keyDesc{
		{Name: "max_requests_per_minute", Field: "MaxRequestsPerMinute", kind: kindInt,
			Doc: "tokens a minute; every attempt, retries included, takes one"},
		{Name: "burst_size", Field: "BurstSize", kind: kindInt, Doc: "capacity of the bucket"},
		{Name: "per_host", Field: "Global", kind: kindBool, negated: true,
			Doc: "share one bucket per host among the wrappers of the process"},
		{Name: "backpressure_strategy", Field: "Strategy", kind: kindEnum, Doc: "without a token: wait, drop (fail at once) or queue",
			Values: []string{"wait", "drop", "queue"},
			then: func(c *Config) {
				if c.RateLimit.Strategy != StrategyQueue {
					c.RateLimit.MaxQueueSize = 0
				}
			}},
		{Name: "max_queue_size", Field: "MaxQueueSize", kind: kindInt, Doc: "waiters of the queue strategy",
			Unset: strconv.Itoa(defaultMaxQueueSize) + " with backpressure_strategy: queue", Example: strconv.Itoa(defaultMaxQueueSize)},
		{Name: "adaptive", Field: "Adaptive", kind: kindBool,
			Doc: "the rate follows the service's answers: a 429 cuts it, then it climbs back to max_requests_per_minute"},
	}},
	{Name: "timeout", Field: "Timeout", Type: "TimeoutConfig", Positional: "duration", Keys: []keyDesc{
		{Name: "duration", Field: "Duration", kind: kindDuration, Doc: "the limit of each attempt"},
	}},
	{Name: "recovery", Field: "Recovery", Type: "RecoveryConfig", Keys: []keyDesc{
		{Name: "enable_connection_recovery", Field: "DisableConnectionRecovery", kind: kindBool, negated: true,
			Doc: "call Reconnect(ctx) on connection errors"},
		{Name: "enable_credential_refresh", Field: "DisableCredentialRefresh", kind: kindBool, negated: true,
			Doc: "call RefreshCredentials(ctx) on auth errors, then try again"},
		{Name: "enable_schema_adaptation", Field: "DisableSchemaAdaptation", kind: kindBool, negated: true,
			Doc: "call AdaptSchema(ctx, err) on schema errors"},
		{Name: "enable_partial_failure_recovery", Field: "DisablePartialFailureRecovery", kind: kindBool, negated: true,
			Doc: "an error with Partial() bool returns its results"},
		{Name: "recovery_check_interval", Field: "CheckInterval", kind: kindDuration, Doc: "how often Ping(ctx) probes an open breaker"},
		{Name: "max_recovery_attempts", Field: "MaxAttempts", kind: kindInt, Doc: "recoveries tried per outage"},
	}},
}

// policyNamed returns the descriptor of the policy called name, or nil.
func policyNamed(name string) *policyDesc {
	for _, p := range policies {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// key returns the descriptor of the policy's key called name, or nil.
func (p *policyDesc) key(name string) *keyDesc {
	for i := range p.Keys {
		if p.Keys[i].Name == name {
			return &p.Keys[i]
		}
	}
	return nil
}

// Disabled reports whether the policy is switched off in c.
func (p *policyDesc) Disabled(c *Config) bool { return p.disabledField(c).Bool() }

// disabledField is the policy's Disabled field in c.
func (p *policyDesc) disabledField(c *Config) reflect.Value {
	return reflect.ValueOf(c).Elem().Field(p.index).FieldByName("Disabled")
}

// Value returns the key's value in c, as the key means it: the Go field's
// value, negated for a negated key (per_host is !Global).
func (k *keyDesc) Value(c *Config) any {
	v := k.GoValue(c)
	if b, ok := v.(bool); ok && k.negated {
		return !b
	}
	return v
}

// GoValue returns the value of the key's Go field in c: an int, a
// float64, a bool, a string, a time.Duration, a Class, or a value of an
// enum's string type (Jitter, Strategy).
func (k *keyDesc) GoValue(c *Config) any {
	return reflect.ValueOf(c).Elem().FieldByIndex(k.index).Interface()
}

// Text returns the key's value in c as a directive writes it, and as
// Apply reads it back: 3, 1m, 0.3, true, full, transient,auth. A value
// that is absent (the zero value of a word, a class set or a number, with
// Unset set) is "", and so is a bool with Unset whose Go field is false
// (idempotent=true, the default, is not written).
func (k *keyDesc) Text(c *Config) string {
	if b, ok := k.GoValue(c).(bool); ok && k.Unset != "" {
		if !b {
			return ""
		}
		return formatValue(k.Value(c), false)
	}
	return formatValue(k.Value(c), k.Unset != "")
}

// List reports whether the key's value is a list (of error classes),
// which YAML writes as [a, b].
func (k *keyDesc) List() bool { return k.kind == kindClasses }

// formatValue writes a key's value as directives and YAML write it.
// Durations are written as a directive would: 1m rather than 1m0s.
// omitZero writes a zero number or word as "".
func formatValue(v any, omitZero bool) string {
	switch v := v.(type) {
	case int:
		if v == 0 && omitZero {
			return ""
		}
		return strconv.Itoa(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		if !v && omitZero {
			return ""
		}
		return strconv.FormatBool(v)
	case string:
		return v
	case time.Duration:
		s := v.String()
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		return s
	case Class:
		return v.String()
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.String { // an enum
		return rv.String()
	}
	return fmt.Sprint(v)
}

// policyNames returns the names of the policies, sorted.
func policyNames() []string {
	names := make([]string, len(policies))
	for i, p := range policies {
		names[i] = p.Name
	}
	sort.Strings(names)
	return names
}

// keyNames returns the keys of a policy, sorted, or nil for an unknown policy.
func keyNames(policy string) []string {
	p := policyNamed(policy)
	if p == nil {
		return nil
	}
	names := make([]string, len(p.Keys))
	for i, k := range p.Keys {
		names[i] = k.Name
	}
	sort.Strings(names)
	return names
}

// classWords returns the names accepted in retry_on and excluded_errors.
func classWords() []string {
	names := make([]string, 0, len(classNames)+2)
	for _, n := range classNames {
		if _, ok := parseClass(n.name); ok { // not "canceled"
			names = append(names, n.name)
		}
	}
	return append(names, "any", "none")
}

// Apply sets the field that s names. It checks the value's type and range
// and reports problems with the directive and YAML key names; it does not check the
// Config as a whole (Validate does).
func (c *Config) Apply(s Setting) error {
	p := policyNamed(s.Policy)
	if p == nil {
		return fmt.Errorf("unknown policy %q%s", s.Policy, suggest(s.Policy, policyNames()))
	}
	if s.Key == "" {
		switch s.Value {
		case "off":
			p.disabledField(c).SetBool(true)
		case "on":
			p.disabledField(c).SetBool(false)
		default:
			return fmt.Errorf("%s: want on or off, not %q", s.Policy, s.Value)
		}
		return nil
	}
	k := p.key(s.Key)
	if k == nil {
		return fmt.Errorf("unknown key %q for %s%s", s.Key, s.Policy, suggest(s.Key, keyNames(s.Policy)))
	}
	v, err := k.parse(s.Value)
	if err != nil {
		name := s.Policy + "." + s.Key
		if s.Key == p.Positional {
			name = s.Policy
		}
		return fmt.Errorf("%s: %v", name, err)
	}
	if s.Key == "retry_on" && v.(Class) == 0 {
		return fmt.Errorf("retry.retry_on: none retries nothing; write retry off instead")
	}
	p.disabledField(c).SetBool(false)
	if b, ok := v.(bool); ok && k.negated {
		v = !b
	}
	f := reflect.ValueOf(c).Elem().FieldByIndex(k.index)
	f.Set(reflect.ValueOf(v).Convert(f.Type()))
	if k.kind == kindClasses {
		// A list replaces the Matcher whole: the Go identifiers of a
		// directive are not kept under a run-time override's classes.
		reflect.ValueOf(c).Elem().FieldByIndex(k.index[:len(k.index)-1]).FieldByName("Match").SetZero()
	}
	if k.then != nil {
		k.then(c)
	}
	return nil
}

// parse reads a value of the key: an int, a float64, a bool, a string, a
// time.Duration or a Class.
func (k *keyDesc) parse(s string) (any, error) {
	switch kind := k.kind; kind {
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
	case kindEnum:
		if v, ok := k.aliases[s]; ok {
			s = v
		}
		for _, v := range k.Values {
			if s == v {
				return s, nil
			}
		}
		_, noun, _ := strings.Cut(k.Name, "_") // backpressure_strategy: a strategy
		if noun == "" {
			noun = k.Name
		}
		return nil, fmt.Errorf("unknown %s %q (want %s)%s", noun, s, orList(k.Values), suggest(s, k.Values))
	case kindClasses:
		return parseClasses(s)
	case kindWord:
		if s == "" || strings.ContainsAny(s, " \t,=") {
			return nil, fmt.Errorf("want a single word, not %q", s)
		}
		return s, nil
	}
	panic("unreachable")
}

// orList writes words as "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// parseClasses parses a comma-separated list of error class names
// (transient, timeout, connection, rate_limited, server, auth, schema,
// permanent, unknown, any, none); spaces around a name are ignored.
func parseClasses(list string) (Class, error) { return parseClassList(list, false) }

// parseClassList is parseClasses, reading "canceled" too when reported is
// set: a class that Classify reports but that no setting takes.
func parseClassList(list string, reported bool) (Class, error) {
	var set Class
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		c, ok := parseClass(name)
		if !ok && reported && name == "canceled" {
			c, ok = ClassCanceled, true
		}
		if !ok {
			return 0, fmt.Errorf("unknown error class %q%s", name, suggest(name, classWords()))
		}
		set |= c
	}
	return set, nil
}

// suggest returns ` (did you mean "x"?)` when one of candidates is close to
// word, and "" otherwise.
func suggest(word string, candidates []string) string {
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

// init finds every descriptor's field in Config, once. A Field that
// Config lacks is a mistake of resgen's that every test catches.
func init() {
	ct := reflect.TypeOf(Config{})
	for _, p := range policies {
		pf, ok := ct.FieldByName(p.Field)
		if !ok {
			panic("resgen: Config has no field " + p.Field)
		}
		p.index = pf.Index[0]
		if d, ok := pf.Type.FieldByName("Disabled"); !ok || d.Type.Kind() != reflect.Bool {
			panic("resgen: " + p.Type + " has no Disabled bool")
		}
		for i := range p.Keys {
			k := &p.Keys[i]
			kf, ok := pf.Type.FieldByName(k.Field)
			if !ok {
				panic("resgen: " + p.Type + " has no field " + k.Field)
			}
			k.index = append([]int{p.index}, kf.Index...)
			if kf.Type == reflect.TypeOf(Matcher{}) {
				k.index = append(k.index, 0) // its Classes
			}
		}
	}
	publishTooling()

}

// publishTooling hands resgen's tools the descriptors (internal/tooling).
func publishTooling() {
	for _, p := range policies {
		tp := &tooling.Policy{Name: p.Name, Field: p.Field, Type: p.Type, Positional: p.Positional,
			Disabled: func(c any) bool { return p.Disabled(c.(*Config)) }}
		for i := range p.Keys {
			k := &p.Keys[i]
			tp.Keys = append(tp.Keys, tooling.Key{Name: k.Name, Field: k.Field, Doc: k.Doc,
				Unset: k.Unset, Example: k.Example, List: k.List(),
				Text:    func(c any) string { return k.Text(c.(*Config)) },
				GoValue: func(c any) any { return k.GoValue(c.(*Config)) }})
		}
		tooling.Policies = append(tooling.Policies, tp)
	}
	tooling.PolicyNames, tooling.Keys, tooling.ClassNames, tooling.Suggest = policyNames, keyNames, classWords, suggest
}
