// Package tooling hands resgen's tools (the generator, resgen.yaml's
// parser, the CLI) what package runtime knows of its configuration: the
// descriptor of every policy and key, and the helpers that read them.
// Package runtime fills it in when it is initialized; every tool imports
// runtime for its Config, so the values here are set before a tool runs.
package tooling

// Policy describes one policy: its directive, its block of resgen.yaml and
// of run-time files, and what resgen prints of it.
type Policy struct {
	Name  string // in directives, resgen.yaml and run-time files: retry_budget
	Field string // its field of runtime.Config: RetryBudget
	Type  string // the type of that field: RetryBudgetConfig
	// Positional is the key that its directive and YAML block take as a
	// bare value (timeout 5s), or "".
	Positional string
	Keys       []Key
	// Disabled reports whether the policy is off in c, a *runtime.Config.
	Disabled func(c any) bool
}

// Key describes one key of a policy.
type Key struct {
	Name  string // in directives and YAML: max_attempts
	Field string // the Go field of the policy's config: MaxAttempts
	Doc   string // what it means, one line, lower case
	// Unset says what no value means, for a key whose value may be absent;
	// Example is a value to show commented out.
	Unset, Example string
	// List says that the value is a list of error classes, which YAML
	// writes as [a, b].
	List bool
	// Text returns the key's value in c, a *runtime.Config, as a directive
	// writes it and runtime.Config.Apply reads it back; "" when absent.
	Text func(c any) string
	// GoValue returns the value of the key's Go field in c: an int, a
	// float64, a bool, a string, a time.Duration, a runtime.Class, or a
	// value of an enum's string type.
	GoValue func(c any) any
}

var (
	// Policies is every policy, in the order resgen prints them.
	Policies []*Policy
	// PolicyNames returns the names of the policies, sorted.
	PolicyNames func() []string
	// Keys returns the keys of a policy, sorted, or nil for an unknown one.
	Keys func(policy string) []string
	// ClassNames returns the names that retry_on and excluded_errors take.
	ClassNames func() []string
	// Suggest returns ` (did you mean "x"?)` when one of candidates is close
	// to word, and "" otherwise.
	Suggest func(word string, candidates []string) string
)
