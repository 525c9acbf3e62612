package redisstore

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/store"
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
// A permit is store.NewPermit(g, s), compared with the hash's: results of
// attempts admitted in an earlier generation are ignored.
//
// Every script takes the state its caller last knew (ARGV 1-3: g, s, and
// the open state's time left), the settings and the channel (4-7) and the
// caller's name (8), and starts from it when the hash is gone (a
// restarted server): the fleet carries on where it was. The generation
// never goes below one a caller knew. Every script replies with the state:
//
//	{result, g, s, k, time left open (µs), 1 when this script changed the state}
//
// and publishes each change on the Store's channel as "b <key> <g> <s> <k>
// <time left open> <the Store that made it>".

const breakerPrelude = `
local h = redis.call('HMGET', KEYS[1], 'g', 's', 'k', 'p', 'n', 'u', 'l')
local now
local function clock()
	if not now then
		local t = redis.call('TIME')
		now = tonumber(t[1]) * 1000000 + tonumber(t[2])
	end
	return now
end
local g = tonumber(h[1]) or 0
local s = tonumber(h[2]) or 0
local k = tonumber(h[3]) or 0
local p = tonumber(h[4]) or 0
local n = tonumber(h[5]) or 0
local u = tonumber(h[6]) or 0
local l = tonumber(h[7]) or 0
local kg, ks, ku = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local rt, st, ttl, channel, origin = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8]
local dirty, changed = false, false
if not h[1] then
	if kg > 0 then
		g, s = kg, ks
		if s == 1 then u = clock() + ku end
		if s == 2 then l = clock() end
		dirty = true
	end
elseif g < kg then
	g = kg
	dirty, changed = true, true
end
local function f(x) return string.format('%.0f', x) end
local function set(to)
	g = g + 1
	s = to
	p, n, k = 0, 0, 0
	if to == 1 then u = clock() + rt end
	if to == 2 then l = clock() end
	dirty, changed = true, true
end
local function reply(r)
	local left = 0
	if s == 1 then left = math.max(u - clock(), 0) end
	if dirty then
		redis.call('HSET', KEYS[1], 'g', f(g), 's', s, 'k', f(k), 'p', p, 'n', n, 'u', f(u), 'l', f(l))
		redis.call('PEXPIRE', KEYS[1], ttl)
	end
	if changed then
		redis.call('PUBLISH', channel, 'b ' .. KEYS[1] .. ' ' .. f(g) .. ' ' .. s .. ' ' .. f(k) .. ' ' .. f(left) .. ' ' .. origin)
		return {r, g, s, k, left, 1}
	end
	return {r, g, s, k, left, 0}
end
`

// Reply result: 0 rejected, 1 admitted under the replied g and s.
var allowScript = redis.NewScript(breakerPrelude + `
if s == 0 then return reply(1) end
clock()
if s == 1 then
	if now < u then return reply(0) end
	set(2)
elseif p >= st and now - l >= rt then
	-- probes that neither succeed nor fail within rt count as failed
	set(1)
	return reply(0)
end
if p >= st then return reply(0) end
p = p + 1
if now > l then l = now end
dirty = true
return reply(1)
`)

// ARGV 9-12: generation, reset (1: a success came first), weight,
// threshold. The closed state's outcomes since the last batch: the streak
// is reset when a success came first, then grows by weight.
var outcomesScript = redis.NewScript(breakerPrelude + `
if s == 0 and g == tonumber(ARGV[9]) then
	local k0 = k
	if ARGV[10] == '1' then k = 0 end
	k = k + tonumber(ARGV[11])
	if k >= tonumber(ARGV[12]) then
		set(1)
	elseif k ~= k0 then
		dirty = true
	end
end
return reply(1)
`)

// ARGV 9: permit of a probe that succeeded.
var successScript = redis.NewScript(breakerPrelude + `
if tonumber(ARGV[9]) == g * 4 + s and s == 2 and p > 0 then
	p = p - 1
	n = n + 1
	dirty = true
	if n >= st then set(0) end
end
return reply(1)
`)

// ARGV 9: permit of a probe that failed.
var failureScript = redis.NewScript(breakerPrelude + `
if tonumber(ARGV[9]) == g * 4 + s and s == 2 and p > 0 then
	set(1)
end
return reply(1)
`)

// ARGV 9: permit of a probe given back.
var releaseScript = redis.NewScript(breakerPrelude + `
if tonumber(ARGV[9]) == g * 4 + s and s == 2 and p > 0 then
	p = p - 1
	dirty = true
end
return reply(1)
`)

var stateScript = redis.NewScript(breakerPrelude + `
return reply(1)
`)

type breaker struct {
	s         *Store
	key       string
	name      string
	cfg       runtime.CircuitBreakerConfig
	rt        int64 // recovery timeout, µs
	st        int   // success threshold
	threshold int64 // FailureThreshold × CallWeight
	ttl       int64 // ms the hash outlives its last write

	// The fleet state last known, read without a lock.
	word      atomic.Uint64 // store.NewPermit(g, s)
	zero      atomic.Bool   // closed, no failure streak known and no outcome to send
	openUntil atomic.Int64  // Unix ns: when the known open state's recovery timeout passes

	mu     sync.Mutex
	streak int64  // the fleet's streak last known
	gen    uint64 // the generation of the outcomes to send
	dirty  bool   // there are outcomes to send
	reset  bool   // a success came first
	weight int64  // failures since (weights)

	watchers map[int]func(store.Change)
	nextID   int
	told     runtime.State // the state watchers were last told of

	off atomic.Pointer[offline]
}

// offline is a breaker's state in the process during one Redis outage,
// started from the fleet state last known.
type offline struct {
	outage uint64
	state  store.Breaker
	last   atomic.Uint32 // the state watchers were told of
}

func newBreaker(s *Store, name string, cfg runtime.CircuitBreakerConfig) *breaker {
	rt := micros(cfg.RecoveryTimeout)
	b := &breaker{
		s:    s,
		key:  s.prefix + "{breaker:" + name + "}",
		name: name,
		cfg:  cfg,
		rt:   rt,
		st:   cfg.SuccessThreshold,
		// Doubles hold the streak exactly below 2^53.
		threshold: min(int64(cfg.FailureThreshold), 1<<33) * store.CallWeight,
		ttl:       max(int64(24*time.Hour/time.Millisecond), 2*rt/1000),
	}
	b.zero.Store(true)
	return b
}

// args returns a script's arguments: the state this process knows, the
// settings, then extra.
func (b *breaker) args(extra ...any) []any {
	w := store.Permit(b.word.Load())
	left := max(b.openUntil.Load()-time.Now().UnixNano(), 0) / int64(time.Microsecond)
	a := []any{strconv.FormatUint(w.Generation(), 10), int(w.State()), left, b.rt, b.st, b.ttl, b.s.channel, b.s.id}
	return append(a, extra...)
}

// run runs a breaker script and applies its reply; ok=false: Redis is down.
func (b *breaker) run(script *redis.Script, extra ...any) (admitted, ok bool) {
	v, ok := b.s.eval(script, b.key, b.args(extra...)...)
	if !ok || len(v) != 6 {
		return false, false
	}
	b.apply(v, v[5] == 0)
	return v[0] == 1, true
}

func (b *breaker) poll() { b.run(stateScript) }

func (b *breaker) pollCmd(ctx context.Context, pipe redis.Pipeliner) *redis.Cmd {
	return stateScript.Eval(ctx, pipe, []string{b.key}, b.args()...)
}

// apply takes in a state read from Redis: {result, g, s, k, left, changed}
// (the first and last are not used). remote says whether another process
// made the change, if it is one.
func (b *breaker) apply(v []int64, remote bool) {
	if len(v) < 5 {
		return
	}
	g, st, k, left := uint64(v[1]), runtime.State(v[2]), v[3], v[4]
	b.mu.Lock()
	old := store.Permit(b.word.Load())
	if g < old.Generation() {
		b.mu.Unlock()
		return // an earlier state, overtaken
	}
	if st == runtime.StateOpen {
		// The time left was measured when Redis replied or published: each
		// reading of one open state is late by its delivery, so the
		// earliest end is the truest (a message delayed by a cluster's bus
		// must not hold the breaker open past the recovery timeout).
		until := time.Now().UnixNano() + left*int64(time.Microsecond)
		if g != old.Generation() || old.State() != runtime.StateOpen || until < b.openUntil.Load() {
			b.openUntil.Store(until)
		}
	}
	b.word.Store(uint64(store.NewPermit(g, st)))
	b.streak = k
	if b.gen != g {
		// Outcomes of an earlier generation say nothing of this one.
		b.gen, b.dirty, b.reset, b.weight = g, false, false, 0
	}
	b.zero.Store(st == runtime.StateClosed && k == 0 && !b.dirty)
	if st != b.told {
		b.tell(store.Change{From: b.told, To: st, Remote: remote})
	}
	b.mu.Unlock()
}

// tell queues a change for the watchers; b.mu is held.
func (b *breaker) tell(c store.Change) {
	b.told = c.To
	if len(b.watchers) == 0 {
		return
	}
	fs := make([]func(store.Change), 0, len(b.watchers))
	for _, f := range b.watchers {
		fs = append(fs, f)
	}
	b.s.notify(func() {
		for _, f := range fs {
			f(c)
		}
	})
}

// Watch implements store.Watcher: f learns of every change of
// state this Store sees, made by this process or another, from Redis or
// from local state during an outage.
func (b *breaker) Watch(f func(store.Change)) (stop func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.watchers == nil {
		b.watchers = make(map[int]func(store.Change))
	}
	id := b.nextID
	b.nextID++
	b.watchers[id] = f
	return func() {
		b.mu.Lock()
		delete(b.watchers, id)
		b.mu.Unlock()
	}
}

// flush sends the closed state's outcomes; the background goroutine calls it.
func (b *breaker) flush() {
	b.mu.Lock()
	if !b.dirty {
		b.mu.Unlock()
		return
	}
	gen, reset, weight := b.gen, b.reset, b.weight
	b.dirty, b.reset, b.weight = false, false, 0
	b.mu.Unlock()
	r := "0"
	if reset {
		r = "1"
	}
	if _, ok := b.run(outcomesScript, strconv.FormatUint(gen, 10), r, weight, b.threshold); ok {
		return
	}
	// Redis is down: keep them, behind any that came since, for when it
	// is back (and for the local state of the outage).
	b.mu.Lock()
	if b.gen == gen {
		if !b.dirty || !b.reset {
			b.weight += weight
			b.reset = b.reset || reset
		}
		b.dirty = true
	}
	b.mu.Unlock()
}

func (b *breaker) Allow(clock store.Clock) (store.Permit, error) {
	if b.s.down.Load() {
		return b.offAllow(clock)
	}
	w := store.Permit(b.word.Load())
	switch w.State() {
	case runtime.StateClosed:
		return w, nil
	case runtime.StateOpen:
		if time.Now().UnixNano() < b.openUntil.Load() {
			return 0, runtime.ErrCircuitOpen
		}
	}
	// A probe, or its rejection: Redis decides.
	admitted, ok := b.run(allowScript)
	if !ok {
		return b.offAllow(clock)
	}
	if !admitted {
		return 0, runtime.ErrCircuitOpen
	}
	return store.Permit(b.word.Load()), nil
}

func (b *breaker) Success(p store.Permit, clock store.Clock) {
	if p&localPermit != 0 {
		b.offDo(clock, func(l store.Breaker) { l.Success(p&^localPermit, clock) })
		return
	}
	switch p.State() {
	case runtime.StateClosed:
		if b.zero.Load() {
			return // nothing to reset
		}
		b.mu.Lock()
		if p.Generation() == b.gen && (b.weight != 0 || b.streak != 0) {
			b.dirty, b.reset, b.weight = true, true, 0
		}
		b.mu.Unlock()
		b.s.kick()
	case runtime.StateHalfOpen:
		b.run(successScript, strconv.FormatUint(uint64(p), 10))
	}
}

func (b *breaker) Failure(p store.Permit, weight int64, clock store.Clock) {
	if p&localPermit != 0 {
		b.offDo(clock, func(l store.Breaker) { l.Failure(p&^localPermit, weight, clock) })
		return
	}
	switch p.State() {
	case runtime.StateClosed:
		b.mu.Lock()
		if p.Generation() == b.gen && store.Permit(b.word.Load()) == p {
			b.dirty = true
			b.weight += min(max(weight, 0), store.CallWeight)
			b.zero.Store(false)
		}
		b.mu.Unlock()
		b.s.kick()
	case runtime.StateHalfOpen:
		b.run(failureScript, strconv.FormatUint(uint64(p), 10))
	}
}

func (b *breaker) Release(p store.Permit) {
	if p&localPermit != 0 {
		if o := b.off.Load(); o != nil {
			o.state.Release(p &^ localPermit)
		}
		return
	}
	if p.State() != runtime.StateHalfOpen {
		return // only probes hold a slot
	}
	b.run(releaseScript, strconv.FormatUint(uint64(p), 10))
}

func (b *breaker) State() runtime.State {
	if b.s.down.Load() {
		if o := b.off.Load(); o != nil && o.outage == b.s.outages.Load() {
			return o.state.State()
		}
	}
	return store.Permit(b.word.Load()).State()
}

// offline returns the breaker's local state for the current outage,
// starting it from the fleet state last known: open stays open, and a
// failure streak is kept.
func (b *breaker) offline(clock store.Clock) *offline {
	n := b.s.outages.Load()
	if o := b.off.Load(); o != nil && o.outage == n {
		return o
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if o := b.off.Load(); o != nil && o.outage == n {
		return o
	}
	l, err := b.s.local.Breaker(b.name, b.cfg)
	if err != nil { // cannot happen: cfg was validated
		l = nopBreaker{}
	}
	w := store.Permit(b.word.Load())
	seed := b.streak
	if b.dirty {
		if b.reset {
			seed = 0
		}
		seed += b.weight
	}
	if w.State() != runtime.StateClosed {
		seed = b.threshold
	}
	if seed > 0 {
		if p, err := l.Allow(clock); err == nil {
			l.Failure(p, min(seed, b.threshold), clock)
		}
	}
	o := &offline{outage: n, state: l}
	o.last.Store(uint32(l.State()))
	if st := l.State(); st != b.told {
		b.tell(store.Change{From: b.told, To: st})
	}
	b.off.Store(o)
	return o
}

// offDo runs op on the outage's local state and tells the watchers of the
// change it made, if any.
func (b *breaker) offDo(clock store.Clock, op func(store.Breaker)) {
	o := b.off.Load()
	if o == nil {
		o = b.offline(clock)
	}
	op(o.state)
	b.offCheck(o)
}

func (b *breaker) offCheck(o *offline) {
	st := o.state.State()
	if runtime.State(o.last.Load()) == st {
		return
	}
	b.mu.Lock()
	if runtime.State(o.last.Load()) != st {
		o.last.Store(uint32(st))
		if st != b.told {
			b.tell(store.Change{From: b.told, To: st})
		}
	}
	b.mu.Unlock()
}

func (b *breaker) offAllow(clock store.Clock) (store.Permit, error) {
	o := b.offline(clock)
	p, err := o.state.Allow(clock)
	b.offCheck(o)
	if err != nil {
		return 0, err
	}
	return p | localPermit, nil
}

type nopBreaker struct{}

func (nopBreaker) Allow(store.Clock) (store.Permit, error)  { return 0, nil }
func (nopBreaker) Success(store.Permit, store.Clock)        {}
func (nopBreaker) Failure(store.Permit, int64, store.Clock) {}
func (nopBreaker) Release(store.Permit)                     {}
func (nopBreaker) State() runtime.State                     { return runtime.StateClosed }
