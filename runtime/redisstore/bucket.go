package redisstore

import (
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resgen-dev/resgen/runtime"
)

// The bucket is GCRA, as runtime's in-process bucket, in a hash of two
// fields, in microseconds of the server's clock (Lua numbers are doubles:
// microseconds since the epoch stay exact, nanoseconds would not):
//
//	tat    the theoretical arrival time of the next token
//	floor  tat as if empty when the latest pause ends
//
// The key expires when the bucket is full again: a fresh bucket would
// behave the same.

const bucketPrelude = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local v = redis.call('HMGET', KEYS[1], 'tat', 'floor')
local tat = tonumber(v[1]) or 0
local floor = tonumber(v[2]) or 0
local function expire(tat, floor)
	local ms = math.ceil((math.max(tat, floor) - now) / 1000) + 1000
	redis.call('PEXPIRE', KEYS[1], string.format('%.0f', ms))
end
`

// ARGV: interval, tolerance, maxWait (µs). Reply: {1, wait, token} or {0}.
var reserveScript = redis.NewScript(bucketPrelude + `
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local maxWait = tonumber(ARGV[3])
local start = math.max(tat, now, floor)
local wait = start - tolerance - now
if wait > maxWait then
	return {0}
end
local nxt = start + interval
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', nxt))
expire(nxt, floor)
return {1, math.max(wait, 0), nxt}
`)

// ARGV: token, interval. Gives the token back when it is still the newest.
var cancelScript = redis.NewScript(bucketPrelude + `
local token = tonumber(ARGV[1])
if v[1] and tat == token then
	tat = token - tonumber(ARGV[2])
	redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', tat))
	expire(tat, floor)
	return {1}
end
return {0}
`)

// ARGV: pause (µs from now), tolerance.
var pauseScript = redis.NewScript(bucketPrelude + `
local f = now + tonumber(ARGV[1]) + tonumber(ARGV[2])
if f > floor then
	redis.call('HSET', KEYS[1], 'floor', string.format('%.0f', f))
	expire(tat, f)
	return {1}
end
return {0}
`)

// maxSpan bounds times and the tolerance, in microseconds (about 35 years),
// well within a double's exact integers when added to the time since the
// epoch.
const maxSpan = 1 << 50

type bucket struct {
	s         *Store
	key       string // the Redis key
	name      string
	cfg       runtime.RateLimitConfig
	interval  int64 // µs per token, rounded up
	tolerance int64 // (burst-1) × interval, µs

	localOnce sync.Once
	local     runtime.BucketState
}

func newBucket(s *Store, name string, cfg runtime.RateLimitConfig) *bucket {
	rpm := int64(max(cfg.MaxRequestsPerMinute, 1))
	// Rounded up, as runtime's bucket: never more than the rate.
	interval := (int64(time.Minute/time.Microsecond)-1)/rpm + 1
	burst := int64(max(cfg.BurstSize, 1))
	tolerance := int64(maxSpan)
	if burst-1 < maxSpan/interval {
		tolerance = (burst - 1) * interval
	}
	return &bucket{
		s:         s,
		key:       s.prefix + "bucket:" + name,
		name:      name,
		cfg:       cfg,
		interval:  interval,
		tolerance: tolerance,
	}
}

func (b *bucket) fallback() runtime.BucketState {
	b.localOnce.Do(func() {
		l, err := b.s.local.Bucket(b.name, b.cfg)
		if err != nil { // cannot happen: cfg was validated
			l = nopBucket{}
		}
		b.local = l
	})
	return b.local
}

// micros converts d to whole microseconds within ±maxSpan.
func micros(d time.Duration) int64 {
	return min(max(int64(d/time.Microsecond), -maxSpan), maxSpan)
}

func (b *bucket) Reserve(now time.Time, maxWait time.Duration) (runtime.Reservation, bool) {
	v, ok := b.s.eval(reserveScript, b.key, b.interval, b.tolerance, micros(maxWait))
	if ok && len(v) >= 1 {
		if v[0] == 0 {
			return runtime.Reservation{}, false
		}
		if len(v) == 3 {
			return runtime.Reservation{Wait: time.Duration(v[1]) * time.Microsecond, Token: v[2]}, true
		}
	}
	r, ok := b.fallback().Reserve(now, maxWait)
	if ok {
		r.Token |= localToken // local tokens are positive: the tag tells them apart
	}
	return r, ok
}

func (b *bucket) Cancel(r runtime.Reservation) {
	if r.Token < 0 {
		b.fallback().Cancel(runtime.Reservation{Wait: r.Wait, Token: r.Token &^ localToken})
		return
	}
	if r.Token == 0 {
		return
	}
	b.s.eval(cancelScript, b.key, strconv.FormatInt(r.Token, 10), b.interval)
}

func (b *bucket) Pause(until time.Time) {
	d := micros(time.Until(until))
	if d <= 0 {
		return
	}
	if _, ok := b.s.eval(pauseScript, b.key, d, b.tolerance); !ok {
		b.fallback().Pause(until)
	}
}

type nopBucket struct{}

func (nopBucket) Reserve(time.Time, time.Duration) (runtime.Reservation, bool) {
	return runtime.Reservation{}, true
}
func (nopBucket) Cancel(runtime.Reservation) {}
func (nopBucket) Pause(time.Time)            {}
