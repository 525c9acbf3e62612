package runtime

import (
	"sync"
	"sync/atomic"
	"time"
)

// BucketState is the state of one token bucket, behind an interface so that
// it can live outside the process (WithStore). Generated code never calls
// it; a Method does.
type BucketState interface {
	// Reserve takes the next token at now. It returns how long the caller
	// must wait before using it, or ok=false, taking nothing, when that wait
	// would exceed maxWait.
	Reserve(now time.Time, maxWait time.Duration) (r Reservation, ok bool)
	// Cancel gives back the token of a reservation that will not be used,
	// when no later reservation depends on it.
	Cancel(r Reservation)
	// Pause admits nothing before until (a server's Retry-After), for
	// everyone who shares the bucket.
	Pause(until time.Time)
}

// Reservation is a token taken from a bucket.
type Reservation struct {
	Wait  time.Duration // how long to wait before the attempt
	Token int64         // the bucket's identification of the token
}

// bucket is the in-process token bucket: the generic cell rate algorithm
// (GCRA), which keeps a token bucket of burst tokens refilled one token per
// interval in a single "theoretical arrival time" (tat), updated with one
// compare-and-swap per attempt. In any window of length T it admits at most
// burst + T/interval attempts.
type bucket struct {
	interval  int64     // nanoseconds per token
	tolerance int64     // (burst-1) × interval: how far tat may run ahead of now
	epoch     time.Time // tat's origin
	tat       atomic.Int64

	waiting atomic.Int64 // attempts waiting for their token
	refs    int64        // Managers using it; guarded by buckets.mu
}

func newBucket(cfg RateLimitConfig, now time.Time) *bucket {
	interval := int64(time.Minute) / int64(cfg.MaxRequestsPerMinute)
	return &bucket{
		interval:  interval,
		tolerance: int64(cfg.BurstSize-1) * interval,
		epoch:     now,
	}
}

func (b *bucket) nanos(t time.Time) int64 { return int64(t.Sub(b.epoch)) }

func (b *bucket) Reserve(now time.Time, maxWait time.Duration) (Reservation, bool) {
	t := b.nanos(now)
	for {
		tat := b.tat.Load()
		start := max(tat, t)
		wait := start - b.tolerance - t
		if wait > int64(maxWait) {
			return Reservation{}, false
		}
		next := start + b.interval
		if b.tat.CompareAndSwap(tat, next) {
			return Reservation{Wait: time.Duration(max(wait, 0)), Token: next}, true
		}
	}
}

func (b *bucket) Cancel(r Reservation) {
	// Only the newest reservation can be given back: taking back an earlier
	// one would let two later attempts share a slot.
	b.tat.CompareAndSwap(r.Token, r.Token-b.interval)
}

func (b *bucket) Pause(until time.Time) {
	u := b.nanos(until) + b.tolerance
	for {
		tat := b.tat.Load()
		if tat >= u || b.tat.CompareAndSwap(tat, u) {
			return
		}
	}
}

// idle reports whether the bucket is full at now: a fresh bucket would
// behave the same, so it may be forgotten.
func (b *bucket) idle(now time.Time) bool {
	return b.tat.Load() <= b.nanos(now) && b.waiting.Load() == 0
}

// hostKey identifies a bucket shared by every wrapper of the process that
// talks to one host with the same limits.
type hostKey struct {
	host       string
	rpm, burst int
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
// more user of it; releaseHostBucket gives it back.
func acquireHostBucket(host string, cfg RateLimitConfig, now time.Time) *bucket {
	k := hostKey{host, cfg.MaxRequestsPerMinute, cfg.BurstSize}
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
