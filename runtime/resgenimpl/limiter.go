package resgenimpl

import (
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/store"
)

// bucket is the in-process token bucket: the generic cell rate algorithm
// (GCRA), which keeps a token bucket of burst tokens refilled one token per
// interval in a single "theoretical arrival time" (tat), updated with one
// compare-and-swap per attempt. In any window of length T it admits at most
// burst + T/interval attempts.
//
// A pause is a floor under tat, apart from it: a reservation given back
// lowers tat, and must not lower the pause with it.
type bucket struct {
	interval  atomic.Int64 // nanoseconds per token; an adaptive rate changes it
	tolerance int64        // (burst-1) × interval at max_requests_per_minute: how far tat may run ahead of now
	epoch     time.Time    // tat's origin
	base      int64        // epoch in nanoseconds since clockBase, by the monotonic clock
	tat       atomic.Int64
	floor     atomic.Int64  // tat as if empty when the latest pause ends
	adaptive  *adaptiveRate // nil: the rate is max_requests_per_minute

	refs int64 // Managers using it; guarded by buckets.mu
}

// maxSpan bounds the bucket's times and tolerance (about 73 years), so that
// the arithmetic on them cannot overflow, whatever the configuration or the
// clock says.
const maxSpan = 1 << 61

func newBucket(cfg runtime.RateLimitConfig, now time.Time) *bucket {
	rpm := int64(max(cfg.MaxRequestsPerMinute, 1))
	// Round the interval up: rounded down, the bucket would admit slightly
	// more than max_requests_per_minute (one attempt too many in a window
	// of a whole number of intervals).
	interval := (int64(time.Minute)-1)/rpm + 1
	burst := int64(max(cfg.BurstSize, 1))
	tolerance := int64(maxSpan)
	if burst-1 < maxSpan/interval {
		tolerance = (burst - 1) * interval
	}
	b := &bucket{tolerance: tolerance, epoch: now, base: int64(now.Sub(clockBase))}
	b.interval.Store(interval)
	if cfg.Adaptive {
		// The tolerance stays what it is at max: a lower rate admits a
		// burst of the same length in time, fewer attempts. Scaling it
		// with the interval would admit attempts at once after each cut.
		b.adaptive = newAdaptiveRate(b, cfg)
	}
	return b
}

func (b *bucket) nanos(t time.Time) int64 {
	return min(max(int64(t.Sub(b.epoch)), -maxSpan), maxSpan)
}

func (b *bucket) Reserve(now time.Time, maxWait time.Duration) (store.Reservation, bool) {
	return b.reserveAt(b.nanos(now), maxWait)
}

// sinceEpoch returns the system clock's now in bucket time, as
// b.nanos(time.Now()) does: time.Since reads only the monotonic clock,
// about half of what time.Now costs. Only a Method whose clock is the
// system clock calls it.
func (b *bucket) sinceEpoch() int64 {
	return min(max(int64(time.Since(b.epoch)), -maxSpan), maxSpan)
}

// reserveAt is Reserve at bucket time t.
func (b *bucket) reserveAt(t int64, maxWait time.Duration) (store.Reservation, bool) {
	if a := b.adaptive; a != nil && t >= a.next.Load() {
		a.adapt(t)
	}
	floor := b.floor.Load()
	interval, tolerance := b.interval.Load(), b.tolerance
	for {
		tat := b.tat.Load()
		start := max(tat, t, floor)
		wait := start - tolerance - t
		if wait > int64(maxWait) {
			return store.Reservation{}, false
		}
		next := start + interval
		if b.tat.CompareAndSwap(tat, next) {
			return store.Reservation{Wait: time.Duration(max(wait, 0)), Token: next}, true
		}
	}
}

func (b *bucket) Cancel(r store.Reservation) {
	// Only the newest reservation can be given back: taking back an earlier
	// one would let two later attempts share a slot. tat goes back to where
	// the reservation started, which is never earlier than where it was
	// before: as if the reservation had not been made.
	b.tat.CompareAndSwap(r.Token, r.Token-b.interval.Load())
}

func (b *bucket) Pause(until time.Time) {
	// Nothing before until: the bucket is empty then, and refills from there.
	u := b.nanos(until) + b.tolerance
	for {
		f := b.floor.Load()
		if f >= u || b.floor.CompareAndSwap(f, u) {
			return
		}
	}
}

// idle reports whether the bucket is full at now: a fresh bucket would
// behave the same, so it may be forgotten. An attempt waiting for its token
// holds tat ahead of now, so a bucket with waiters is never idle.
func (b *bucket) idle(now time.Time) bool {
	t := b.nanos(now)
	return b.tat.Load() <= t && b.floor.Load() <= t
}

// clockKey returns what identifies clock in a hostKey: the clock itself
// when it can be a map key, else a value no other key has.
func clockKey(clock runtime.Clock) any {
	if reflect.TypeOf(clock).Comparable() {
		return clock
	}
	return new(byte)
}

// hostKey identifies a bucket shared by every wrapper of the process that
// talks to one host with the same limits.
type hostKey struct {
	host       string
	rpm, burst int
	adaptive   bool
	clock      any // a bucket counts time by one clock: Managers with other clocks do not share it
}

// buckets holds the per-host buckets of the process. Buckets that no
// Manager uses and that are full are evicted when the map has doubled since
// the last sweep, so its size stays proportional to the hosts in use.
var buckets = struct {
	sync.Mutex
	m       map[hostKey]*bucket
	sweepAt int
}{m: make(map[hostKey]*bucket), sweepAt: minSweep}

const minSweep = 1024

// acquireHostBucket returns the shared bucket of host for cfg, counting one
// more user of it; releaseHostBuckets gives it back.
//
// clock identifies the clock the bucket counts time by (see clockKey); now
// is that clock's time.
func acquireHostBucket(host string, cfg runtime.RateLimitConfig, clock any, now time.Time) *bucket {
	k := hostKey{host, cfg.MaxRequestsPerMinute, cfg.BurstSize, cfg.Adaptive, clock}
	buckets.Lock()
	defer buckets.Unlock()
	b, ok := buckets.m[k]
	if !ok {
		if len(buckets.m) >= buckets.sweepAt {
			sweepBucketsLocked(now)
		}
		b = newBucket(cfg, now)
		buckets.m[k] = b
	}
	b.refs++
	return b
}

func releaseHostBuckets(bs []*bucket) {
	buckets.Lock()
	defer buckets.Unlock()
	for _, b := range bs {
		b.refs--
	}
}

func sweepBucketsLocked(now time.Time) {
	for k, b := range buckets.m {
		if b.refs <= 0 && b.idle(now) {
			delete(buckets.m, k)
		}
	}
	buckets.sweepAt = max(minSweep, 2*len(buckets.m))
}
