package resgenimpl

import (
	"context"
	"math/bits"
	"math/rand/v2"
	rt "runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The per-attempt timeout of a method whose results do not outlive the
// attempt (Timeout) costs one allocation — the context itself, 80 bytes —
// and no timer, no goroutine and no registration with the caller's context
// unless someone waits on it.
//
// A timeoutCtx starts live: it holds its parent and its deadline, and
// nothing refers to it but the attempt. Whoever asks it whether it is done
// (Err, context.Cause) and finds its deadline passed or its parent done
// ends it there and then, as its timer or its parent would have: nothing
// else can observe the difference. Once someone asks for its Done channel
// or registers with it (context.AfterFunc, a context derived from it), or
// asks Err a few times, it is watched: its deadline goes into its Method's
// deadline queue, whose one shared timer ends it on time, and it registers
// with its parent through context.AfterFunc. The attempt's cancel, called
// by generated code as soon as the attempt returns, takes it out of both.
//
// What a context needs while watched (its lock, its place in the queue,
// the functions registered with it) is a ctxWatch, taken from a pool and
// put back when the context is done: nothing reaches a ctxWatch through a
// done context but the stop functions of its registrations, which check
// an identifier that a reused ctxWatch never hands out again.
//
// The context itself is not pooled: a callee may keep it, without calling
// any of its methods, and consult it after the attempt; a recycled context
// would then answer for someone else's attempt, or not be done, and no
// generation counter can prevent that, since the callee holds the pointer,
// not a generation (an interface holding both would allocate). The cancel
// function is pooled: only generated code holds it, and calls it exactly
// once, right after the attempt.

// The states of a timeoutCtx. It goes from live, or from watched, to one of
// the three done states, and from live to watched (through arming, under
// its ctxWatch's lock), never back.
const (
	ctxLive     int32 = iota // nothing armed or registered
	ctxArming                // becoming watched, under w.mu
	ctxWatched               // in the deadline queue, registered with the parent
	ctxCanceled              // done: cancelled when the attempt returned
	ctxExpired               // done: its deadline passed
	ctxParent                // done: its parent was; pend says how
)

// pollsBeforeWatch is how many times Err reads the clock to find out
// whether a live context's deadline has passed before it arms the deadline
// instead, so that a callee that checks Err in a loop pays an atomic load
// per check, as with the standard library's contexts.
const pollsBeforeWatch = 3

// closedchan is the Done channel of a context that was done before anyone
// asked for it.
var closedchan = make(chan struct{})

func init() { close(closedchan) }

// timeoutCtx is the context of one attempt under Timeout. Safe for
// concurrent use, like every context.
type timeoutCtx struct {
	parent   context.Context
	deadline time.Time
	me       *Method // whose deadline queue watches it
	state    atomic.Int32
	polls    atomic.Int32             // Err's clock readings while live
	w        atomic.Pointer[ctxWatch] // while watched; never cleared, but reused once c is done
	done     chan struct{}            // made when c becomes watched, closed when it is done after
	pend     atomic.Pointer[parentEnd]
}

// parentEnd is how the parent ended an attempt's context: its error, and
// what its Value(cancelCtxKey) was when that carries the cause.
type parentEnd struct {
	err error
	pcc any
}

// ctxWatch is the part of a timeoutCtx that someone waits on.
type ctxWatch struct {
	c    *timeoutCtx
	mu   sync.Mutex
	stop func() bool // ends the registration with the parent
	// onParent is w.parentDone, made once with w and used for every
	// context it watches: what the registration with the parent runs.
	onParent func()
	fs       []regFunc // registered with AfterFunc; fsBuf holds the first
	fid      uint64    // the last registration's id; never reset
	// The deadline queue: the shard that holds c, its deadline in
	// nanoseconds since clockBase, and its neighbours, under the shard's
	// lock.
	shard      *deadlineShard
	at         int64
	prev, next *ctxWatch
	queued     bool
	fsBuf      [1]regFunc
}

type regFunc struct {
	id uint64
	f  func()
}

// newTimeoutCtx returns the context of an attempt of me that ends at
// deadline, or with parent, and the function that cancels it.
func newTimeoutCtx(me *Method, parent context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	c := &timeoutCtx{parent: parent, deadline: deadline, me: me}
	h := timeoutCancels.Get().(*timeoutCancel)
	h.c = c
	return c, h.f
}

// timeoutCancel is the cancel function of a timeoutCtx, reused: generated
// code calls it once, as soon as the attempt returns, and it goes back to
// the pool then. Nothing else holds it.
type timeoutCancel struct {
	c *timeoutCtx
	f context.CancelFunc // h.cancel, made once per timeoutCancel
}

// ctxWatches and timeoutCancels keep, with each value, the method value
// it hands out, made once. (Their New functions are set at init: the
// methods they refer to use the pools.)
var ctxWatches, timeoutCancels sync.Pool

func init() {
	ctxWatches.New = func() any {
		w := new(ctxWatch)
		w.onParent = w.parentDone
		return w
	}
	timeoutCancels.New = func() any {
		h := new(timeoutCancel)
		h.f = h.cancel
		return h
	}
}

func (h *timeoutCancel) cancel() {
	c := h.c
	if c == nil {
		return // called again before reuse: h is in the pool already, and must not be twice
	}
	h.c = nil
	timeoutCancels.Put(h)
	c.finish(ctxCanceled, nil, nil)
}

// lockWatch returns c's ctxWatch, taken from the pool if c has none,
// locked. The caller checks c's state under the lock: once c is done, its
// ctxWatch may be another context's.
func (c *timeoutCtx) lockWatch() *ctxWatch {
	w := c.w.Load()
	if w == nil {
		nw := ctxWatches.Get().(*ctxWatch)
		nw.mu.Lock()
		if c.w.CompareAndSwap(nil, nw) {
			nw.c = c
			return nw
		}
		nw.mu.Unlock()
		ctxWatches.Put(nw)
		w = c.w.Load()
	}
	w.mu.Lock()
	return w
}

// Deadline returns the attempt's deadline.
func (c *timeoutCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// Err returns nil until c is done, then why.
func (c *timeoutCtx) Err() error {
	switch c.state.Load() {
	case ctxLive:
		if c.polls.Add(1) > pollsBeforeWatch {
			c.watch()
			return c.Err()
		}
		return c.poll()
	case ctxArming, ctxWatched:
		return c.pollParent()
	}
	return c.doneErr()
}

// doneErr returns the error of c, which is done. Like the standard
// library's contexts, it returns only once the Done channel is closed:
// finish closes it right after setting the state.
func (c *timeoutCtx) doneErr() error {
	s := c.state.Load()
	if c.done != nil {
		<-c.done
	}
	switch s {
	case ctxCanceled:
		return context.Canceled
	case ctxExpired:
		return context.DeadlineExceeded
	}
	return c.pend.Load().err
}

// poll ends c, which nothing watches, if its parent is done or its
// deadline has passed: what its registration with the parent or its timer
// would have done by now. The parent comes first, since it may have been
// done before c started (the standard library's contexts are then done at
// once): its error, unless that is its own deadline, after c's.
func (c *timeoutCtx) poll() error {
	expired := time.Until(c.deadline) <= 0
	if p := c.parent; p.Done() != nil {
		if err := p.Err(); err != nil {
			if dl, ok := p.Deadline(); !expired || err != context.DeadlineExceeded || !ok || !dl.After(c.deadline) {
				c.finish(ctxParent, err, p)
				return c.doneErr()
			}
		}
	}
	if expired {
		c.finish(ctxExpired, nil, nil)
		return c.doneErr()
	}
	return nil
}

// pollParent ends c if its parent is done: its registration with the
// parent runs in a goroutine of its own (context.AfterFunc), which may not
// have run yet.
func (c *timeoutCtx) pollParent() error {
	if p := c.parent; p.Done() != nil {
		if err := p.Err(); err != nil {
			c.finish(ctxParent, err, p)
			return c.doneErr()
		}
	}
	if c.state.Load() >= ctxCanceled {
		return c.doneErr()
	}
	return nil
}

// Done returns the channel closed when c is done. The first call arms the
// deadline and registers c with its parent.
func (c *timeoutCtx) Done() <-chan struct{} {
	switch c.state.Load() {
	case ctxWatched:
		c.pollParent()
		return c.done
	case ctxCanceled, ctxExpired, ctxParent:
		if c.done != nil {
			return c.done
		}
		return closedchan
	}
	c.watch()
	return c.Done()
}

// watch makes c watched, since someone may now wait on it: its deadline
// goes into the queue and it registers with its parent. If c is already
// done, or watched, it does nothing.
//
// It reads no clock: a deadline that has already passed sets the queue's
// timer to fire at once, as a timer of the standard library's that fired
// late. The parent it asks, since the standard library's contexts are done
// at once with a parent that is.
func (c *timeoutCtx) watch() {
	if c.state.Load() == ctxLive && c.pollParent() != nil {
		return
	}
	if c.state.Load() >= ctxWatched {
		return
	}
	w := c.lockWatch()
	defer w.mu.Unlock()
	if !c.state.CompareAndSwap(ctxLive, ctxArming) {
		return // done meanwhile, or watched: never arming, which holds w.mu
	}
	c.done = make(chan struct{})
	w.at = int64(c.deadline.Sub(clockBase))
	w.shard = c.me.deadlines.shard()
	w.shard.add(w)
	if c.parent.Done() != nil {
		// f runs in a goroutine of its own: never under w.mu.
		w.stop = context.AfterFunc(c.parent, w.onParent)
	}
	c.state.Store(ctxWatched)
}

// parentDone ends the context w watches with its parent, which is done.
// finish does not let go of w (nor clear w.c) while this may run: once w
// is back in the pool, its registration with that parent has been
// stopped before it ran.
func (w *ctxWatch) parentDone() {
	c := w.c
	c.finish(ctxParent, c.parent.Err(), c.parent)
}

// finish ends c: as the attempt returned (ctxCanceled), at its deadline
// (ctxExpired), or with its parent p (ctxParent, err being p's error). The
// first call wins. A watched c leaves the deadline queue and its parent,
// and runs the functions registered with it, in this goroutine, as a
// cancelled context of the standard library cancels its children.
func (c *timeoutCtx) finish(kind int32, err error, p context.Context) {
	if kind == ctxCanceled && c.state.Load() < ctxCanceled {
		// A parent of the standard library would have cancelled c
		// already, in its own goroutine: c's registration may not have
		// run yet, or c has none.
		if pp := c.parent; pp.Done() != nil {
			if perr := pp.Err(); perr != nil {
				kind, err, p = ctxParent, perr, pp
			}
		}
	}
	if kind == ctxParent {
		if c.state.Load() >= ctxCanceled {
			return
		}
		c.pend.CompareAndSwap(nil, &parentEnd{err: err, pcc: causeCarrier(p)})
	}
	switch c.state.Load() {
	case ctxLive:
		if c.state.CompareAndSwap(ctxLive, kind) {
			return // nothing watched it: nothing to undo
		}
		if c.state.Load() >= ctxCanceled {
			return
		}
	case ctxArming, ctxWatched:
		// Not live, and never again: no compare-and-swap to try.
	default:
		return
	}
	w := c.lockWatch()
	if c.state.Load() != ctxWatched {
		w.mu.Unlock() // done meanwhile (never live again, nor arming under w.mu)
		return
	}
	c.state.Store(kind)
	close(c.done)
	stop := w.stop
	var f1 func()
	var fs []regFunc
	switch len(w.fs) {
	case 0:
	case 1:
		f1 = w.fs[0].f
	default:
		fs = append([]regFunc(nil), w.fs...)
	}
	w.stop, w.fs, w.fsBuf[0] = nil, nil, regFunc{}
	w.mu.Unlock()
	w.shard.remove(w)
	if stop == nil || stop() {
		w.c = nil // out of the queue: nothing reads it; and the pool must not keep c, nor its parent, alive
		ctxWatches.Put(w)
	}
	// Else the registration with the parent has run, or is running (it is
	// what ended c): it holds w, which it leaves to the collector.
	if f1 != nil {
		f1()
	}
	for _, rf := range fs {
		rf.f()
	}
}

// AfterFunc lets context.AfterFunc and the contexts derived from c register
// with it instead of with a goroutine each: f runs when c is done, in the
// goroutine that ends it, or at once in a goroutine of its own if c already
// is (context.WithCancel calls this holding the child's lock, which f
// takes).
func (c *timeoutCtx) AfterFunc(f func()) (stop func() bool) {
	switch c.state.Load() {
	case ctxLive, ctxArming:
		c.watch()
	case ctxWatched:
		c.pollParent()
	}
	if c.state.Load() == ctxWatched {
		w := c.lockWatch()
		if c.state.Load() == ctxWatched {
			if w.fs == nil {
				w.fs = w.fsBuf[:0]
			}
			w.fid++
			id := w.fid
			w.fs = append(w.fs, regFunc{id: id, f: f})
			w.mu.Unlock()
			return func() bool { return w.unregister(id) }
		}
		w.mu.Unlock()
	}
	go f()
	return stopped
}

func stopped() bool { return false }

// unregister removes the registration id, if w still has it: a stop
// function called after its context is done finds nothing, even if w now
// watches another context, since ids are never reused.
func (w *ctxWatch) unregister(id uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, rf := range w.fs {
		if rf.id == id {
			copy(w.fs[i:], w.fs[i+1:])
			w.fs[len(w.fs)-1] = regFunc{}
			w.fs = w.fs[:len(w.fs)-1]
			return true
		}
	}
	return false
}

// Value returns the parent's value for key. context.Cause asks with the
// standard library's cancelCtxKey for the context that carries the cause:
// when the parent ended c with a cause, that is the parent's; otherwise
// none, and Cause returns Err.
func (c *timeoutCtx) Value(key any) any {
	if key == cancelCtxKey && cancelCtxKey != nil {
		if c.state.Load() == ctxParent {
			return c.pend.Load().pcc
		}
		return nil
	}
	return c.parent.Value(key)
}

func (c *timeoutCtx) String() string { return "resgen.timeoutCtx" }

// cancelCtxKey is the key context.Cause passes to Value to find the
// standard library's cancelCtx that carries a context's cause. Cause asks
// a context of its own (causeProbe) for it at init; nil if that finds
// nothing a cancelCtx answers (another version of the context package),
// and then context.Cause of an attempt ended by its parent is its Err.
var cancelCtxKey = findCancelCtxKey()

func findCancelCtxKey() any {
	p := &causeProbe{}
	_ = context.Cause(p)
	if p.key == nil {
		return nil
	}
	cc, cancel := context.WithCancel(context.Background())
	defer cancel()
	if cc.Value(p.key) == nil {
		return nil
	}
	return p.key
}

// causeProbe is a done context that records the first key it is asked
// for, and answers with v.
type causeProbe struct {
	key any
	v   any
}

func (*causeProbe) Deadline() (time.Time, bool) { return time.Time{}, false }
func (*causeProbe) Done() <-chan struct{}       { return closedchan }
func (*causeProbe) Err() error                  { return errNoCauseErr }
func (p *causeProbe) Value(key any) any {
	if p.key == nil {
		p.key = key
	}
	return p.v
}

type noCauseError struct{}

func (*noCauseError) Error() string { return "no cause" }

var errNoCauseErr error = &noCauseError{}

// causeCarrier returns what p, which is done, answers to cancelCtxKey when
// that carries a cause of its own, so that context.Cause of the attempt is
// the parent's cause, as for the contexts of the standard library; nil
// when the cause is p.Err().
func causeCarrier(p context.Context) any {
	if cancelCtxKey == nil {
		return nil
	}
	v := p.Value(cancelCtxKey)
	if v == nil {
		return nil
	}
	// context.Cause of a context that answers v and whose Err is
	// errNoCauseErr: v's cause if it has one, else errNoCauseErr.
	if context.Cause(&causeProbe{key: cancelCtxKey, v: v}) == errNoCauseErr {
		return nil
	}
	return v
}

// clockBase is the origin of the deadline queue's times. clockAnchor is a
// recent time.Now(): Timeout reads the time from it and the monotonic clock
// alone (time.Since), which costs half as much as time.Now, reading both
// clocks. The wall clock of a deadline is therefore at most anchorAge
// older than time.Now's; the monotonic clock, which time.Until, Sub, Before
// and After use, is exact.
var (
	clockBase   = time.Now()
	clockAnchor atomic.Pointer[time.Time]
)

const anchorAge = time.Second

// now returns the current time, read through clockAnchor.
func now() time.Time {
	if a := clockAnchor.Load(); a != nil {
		if el := time.Since(*a); el >= 0 && el < anchorAge {
			return a.Add(el)
		}
	}
	t := time.Now()
	clockAnchor.Store(&t)
	return t
}

// nowFrom returns the time at, in nanoseconds since clockBase by the
// monotonic clock, as now would have returned it then: read through
// clockAnchor, without reading the clock, when at is within anchorAge
// after it; else now's time, later than at.
func nowFrom(at int64) time.Time {
	if a := clockAnchor.Load(); a != nil {
		if el := time.Duration(at) - a.Sub(clockBase); el >= 0 && el < anchorAge {
			return a.Add(el)
		}
	}
	return now()
}

// deadlineQueue holds the deadlines of a Method's watched attempts, in
// shards, each a list in deadline order with one timer armed for its
// earliest. Its attempts all have the method's timeout, so each new
// deadline is, but for the attempts that started a moment apart, the
// latest of its shard: inserting it is O(1) from the tail, removing it O(1).
// The shards are made the first time an attempt is watched.
type deadlineQueue struct {
	shards atomic.Pointer[[]deadlineShard]
}

func (q *deadlineQueue) shard() *deadlineShard {
	p := q.shards.Load()
	if p == nil {
		n := 1 << bits.Len(uint(min(max(rt.GOMAXPROCS(0), 1), 16)-1))
		s := make([]deadlineShard, n)
		if !q.shards.CompareAndSwap(nil, &s) {
			p = q.shards.Load()
		} else {
			p = &s
		}
	}
	s := *p
	if len(s) == 1 {
		return &s[0]
	}
	return &s[rand.Uint32()&uint32(len(s)-1)]
}

// deadlineShard is one list of deadlines and its timer. The timer is armed
// for the earliest deadline the list had when it was set; removing that
// attempt does not stop it: it fires, finds the attempts whose deadlines
// passed, if any, and is set for the next, or left stopped when the list
// is empty. So when attempts come and go faster than their timeout, it
// fires about once per timeout, holding no attempt.
type deadlineShard struct {
	mu         sync.Mutex
	head, tail *ctxWatch
	timer      *time.Timer
	when       int64 // what the timer is set for, since clockBase; 0: not set
	_          [24]byte
}

func (s *deadlineShard) add(c *ctxWatch) {
	s.mu.Lock()
	p := s.tail
	for p != nil && p.at > c.at {
		p = p.prev
	}
	c.prev = p
	if p == nil {
		c.next, s.head = s.head, c
	} else {
		c.next, p.next = p.next, c
	}
	if c.next == nil {
		s.tail = c
	} else {
		c.next.prev = c
	}
	c.queued = true
	if s.when == 0 || c.at < s.when {
		s.set(c.at, int64(time.Since(clockBase)))
	}
	s.mu.Unlock()
}

// set arms the timer for at, under s.mu.
func (s *deadlineShard) set(at, now int64) {
	s.when = at
	d := time.Duration(at - now)
	if s.timer == nil {
		s.timer = time.AfterFunc(d, s.fire)
	} else {
		s.timer.Reset(d)
	}
}

func (s *deadlineShard) remove(c *ctxWatch) {
	s.mu.Lock()
	if c.queued {
		s.unlink(c)
	}
	s.mu.Unlock()
}

func (s *deadlineShard) unlink(c *ctxWatch) {
	if c.prev == nil {
		s.head = c.next
	} else {
		c.prev.next = c.next
	}
	if c.next == nil {
		s.tail = c.prev
	} else {
		c.next.prev = c.prev
	}
	c.prev, c.next, c.queued = nil, nil, false
}

// fire ends the attempts whose deadlines have passed, and sets the timer
// for the next.
func (s *deadlineShard) fire() { s.fireAt(int64(time.Since(clockBase))) }

func (s *deadlineShard) fireAt(now int64) {
	var expired []*timeoutCtx
	s.mu.Lock()
	for w := s.head; w != nil && w.at <= now; w = s.head {
		s.unlink(w)
		expired = append(expired, w.c)
	}
	s.when = 0
	if s.head != nil {
		s.set(s.head.at, now)
	}
	s.mu.Unlock()
	for _, c := range expired {
		c.finish(ctxExpired, nil, nil)
	}
}
