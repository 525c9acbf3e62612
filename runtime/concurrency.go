package runtime

import (
	"fmt"
)

// ConcurrencyConfig configures the concurrency limit of a method, or of a
// group of methods: at most a limit of its attempts are in flight at once.
// An attempt beyond the limit waits for one to end (StrategyWait), at most
// as long as its context allows, or fails at once (StrategyDrop) with a
// *ConcurrencyError that errors.Is ErrConcurrencyLimit. Either way it is
// not sent, not retried, and not a failure of the service.
//
// The limit is adaptive unless Fixed is set: it follows the attempts'
// latency as Netflix's Gradient2 does. Over windows of at least 100ms it
// compares the window's mean latency (short) with a slow average of past
// windows (long), which follows a window that queues (short more than 1.5
// times long) 25 times more slowly than one that does not, so that a
// standing queue does not become the norm: while short stays within 1.5
// times long and the attempts
// in flight reach half the limit, the limit grows by its square root each
// window; when short is more, the limit shrinks in proportion, by half at
// most, never below MinInFlight. So a service whose queue grows before it
// fails sees at most a little more than it can serve in flight: the
// attempts beyond wait or fail in the client, and none of them is left in
// the service's queue when capacity returns.
//
// Latency is sampled: one slot taken in 2ⁿ is timed, n chosen so that a window
// holds 16 to 64 samples (a window ends early at 1024), so that timing
// costs a busy method next to nothing.
type ConcurrencyConfig struct {
	// Disabled turns the concurrency limit off.
	Disabled bool
	// MaxInFlight is the limit when Fixed is set, and the most an adaptive
	// limit grows to. Zero means 1000.
	MaxInFlight int
	// MinInFlight is where an adaptive limit starts, and the least it
	// shrinks to. Zero means 50, or MaxInFlight when that is smaller. A
	// fixed limit ignores it.
	MinInFlight int
	// Fixed keeps the limit at MaxInFlight (adaptive=false in directives
	// and YAML).
	Fixed bool
	// Strategy says what an attempt beyond the limit does: StrategyWait
	// (zero) waits for an attempt to end, the newest waiter first, as long
	// as its context allows; StrategyDrop fails at once. The newest waiter
	// goes first because it has the most time left: under sustained
	// overload the oldest ones run out of time anyway, and serving them
	// first would make every call late.
	Strategy Strategy
	// Group names a limit shared by every method of the wrapper that names
	// the same group; they must agree on its settings. Empty means the
	// method's own limit, named Wrapper.Method.
	Group string
}

// The concurrency limit's defaults, which Normalize fills in for zero
// fields. The floor of 50 is what a healthy service of 1,000 calls a second
// at 50ms needs in flight: a lower one throttles a service whose latency is
// merely noisy, while a deep queue behind 50 attempts is still short.
const (
	defaultMaxInFlight = 1000
	defaultMinInFlight = 50
)

// ConcurrencyError is the error of an attempt that a concurrency limit
// turned away (StrategyDrop). It names the limit: a group, or
// Wrapper.Method.
type ConcurrencyError struct {
	Limiter string
	Limit   int // the limit when the attempt was turned away
}

func (e *ConcurrencyError) Error() string {
	return fmt.Sprintf("resgen: concurrency limit of %s reached: %d in flight", e.Limiter, e.Limit)
}

// Is reports whether target is ErrConcurrencyLimit.
func (e *ConcurrencyError) Is(target error) bool { return target == ErrConcurrencyLimit }

func (c *ConcurrencyConfig) normalize() {
	if c.MaxInFlight == 0 {
		c.MaxInFlight = defaultMaxInFlight
	}
	if c.MinInFlight == 0 {
		c.MinInFlight = min(defaultMinInFlight, c.MaxInFlight)
	}
	if c.Strategy == "" {
		c.Strategy = StrategyWait
	}
}

func (c ConcurrencyConfig) validate(bad func(field, format string, args ...any)) {
	const most = 1 << 30
	if c.MaxInFlight < 0 || c.MaxInFlight > most {
		bad("concurrency.max_in_flight", "must be between 1 and %d, not %d", most, c.MaxInFlight)
	}
	if c.MinInFlight < 0 || c.MinInFlight > most {
		bad("concurrency.min_in_flight", "must be between 1 and %d, not %d", most, c.MinInFlight)
	} else if !c.Fixed && c.MinInFlight > 0 && c.MaxInFlight > 0 && c.MinInFlight > c.MaxInFlight {
		bad("concurrency.min_in_flight", "%d is more than concurrency.max_in_flight %d", c.MinInFlight, c.MaxInFlight)
	}
	switch c.Strategy {
	case "", StrategyWait, StrategyDrop:
	default:
		bad("concurrency.backpressure_strategy", "unknown strategy %q (want wait or drop)", string(c.Strategy))
	}
}

var concurrencyPolicy = &policyDesc{Name: "concurrency", Field: "Concurrency", Type: "ConcurrencyConfig",
	normalize: func(c *Config) { c.Concurrency.normalize() },
	validate:  func(c Config, bad func(string, string, ...any)) { c.Concurrency.validate(bad) },
	Keys: []keyDesc{
		{Name: "adaptive", Field: "Fixed", kind: kindBool, negated: true,
			Doc: "the limit follows latency, between min_in_flight and max_in_flight (or stays at max_in_flight)"},
		{Name: "min_in_flight", Field: "MinInFlight", kind: kindInt, Doc: "where an adaptive limit starts, and the least it shrinks to"},
		{Name: "max_in_flight", Field: "MaxInFlight", kind: kindInt, Doc: "the most attempts in flight at once"},
		{Name: "backpressure_strategy", Field: "Strategy", kind: kindEnum, Doc: "beyond the limit: wait (the newest first) or drop (fail at once)",
			Values: []string{"wait", "drop"}},
		{Name: "group", Field: "Group", kind: kindWord, Doc: "methods naming the same group share a limit",
			Unset: "none, one limit per method", Example: "orders"},
	}}
