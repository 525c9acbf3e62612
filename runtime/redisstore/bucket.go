package redisstore

import (
	"context"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/store"
)

// The bucket is GCRA, as runtime's in-process bucket, in a hash of two
// fields, in microseconds of the server's clock (Lua numbers are doubles:
// microseconds since the epoch stay exact, nanoseconds would not):
//
//	tat    the theoretical arrival time of the next token
//	floor  tat as if empty when the latest pause ends
//	c      when tat last caught up with the time or the floor: the bucket
//	       was full, or paused, and reservations made before then no
//	       longer weigh on it
//
// The key expires when the bucket is full again: a fresh bucket would
// behave the same. A lease of n tokens is n reservations at once, counted
// when it is taken; a sorted set next to the hash (same hash tag) names the
// processes that used the bucket lately, scored by their last heartbeat.

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
local function start()
	local st = math.max(tat, now, floor)
	if st > tat then
		redis.call('HSET', KEYS[1], 'c', string.format('%.0f', now))
	end
	return st
end
`

// ARGV: interval, tolerance, maxWait (µs). Reply: {1, wait, token} or {0}.
var reserveScript = redis.NewScript(bucketPrelude + `
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local maxWait = tonumber(ARGV[3])
local st = math.max(tat, now, floor)
local wait = st - tolerance - now
if wait > maxWait then
	return {0}
end
st = start()
local nxt = st + interval
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', nxt))
expire(nxt, floor)
return {1, math.max(wait, 0), nxt}
`)

// KEYS: the bucket, its members set. ARGV: interval, tolerance, n, this
// process's name, a member's lifetime (µs). Leases up to n tokens that are
// there now, and renews the membership. Reply: {leased, 0, members, the
// server's time (µs)}, or {0, µs until the next token, members, time}.
var leaseScript = redis.NewScript(bucketPrelude + `
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local ttl = tonumber(ARGV[5])
redis.call('ZADD', KEYS[2], string.format('%.0f', now), ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%.0f', now - ttl))
redis.call('PEXPIRE', KEYS[2], string.format('%.0f', math.ceil(ttl / 1000) * 2))
local members = redis.call('ZCARD', KEYS[2])
local st = math.max(tat, now, floor)
local avail = math.floor((now + tolerance - st) / interval) + 1
if avail < 1 then
	return {0, st - tolerance - now, members, now}
end
st = start()
local n = math.min(tonumber(ARGV[3]), avail)
local nxt = st + n * interval
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', nxt))
expire(nxt, floor)
return {n, 0, members, now}
`)

// ARGV: interval, n, since, latest, latestN: n unused leased tokens, from
// leases taken at or after since (server µs), the latest of them at
// latest with latestN of them. Gives the tokens back unless the bucket
// caught up since (then its reservations were absorbed: only those of
// the latest lease, if after, are given back). Reply: {tokens given back}.
var giveBackScript = redis.NewScript(bucketPrelude + `
if not v[1] then
	return {0} -- gone: full
end
local c = tonumber(redis.call('HGET', KEYS[1], 'c')) or 0
local n = tonumber(ARGV[2])
if c > tonumber(ARGV[3]) then
	if c > tonumber(ARGV[4]) then
		return {0}
	end
	n = math.min(n, tonumber(ARGV[5]))
end
tat = tat - n * tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', tat))
expire(tat, floor)
return {n}
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

// ARGV: pause (µs from now), tolerance, channel. Tells every process to
// drop its lease: "p <key> <pause µs>".
var pauseScript = redis.NewScript(bucketPrelude + `
local f = now + tonumber(ARGV[1]) + tonumber(ARGV[2])
redis.call('PUBLISH', ARGV[3], 'p ' .. KEYS[1] .. ' ' .. ARGV[1])
if f > floor then
	redis.call('HSET', KEYS[1], 'floor', string.format('%.0f', f))
	expire(tat, f)
	return {1}
end
return {0}
`)

// KEYS: the members set. ARGV: this process's name, how long a member
// lives without a heartbeat (µs). Reply: how many members are alive.
var memberScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - ttl))
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', math.ceil(ttl / 1000) * 2))
return redis.call('ZCARD', KEYS[1])
`)

// maxSpan bounds times and the tolerance, in microseconds (about 35 years),
// well within a double's exact integers when added to the time since the
// epoch.
const maxSpan = 1 << 50

type bucket struct {
	s         *Store
	key       string // the Redis hash
	mkey      string // the Redis set of members
	name      string
	cfg       runtime.RateLimitConfig
	interval  int64 // µs per token, rounded up
	tolerance int64 // (burst-1) × interval, µs
	maxLease  int64 // the largest lease: min(burst, rate × horizon), at least 1

	// The lease: tokens counted by the shared bucket, handed out here.
	left     atomic.Int64 // leased tokens not handed out yet
	want     atomic.Int64 // the lease's size, from the recent rate
	granted  atomic.Int64 // tokens leased and not expired, ever: granted - left were used
	leasedAt atomic.Int64 // Unix ns of the latest lease
	low      atomic.Bool  // tokens were used since the last refill: lease more
	// missed counts the admissions asked for when the lease was empty:
	// with the tokens used, the demand the lease is sized from, so that a
	// process that the others' leases leave short asks for as much as it
	// needs, not for what it got.
	missed atomic.Int64

	emptyUntil atomic.Int64 // Unix ns: the shared bucket has no token before
	members    atomic.Int64 // processes that used the bucket, last seen (0: never seen)

	fmu    sync.Mutex
	flight *flight // the caller's lease in flight

	// The leases the tokens left come from, for giving them back at
	// Close: server µs of the earliest and the latest, and how many the
	// latest added.
	lmu     sync.Mutex
	since   int64
	latest  int64
	latestN int64

	// The background goroutine's rate estimate.
	rate     float64 // tokens asked for per second
	lastAt   time.Time
	lastUsed int64 // tokens used and asked for in vain, at lastAt

	share atomic.Pointer[share]
}

// flight is a lease a caller waits for; the others wait for it too.
type flight struct {
	done chan struct{}
	ok   bool // Redis answered
	got  bool // with tokens
}

// share is the bucket's local state during one Redis outage: its share of
// the limit.
type share struct {
	outage uint64
	state  store.Bucket
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
	perHorizon := int64(math.Ceil(float64(rpm) / float64(time.Minute) * float64(s.horizon)))
	b := &bucket{
		s:         s,
		key:       s.prefix + "{bucket:" + name + "}",
		name:      name,
		cfg:       cfg,
		interval:  interval,
		tolerance: tolerance,
		maxLease:  max(1, min(burst, perHorizon)),
		// The rate counts from here: the admissions made before the
		// background goroutine's first round are demand too.
		lastAt: s.now(),
	}
	b.mkey = b.key + ":members"
	b.want.Store(1)
	return b
}

// micros converts d to whole microseconds within ±maxSpan.
func micros(d time.Duration) int64 {
	return min(max(int64(d/time.Microsecond), -maxSpan), maxSpan)
}

// take hands out a leased token.
func (b *bucket) take() bool {
	for {
		n := b.left.Load()
		if n <= 0 {
			return false
		}
		if b.left.CompareAndSwap(n, n-1) {
			if n-1 <= b.want.Load()/2 && !b.low.Load() {
				b.low.Store(true)
				b.s.kick()
			}
			return true
		}
	}
}

func (b *bucket) Reserve(now time.Time, maxWait time.Duration) (store.Reservation, bool) {
	if b.take() {
		return store.Reservation{}, true
	}
	b.missed.Add(1)
	if b.s.down.Load() {
		return b.fallback(now, maxWait)
	}
	return b.slow(now, maxWait)
}

func (b *bucket) slow(now time.Time, maxWait time.Duration) (store.Reservation, bool) {
	if maxWait <= 0 && b.s.now().UnixNano() < b.emptyUntil.Load() {
		return store.Reservation{}, false // the shared bucket said so
	}
	ok, got := b.fetch()
	if !ok {
		return b.fallback(now, maxWait)
	}
	if got {
		return store.Reservation{}, true
	}
	if maxWait <= 0 {
		return store.Reservation{}, false
	}
	v, ok := b.s.eval(reserveScript, b.key, b.interval, b.tolerance, micros(maxWait))
	if !ok || len(v) < 1 {
		return b.fallback(now, maxWait)
	}
	if v[0] == 0 || len(v) != 3 {
		return store.Reservation{}, false
	}
	return store.Reservation{Wait: time.Duration(v[1]) * time.Microsecond, Token: v[2]}, true
}

// fetch leases tokens for the caller, which takes one of them, or waits
// for the lease another caller is taking. ok: Redis answered; got: the
// caller has its token.
func (b *bucket) fetch() (ok, got bool) {
	b.fmu.Lock()
	if f := b.flight; f != nil {
		b.fmu.Unlock()
		<-f.done // within the Store's timeout
		if b.take() {
			return true, true
		}
		if !f.ok || !f.got {
			return f.ok, false
		}
		b.fmu.Lock() // the shared bucket had tokens: lease again
	}
	f := &flight{done: make(chan struct{})}
	b.flight = f
	b.fmu.Unlock()
	defer func() {
		b.fmu.Lock()
		b.flight = nil
		b.fmu.Unlock()
		close(f.done)
	}()
	b.low.Store(true)
	n, ok := b.lease(max(b.want.Load()-b.left.Load(), 1), 1)
	f.ok, f.got = ok, n > 0
	return ok, n > 0
}

// lease takes up to n tokens from the shared bucket and adds them to the
// lease, but for the first use of them, taken at once; ok=false: Redis is
// down.
func (b *bucket) lease(n, use int64) (got int64, ok bool) {
	v, ok := do(b.s, func(ctx context.Context) ([]int64, error) {
		return leaseScript.Run(ctx, b.s.client, []string{b.key, b.mkey},
			b.interval, b.tolerance, n, b.s.id, micros(memberTTL)).Int64Slice()
	})
	if !ok || len(v) != 4 {
		return 0, false
	}
	if v[2] > 0 {
		b.members.Store(v[2])
	}
	if v[0] <= 0 {
		b.emptyUntil.Store(b.s.now().UnixNano() + v[1]*int64(time.Microsecond))
		return 0, true
	}
	b.granted.Add(v[0])
	b.leasedAt.Store(b.s.now().UnixNano())
	if keep := v[0] - min(use, v[0]); keep > 0 {
		b.lmu.Lock()
		if b.left.Add(keep) == keep { // the lease was empty: these are all there is
			b.since = v[3]
		} else {
			b.since = min(b.since, v[3])
		}
		b.latest = max(b.latest, v[3])
		if b.latest == v[3] {
			b.latestN = keep
		}
		b.lmu.Unlock()
	}
	return v[0], true
}

// giveBack returns the lease's tokens not handed out to the shared bucket,
// in pipe; the Store's Close calls it.
func (b *bucket) giveBack(ctx context.Context, pipe redis.Pipeliner) {
	n := b.left.Swap(0)
	if n <= 0 {
		return
	}
	b.granted.Add(-n)
	b.lmu.Lock()
	since, latest, latestN := b.since, b.latest, b.latestN
	b.lmu.Unlock()
	giveBackScript.Eval(ctx, pipe, []string{b.key}, b.interval, n, since, latest, latestN)
}

// refill sizes the lease from the recent rate, expires old tokens and
// leases more when half the lease is used; the background goroutine calls
// it.
func (b *bucket) refill(now time.Time) {
	used := b.granted.Load() - b.left.Load()
	asked := used + b.missed.Load() // a slow admission that got a token counts twice: an over-estimate, capped by maxLease
	if dt := now.Sub(b.lastAt); dt >= tickEvery {
		r := float64(asked-b.lastUsed) / dt.Seconds()
		b.rate = (b.rate + r) / 2
		b.lastAt, b.lastUsed = now, asked
		want := int64(math.Ceil(b.rate * b.s.horizon.Seconds()))
		b.want.Store(min(max(want, 1), b.maxLease))
	}
	if left := b.left.Load(); left > 0 && now.UnixNano()-b.leasedAt.Load() > int64(leaseTTL) {
		b.drop()
	}
	want, left := b.want.Load(), b.left.Load()
	if want < 2 || left > want/2 || !b.low.Load() || b.s.down.Load() {
		return
	}
	b.low.Store(false)
	b.lease(want-left, 0)
}

// drop gives up the lease's tokens (they expire).
func (b *bucket) drop() {
	if x := b.left.Swap(0); x > 0 {
		b.granted.Add(-x)
	}
}

// fallback serves from the bucket's share of the limit while Redis is
// down (see the package doc).
func (b *bucket) fallback(now time.Time, maxWait time.Duration) (store.Reservation, bool) {
	r, ok := b.local().Reserve(now, maxWait)
	if ok {
		r.Token |= localToken // local tokens are positive: the tag tells them apart
	}
	return r, ok
}

// local returns the share of the current outage: the rate and burst
// divided by the number of processes last seen, starting empty when the
// bucket was in use (full when Redis was never reached).
func (b *bucket) local() store.Bucket {
	n := b.s.outages.Load()
	if sh := b.share.Load(); sh != nil && sh.outage == n {
		return sh.state
	}
	b.fmu.Lock()
	defer b.fmu.Unlock()
	if sh := b.share.Load(); sh != nil && sh.outage == n {
		return sh.state
	}
	cfg := b.cfg
	if m := b.members.Load(); m > 1 {
		cfg.MaxRequestsPerMinute = max(1, cfg.MaxRequestsPerMinute/int(m))
		cfg.BurstSize = max(1, cfg.BurstSize/int(m))
	}
	l, err := b.s.local.Bucket(b.name, cfg)
	if err != nil { // cannot happen: cfg was validated
		l = nopBucket{}
	}
	if b.s.reached.Load() {
		l.Pause(time.Now()) // empty now: the fleet may have used the burst
	}
	b.share.Store(&share{outage: n, state: l})
	return l
}

func (b *bucket) Cancel(r store.Reservation) {
	if r.Token < 0 {
		b.local().Cancel(store.Reservation{Wait: r.Wait, Token: r.Token &^ localToken})
		return
	}
	if r.Token == 0 {
		return // a leased token: it expires
	}
	b.s.eval(cancelScript, b.key, strconv.FormatInt(r.Token, 10), b.interval)
}

func (b *bucket) Pause(until time.Time) {
	d := micros(time.Until(until))
	if d <= 0 {
		return
	}
	b.paused(until)
	if _, ok := b.s.eval(pauseScript, b.key, d, b.tolerance, b.s.channel); !ok {
		b.local().Pause(until)
	}
}

// paused drops the lease: nothing is admitted before until.
func (b *bucket) paused(until time.Time) {
	b.drop()
	u := until.UnixNano()
	for {
		e := b.emptyUntil.Load()
		if e >= u || b.emptyUntil.CompareAndSwap(e, u) {
			return
		}
	}
}

type nopBucket struct{}

func (nopBucket) Reserve(time.Time, time.Duration) (store.Reservation, bool) {
	return store.Reservation{}, true
}
func (nopBucket) Cancel(store.Reservation) {}
func (nopBucket) Pause(time.Time)          {}
