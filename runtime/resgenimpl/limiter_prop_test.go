package resgenimpl

import (
	"math"
	"math/bits"
	rt "runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/store"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// These tests drive the in-process bucket and the per-host registry
// directly, with explicit instants: no clock, no sleep.

var limEpoch = time.Unix(1_700_000_000, 0)

// limWindowViolation returns the first window [adm[i], adm[j]] that holds more
// admissions than burst + rpm×T allows, T being its length. adm is sorted
// in place. Every window that starts and ends at an admission is checked:
// they are the tightest.
func limWindowViolation(adm []time.Duration, burst, rpm int) (i, j int, bad bool) {
	slices.Sort(adm)
	for i = range adm {
		for j = i + burst; j < len(adm); j++ {
			count := j - i + 1
			span := adm[j] - adm[i]
			// count <= burst + rpm*span/1min  ⇔  (count-burst)*1min <= rpm*span
			hi, lo := bits.Mul64(uint64(rpm), uint64(span))
			if need := uint64(count-burst) * uint64(time.Minute); hi == 0 && lo < need {
				return i, j, true
			}
		}
	}
	return 0, 0, false
}

func limRequireNoViolation(t require.TestingT, adm []time.Duration, burst, rpm int) {
	if i, j, bad := limWindowViolation(adm, burst, rpm); bad {
		require.Failf(t, "rate exceeded", "%d admissions in [%v, %v] (%v): more than burst %d + %d/min × %v",
			j-i+1, adm[i], adm[j], adm[j]-adm[i], burst, rpm, adm[j]-adm[i])
	}
}

func TestWindowViolationFindsExcess(t *testing.T) {
	// The checker itself: 3 admissions within one interval with burst 2 is
	// one too many; spread over two intervals, it is fine.
	sec := time.Second
	_, _, bad := limWindowViolation([]time.Duration{0, 0, sec / 2}, 2, 60)
	assert.True(t, bad)
	_, _, bad = limWindowViolation([]time.Duration{0, 0, sec}, 2, 60)
	assert.False(t, bad)
	_, _, bad = limWindowViolation([]time.Duration{0, 0, 0}, 2, 60)
	assert.True(t, bad)
}

// TestBucketZeroViolations is the limiter's contract: whatever the burst,
// the rate and the schedule of reservations (many at one instant, waiting
// or not, some given back, pauses), no window of length T holds more than
// burst + rate×T admissions, and nothing is admitted before a pause ends.
func TestBucketZeroViolations(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		burst := rapid.IntRange(1, 50).Draw(t, "burst")
		rpm := rapid.IntRange(1, 10000).Draw(t, "rpm")
		b := newBucket(runtime.RateLimitConfig{MaxRequestsPerMinute: rpm, BurstSize: burst}, limEpoch)
		interval := time.Minute / time.Duration(rpm)
		maxWaits := rapid.SampledFrom([]string{"zero", "infinite", "some"})

		now := limEpoch
		var paused time.Time // the latest end of a pause so far
		var admitted []time.Duration
		var pending []store.Reservation // reservations that will be given back
		reserve := func() {
			var maxWait time.Duration
			switch maxWaits.Draw(t, "maxWait") {
			case "infinite":
				maxWait = math.MaxInt64
			case "some":
				maxWait = time.Duration(rapid.Int64Range(0, int64(10*interval)).Draw(t, "wait"))
			}
			r, ok := b.Reserve(now, maxWait)
			if !ok {
				return
			}
			if r.Wait < 0 || r.Wait > maxWait {
				t.Fatalf("wait %v outside [0, %v]", r.Wait, maxWait)
			}
			at := now.Add(r.Wait)
			if at.Before(paused) {
				t.Fatalf("admitted at %v, before the pause ends at %v", at.Sub(limEpoch), paused.Sub(limEpoch))
			}
			if rapid.IntRange(0, 3).Draw(t, "giveBack") == 0 {
				pending = append(pending, r) // not used: never admitted
				return
			}
			admitted = append(admitted, at.Sub(limEpoch))
		}

		steps := rapid.IntRange(1, 150).Draw(t, "steps")
		for range steps {
			switch op := rapid.IntRange(0, 9).Draw(t, "op"); {
			case op <= 1:
				now = now.Add(time.Duration(rapid.Int64Range(0, int64(3*interval)).Draw(t, "advance")))
			case op == 2 && len(pending) > 0:
				i := rapid.IntRange(0, len(pending)-1).Draw(t, "cancel")
				b.Cancel(pending[i])
				pending = slices.Delete(pending, i, i+1)
			case op == 3:
				until := now.Add(time.Duration(rapid.Int64Range(-int64(interval), int64(5*interval)).Draw(t, "pause")))
				b.Pause(until)
				if until.After(paused) {
					paused = until
				}
			case op == 4:
				for range rapid.IntRange(1, 3*burst).Draw(t, "same instant") {
					reserve()
				}
			default:
				reserve()
			}
		}
		limRequireNoViolation(t, admitted, burst, rpm)
	})
}

// TestBucketRateNeverAboveConfigured: the interval between tokens was
// rounded down (60s/7 = 8571428571ns), so that steady waiting admitted
// k+1 attempts in k intervals, slightly more than max_requests_per_minute.
func TestBucketRateNeverAboveConfigured(t *testing.T) {
	for _, rpm := range []int{7, 9, 11, 13, 7000, 9999} {
		b := newBucket(runtime.RateLimitConfig{MaxRequestsPerMinute: rpm, BurstSize: 1}, limEpoch)
		var adm []time.Duration
		for range 200 {
			r, ok := b.Reserve(limEpoch, math.MaxInt64)
			require.True(t, ok)
			adm = append(adm, r.Wait)
		}
		limRequireNoViolation(t, adm, 1, rpm)
	}
}

func TestBucketBurstThenRate(t *testing.T) {
	b := newBucket(runtime.RateLimitConfig{MaxRequestsPerMinute: 60, BurstSize: 3}, limEpoch)
	for i := range 3 {
		r, ok := b.Reserve(limEpoch, 0)
		require.True(t, ok, "token %d of the burst", i)
		assert.Zero(t, r.Wait)
	}
	_, ok := b.Reserve(limEpoch, 0)
	assert.False(t, ok, "burst exhausted")
	r, ok := b.Reserve(limEpoch, 999*time.Millisecond)
	assert.False(t, ok, "the next token comes in 1s: %v", r)
	r, ok = b.Reserve(limEpoch, time.Second)
	require.True(t, ok)
	assert.Equal(t, time.Second, r.Wait)
	b.Cancel(r) // the newest: given back
	r, ok = b.Reserve(limEpoch.Add(time.Second), 0)
	require.True(t, ok, "the token given back is there at 1s")
	_, ok = b.Reserve(limEpoch.Add(time.Second), 0)
	assert.False(t, ok)
	// Idle for long: full again, not more than full.
	later := limEpoch.Add(time.Hour)
	for range 3 {
		_, ok = b.Reserve(later, 0)
		require.True(t, ok)
	}
	_, ok = b.Reserve(later, 0)
	assert.False(t, ok)
}

func TestBucketCancelOnlyTheNewest(t *testing.T) {
	b := newBucket(runtime.RateLimitConfig{MaxRequestsPerMinute: 60, BurstSize: 1}, limEpoch)
	_, ok := b.Reserve(limEpoch, 0)
	require.True(t, ok)
	r1, _ := b.Reserve(limEpoch, time.Hour) // at 1s
	r2, _ := b.Reserve(limEpoch, time.Hour) // at 2s
	b.Cancel(r1)                            // not the newest: r2 keeps its slot, r1's is lost
	r3, ok := b.Reserve(limEpoch, time.Hour)
	require.True(t, ok)
	assert.Equal(t, 3*time.Second, r3.Wait)
	b.Cancel(r3)
	b.Cancel(r2)
	r4, _ := b.Reserve(limEpoch, time.Hour)
	assert.Equal(t, 2*time.Second, r4.Wait, "r3 then r2 given back, newest first")
}

func TestBucketPause(t *testing.T) {
	b := newBucket(runtime.RateLimitConfig{MaxRequestsPerMinute: 60, BurstSize: 5}, limEpoch)
	b.Pause(limEpoch.Add(10 * time.Second))
	_, ok := b.Reserve(limEpoch, 0)
	assert.False(t, ok, "a full bucket admits nothing while paused")
	r, ok := b.Reserve(limEpoch, time.Minute)
	require.True(t, ok)
	assert.Equal(t, 10*time.Second, r.Wait)
	b.Pause(limEpoch.Add(5 * time.Second)) // sooner than the pause in force: no effect
	r, _ = b.Reserve(limEpoch, time.Minute)
	assert.Equal(t, 11*time.Second, r.Wait)

	// A paused bucket may not be forgotten: a fresh one would not be paused.
	b = newBucket(runtime.RateLimitConfig{MaxRequestsPerMinute: 60, BurstSize: 5}, limEpoch)
	b.Pause(limEpoch.Add(10 * time.Second))
	assert.False(t, b.idle(limEpoch.Add(9*time.Second)))
	assert.True(t, b.idle(limEpoch.Add(14*time.Second)), "empty at 10s, full again 5 tokens later")
}

// TestBucketGiveBackDoesNotUndoPause: a pause shorter than the waits
// already reserved left tat alone; giving the newest reservation back then
// lowered tat below the pause, and the next attempt went before it ended.
func TestBucketGiveBackDoesNotUndoPause(t *testing.T) {
	b := newBucket(runtime.RateLimitConfig{MaxRequestsPerMinute: 1, BurstSize: 1}, limEpoch)
	r, ok := b.Reserve(limEpoch, 0) // the only token, until 60s
	require.True(t, ok)
	b.Pause(limEpoch.Add(time.Second)) // a 429: Retry-After 1s
	b.Cancel(r)                        // the attempt did not go after all
	_, ok = b.Reserve(limEpoch, 0)
	assert.False(t, ok, "admitted during the pause")
	r, ok = b.Reserve(limEpoch, time.Hour)
	require.True(t, ok)
	assert.Equal(t, time.Second, r.Wait, "the token given back is there when the pause ends")
}

func TestBucketExtremeConfigDoesNotOverflow(t *testing.T) {
	for _, cfg := range []runtime.RateLimitConfig{
		{MaxRequestsPerMinute: 1, BurstSize: math.MaxInt},
		{MaxRequestsPerMinute: math.MaxInt, BurstSize: 1},
		{MaxRequestsPerMinute: math.MaxInt, BurstSize: math.MaxInt},
	} {
		b := newBucket(cfg, limEpoch)
		assert.Positive(t, b.interval.Load())
		assert.GreaterOrEqual(t, b.tolerance, int64(0))
		for _, now := range []time.Time{limEpoch, limEpoch.Add(time.Hour), time.Unix(1<<40, 0)} {
			r, ok := b.Reserve(now, 0)
			assert.True(t, ok, "%+v at %v", cfg, now)
			assert.Zero(t, r.Wait)
		}
	}
	// A clock centuries behind the bucket's epoch: nothing wraps around
	// into an admission.
	b := newBucket(runtime.RateLimitConfig{MaxRequestsPerMinute: 60, BurstSize: 1}, time.Unix(1<<40, 0))
	_, ok := b.Reserve(time.Unix(0, 0), math.MaxInt64)
	assert.True(t, ok, "a wait of centuries still fits an infinite maxWait")
	_, ok = b.Reserve(time.Unix(0, 0), 0)
	assert.False(t, ok)
}

// TestBucketConcurrentSameInstant: goroutines racing for tokens at one
// instant get exactly burst of them, and waiting ones get distinct slots.
func TestBucketConcurrentSameInstant(t *testing.T) {
	const burst, goroutines, each = 37, 16, 8
	b := newBucket(runtime.RateLimitConfig{MaxRequestsPerMinute: 600, BurstSize: burst}, limEpoch)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range goroutines {
		wg.Go(func() {
			<-start
			for range each {
				if r, ok := b.Reserve(limEpoch, 0); ok {
					assert.Zero(t, r.Wait)
					admitted.Add(1)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	assert.Equal(t, int64(burst), admitted.Load())

	// Now everyone waits: each gets its own slot, one interval apart.
	var mu sync.Mutex
	var waits []time.Duration
	start = make(chan struct{})
	for range goroutines {
		wg.Go(func() {
			<-start
			for range each {
				r, ok := b.Reserve(limEpoch, math.MaxInt64)
				assert.True(t, ok)
				mu.Lock()
				waits = append(waits, r.Wait)
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	slices.Sort(waits)
	for i, w := range waits {
		assert.Equal(t, time.Duration(i+1)*100*time.Millisecond, w)
	}
}

// TestBucketConcurrentGiveBack: concurrent waiters, some giving their
// token back, never exceed the bound.
func TestBucketConcurrentGiveBack(t *testing.T) {
	const burst, rpm = 5, 6000
	b := newBucket(runtime.RateLimitConfig{MaxRequestsPerMinute: rpm, BurstSize: burst}, limEpoch)
	var mu sync.Mutex
	var adm []time.Duration
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				r, ok := b.Reserve(limEpoch, time.Duration(i%3)*time.Second)
				if !ok {
					continue
				}
				if (g+i)%4 == 0 {
					b.Cancel(r)
					continue
				}
				mu.Lock()
				adm = append(adm, r.Wait)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	limRequireNoViolation(t, adm, burst, rpm)
}

// TestBucketRealClock takes tokens at time.Now from several goroutines and
// checks the admission instants (now + Wait) against the bound.
func TestBucketRealClock(t *testing.T) {
	const burst, rpm = 5, 600_000 // a token every 100µs
	start := time.Now()
	b := newBucket(runtime.RateLimitConfig{MaxRequestsPerMinute: rpm, BurstSize: burst}, start)
	var mu sync.Mutex
	var adm []time.Duration
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				now := time.Now()
				maxWait := time.Duration(0)
				if (g+i)%2 == 0 {
					maxWait = 2 * time.Millisecond
				}
				if r, ok := b.Reserve(now, maxWait); ok {
					mu.Lock()
					adm = append(adm, now.Add(r.Wait).Sub(start))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	require.NotEmpty(t, adm)
	limRequireNoViolation(t, adm, burst, rpm)
}

// The per-host registry.

var limHostSeq atomic.Int64

// limUniqueHost returns a host name no other test (or run, with -count) uses.
func limUniqueHost(prefix string) string {
	return prefix + "-" + strconv.FormatInt(limHostSeq.Add(1), 10) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
}

func limRegistryLen() int {
	buckets.Lock()
	defer buckets.Unlock()
	return len(buckets.m)
}

// TestHostBucketsBounded: a million distinct hosts, each used once and
// released, leave a bounded registry behind, in entries and in memory.
func TestHostBucketsBounded(t *testing.T) {
	// A million takes seconds; four times as long under the race detector,
	// where a fifth of it shows the same: the registry is swept each time
	// it doubles, from 1024 buckets on.
	n := 1_000_000
	if testing.Short() || raceEnabled() {
		n = 200_000
	}
	cfg := runtime.RateLimitConfig{MaxRequestsPerMinute: 60_000, BurstSize: 2} // a token every 1ms
	prefix := limUniqueHost("bounded") + "-"
	const limit = 4 << 20
	before := settledHeap(0, 0)
	now := limEpoch
	maxLen := 0
	one := make([]*bucket, 1)
	for i := range n {
		now = now.Add(10 * time.Microsecond) // each bucket is idle again 100 hosts later
		b := acquireHostBucket(prefix+strconv.Itoa(i), cfg, nil, now)
		_, ok := b.Reserve(now, 0)
		require.True(t, ok)
		one[0] = b
		releaseHostBuckets(one)
		if i%1000 == 0 {
			maxLen = max(maxLen, limRegistryLen())
		}
	}
	maxLen = max(maxLen, limRegistryLen())
	after := settledHeap(before, limit)
	t.Logf("%d hosts: at most %d buckets held; heap %d → %d bytes", n, maxLen, before, after)
	assert.Less(t, maxLen, 4096)
	assert.LessOrEqual(t, after, before+limit, "heap grew by more than 4 MiB")
}

// TestHostBucketInUseNeverEvicted: a bucket that a Manager holds survives
// any number of sweeps, idle or not; one released but still refilling
// survives too, so that wrappers built and dropped one after another keep
// sharing its state; once released and full, it goes.
func TestHostBucketInUseNeverEvicted(t *testing.T) {
	cfg := runtime.RateLimitConfig{MaxRequestsPerMinute: 60, BurstSize: 2}
	held := limUniqueHost("held")
	busy := limUniqueHost("busy")
	now := limEpoch
	hb := acquireHostBucket(held, cfg, nil, now)
	bb := acquireHostBucket(busy, cfg, nil, now)
	for range 10 { // busy's tokens are taken until 8s from now
		_, ok := bb.Reserve(now, time.Minute)
		require.True(t, ok)
	}
	releaseHostBuckets([]*bucket{bb})

	churn := func(n int) {
		prefix := limUniqueHost("churn") + "-"
		one := make([]*bucket, 1)
		for i := range n {
			now = now.Add(time.Microsecond)
			one[0] = acquireHostBucket(prefix+strconv.Itoa(i), cfg, nil, now)
			releaseHostBuckets(one)
		}
	}
	churn(5000)
	assert.Same(t, hb, acquireHostBucket(held, cfg, nil, now), "held bucket evicted")
	releaseHostBuckets([]*bucket{hb})
	again := acquireHostBucket(busy, cfg, nil, now)
	assert.Same(t, bb, again, "a released bucket that is not full yet was evicted")
	releaseHostBuckets([]*bucket{again})

	now = now.Add(time.Hour) // everything is idle now; held is still held
	churn(5000)
	assert.Same(t, hb, acquireHostBucket(held, cfg, nil, now), "held bucket evicted")
	releaseHostBuckets([]*bucket{hb, hb})
	assert.NotSame(t, bb, acquireHostBucket(busy, cfg, nil, now), "a released, full bucket stays forever")
}

type limHostInner struct{ host string }

func (h limHostInner) Host() string { return h.host }

// TestManagerReleasesHostBucketWhenCollected: a dropped wrapper gives its
// per-host buckets back.
func TestManagerReleasesHostBucketWhenCollected(t *testing.T) {
	host := limUniqueHost("collected")
	spec := &Spec{Wrapper: "W", Methods: []MethodSpec{{Name: "A"}, {Name: "B"}}}
	m, err := NewManager(limHostInner{host}, spec, runtime.WithLogger(nil))
	require.NoError(t, err)
	b := m.methods[0].local
	require.NotNil(t, b)
	require.Same(t, b, m.methods[1].local, "both methods share the host's bucket")
	refs := func() int64 {
		buckets.Lock()
		defer buckets.Unlock()
		return b.refs
	}
	assert.Equal(t, int64(2), refs())
	m = nil
	for i := 0; i < 50 && refs() != 0; i++ {
		rt.GC()
		rt.Gosched()
	}
	assert.Zero(t, refs())
}
