package statusz

import (
	"time"
	"unicode/utf8"

	"github.com/resgen-dev/resgen/runtime"
)

// Status is what the page shows, and its JSON: every registered wrapper,
// in the order they were registered.
type Status struct {
	// Time is when the snapshot was taken.
	Time time.Time `json:"time"`
	// Actions says whether the handler accepts actions (WithActions).
	Actions  bool      `json:"actions"`
	Wrappers []Wrapper `json:"wrappers"`
}

// Wrapper is the status of one wrapper.
type Wrapper struct {
	// Wrapper is its type name and Instance its instance name
	// (runtime.WithInstance).
	Wrapper  string `json:"wrapper"`
	Instance string `json:"instance"`
	// WindowSeconds is how far back LastMinute counts: a minute, or less
	// for a wrapper registered less than a minute ago; more when no
	// snapshot was taken for a while, since the handler samples the
	// counters only when it serves (the event stream samples every
	// interval).
	WindowSeconds float64   `json:"window_seconds"`
	Breakers      []Breaker `json:"breakers"`
	Methods       []Method  `json:"methods"`
}

// Breaker is the status of one circuit breaker.
type Breaker struct {
	Name string `json:"name"`
	// State is CLOSED, OPEN or HALF_OPEN.
	State string `json:"state"`
	// Forced is what the breaker is forced to: "normal" (not forced),
	// "open" or "closed".
	Forced string `json:"forced"`
	// Forceable says that actions can force it (it lives in the process).
	Forceable bool `json:"forceable"`
	// Methods are the methods it guards.
	Methods                []string `json:"methods"`
	FailureThreshold       int      `json:"failure_threshold"`
	SuccessThreshold       int      `json:"success_threshold"`
	RecoveryTimeoutSeconds float64  `json:"recovery_timeout_seconds"`
	// LastOutageSeconds is how long its last outage lasted, from opening to
	// closing again.
	LastOutageSeconds float64 `json:"last_outage_seconds"`
	// Transitions are its last changes of state, oldest first.
	Transitions []Transition `json:"transitions"`
}

// Transition is one change of state of a breaker.
type Transition struct {
	At   time.Time `json:"at"`
	From string    `json:"from"`
	To   string    `json:"to"`
	// Failures is, for a transition to OPEN, the calls' worth of failed
	// attempts that opened it.
	Failures int `json:"failures"`
	// Forced says that an action (ForceBreaker) made it.
	Forced bool `json:"forced"`
}

// Method is the status of one method of a wrapper.
type Method struct {
	Name string `json:"name"`
	// Breaker names the breaker that guards it, and BreakerState is that
	// breaker's state; both are empty when it has none.
	Breaker      string `json:"breaker,omitempty"`
	BreakerState string `json:"breaker_state,omitempty"`
	// Limiter is its rate limit; nil when it has none.
	Limiter *Limiter `json:"limiter"`
	// Concurrency is its concurrency limit; nil when it has none.
	Concurrency *Concurrency `json:"concurrency"`
	// Throttle is the share of its dependency's calls that adaptive
	// throttling rejects now: 0 when it does not throttle.
	Throttle float64 `json:"throttle"`
	// LastMinute counts over the wrapper's WindowSeconds, Total over its
	// life.
	LastMinute Counts `json:"last_minute"`
	Total      Counts `json:"total"`
	// RecentErrors are the errors of its last failed attempts, oldest
	// first.
	RecentErrors []Error `json:"recent_errors"`
}

// Limiter is the state of a method's rate limit.
type Limiter struct {
	Name                 string `json:"name"`
	MaxRequestsPerMinute int    `json:"max_requests_per_minute"`
	BurstSize            int    `json:"burst_size"`
	Strategy             string `json:"strategy"`
	// Tokens is the number of tokens in the bucket now; nil when the
	// bucket lives in a Store.
	Tokens     *float64 `json:"tokens"`
	QueueDepth int64    `json:"queue_depth"`
	// AdaptiveRate is an adaptive rate limit's rate now, in requests a
	// minute; nil when the rate is fixed.
	AdaptiveRate *float64 `json:"adaptive_rate"`
}

// Concurrency is the state of a method's concurrency limit (its group's,
// with a group).
type Concurrency struct {
	// Limit is the limit now (adaptive or fixed), InFlight the attempts in
	// flight under it, and Rejected counts the attempts it turned away
	// over the wrapper's life.
	Limit    int64 `json:"limit"`
	InFlight int64 `json:"in_flight"`
	Rejected int64 `json:"rejected"`
}

// Counts are a method's calls and attempts and how they ended.
type Counts struct {
	// Calls is Successes + Failures; calls rejected by the breaker or the
	// rate limit are failures.
	Calls     int64 `json:"calls"`
	Successes int64 `json:"successes"`
	Failures  int64 `json:"failures"`
	// Attempts counts the attempts made, and FailedAttempts those that
	// failed, by error class in FailedByClass (classes with none are
	// left out).
	Attempts       int64            `json:"attempts"`
	FailedAttempts int64            `json:"failed_attempts"`
	FailedByClass  map[string]int64 `json:"failed_by_class"`
	// Retries counts attempts after the first of their call, Rejected
	// the attempts the breaker failed fast, Dropped those the rate limit
	// refused.
	Retries  int64 `json:"retries"`
	Rejected int64 `json:"rejected"`
	Dropped  int64 `json:"dropped"`
	// Throttled counts the calls adaptive throttling rejected, and
	// BudgetDenied the retries the retry budget denied.
	Throttled    int64 `json:"throttled"`
	BudgetDenied int64 `json:"budget_denied"`
}

// Error is one failed attempt.
type Error struct {
	At      time.Time `json:"at"`
	Attempt int       `json:"attempt"`
	Class   string    `json:"class"`
	Error   string    `json:"error"`
}

// maxErrorText bounds the text of an error on the page.
const maxErrorText = 500

// Snapshot returns the status of every registered wrapper now: what the
// page shows and the JSON serves.
func (h *Handler) Snapshot() Status {
	now := h.clock.Now()
	st := Status{Time: now, Actions: h.actions, Wrappers: []Wrapper{}}
	for _, w := range h.registered() {
		st.Wrappers = append(st.Wrappers, h.wrapperStatus(w, now))
	}
	return st
}

func (h *Handler) wrapperStatus(w *wrapper, now time.Time) Wrapper {
	m := w.m
	metrics := m.Metrics()
	total := countsOf(metrics)
	base := w.sample(now, total, h.window)
	ws := Wrapper{
		Wrapper:       m.Wrapper(),
		Instance:      m.Instance(),
		WindowSeconds: now.Sub(base.at).Seconds(),
		Breakers:      []Breaker{},
		Methods:       []Method{},
	}
	for _, b := range m.Breakers() {
		bs := Breaker{
			Name:                   b.Name,
			State:                  b.State.String(),
			Forced:                 b.Forced.String(),
			Forceable:              b.Forceable,
			Methods:                b.Methods,
			FailureThreshold:       b.Config.FailureThreshold,
			SuccessThreshold:       b.Config.SuccessThreshold,
			RecoveryTimeoutSeconds: b.Config.RecoveryTimeout.Seconds(),
			LastOutageSeconds:      b.RecoveryTime.Seconds(),
			Transitions:            []Transition{},
		}
		for _, t := range b.Transitions {
			bs.Transitions = append(bs.Transitions, Transition{
				At: t.At, From: t.From.String(), To: t.To.String(), Failures: t.Failures, Forced: t.Forced,
			})
		}
		ws.Breakers = append(ws.Breakers, bs)
	}
	for i, mm := range metrics {
		ms := Method{
			Name:         mm.Method,
			Breaker:      mm.Breaker,
			Throttle:     mm.Throttle,
			Total:        total[i],
			LastMinute:   total[i].minus(base.counts, i),
			RecentErrors: []Error{},
		}
		if mm.Breaker != "" {
			ms.BreakerState = mm.BreakerState.String()
		}
		if l, ok := m.Limiter(mm.Method); ok {
			ls := &Limiter{
				Name:                 l.Name,
				MaxRequestsPerMinute: l.Config.MaxRequestsPerMinute,
				BurstSize:            l.Config.BurstSize,
				Strategy:             string(l.Config.Strategy),
				QueueDepth:           l.QueueDepth,
			}
			if l.Tokens >= 0 {
				t := l.Tokens
				ls.Tokens = &t
			}
			if mm.AdaptiveRate > 0 {
				r := mm.AdaptiveRate
				ls.AdaptiveRate = &r
			}
			ms.Limiter = ls
		}
		if mm.ConcurrencyLimit > 0 {
			ms.Concurrency = &Concurrency{Limit: mm.ConcurrencyLimit, InFlight: mm.InFlight, Rejected: mm.ConcurrencyRejected}
		}
		for _, e := range m.RecentErrors(mm.Method) {
			ms.RecentErrors = append(ms.RecentErrors, Error{
				At: e.At, Attempt: e.Attempt, Class: e.Class.String(), Error: errorText(e.Err),
			})
		}
		ws.Methods = append(ws.Methods, ms)
	}
	return ws
}

// sample keeps the counters at now (at most one sample a second) and
// returns the sample the last minute counts from: the newest at or before
// now-window, or the oldest there is.
func (w *wrapper) sample(now time.Time, counts []Counts, window time.Duration) sample {
	w.mu.Lock()
	defer w.mu.Unlock()
	cut := now.Add(-window)
	// Keep one sample at or before cut, the newest: drop those before it.
	i := 0
	for i+1 < len(w.samples) && !w.samples[i+1].at.After(cut) {
		i++
	}
	w.samples = w.samples[i:]
	base := w.samples[0]
	if last := w.samples[len(w.samples)-1]; now.Sub(last.at) >= time.Second {
		w.samples = append(w.samples, sample{at: now, counts: counts})
	}
	return base
}

func countsOf(metrics []runtime.MethodMetrics) []Counts {
	out := make([]Counts, len(metrics))
	for i, mm := range metrics {
		c := Counts{
			Calls:          mm.Calls,
			Successes:      mm.Successes,
			Failures:       mm.Failures,
			Attempts:       mm.Attempts,
			FailedAttempts: mm.FailedAttempts,
			FailedByClass:  map[string]int64{},
			Retries:        mm.RetryAttempts,
			Rejected:       mm.Rejected,
			Dropped:        mm.Dropped,
			Throttled:      mm.Throttled,
			BudgetDenied:   mm.BudgetDenied,
		}
		for _, cc := range mm.FailuresByClass {
			if cc.Count != 0 {
				c.FailedByClass[cc.Class.String()] = cc.Count
			}
		}
		out[i] = c
	}
	return out
}

// minus returns c less the counts of method i in base (a method's index
// is the same in every sample of a wrapper: the interface's order).
func (c Counts) minus(base []Counts, i int) Counts {
	var b Counts
	if i < len(base) {
		b = base[i]
	}
	d := Counts{
		Calls:          c.Calls - b.Calls,
		Successes:      c.Successes - b.Successes,
		Failures:       c.Failures - b.Failures,
		Attempts:       c.Attempts - b.Attempts,
		FailedAttempts: c.FailedAttempts - b.FailedAttempts,
		FailedByClass:  map[string]int64{},
		Retries:        c.Retries - b.Retries,
		Rejected:       c.Rejected - b.Rejected,
		Dropped:        c.Dropped - b.Dropped,
		Throttled:      c.Throttled - b.Throttled,
		BudgetDenied:   c.BudgetDenied - b.BudgetDenied,
	}
	for k, v := range c.FailedByClass {
		if n := v - b.FailedByClass[k]; n != 0 {
			d.FailedByClass[k] = n
		}
	}
	return d
}

// errorText is err's text, cut to maxErrorText bytes on a rune boundary.
func errorText(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if len(s) <= maxErrorText {
		return s
	}
	cut := maxErrorText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
