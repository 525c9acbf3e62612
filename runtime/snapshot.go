package runtime

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// Transition is one change of state of a circuit breaker.
type Transition struct {
	// At is when it happened, by the wrapper's clock.
	At time.Time
	// From and To are the states it left and entered.
	From, To State
	// Failures is, for a transition to open, the calls' worth of failed
	// attempts (or failed probes) that opened it.
	Failures int
	// Forced says that ForceBreaker made it.
	Forced bool
}

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

// BreakerSnapshot is the state of one circuit breaker, with its recent
// history: what a status page shows.
type BreakerSnapshot struct {
	// Name is the breaker's name, State its state, and Forced what
	// ForceBreaker holds it at (ForceNone: nothing).
	Name   string
	State  State
	Forced ForceMode
	// Forceable says that the breaker lives in the process: ForceBreaker
	// can force it. A breaker kept in a Store cannot be forced, and keeps
	// Transitions only when the Store reports them (BreakerWatcher).
	Forceable bool
	// Config is its settings.
	Config CircuitBreakerConfig
	// Methods are the methods it guards, in the interface's order.
	Methods []string
	// RecoveryTime is how long its last outage lasted, from opening to
	// closing again.
	RecoveryTime time.Duration
	// Transitions are its last changes of state (at most 16), oldest
	// first.
	Transitions []Transition
}

// BreakerSnapshots returns the state and recent transitions of every
// breaker of the wrapper, sorted by name.
func (m *Manager) BreakerSnapshots() []BreakerSnapshot {
	out := make([]BreakerSnapshot, 0, len(m.breakers))
	for _, e := range m.breakers {
		s := BreakerSnapshot{
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
	slices.SortFunc(out, func(a, b BreakerSnapshot) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// LimiterSnapshot is the state of one method's rate limit.
type LimiterSnapshot struct {
	// Name is the limit's name: the host whose per-host limit it is, or
	// the wrapper's type name.
	Name string
	// Config is its settings.
	Config RateLimitConfig
	// Tokens is the number of tokens in the bucket now, from 0 to
	// BurstSize; -1 when the bucket lives in a Store.
	Tokens float64
	// QueueDepth is the number of the method's attempts waiting in the
	// queue now.
	QueueDepth int64
}

// Limiter returns the state of the rate limit of the method called
// method, and false when the wrapper has no such method or the method has
// no rate limit.
func (m *Manager) Limiter(method string) (LimiterSnapshot, bool) {
	me := m.method(method)
	if me == nil || me.bucket == nil {
		return LimiterSnapshot{}, false
	}
	s := LimiterSnapshot{Config: me.cfg.RateLimit, Tokens: -1, QueueDepth: me.stats.queueDepth.Load()}
	if err, ok := me.stats.limitedErr.(*RateLimitError); ok {
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

// ErrorRecord is one failed attempt of a method, as RecentErrors keeps it.
type ErrorRecord struct {
	// At is when the attempt failed, by the wrapper's clock.
	At time.Time
	// Attempt is the attempt's number in its call, from 1.
	Attempt int
	// Class is the error's class.
	Class Class
	// Err is the attempt's error.
	Err error
}

// RecentErrors returns the last errors (at most 8) of the attempts of the
// method called method, oldest first; nil when there is no such method.
func (m *Manager) RecentErrors(method string) []ErrorRecord {
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
