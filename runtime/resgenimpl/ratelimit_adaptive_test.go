package resgenimpl

import (
	"math"
	"testing"
	"time"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func adaptiveBucket(rpm, burst int) *bucket {
	return newBucket(runtime.RateLimitConfig{MaxRequestsPerMinute: rpm, BurstSize: burst, Adaptive: true}, limEpoch)
}

func TestAdaptiveRateCutsAndClimbsBack(t *testing.T) {
	b := adaptiveBucket(6000, 10) // 100 a second
	a := b.adaptive
	require.NotNil(t, a)
	assert.InDelta(t, 100, a.rate(), 0.01)

	at := func(d time.Duration) time.Time { return limEpoch.Add(d) }
	gen := a.gen.Load()
	r, ok := a.cut(gen, at(time.Second+5*time.Millisecond))
	require.True(t, ok)
	assert.InDelta(t, 80, r, 0.01, "a cut takes the rate to 0.8 times what it was")
	assert.InDelta(t, 80, a.rate(), 0.01)

	// An answer to an attempt sent before the cut does not cut again.
	_, ok = a.cut(gen, at(time.Second+6*time.Millisecond))
	assert.False(t, ok)

	// The rate climbs back to 100 at K, stays near it, then probes beyond,
	// up to max: never more than max.
	k := time.Duration(math.Cbrt(100*0.2/(adaptiveC*100)) * float64(time.Second))
	prev := 0.0
	for d := time.Duration(0); d < 3*k; d += 10 * time.Millisecond {
		b.Reserve(at(time.Second+5*time.Millisecond+d), 0)
		r := a.rate()
		assert.GreaterOrEqual(t, r, prev-0.01, "the rate never falls between cuts (at %v)", d)
		assert.LessOrEqual(t, r, 100.01)
		prev = r
	}
	assert.InDelta(t, 100, a.rate(), 0.01, "back at max")
	assert.Equal(t, int64(maxSpan), a.next.Load(), "at max, Reserve recomputes nothing")
}

// TestAdaptiveRateBounds: whatever the answers and times, the rate stays
// between one a minute and max_requests_per_minute, and every cut that
// counts lowers it.
func TestAdaptiveRateBounds(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rpm := rapid.IntRange(1, 1_000_000).Draw(t, "rpm")
		b := adaptiveBucket(rpm, rapid.IntRange(1, 100).Draw(t, "burst"))
		a := b.adaptive
		max := float64(rpm) / 60
		now := limEpoch
		for i := range rapid.IntRange(1, 200).Draw(t, "steps") {
			now = now.Add(time.Duration(rapid.Int64Range(0, int64(10*time.Second)).Draw(t, "advance")))
			b.Reserve(now, 0)
			before := a.rate()
			if rapid.Bool().Draw(t, "cut") {
				gen := a.gen.Load() - uint64(rapid.IntRange(0, 1).Draw(t, "stale"))
				if r, ok := a.cut(gen, now); ok {
					if before > adaptiveMinRate*1.01 {
						assert.Less(t, r, before, "step %d: a cut lowers the rate", i)
					}
				}
			}
			r := a.rate()
			if r < adaptiveMinRate*0.99 || r > max*1.0001+1e-9 {
				t.Fatalf("step %d: rate %v outside [%v, %v]", i, r, adaptiveMinRate, max)
			}
		}
	})
}

// simulateAdaptive drives an adaptive bucket at max_requests_per_minute =
// maxRate×60 with a client that always has calls to send, against a server
// that admits limit a second (a token bucket of limit/10) and answers the
// rest 429 after rtt. It returns the server's successes a second and the
// share of attempts answered 429 over [from, to).
func simulateAdaptive(maxRate, limit float64, rtt, from, to time.Duration) (okPerSec, limited float64) {
	b := adaptiveBucket(int(maxRate*60), 10)
	tokens, size := limit/10, max(limit/10, 1)
	type answer struct {
		at  time.Duration
		gen uint64
	}
	var pending []answer
	var ok, sent, denied int
	step := time.Millisecond
	for t := time.Duration(0); t < to; t += step {
		now := limEpoch.Add(t)
		for len(pending) > 0 && pending[0].at <= t {
			b.adaptive.cut(pending[0].gen, now)
			pending = pending[1:]
		}
		tokens = min(tokens+limit*step.Seconds(), size)
		for {
			gen := b.adaptive.gen.Load()
			if _, got := b.Reserve(now, 0); !got {
				break
			}
			in := t >= from
			if in {
				sent++
			}
			if tokens >= 1 {
				tokens--
				if in {
					ok++
				}
			} else {
				pending = append(pending, answer{at: t + rtt, gen: gen})
				if in {
					denied++
				}
			}
		}
	}
	return float64(ok) / (to - from).Seconds(), float64(denied) / float64(max(sent, 1))
}

// TestAdaptiveRateConverges: against a server whose limit is below the
// configured rate, the rate settles within 10% of the limit, and under 1%
// of attempts are answered 429 once it has.
func TestAdaptiveRateConverges(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		limit := rapid.Float64Range(100, 5000).Draw(t, "limit")
		maxRate := limit * rapid.Float64Range(1.2, 5).Draw(t, "over")
		rtt := time.Duration(rapid.IntRange(1, 50).Draw(t, "rtt_ms")) * time.Millisecond
		okPerSec, limited := simulateAdaptive(maxRate, limit, rtt, 10*time.Second, 20*time.Second)
		if okPerSec < 0.9*limit || okPerSec > 1.1*limit {
			t.Fatalf("successes %.1f/s, want within 10%% of %.1f/s", okPerSec, limit)
		}
		if limited >= 0.01 {
			t.Fatalf("%.2f%% of attempts answered 429 once converged, want under 1%%", 100*limited)
		}
	})
}

func TestAdaptiveBucketsAreNotSharedWithFixedOnes(t *testing.T) {
	cfg := runtime.RateLimitConfig{MaxRequestsPerMinute: 600, BurstSize: 5}
	fixed := acquireHostBucket("adaptive.example", cfg, nil, limEpoch)
	cfg.Adaptive = true
	adaptive := acquireHostBucket("adaptive.example", cfg, nil, limEpoch)
	other := acquireHostBucket("adaptive.example", cfg, nil, limEpoch)
	defer releaseHostBuckets([]*bucket{fixed, adaptive, other})
	assert.NotSame(t, fixed, adaptive)
	assert.Same(t, adaptive, other, "every wrapper of a host shares its adaptive rate")
	assert.Nil(t, fixed.adaptive)
}

// TestAdaptiveRateRecoversFromTheFloor is the bug where a rate cut to one
// a minute kept the bucket shut long after it had climbed back: the token
// taken at the floor rate put its theoretical arrival time a minute ahead,
// and nothing brought it back.
func TestAdaptiveRateRecoversFromTheFloor(t *testing.T) {
	b := adaptiveBucket(60000, 10) // 1000 a second
	a := b.adaptive
	now := limEpoch
	for a.rate() > adaptiveMinRate*1.01 {
		now = now.Add(time.Millisecond)
		a.cut(a.gen.Load(), now)
	}
	b.Reserve(now, time.Hour) // a token at one a minute
	granted := 0
	for end := now.Add(10 * time.Second); now.Before(end); now = now.Add(time.Millisecond) {
		for {
			if _, ok := b.Reserve(now, 0); !ok {
				break
			}
			granted++
		}
	}
	assert.Greater(t, granted, 2000, "ten seconds after the floor, the bucket admits again at hundreds a second")
}
