package redisstore

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resgen-dev/resgen/runtime"
)

// The breaker is runtime's in-process breaker in a hash, times in
// microseconds of the server's clock:
//
//	g  generation: every change of state starts a new one
//	s  state (0 closed, 1 open, 2 half-open)
//	k  weighted failure streak (closed)
//	p  probes in flight (half-open)
//	n  successful probes (half-open)
//	u  when the open state's recovery timeout has passed
//	l  when the last probe was admitted, or it went half-open
//
// A permit is g<<2|s, compared with the hash's: results of attempts
// admitted in an earlier generation are ignored.

const breakerPrelude = `
local h = redis.call('HMGET', KEYS[1], 'g', 's', 'k', 'p', 'n', 'u', 'l')
local g = tonumber(h[1]) or 0
local s = tonumber(h[2]) or 0
local k = tonumber(h[3]) or 0
local p = tonumber(h[4]) or 0
local n = tonumber(h[5]) or 0
local u = tonumber(h[6]) or 0
local l = tonumber(h[7]) or 0
local now
local function clock()
	if not now then
		local t = redis.call('TIME')
		now = tonumber(t[1]) * 1000000 + tonumber(t[2])
	end
	return now
end
local function f(x) return string.format('%.0f', x) end
local function set(to, rt)
	g = g + 1
	s = to
	p, n, k = 0, 0, 0
	if to == 1 then u = clock() + rt end
	if to == 2 then l = clock() end
end
local function save(ttl)
	redis.call('HSET', KEYS[1], 'g', f(g), 's', s, 'k', f(k), 'p', p, 'n', n, 'u', f(u), 'l', f(l))
	redis.call('PEXPIRE', KEYS[1], ttl)
end
`

// ARGV: recovery timeout (µs), success threshold, ttl (ms).
// Reply: {0} rejected, or {1, permit, 1 when closed with no failure streak}.
var allowScript = redis.NewScript(breakerPrelude + `
local rt, st, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
if s == 0 then
	if k == 0 then return {1, g * 4, 1} end
	return {1, g * 4, 0}
end
clock()
if s == 1 then
	if now < u then return {0} end
	set(2, rt)
elseif p >= st and now - l >= rt then
	-- probes that neither succeed nor fail within rt count as failed
	set(1, rt)
	save(ttl)
	return {0}
end
if p >= st then return {0} end
p = p + 1
if now > l then l = now end
save(ttl)
return {1, g * 4 + s, 0}
`)

// ARGV: permit, success threshold, ttl (ms).
// Reply: {1 when closed with no failure streak}.
var successScript = redis.NewScript(breakerPrelude + `
local permit, st, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
if permit == g * 4 + s then
	if s == 0 then
		if k ~= 0 then
			k = 0
			redis.call('HSET', KEYS[1], 'k', 0)
		end
	elseif s == 2 and p > 0 then
		p = p - 1
		n = n + 1
		if n >= st then set(0, 0) end
		save(ttl)
	end
end
if s == 0 and k == 0 then return {1} end
return {0}
`)

// ARGV: permit, weight, threshold, recovery timeout (µs), ttl (ms). Reply: {state}.
var failureScript = redis.NewScript(breakerPrelude + `
local permit, weight, threshold, rt, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
if permit == g * 4 + s then
	if s == 0 then
		k = k + weight
		if k >= threshold then set(1, rt) end
		save(ttl)
	elseif s == 2 and p > 0 then
		set(1, rt)
		save(ttl)
	end
end
return {s}
`)

// ARGV: permit. Reply: {state}.
var releaseScript = redis.NewScript(breakerPrelude + `
if s == 2 and tonumber(ARGV[1]) == g * 4 + s and p > 0 then
	redis.call('HSET', KEYS[1], 'p', p - 1)
end
return {s}
`)

// Reply: {state}.
var stateScript = redis.NewScript(`
return {tonumber(redis.call('HGET', KEYS[1], 's')) or 0}
`)

// callWeight is runtime's weight of one failed call (see its package doc).
const callWeight = 1 << 20

type breaker struct {
	s         *Store
	key       string
	name      string
	cfg       runtime.CircuitBreakerConfig
	rt        int64 // recovery timeout, µs
	st        int   // success threshold
	threshold int64 // FailureThreshold × callWeight
	ttl       int64 // ms the hash outlives its last write

	// zero is the hint that keeps the closed state's Success off Redis: the
	// last Allow saw the breaker closed with no failure streak, and no
	// failure was recorded since.
	zero atomic.Bool

	localOnce sync.Once
	local     runtime.BreakerState
}

func newBreaker(s *Store, name string, cfg runtime.CircuitBreakerConfig) *breaker {
	rt := micros(cfg.RecoveryTimeout)
	return &breaker{
		s:    s,
		key:  s.prefix + "breaker:" + name,
		name: name,
		cfg:  cfg,
		rt:   rt,
		st:   cfg.SuccessThreshold,
		// Doubles hold the streak exactly below 2^53.
		threshold: int64(min(cfg.FailureThreshold, 1<<33)) * callWeight,
		ttl:       max(int64(24*time.Hour/time.Millisecond), 2*rt/1000),
	}
}

func (b *breaker) fallback() runtime.BreakerState {
	b.localOnce.Do(func() {
		l, err := b.s.local.Breaker(b.name, b.cfg)
		if err != nil { // cannot happen: cfg was validated
			l = nopBreaker{}
		}
		b.local = l
	})
	return b.local
}

func (b *breaker) Allow(clock runtime.Clock) (runtime.Permit, error) {
	v, ok := b.s.eval(allowScript, b.key, b.rt, b.st, b.ttl)
	if ok && len(v) >= 1 {
		if v[0] == 0 {
			return 0, runtime.ErrCircuitOpen
		}
		if len(v) == 3 {
			p := runtime.Permit(v[1])
			if p&3 == runtime.Permit(runtime.StateClosed) {
				b.zero.Store(v[2] == 1)
			}
			return p, nil
		}
	}
	p, err := b.fallback().Allow(clock)
	if err != nil {
		return 0, err
	}
	return p | localPermit, nil
}

func (b *breaker) Success(p runtime.Permit, clock runtime.Clock) {
	if p&localPermit != 0 {
		b.fallback().Success(p&^localPermit, clock)
		return
	}
	if p&3 == runtime.Permit(runtime.StateClosed) && b.zero.Load() {
		return // nothing to reset
	}
	if v, ok := b.s.eval(successScript, b.key, strconv.FormatUint(uint64(p), 10), b.st, b.ttl); ok && len(v) == 1 {
		b.zero.Store(v[0] == 1)
	}
}

func (b *breaker) Failure(p runtime.Permit, weight int64, clock runtime.Clock) {
	if p&localPermit != 0 {
		b.fallback().Failure(p&^localPermit, weight, clock)
		return
	}
	b.zero.Store(false)
	b.s.eval(failureScript, b.key, strconv.FormatUint(uint64(p), 10), min(max(weight, 0), callWeight), b.threshold, b.rt, b.ttl)
}

func (b *breaker) Release(p runtime.Permit) {
	if p&localPermit != 0 {
		b.fallback().Release(p &^ localPermit)
		return
	}
	if p&3 != runtime.Permit(runtime.StateHalfOpen) {
		return // only probes hold a slot
	}
	b.s.eval(releaseScript, b.key, strconv.FormatUint(uint64(p), 10))
}

func (b *breaker) State() runtime.State {
	if v, ok := b.s.eval(stateScript, b.key); ok && len(v) == 1 {
		return runtime.State(v[0])
	}
	return b.fallback().State()
}

type nopBreaker struct{}

func (nopBreaker) Allow(runtime.Clock) (runtime.Permit, error)  { return 0, nil }
func (nopBreaker) Success(runtime.Permit, runtime.Clock)        {}
func (nopBreaker) Failure(runtime.Permit, int64, runtime.Clock) {}
func (nopBreaker) Release(runtime.Permit)                       {}
func (nopBreaker) State() runtime.State                         { return runtime.StateClosed }
