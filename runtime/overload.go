package runtime

import (
	"errors"
	"time"
)

// ThrottleConfig configures client-side adaptive throttling: over Window,
// with requests the attempts of the dependency (those it throttled
// included) and accepts those the service accepted, a call is rejected
// locally with probability
//
//	max(0, (requests − Multiplier×accepts) / (requests + 1))
//
// capped by MaxRejection, so that during a brownout the client sends about
// Multiplier times what the service can take and keeps the goodput it can
// have. A throttled call fails at once with an error that errors.Is
// ErrThrottled: it is never sent, never retried, and it is not a failure of
// the service. Throttling acts only while the service accepts some
// attempts: an outage, where it accepts none, is the breaker's to handle.
//
// Each dependency (what one breaker guards) counts, over sliding windows,
// the attempts its methods sent (requests), those the service accepted —
// answered, even with a client error — and the calls and retries. It reads
// the methods' own counters on the failure path, so that a success pays
// nothing for it. With Multiplier 2 it acts only when more than half of the attempts fail,
// so noise never triggers it, and not before the window holds ten
// requests.
//
// With a Store that shares these counts (store.OverloadSharer, as
// runtime/redisstore does), requests and accepts are the fleet's: this
// process's own, and those every other process that shares the dependency
// (the breaker's name) last reported: redisstore reports and reads them
// every 100ms once a quarter of any process's attempts fail, and every
// second otherwise. A
// process that sends too little to throttle by itself then throttles at
// the fleet's probability as soon as the fleet sees a brownout. When the
// Store loses them (Redis unreachable), each process counts its own
// again, and the wrapper says so once in its log. Without such a Store,
// each process counts its own.
type ThrottleConfig struct {
	// Disabled turns throttling off.
	Disabled bool
	// Multiplier is how many times what the service accepts the client
	// sends before it throttles. Zero means 2; at least 1.
	Multiplier float64
	// Window is how far back requests and accepts are counted. Zero
	// means 1s.
	Window time.Duration
	// MaxRejection caps the share of calls throttled, so that some always
	// reach the service and show when it is back. Zero means 0.9; at
	// most 1.
	MaxRejection float64
}

// RetryBudgetConfig configures the retry budget of a dependency, shared by
// all of its methods: over Window, retries may number at most Ratio times
// the calls plus MinPerSecond per second of the window. A call whose retry
// the budget denies gives up at once with its last error, in a RetryError
// whose Stop errors.Is ErrRetryBudget. Retries that a recovery grants (after
// refreshed credentials or an adapted schema) are not counted.
//
// So retries never multiply the load of a struggling service by
// max_attempts. When a retry is granted, the retries of the window that
// ends then are within that bound; so over any window, the retries are
// within Ratio times the calls of that window and the one before, plus the
// floor.
//
// With a Store that shares the counts (store.OverloadSharer, as
// runtime/redisstore does), the bound holds for the fleet: the floor is
// split among the processes (the wrappers) that share the dependency, so
// that over any window the fleet's retries stay within Ratio times the
// fleet's calls of that window and the one before plus one floor, not one
// floor per process; and a process retries nothing while the fleet's
// retries last reported reach Ratio times the fleet's calls plus the
// floor (a process that counts otherwise, or that just joined). A process
// counts itself alone until its Store first read the others' counts (a
// round trip after it started), and again while the Store cannot reach
// them.
type RetryBudgetConfig struct {
	// Disabled turns the budget off: retries are bounded by max_attempts
	// alone.
	Disabled bool
	// Ratio is the share of recent calls that may be retried. Zero means
	// 0.3: 20% of attempts failing at random need 0.25 retries a call.
	Ratio float64
	// MinPerSecond is the retries a second allowed whatever the number of
	// calls, so that a quiet dependency can still retry: the fleet's,
	// split among its processes, when a Store shares the counts. Zero
	// means 10.
	MinPerSecond int
	// Window is how far back calls and retries are counted. Zero means 10s.
	Window time.Duration
}

// The overload policies' defaults, which Normalize fills in for zero
// fields.
const (
	defaultThrottleMultiplier   = 2.0
	defaultThrottleWindow       = time.Second
	defaultThrottleMaxRejection = 0.9
	defaultRetryBudgetRatio     = 0.3
	defaultRetryBudgetMinPerSec = 10
	defaultRetryBudgetWindow    = 10 * time.Second
	maxOverloadWindow           = time.Hour
)

func (t *ThrottleConfig) normalize() {
	if t.Multiplier == 0 {
		t.Multiplier = defaultThrottleMultiplier
	}
	if t.Window == 0 {
		t.Window = defaultThrottleWindow
	}
	if t.MaxRejection == 0 {
		t.MaxRejection = defaultThrottleMaxRejection
	}
}

func (t ThrottleConfig) validate(bad func(field, format string, args ...any)) {
	if t.Multiplier != 0 && !(t.Multiplier >= 1 && t.Multiplier <= 1e6) {
		bad("throttle.multiplier", "must be between 1 and 1e6, not %v", t.Multiplier)
	}
	if t.Window < 0 || t.Window > maxOverloadWindow {
		bad("throttle.window", "must be positive and at most %v, not %v", maxOverloadWindow, t.Window)
	}
	if t.MaxRejection != 0 && !(t.MaxRejection > 0 && t.MaxRejection <= 1) {
		bad("throttle.max_rejection", "must be more than 0 and at most 1, not %v", t.MaxRejection)
	}
}

func (b *RetryBudgetConfig) normalize() {
	if b.Ratio == 0 {
		b.Ratio = defaultRetryBudgetRatio
	}
	if b.MinPerSecond == 0 {
		b.MinPerSecond = defaultRetryBudgetMinPerSec
	}
	if b.Window == 0 {
		b.Window = defaultRetryBudgetWindow
	}
}

func (b RetryBudgetConfig) validate(bad func(field, format string, args ...any)) {
	if b.Ratio != 0 && !(b.Ratio > 0 && b.Ratio <= 100) {
		bad("retry_budget.ratio", "must be more than 0 and at most 100, not %v", b.Ratio)
	}
	if b.MinPerSecond < 0 || b.MinPerSecond > 1e9 {
		bad("retry_budget.min_retries_per_second", "must be at least 1, not %d", b.MinPerSecond)
	}
	if b.Window < 0 || b.Window > maxOverloadWindow {
		bad("retry_budget.window", "must be positive and at most %v, not %v", maxOverloadWindow, b.Window)
	}
}

var throttlePolicy = &policyDesc{Name: "throttle", Field: "Throttle", Type: "ThrottleConfig",
	normalize: func(c *Config) { c.Throttle.normalize() },
	validate:  func(c Config, bad func(string, string, ...any)) { c.Throttle.validate(bad) },
	Keys: []keyDesc{
		{Name: "multiplier", Field: "Multiplier", kind: kindFloat,
			Doc: "send up to this many times what the service accepts, throttle the rest"},
		{Name: "window", Field: "Window", kind: kindDuration, Doc: "how far back attempts and accepts are counted"},
		{Name: "max_rejection", Field: "MaxRejection", kind: kindFraction, Doc: "the largest share of calls throttled"},
	}}

var retryBudgetPolicy = &policyDesc{Name: "retry_budget", Field: "RetryBudget", Type: "RetryBudgetConfig",
	normalize: func(c *Config) { c.RetryBudget.normalize() },
	validate:  func(c Config, bad func(string, string, ...any)) { c.RetryBudget.validate(bad) },
	Keys: []keyDesc{
		{Name: "ratio", Field: "Ratio", kind: kindPositive, Doc: "retries allowed as a share of the window's calls"},
		{Name: "min_retries_per_second", Field: "MinPerSecond", kind: kindInt, Doc: "retries a second allowed whatever the calls"},
		{Name: "window", Field: "Window", kind: kindDuration, Doc: "how far back calls and retries are counted"},
	}}

// overloadAnswer reports whether err, of class c, is the service saying it
// has more than it can take (429, 503, RESOURCE_EXHAUSTED, a timeout),
// rather than that it is broken. A 503 is read from StatusCode() or the
// AWS SDK's HTTPStatusCode(), as Classify reads them.
func overloadAnswer(err error, c Class) bool {
	switch c {
	case ClassRateLimited, ClassTimeout:
		return true
	case ClassServer:
		var sc interface{ StatusCode() int }
		if errors.As(err, &sc) {
			return sc.StatusCode() == 503
		}
		var hc interface{ HTTPStatusCode() int }
		if errors.As(err, &hc) {
			return hc.HTTPStatusCode() == 503
		}
		return kubeCode(err) == 503
	}
	return false
}

// kubeCode returns the HTTP status code of the first error of err's chain
// that has a Kubernetes status (Status() metav1.Status, read by
// reflection as Classify reads it), or 0.
func kubeCode(err error) int64 { return firstInChain(err, kubeCodeOf) }

// kubeCodeOf returns the HTTP status code of err's own Kubernetes status,
// or 0.
func kubeCodeOf(err error) int64 {
	if st, ok := kubeStatusOf(err); ok {
		if c := st.FieldByName("Code"); isInt(c) {
			return c.Int()
		}
	}
	return 0
}
