// Package fakeclock provides a manually driven runtime.Clock for tests of
// generated wrappers: time moves only when the test calls Advance, and
// goroutines that wait on the clock's timers can be waited for with
// BlockUntil, so that tests of retry delays, breaker timeouts and rate
// limits never sleep.
package fakeclock

import (
	"sort"
	"sync"
	"time"

	"github.com/resgen-dev/resgen/runtime"
)

// Clock is a fake runtime.Clock. Its zero value is not usable; call New.
// It is safe for concurrent use.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*timer
	changed chan struct{} // closed and replaced whenever timers changes
}

var _ runtime.Clock = (*Clock)(nil)

// New returns a clock that reads start until it is advanced.
func New(start time.Time) *Clock {
	return &Clock{now: start, changed: make(chan struct{})}
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires when the clock reaches Now()+d. A
// timer with d <= 0 fires at once.
func (c *Clock) NewTimer(d time.Duration) runtime.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: c, when: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		return t
	}
	c.timers = append(c.timers, t)
	c.notify()
	return t
}

// AfterFunc calls f when the clock reaches Now()+d (see Advance).
func (c *Clock) AfterFunc(d time.Duration, f func()) runtime.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: c, when: c.now.Add(d), f: f}
	if d <= 0 {
		go f()
		return t
	}
	c.timers = append(c.timers, t)
	c.notify()
	return t
}

// Advance moves the clock forward by d, firing every timer that falls due,
// in order of their deadlines. The functions of AfterFunc timers run
// synchronously, after the clock has moved, before Advance returns.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	sort.SliceStable(c.timers, func(i, j int) bool { return c.timers[i].when.Before(c.timers[j].when) })
	var funcs []func()
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.when.After(end) {
			kept = append(kept, t)
			continue
		}
		if t.f != nil {
			funcs = append(funcs, t.f)
		} else {
			t.ch <- t.when
		}
	}
	c.timers = kept
	c.now = end
	c.notify()
	c.mu.Unlock()
	for _, f := range funcs {
		f()
	}
}

// Waiters returns the number of timers that have not fired or been stopped.
func (c *Clock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// BlockUntil blocks until at least n timers are pending: until n goroutines
// are waiting on the clock.
func (c *Clock) BlockUntil(n int) {
	for {
		c.mu.Lock()
		if len(c.timers) >= n {
			c.mu.Unlock()
			return
		}
		ch := c.changed
		c.mu.Unlock()
		<-ch
	}
}

func (c *Clock) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

type timer struct {
	c    *Clock
	when time.Time
	ch   chan time.Time
	f    func()
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			t.c.notify()
			return true
		}
	}
	return false
}
