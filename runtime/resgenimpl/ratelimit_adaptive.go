package resgenimpl

import (
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resgen-dev/resgen/runtime"
)

// This file holds the adaptive rate limit: a bucket whose rate follows the
// service's answers (RateLimitConfig.Adaptive).
//
// The model is CUBIC, as the AWS SDKs' adaptive retry mode uses it: an
// answer that says the client sends too much (429, Retry-After,
// RESOURCE_EXHAUSTED: class rate_limited) cuts the rate to
// adaptiveBeta times what it was (wmax), and from then on the rate is
//
//	wmax + adaptiveC × max × (t − K)³,  K = ∛(wmax × (1 − adaptiveBeta) / (adaptiveC × max))
//
// t seconds after the cut, between adaptiveMinRate and max (the configured
// max_requests_per_minute): it climbs back fast at first, levels off at
// wmax, where the service answered "too many" last time, for about K
// seconds, then probes beyond it, faster and faster. Unlike the AWS SDKs'
// curve, its growth is scaled by max, so that K (about 1.9s for a cut at
// half of max) is the same for a limit of 40 a minute and of 100,000.
//
// Only answers to attempts sent after the last cut cut again: those in
// flight at a cut say nothing about the new rate. The rate is a function of
// time only, so a successful attempt does nothing to it: Reserve
// recomputes it every adaptiveTick while it is below max, and not at all
// at max.

const (
	adaptiveBeta    = 0.8
	adaptiveC       = 1.0 / 64 // of max, per second cubed
	adaptiveTick    = 10 * time.Millisecond
	adaptiveMinRate = 1.0 / 60 // tokens a second: one a minute
)

// adaptiveRate is the state of an adaptive bucket.
type adaptiveRate struct {
	b    *bucket
	max  float64 // tokens a second
	maxI int64   // the interval at max, as configured
	next atomic.Int64
	gen  atomic.Uint64 // counts the cuts, from 1: an attempt notes it when it asks for a token

	mu    sync.Mutex
	cut0  bool    // a cut happened
	cutAt int64   // bucket nanoseconds of the last cut
	wmax  float64 // the rate just before it
	k     float64 // seconds from the cut until the rate is back at wmax
}

func newAdaptiveRate(b *bucket, cfg runtime.RateLimitConfig) *adaptiveRate {
	a := &adaptiveRate{b: b, max: float64(max(cfg.MaxRequestsPerMinute, 1)) / 60, maxI: b.interval.Load()}
	a.next.Store(maxSpan) // at max: nothing to recompute
	a.gen.Store(1)
	return a
}

// adaptiveRate returns the adaptive state of b, or nil.
func (b *bucket) adaptiveRate() *adaptiveRate {
	if b == nil {
		return nil
	}
	return b.adaptive
}

// rateAt returns the rate at bucket time t. a.mu is held.
func (a *adaptiveRate) rateAt(t int64) float64 {
	if !a.cut0 {
		return a.max
	}
	d := float64(t-a.cutAt)/1e9 - a.k
	return min(max(a.wmax+adaptiveC*a.max*d*d*d, adaptiveMinRate), a.max)
}

// set makes r the bucket's rate, from bucket time t. The tokens already
// promised beyond t (tat ahead of t) are rescaled to the new rate: a
// backlog taken at a low rate must not hold the bucket shut once the rate
// is back up.
func (a *adaptiveRate) set(t int64, r float64) {
	next, interval := t+int64(adaptiveTick), a.maxI
	if r >= a.max {
		next = maxSpan
	} else {
		interval = int64(math.Ceil(1e9 / r))
	}
	old := a.b.interval.Swap(interval)
	a.next.Store(next)
	if old == interval {
		return
	}
	f := float64(interval) / float64(old)
	for {
		tat := a.b.tat.Load()
		if tat <= t {
			return
		}
		scaled := t + int64(min(float64(tat-t)*f, maxSpan))
		if a.b.tat.CompareAndSwap(tat, scaled) {
			return
		}
	}
}

// adapt recomputes the rate at bucket time t. A caller that finds another
// one doing it leaves it to that one.
func (a *adaptiveRate) adapt(t int64) {
	if !a.mu.TryLock() {
		return
	}
	defer a.mu.Unlock()
	if t < a.next.Load() {
		return
	}
	a.set(t, a.rateAt(t))
}

// cut lowers the rate after a rate_limited answer at now to an attempt
// that asked for its token when the count of cuts was gen (zero: unknown).
// It returns the new rate in tokens a second, or false when the answer is
// to an attempt that asked before the last cut.
func (a *adaptiveRate) cut(gen uint64, now time.Time) (float64, bool) {
	t := a.b.nanos(now)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cut0 && (gen != 0 && gen != a.gen.Load() || gen == 0 && t-a.cutAt < int64(adaptiveTick)) {
		return 0, false
	}
	a.gen.Add(1)
	w := a.rateAt(t)
	r := max(w*adaptiveBeta, adaptiveMinRate)
	a.cut0, a.cutAt, a.wmax = true, t, w
	a.k = math.Cbrt(w * (1 - adaptiveBeta) / (adaptiveC * a.max))
	a.set(t, r)
	return r, true
}

// rate returns the bucket's rate now, in tokens a second.
func (a *adaptiveRate) rate() float64 {
	return 1e9 / float64(a.b.interval.Load())
}

// cutRate cuts the adaptive rate of me's bucket after a rate_limited answer
// to c's attempt, and says so.
func (me *Method) cutRate(a *adaptiveRate, c *Call) {
	m := me.m
	now := m.clock.Now()
	r, ok := a.cut(c.rateGen, now)
	if !ok {
		return
	}
	me.stats.rateCuts.Add(1)
	rpm := r * 60
	if m.logEnabled(slog.LevelInfo) {
		m.logger.Info(fmt.Sprintf("Adaptive rate limit for %s cut to %.1f req/min: the service answered that it gets too many", me.name, rpm),
			slog.String("wrapper", m.wrapper), slog.String("method", me.name),
			slog.Float64("requests_per_minute", rpm), slog.Int("max_requests_per_minute", me.cfg.RateLimit.MaxRequestsPerMinute))
	}
	if len(m.observers) > 0 {
		m.observe(runtime.Event{Kind: runtime.EventRateAdapted, Method: me.name, Limit: rpm})
	}
}
