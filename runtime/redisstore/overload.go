package redisstore

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resgen-dev/resgen/runtime/store"
)

// The overload counts of a dependency (adaptive throttling's requests and
// accepts, the retry budget's calls and retries) are one hash per
// dependency, resgen:{overload:NAME}, with one field per Store: when it
// reported, by the server's clock, and its counts. A report writes this
// Store's field and returns the sums of the others' fresh fields in the
// same script, deleting the fields not renewed for memberTTL: a process
// that stops reporting drops out.
//
// Each background round asks the process's wrappers for their counts, and
// reports those of the dependencies that are hot (a quarter of the
// attempts of the throttle's window failed, here or in the rest of the
// fleet: halfway to where the throttle starts) in one pipeline;
// the others are reported with the heartbeat, once a second. A dependency
// that turns hot here is published on the Store's channel, so that every
// process that shares it reports and reads it each round from then on:
// a process that sends little learns of a brownout within a round trip
// and a round, not at its next heartbeat.

// overloadScale turns counts into the integers the script adds up.
const overloadScale = 1000

// overloadScript writes ARGV[2] ("guards requests accepts calls retries",
// the counts × overloadScale) as the field ARGV[1] of KEYS[1], stamped with
// the server's time in milliseconds, and returns the sums of the other
// fields not older than ARGV[3] milliseconds, deleting those that are.
var overloadScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], string.format('%.0f', now) .. ' ' .. ARGV[2])
redis.call('PEXPIRE', KEYS[1], ttl * 2)
local all = redis.call('HGETALL', KEYS[1])
local sum = {0, 0, 0, 0, 0}
for i = 1, #all, 2 do
	if all[i] ~= ARGV[1] then
		local f = {}
		for w in string.gmatch(all[i + 1], '%S+') do
			f[#f + 1] = tonumber(w)
		end
		if #f ~= 6 or now - f[1] > ttl then
			redis.call('HDEL', KEYS[1], all[i])
		else
			for j = 1, 5 do
				sum[j] = sum[j] + f[j + 1]
			end
		end
	end
end
return sum
`)

// overloadShare is the overload counts of one dependency: what this
// process's wrappers count (its sources), and what it last read of the
// other processes.
type overloadShare struct {
	s    *Store
	name string
	key  string

	mu      sync.Mutex
	sources []*overloadSource
	remote  store.OverloadCounts // the other processes', as last read
	readAt  time.Time            // when, by s.now; zero: never
	hot     bool                 // reported every round
}

// overloadSource is one caller of ShareOverload.
type overloadSource struct {
	local func() store.OverloadCounts
	last  store.OverloadCounts // what local returned last, under the share's mu
}

// ShareOverload shares the overload counts of the dependency called name
// with every Store of the same prefix (store.OverloadSharer): local's
// counts are sent in the background, each round while the fleet sees
// failures or retries and once a second otherwise, and others returns the
// counts last read of the other processes (and of this process's other
// sources of name), or ok=false while Redis is lost or they have not been
// read for memberTTL.
func (s *Store) ShareOverload(name string, local func() store.OverloadCounts) (others func() (store.OverloadCounts, bool), stop func()) {
	src := &overloadSource{local: local}
	s.mu.Lock()
	sh, ok := s.shares[name]
	if !ok {
		sh = &overloadShare{s: s, name: name, key: s.prefix + "{overload:" + name + "}"}
		s.shares[name] = sh
		s.slist = append(s.slist, sh)
	}
	// Under s.mu, as remove decides under it that sh has no source left:
	// else the last source's remove could drop sh between the two, and src
	// be left on a share that nothing reports.
	sh.mu.Lock()
	sh.sources = append(sh.sources, src)
	sh.mu.Unlock()
	s.mu.Unlock()
	s.start()
	s.kick()
	others = func() (store.OverloadCounts, bool) { return sh.others(src) }
	var once sync.Once
	stop = func() { once.Do(func() { sh.remove(src) }) }
	return others, stop
}

// others returns what src's guard must add to its own counts.
func (sh *overloadShare) others(src *overloadSource) (store.OverloadCounts, bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.s.down.Load() || sh.readAt.IsZero() || sh.s.now().Sub(sh.readAt) > memberTTL {
		return store.OverloadCounts{}, false
	}
	c := sh.remote
	for _, o := range sh.sources {
		if o != src {
			c = c.Add(o.last)
		}
	}
	return c, true
}

// remove ends src's sharing; a share without sources stops reporting, and
// its field expires.
func (sh *overloadShare) remove(src *overloadSource) {
	sh.mu.Lock()
	sh.sources = slices.DeleteFunc(sh.sources, func(o *overloadSource) bool { return o == src })
	empty := len(sh.sources) == 0
	sh.mu.Unlock()
	if !empty {
		return
	}
	s := sh.s
	s.mu.Lock()
	defer s.mu.Unlock()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.sources) == 0 && s.shares[sh.name] == sh {
		delete(s.shares, sh.name)
		s.slist = slices.DeleteFunc(slices.Clone(s.slist), func(o *overloadShare) bool { return o == sh })
	}
}

// overloadReport is one share's counts, collected for a round trip.
type overloadReport struct {
	sh      *overloadShare
	sum     store.OverloadCounts
	publish bool // the share turned hot here: tell the other processes
}

// collect asks every source of sh for its counts, outside every lock of
// the Store (a source takes its guard's lock, and its guard reads others).
func (sh *overloadShare) collect() overloadReport {
	sh.mu.Lock()
	srcs := slices.Clone(sh.sources)
	sh.mu.Unlock()
	counts := make([]store.OverloadCounts, len(srcs))
	for i, o := range srcs {
		counts[i] = o.local()
	}
	var sum store.OverloadCounts
	sh.mu.Lock()
	for i, o := range srcs {
		o.last = counts[i]
		sum = sum.Add(counts[i])
	}
	sh.mu.Unlock()
	return overloadReport{sh: sh, sum: sum}
}

// isHot reports whether sh is reported every round.
func (sh *overloadShare) isHot() bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.hot
}

// cmd adds r's report to pipe.
func (r overloadReport) cmd(ctx context.Context, pipe redis.Pipeliner, s *Store) *redis.Cmd {
	c := r.sum
	v := fmt.Sprintf("%d %d %d %d %d", c.Guards, scaled(c.Requests), scaled(c.Accepts), scaled(c.Calls), scaled(c.Retries))
	cmd := overloadScript.Eval(ctx, pipe, []string{r.sh.key}, s.id, v, memberTTL.Milliseconds())
	if r.publish {
		pipe.Publish(ctx, s.channel, "o "+r.sh.key+" "+s.id)
	}
	return cmd
}

// hotCounts reports whether c shows the failures that make the fleet's
// counts worth reading each round: a quarter of the requests, two at
// least. The retry budget needs no more than the heartbeat's: the number
// of processes changes slowly.
func hotCounts(c store.OverloadCounts) bool {
	failed := c.Requests - c.Accepts
	return failed >= 2 && failed >= c.Requests/4
}

// heated marks the share of key hot, as another process said it is.
func (s *Store) heated(key string) {
	s.mu.Lock()
	shs := s.slist
	s.mu.Unlock()
	for _, sh := range shs {
		if sh.key == key {
			sh.mu.Lock()
			sh.hot = true
			sh.mu.Unlock()
			s.kick()
		}
	}
}

// applied records the others' counts that the report's round trip read.
func (r overloadReport) applied(cmd *redis.Cmd, now time.Time) {
	v, err := cmd.Int64Slice()
	if err != nil || len(v) != 5 {
		return
	}
	o := store.OverloadCounts{
		Guards:   int(v[0]),
		Requests: float64(v[1]) / overloadScale, Accepts: float64(v[2]) / overloadScale,
		Calls: float64(v[3]) / overloadScale, Retries: float64(v[4]) / overloadScale,
	}
	sh := r.sh
	sh.mu.Lock()
	sh.remote, sh.readAt = o, now
	sh.hot = hotCounts(o.Add(r.sum))
	sh.mu.Unlock()
}

// scaled returns n × overloadScale as an integer, at least 0.
func scaled(n float64) int64 {
	return int64(math.Round(max(n, 0) * overloadScale))
}

// reportOverload sends the reports of the hot shares between heartbeats,
// in one round trip.
func (s *Store) reportOverload(rs []overloadReport) {
	if len(rs) == 0 {
		return
	}
	cmds, ok := do(s, func(ctx context.Context) ([]*redis.Cmd, error) {
		pipe := s.client.Pipeline()
		cmds := make([]*redis.Cmd, len(rs))
		for i, r := range rs {
			cmds[i] = r.cmd(ctx, pipe, s)
		}
		_, err := pipe.Exec(ctx)
		return cmds, err
	})
	if !ok {
		return
	}
	now := s.now()
	for i, r := range rs {
		r.applied(cmds[i], now)
	}
}

// overloadReports collects every share's counts and returns the reports
// due this round: every share's at a heartbeat, the hot ones' otherwise.
func overloadReports(shs []*overloadShare, beat bool) []overloadReport {
	var rs []overloadReport
	for _, sh := range shs {
		was := sh.isHot()
		r := sh.collect()
		hot := hotCounts(r.sum)
		if beat || was || hot {
			r.publish = hot && !was
			rs = append(rs, r)
		}
	}
	return rs
}
