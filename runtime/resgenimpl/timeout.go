package resgenimpl

import (
	"context"
	rt "runtime"
	"sync"
	"sync/atomic"
	"time"
	"weak"
)

func noCancel()       {}
func noRelease(error) {}

// Timeout returns the context of one attempt of a method whose results are
// plain values, which nothing uses after the method returns: ctx with the
// method's per-attempt deadline. The generated code calls cancel exactly
// once, as soon as the attempt returns: cancel is reused for a later
// attempt after its call, so a second call does nothing until then, and
// after that would cancel another attempt.
// When the method has no timeout, or ctx's own deadline is sooner, it
// returns ctx itself and a no-op cancel, allocating nothing.
//
// The context behaves as context.WithTimeout's would (Deadline, Done, Err,
// Value, context.Cause, context.AfterFunc, contexts derived from it, ctx's
// cancellation) for a fraction of its cost: one allocation, no timer, and
// nothing registered with ctx unless the callee waits on it; see
// timeoutCtx. A callee that keeps it after the attempt sees it cancelled
// for good: contexts are never reused.
func (me *Method) Timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if me.timeout <= 0 {
		return ctx, noCancel
	}
	return me.withTimeout(ctx)
}

func (me *Method) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return me.timeoutFrom(ctx, now())
}

// timeoutFrom is Timeout for an attempt that started at t.
func (me *Method) timeoutFrom(ctx context.Context, t time.Time) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && dl.Sub(t) <= me.timeout {
		return ctx, noCancel
	}
	return newTimeoutCtx(me, ctx, t.Add(me.timeout))
}

// TimeoutKeep returns the context of one attempt of a method whose results
// may use it after the method returns: an *http.Response whose body is read
// later, pgx.Rows, a channel, an io.Reader. The generated code calls
// release with the attempt's error as soon as the attempt returns:
//
//   - on failure, the context is cancelled, as Timeout's would be;
//   - on success, its deadline stops (the timeout bounds the attempt, not
//     the use of its results: cancelling here is failsafe-go #123), and the
//     context stays alive, still cancelled with ctx, for as long as the
//     results hold it. No timer stays armed, and the link to ctx, which may
//     live for days, is dropped when the context is garbage collected.
//
// When the method has no timeout, or ctx's own deadline is sooner, it
// returns ctx itself and a no-op release.
func (me *Method) TimeoutKeep(ctx context.Context) (context.Context, func(error)) {
	if me.timeout <= 0 {
		return ctx, noRelease
	}
	return me.withTimeoutKeep(ctx)
}

func (me *Method) withTimeoutKeep(ctx context.Context) (context.Context, func(error)) {
	return me.timeoutKeepFrom(ctx, now())
}

// timeoutKeepFrom is TimeoutKeep for an attempt that started at t.
func (me *Method) timeoutKeepFrom(ctx context.Context, t time.Time) (context.Context, func(error)) {
	if dl, ok := ctx.Deadline(); ok && dl.Sub(t) <= me.timeout {
		return ctx, noRelease
	}
	return newAttemptContext(ctx, t.Add(me.timeout), me.timeout)
}

// attemptContext is the context of TimeoutKeep. Until someone asks for its
// Done channel or registers with it (context.AfterFunc, a derived
// context), nothing that outlives the attempt refers to it strongly but
// the results that hold it: its registration with the parent reaches it
// through a weak pointer, and a cleanup drops the registration once it is
// collected. Once someone may wait on it, the registration holds it
// strongly, since a goroutine blocked on Done does not keep it alive: it
// then lives until it or its parent is cancelled. Its timer holds it only
// until the attempt returns.
//
// It implements the AfterFunc method that context.AfterFunc and
// context.WithCancel look for, so that the contexts derived from it are
// cancelled with it without a goroutine each.
type attemptContext struct {
	parent   context.Context
	deadline time.Time
	done     chan struct{}

	mu       sync.Mutex
	err      error
	timer    *time.Timer
	stop     func() bool // ends the registration with parent
	released bool        // the attempt succeeded: its deadline no longer applies
	funcs    map[*afterFunc]struct{}

	// held is set once someone may wait on c (Done, AfterFunc): the
	// parent's registration then holds c strongly, since a goroutine
	// blocked on the Done channel does not keep c alive, yet must still
	// be reached by the parent's cancellation.
	held *atomic.Pointer[attemptContext]
}

type afterFunc struct{ f func() }

// newAttemptContext returns the context of an attempt that ends at
// deadline, d from the reading it was taken from (its timer, set a moment
// later, fires no earlier than deadline).
func newAttemptContext(parent context.Context, deadline time.Time, d time.Duration) (context.Context, func(error)) {
	c := &attemptContext{parent: parent, deadline: deadline, done: make(chan struct{})}
	if parent.Done() != nil {
		if err := parent.Err(); err != nil {
			c.cancel(err, false)
			return c, noRelease
		}
	}
	// The callbacks below run in goroutines of their own (context.AfterFunc,
	// time.AfterFunc) and wait for c.mu.
	c.mu.Lock()
	defer c.mu.Unlock()
	if parent.Done() != nil {
		// The parent holds c weakly: the registration must not keep c, nor
		// what its results hold, alive for as long as the parent lives.
		wc := weak.Make(c)
		held := new(atomic.Pointer[attemptContext])
		c.held = held
		c.stop = context.AfterFunc(parent, func() {
			c := held.Load()
			if c == nil {
				c = wc.Value()
			}
			if c != nil {
				c.cancel(parent.Err(), false)
			}
		})
		rt.AddCleanup(c, func(stop func() bool) { stop() }, c.stop)
	}
	// The timer may hold c: it is stopped when the attempt returns (or, if
	// the inner call panics, fires and lets go of c).
	c.timer = time.AfterFunc(d, func() { c.cancel(context.DeadlineExceeded, true) })
	return c, c.release
}

// release ends the attempt: err != nil cancels the context; nil stops its
// deadline and leaves it to the results.
func (c *attemptContext) release(err error) {
	if err != nil {
		c.cancel(context.Canceled, false)
		return
	}
	c.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.released = true
	c.mu.Unlock()
}

// cancel cancels c with err (parent.Err(), DeadlineExceeded or Canceled:
// never a cause, which context.Cause finds in the parent). The deadline
// does nothing once the attempt has succeeded: a timer that fires while
// release stops it must not cancel the results.
func (c *attemptContext) cancel(err error, deadline bool) {
	c.mu.Lock()
	if c.err != nil || deadline && c.released {
		c.mu.Unlock()
		return
	}
	if err == nil {
		err = context.Canceled
	}
	c.err = err
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	stop := c.stop
	c.stop = nil
	funcs := c.funcs
	c.funcs = nil
	close(c.done)
	c.mu.Unlock()
	if stop != nil {
		stop() // nothing is left to cancel: leave the parent at once
	}
	// As a cancelCtx cancels its children: synchronously. The functions
	// are those of context.AfterFunc, which starts the user's function in
	// a goroutine of its own, and of derived contexts, which only cancel.
	for af := range funcs {
		af.f()
	}
}

func (c *attemptContext) Deadline() (time.Time, bool) {
	c.mu.Lock()
	released := c.released
	c.mu.Unlock()
	if released {
		return c.parent.Deadline()
	}
	return c.deadline, true
}

// hold makes the parent's registration, if any, keep c alive: someone may
// be waiting on c without holding it.
func (c *attemptContext) hold() {
	if c.held != nil && c.held.Load() == nil {
		c.held.Store(c)
	}
}

func (c *attemptContext) Done() <-chan struct{} {
	c.hold()
	return c.done
}

func (c *attemptContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *attemptContext) Value(key any) any { return c.parent.Value(key) }

// AfterFunc lets context.AfterFunc and the contexts derived from c register
// with it instead of starting a goroutine each. f runs synchronously when c
// is cancelled, or in a goroutine of its own when c already is.
func (c *attemptContext) AfterFunc(f func()) (stop func() bool) {
	af := &afterFunc{f: f}
	c.hold()
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		// Not synchronously: context.WithCancel calls this method holding
		// the child's lock, which f takes.
		go f()
		return func() bool { return false }
	}
	if c.funcs == nil {
		c.funcs = make(map[*afterFunc]struct{})
	}
	c.funcs[af] = struct{}{}
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.funcs[af]; ok {
			delete(c.funcs, af)
			return true
		}
		return false
	}
}

func (c *attemptContext) String() string { return "resgen.attemptContext" }
