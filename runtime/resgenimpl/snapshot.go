package resgenimpl

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/resgen-dev/resgen/runtime"
)

// keptTransitions is how many transitions a breaker keeps for its
// snapshot, and keptErrors how many errors a method keeps.
const (
	keptTransitions = 16
	keptErrors      = 8
)

// ring keeps the last entries added to it, for snapshots. Only slow paths
// (a breaker's transition, a failed attempt) add to it.
type ring[T any] struct {
	mu   sync.Mutex
	buf  []T
	next int
	full bool
}

func (r *ring[T]) add(v T, size int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.buf == nil {
		r.buf = make([]T, size)
	}
	r.buf[r.next] = v
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
}

// items returns the entries kept, oldest first.
func (r *ring[T]) items() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return slices.Clone(r.buf[:r.next])
	}
	return append(slices.Clone(r.buf[r.next:]), r.buf[:r.next]...)
}

// Breakers returns the state and recent transitions of every breaker of
// the wrapper, sorted by name.
func (m *Manager) Breakers() []runtime.BreakerSnapshot {
	out := make([]runtime.BreakerSnapshot, 0, len(m.breakers))
	for _, e := range m.breakers {
		s := runtime.BreakerSnapshot{
			Name:         e.name,
			State:        e.state.State(),
			Forceable:    e.local != nil,
			Config:       e.cfg,
			RecoveryTime: time.Duration(e.recover.Load()),
			Transitions:  e.history.items(),
		}
		if e.local != nil {
			s.Forced = e.local.forceMode()
		}
		for i := range m.methods {
			if m.methods[i].breaker == e {
				s.Methods = append(s.Methods, m.methods[i].name)
			}
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b runtime.BreakerSnapshot) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Limiter returns the state of the rate limit of the method called
// method, and false when the wrapper has no such method or the method has
// no rate limit.
func (m *Manager) Limiter(method string) (runtime.LimiterSnapshot, bool) {
	me := m.method(method)
	if me == nil || me.bucket == nil {
		return runtime.LimiterSnapshot{}, false
	}
	s := runtime.LimiterSnapshot{Config: me.cfg.RateLimit, Tokens: -1, QueueDepth: me.stats.queueDepth.Load()}
	if err, ok := me.stats.limitedErr.(*runtime.RateLimitError); ok {
		s.Name = err.Limiter
	}
	if b := me.local; b != nil {
		s.Tokens = b.tokens(m.clock.Now())
	}
	return s, true
}

// tokens returns how many attempts the bucket would admit at now without
// waiting: from 0 to its burst.
func (b *bucket) tokens(now time.Time) float64 {
	t := b.nanos(now)
	start := max(b.tat.Load(), t, b.floor.Load())
	interval := b.interval.Load()
	n := float64(t+b.tolerance+interval-start) / float64(interval)
	return max(n, 0)
}

// RecentErrors returns the last errors (at most 8) of the attempts of the
// method called method, oldest first; nil when there is no such method.
func (m *Manager) RecentErrors(method string) []runtime.ErrorRecord {
	me := m.method(method)
	if me == nil {
		return nil
	}
	return me.stats.errors.items()
}

func (m *Manager) method(name string) *Method {
	for i := range m.methods {
		if m.methods[i].name == name {
			return &m.methods[i]
		}
	}
	return nil
}
