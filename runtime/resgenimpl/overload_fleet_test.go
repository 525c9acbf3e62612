package resgenimpl

import (
	"bytes"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/store"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// fakeFleet is an OverloadSharer in memory: each process's Store reports
// its guard's counts at a round (round), and reads the others' then, as
// redisstore does in its background round.
type fakeFleet struct {
	mu      sync.Mutex
	sources []*fakeSource
	down    bool
}

type fakeSource struct {
	local  func() store.OverloadCounts
	last   store.OverloadCounts // reported at the last round
	others store.OverloadCounts // the others' at the last round
	ok     bool
}

// store returns a Store of one process of the fleet: its breakers and
// buckets are the process's own, its overload counts the fleet's.
func (f *fakeFleet) store(clock runtime.Clock) runtime.Store {
	return fleetStore{NewLocalStore(clock), f}
}

type fleetStore struct {
	runtime.Store
	f *fakeFleet
}

func (s fleetStore) ShareOverload(name string, local func() store.OverloadCounts) (func() (store.OverloadCounts, bool), func()) {
	f := s.f
	src := &fakeSource{local: local}
	f.mu.Lock()
	f.sources = append(f.sources, src)
	f.mu.Unlock()
	others := func() (store.OverloadCounts, bool) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.down {
			return store.OverloadCounts{}, false
		}
		return src.others, src.ok
	}
	return others, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.sources = slices.DeleteFunc(f.sources, func(s *fakeSource) bool { return s == src })
	}
}

// round has every process report its counts and read the others'.
func (f *fakeFleet) round() {
	f.mu.Lock()
	srcs := append([]*fakeSource(nil), f.sources...)
	f.mu.Unlock()
	counts := make([]store.OverloadCounts, len(srcs))
	for i, s := range srcs {
		counts[i] = s.local() // outside f.mu: the guard reads others
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return
	}
	for i, s := range srcs {
		s.last = counts[i]
	}
	for _, s := range srcs {
		var o store.OverloadCounts
		for _, t := range srcs {
			if t != s {
				o = o.Add(t.last)
			}
		}
		s.others, s.ok = o, true
	}
}

// TestFleetCountsSetTheThrottle: with a Store that shares the counts, a
// process's throttle rejects with max(0, (requests − K×accepts) /
// (requests + 1)) of the fleet's requests and accepts, its own and the
// others' added up, whatever its own traffic: a process that sends too
// little to throttle by itself throttles at the fleet's probability, and
// learns of it from the Store's round alone, without a call of its own.
func TestFleetCountsSetTheThrottle(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		clock := newTestClock()
		fleet := &fakeFleet{}
		n := rapid.IntRange(2, 5).Draw(rt, "processes")
		var mes []*Method
		for range n {
			m := overloadManager(t, onlyOverload(false), clock, runtime.WithStore(fleet.store(clock)))
			mes = append(mes, m.Method(0))
		}
		fleet.round()
		clock.Advance(mes[0].guard.throttle.Window - mes[0].guard.tick/2)
		var req, acc int64
		for i, me := range mes {
			r := rapid.Int64Range(0, 2000).Draw(rt, "requests")
			if i == 0 {
				r = rapid.Int64Range(0, minThrottleRequests-1).Draw(rt, "requests of the quiet process")
			}
			a := rapid.Int64Range(0, r).Draw(rt, "accepts")
			me.stats.successes.Store(a)
			me.stats.notAccepted.Store(r - a)
			req, acc = req+r, acc+a
		}
		fleet.round()
		fleet.round() // each has read what the others counted last
		want := 0.0
		if acc > 0 && req >= minThrottleRequests {
			want = min(max(0, (float64(req)-2*float64(acc))/float64(req+1)), 0.9)
		}
		for i, me := range mes {
			g := me.guard
			got := float64(g.rejection.Load()) / overloadRejectionScale
			if math.Abs(got-want) > 1e-6 {
				rt.Fatalf("process %d: rejection %v, want %v (fleet: %d requests, %d accepts)", i, got, want, req, acc)
			}
			if g.active.Load() != (want > 0) {
				rt.Fatalf("process %d: active %v with rejection %v", i, g.active.Load(), want)
			}
		}
	})
}

// TestFleetCountsLostFallBackToLocal: when the Store loses the fleet's
// counts, each process's throttle and budget count its own again, and the
// Manager says so once, and once when they are back.
func TestFleetCountsLostFallBackToLocal(t *testing.T) {
	clock := newTestClock()
	fleet := &fakeFleet{}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	busy := overloadManager(t, onlyOverload(false), clock, runtime.WithStore(fleet.store(clock))).Method(0)
	quiet := overloadManager(t, onlyOverload(false), clock, runtime.WithStore(fleet.store(clock)), runtime.WithLogger(log)).Method(0)
	fleet.round()
	clock.Advance(time.Second / 2)
	busy.stats.successes.Store(100)
	busy.stats.notAccepted.Store(900)
	quiet.stats.successes.Store(2)
	quiet.stats.notAccepted.Store(3)
	fleet.round()
	fleet.round()
	require.True(t, quiet.guard.active.Load(), "the fleet is in a brownout: the quiet process throttles too")

	fleet.mu.Lock()
	fleet.down = true
	fleet.mu.Unlock()
	for range 3 {
		clock.Advance(50 * time.Millisecond)
		fleet.round()
	}
	assert.False(t, quiet.guard.active.Load(), "five requests of its own: no throttling")
	assert.Equal(t, 1, strings.Count(logs.String(), "Fleet counts lost for W"), logs.String())

	fleet.mu.Lock()
	fleet.down = false
	fleet.mu.Unlock()
	fleet.round()
	fleet.round()
	assert.True(t, quiet.guard.active.Load(), "the fleet's counts are back")
	assert.Equal(t, 1, strings.Count(logs.String(), "Fleet counts back for W"), logs.String())
}

// TestFleetRetryBudgetBound: across N processes sharing a dependency
// through a Store, whatever each one's calls, retries and the time, the
// fleet's retries over any window stay within ratio × the fleet's calls
// of that window and the one before, plus one floor (min_retries_per_second
// × the window) for the whole fleet, not one per process; each process's
// rounding adds at most one.
func TestFleetRetryBudgetBound(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		clock := newTestClock()
		fleet := &fakeFleet{}
		cfg := onlyOverload(false)
		cfg.Throttle.Disabled = true
		cfg.RetryBudget.Ratio = rapid.Float64Range(0.05, 1).Draw(rt, "ratio")
		cfg.RetryBudget.MinPerSecond = rapid.IntRange(1, 10).Draw(rt, "min_per_second")
		cfg.RetryBudget.Window = time.Duration(rapid.IntRange(1, 20).Draw(rt, "window_s")) * time.Second
		n := rapid.IntRange(2, 6).Draw(rt, "processes")
		var mes []*Method
		for range n {
			mes = append(mes, overloadManager(t, cfg, clock, runtime.WithStore(fleet.store(clock))).Method(0))
		}
		// Each knows the others before its first retry: until then, a
		// process counts itself alone.
		fleet.round()
		fleet.round()
		type event struct {
			t     time.Time
			calls int64
			retry bool
		}
		var events []event
		lastRound := clock.Now()
		steps := rapid.IntRange(1, 300).Draw(rt, "steps")
		for range steps {
			clock.Advance(time.Duration(rapid.Int64Range(0, int64(cfg.RetryBudget.Window/4)).Draw(rt, "advance")))
			if clock.Now().Sub(lastRound) >= 100*time.Millisecond {
				fleet.round()
				lastRound = clock.Now()
			}
			me := mes[rapid.IntRange(0, n-1).Draw(rt, "process")]
			if c := rapid.Int64Range(0, 50).Draw(rt, "calls"); c > 0 {
				me.stats.failures.Add(c)
				events = append(events, event{t: clock.Now(), calls: c})
			}
			for range rapid.IntRange(0, 60).Draw(rt, "retries") {
				if me.guard.allowRetry() {
					events = append(events, event{t: clock.Now(), retry: true})
				}
			}
		}
		// The events are in time order: count them by prefix sums.
		w := cfg.RetryBudget.Window
		floor := float64(cfg.RetryBudget.MinPerSecond) * w.Seconds()
		calls := make([]float64, len(events)+1)
		retries := make([]float64, len(events)+1)
		for i, e := range events {
			calls[i+1], retries[i+1] = calls[i]+float64(e.calls), retries[i]
			if e.retry {
				retries[i+1]++
			}
		}
		after := func(t time.Time) int { // the first event after t
			return sort.Search(len(events), func(i int) bool { return events[i].t.After(t) })
		}
		for j, end := range events {
			j = after(end.t) // the window ends with the last event at end.t
			c := calls[j] - calls[after(end.t.Add(-2*w))]
			r := retries[j] - retries[after(end.t.Add(-w))]
			if bound := cfg.RetryBudget.Ratio*c + floor; r > bound+float64(n) {
				rt.Fatalf("%v retries of %d processes in the window ending %v, bound %v (%v calls over two windows)", r, n, end.t, bound, c)
			}
		}
	})
}

// TestFleetCountsStopAtClose: a closed Manager stops sharing its counts,
// and its throttle counts its own again, without a log line.
func TestFleetCountsStopAtClose(t *testing.T) {
	clock := newTestClock()
	fleet := &fakeFleet{}
	var logs bytes.Buffer
	busy := overloadManager(t, onlyOverload(false), clock, runtime.WithStore(fleet.store(clock))).Method(0)
	qm := overloadManager(t, onlyOverload(false), clock, runtime.WithStore(fleet.store(clock)), runtime.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	quiet := qm.Method(0)
	fleet.round()
	clock.Advance(time.Second / 2)
	busy.stats.successes.Store(100)
	busy.stats.notAccepted.Store(900)
	fleet.round()
	fleet.round()
	require.True(t, quiet.guard.active.Load())
	qm.Close()
	clock.Advance(quiet.guard.tick)
	quiet.guard.refresh(clock.Now().UnixNano())
	assert.False(t, quiet.guard.active.Load(), "closed: its own counts, which throttle nothing")
	assert.NotContains(t, logs.String(), "Fleet counts")
	fleet.round()
	assert.Len(t, fleet.sources, 1, "the closed Manager's counts are no longer shared")
}
