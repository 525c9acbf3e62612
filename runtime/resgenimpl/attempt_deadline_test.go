package resgenimpl

import (
	"context"
	"errors"
	"fmt"
	rt "runtime"
	"sync"
	"testing"
	"time"
	"weak"

	"go.uber.org/goleak"
	"pgregory.net/rapid"
)

// The context of Timeout against context.WithTimeout, side by side: the
// same parent, built twice, the same operations on both attempt contexts,
// the same observations. Deadlines are real time; a run either has a
// timeout that never passes during the test (every operation is
// deterministic) or a short one, which it waits out before it observes
// anything. The standard library delivers some cancellations in goroutines
// of its own (timers, context.AfterFunc), and so does the attempt's context
// for its parent's: after each operation the test waits, in both worlds,
// for what the standard library's world has done to be done (settle).

type dtKey struct{}

var (
	dtCauseA = errors.New("cause A")
	dtCauseB = errors.New("cause B")
)

// dtCustom is a context the context package does not know: its own Done
// channel, and Value from a context.WithCancelCause context that it
// cancels first, with the cause (so that context.Cause finds the cause
// through Value, as for contexts wrapping the standard library's). With
// af, it has the AfterFunc method the context package looks for;
// without, the context package watches it with a goroutine.
type dtCustom struct {
	inner       context.Context
	cancelInner context.CancelCauseFunc
	af          bool
	mu          sync.Mutex
	done        chan struct{}
	err         error
	fs          map[int]func()
	n           int
}

type dtCustomAF struct{ *dtCustom }

func newDTCustom(af bool) *dtCustom {
	inner, cancel := context.WithCancelCause(context.WithValue(context.Background(), dtKey{}, "custom"))
	return &dtCustom{inner: inner, cancelInner: cancel, af: af, done: make(chan struct{}), fs: map[int]func(){}}
}

func (c *dtCustom) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *dtCustom) Done() <-chan struct{}       { return c.done }
func (c *dtCustom) Value(key any) any           { return c.inner.Value(key) }

func (c *dtCustom) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *dtCustom) cancel(cause error) {
	c.cancelInner(cause)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = context.Canceled
	close(c.done)
	fs := c.fs
	c.fs = nil
	c.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

func (c *dtCustom) registered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.fs)
}

func (c dtCustomAF) AfterFunc(f func()) func() bool {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	id := c.n
	c.n++
	c.fs[id] = f
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.fs[id]; ok {
			delete(c.fs, id)
			return true
		}
		return false
	}
}

// dtParent says how to build the parent of the attempt.
type dtParent struct {
	Base  string // Background, WithCancelCause, custom, customAF, WithoutCancel, attempt
	Value bool   // a WithValue on top
	Later bool   // a WithTimeout(2h) on top: a deadline later than the attempt's
	Pre   string // "", "cancelled", "cause": the parent is done before the attempt starts
}

// build returns the parent, the function that cancels it (nil when it
// cannot be), and its custom context, if any.
//
// outer, for the "attempt" parent, is the Method whose attempt's context
// it is; nil: context.WithTimeout's, for the standard library's world.
func (p dtParent) build(outer *Method) (context.Context, func(error), *dtCustom, func()) {
	var ctx context.Context = context.Background()
	var cancel func(error)
	var custom *dtCustom
	cleanup := func() {}
	switch p.Base {
	case "WithCancelCause":
		c, f := context.WithCancelCause(ctx)
		ctx, cancel = c, f
	case "custom", "customAF":
		custom = newDTCustom(p.Base == "customAF")
		ctx, cancel = custom, custom.cancel
		if custom.af {
			ctx = dtCustomAF{custom}
		}
	case "WithoutCancel":
		c, f := context.WithCancelCause(ctx)
		ctx, cancel = context.WithoutCancel(c), f
	case "attempt": // a wrapper called under another wrapper's attempt
		var c context.Context
		var f context.CancelFunc
		if outer == nil {
			c, f = context.WithTimeout(ctx, 3*time.Hour)
		} else {
			c, f = outer.Timeout(ctx)
		}
		once := sync.OnceFunc(f) // Timeout's cancel is called once
		ctx, cancel = c, func(error) { once() }
		cleanup = once
	}
	if p.Value {
		ctx = context.WithValue(ctx, dtKey{}, "v")
	}
	if p.Later {
		c, f := context.WithTimeout(ctx, 2*time.Hour)
		prev := cleanup
		ctx, cleanup = c, func() { f(); prev() }
	}
	if cancel != nil {
		switch p.Pre {
		case "cancelled":
			cancel(nil)
		case "cause":
			cancel(dtCauseA)
		}
	}
	return ctx, cancel, custom, cleanup
}

// dtWorld is one side: the attempt's context and what was done with it.
type dtWorld struct {
	name    string
	parent  context.Context
	cancelP func(error)
	custom  *dtCustom
	cleanup func()
	ctx     context.Context
	cancel  context.CancelFunc
	// pdone: the parent was cancelled, and is done once the context
	// package has delivered it through every layer (some in goroutines)
	pdone bool

	dones    []<-chan struct{}
	fired    []chan struct{}
	stops    []func() bool
	stopped  []bool // its stop returned true: it never runs
	kids     []context.Context
	kidStops []func(error)
}

func (w *dtWorld) afterFunc() {
	ch := make(chan struct{})
	w.fired = append(w.fired, ch)
	w.stops = append(w.stops, context.AfterFunc(w.ctx, func() { close(ch) }))
	w.stopped = append(w.stopped, false)
}

func (w *dtWorld) child(kind int) {
	switch kind {
	case 0:
		c, f := context.WithCancel(w.ctx)
		w.kids, w.kidStops = append(w.kids, c), append(w.kidStops, func(error) { f() })
	case 1:
		c, f := context.WithCancelCause(w.ctx)
		w.kids, w.kidStops = append(w.kids, c), append(w.kidStops, f)
	default:
		c, f := context.WithTimeout(w.ctx, time.Hour)
		w.kids, w.kidStops = append(w.kids, c), append(w.kidStops, func(error) { f() })
	}
}

func dtWait(t *rapid.T, ch <-chan struct{}, what string) {
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: not done 5s after the standard library's", what)
	}
}

func dtClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// settle waits until each world has done what the standard library's has:
// when its attempt context is done, every Done channel taken from it, every
// derived context and every registered function not stopped.
func dtSettle(t *rapid.T, std, ours *dtWorld) {
	for _, w := range []*dtWorld{std, ours} {
		if w.pdone {
			dtWait(t, w.parent.Done(), w.name+": the parent, after its cancel")
		}
	}
	if std.parent.Err() != nil {
		// A parent the context package does not know is watched by a
		// goroutine of its own.
		dtWait(t, std.ctx.Done(), "WithTimeout, after its parent")
	}
	if std.ctx.Err() != nil {
		for _, w := range []*dtWorld{std, ours} {
			for i, d := range w.dones {
				dtWait(t, d, fmt.Sprintf("%s: Done channel %d", w.name, i))
			}
			for i, k := range w.kids {
				dtWait(t, k.Done(), fmt.Sprintf("%s: derived context %d", w.name, i))
			}
			for i, f := range w.fired {
				if !w.stopped[i] {
					dtWait(t, f, fmt.Sprintf("%s: AfterFunc %d", w.name, i))
				}
			}
		}
	}
	for i, k := range std.kids {
		if k.Err() != nil {
			dtWait(t, ours.kids[i].Done(), fmt.Sprintf("ours: derived context %d", i))
		}
	}
}

// dtCompare checks that both worlds look the same.
func dtCompare(t *rapid.T, std, ours *dtWorld, step string) {
	if a, b := std.ctx.Err(), ours.ctx.Err(); a != b {
		t.Fatalf("%s: Err: WithTimeout %v, Timeout %v", step, a, b)
	}
	if a, b := context.Cause(std.ctx), context.Cause(ours.ctx); a != b {
		t.Fatalf("%s: Cause: WithTimeout %v, Timeout %v", step, a, b)
	}
	if a, b := std.ctx.Value(dtKey{}), ours.ctx.Value(dtKey{}); a != b {
		t.Fatalf("%s: Value: WithTimeout %v, Timeout %v", step, a, b)
	}
	if v := ours.ctx.Value(struct{ int }{1}); v != nil {
		t.Fatalf("%s: Value of an unknown key: %v", step, v)
	}
	da, oka := std.ctx.Deadline()
	db, okb := ours.ctx.Deadline()
	if oka != okb || da.Sub(db).Abs() > time.Second {
		t.Fatalf("%s: Deadline: WithTimeout %v %v, Timeout %v %v", step, da, oka, db, okb)
	}
	for i := range std.dones {
		if a, b := dtClosed(std.dones[i]), dtClosed(ours.dones[i]); a != b {
			t.Fatalf("%s: Done channel %d closed: WithTimeout %v, Timeout %v", step, i, a, b)
		}
	}
	for i := range std.fired {
		if a, b := dtClosed(std.fired[i]), dtClosed(ours.fired[i]); a != b {
			t.Fatalf("%s: AfterFunc %d ran: WithTimeout %v, Timeout %v", step, i, a, b)
		}
	}
	for i := range std.kids {
		if a, b := std.kids[i].Err(), ours.kids[i].Err(); a != b {
			t.Fatalf("%s: derived context %d: Err: WithTimeout %v, Timeout %v", step, i, a, b)
		}
		if a, b := context.Cause(std.kids[i]), context.Cause(ours.kids[i]); a != b {
			t.Fatalf("%s: derived context %d: Cause: WithTimeout %v, Timeout %v", step, i, a, b)
		}
	}
}

// shardsEmpty reports whether me's deadline queue holds no attempt.
func shardsEmpty(me *Method) bool {
	p := me.deadlines.shards.Load()
	if p == nil {
		return true
	}
	for i := range *p {
		s := &(*p)[i]
		s.mu.Lock()
		empty := s.head == nil && s.tail == nil
		s.mu.Unlock()
		if !empty {
			return false
		}
	}
	return true
}

func TestTimeoutContextMatchesWithTimeout(t *testing.T) {
	long := timeoutMethod(t, time.Hour)
	const shortD = 3 * time.Millisecond
	short := timeoutMethod(t, shortD)
	outer := timeoutMethod(t, 3*time.Hour)
	rapid.Check(t, func(t *rapid.T) {
		p := dtParent{
			Base:  rapid.SampledFrom([]string{"Background", "WithCancelCause", "custom", "customAF", "WithoutCancel", "attempt"}).Draw(t, "parent"),
			Value: rapid.Bool().Draw(t, "value"),
			Later: rapid.Bool().Draw(t, "later deadline"),
			Pre:   rapid.SampledFrom([]string{"", "", "", "cancelled", "cause"}).Draw(t, "parent done before"),
		}
		expires := rapid.Bool().Draw(t, "short timeout")
		me, d := long, time.Hour
		if expires {
			me, d = short, shortD
		}
		var std, ours dtWorld
		for _, w := range []*dtWorld{&std, &ours} {
			var o *Method
			if w == &ours {
				o = outer
			}
			w.parent, w.cancelP, w.custom, w.cleanup = p.build(o)
			w.pdone = p.Pre != "" && w.cancelP != nil && p.Base != "WithoutCancel"
		}
		std.name, ours.name = "WithTimeout", "Timeout"
		before := 0 // what the parent's own layers registered with the custom context
		if std.custom != nil {
			before = std.custom.registered()
		}
		std.ctx, std.cancel = context.WithTimeout(std.parent, d)
		var cancelOurs context.CancelFunc
		ours.ctx, cancelOurs = me.Timeout(ours.parent)
		ours.cancel = sync.OnceFunc(cancelOurs) // generated code calls it once
		if _, ok := ours.ctx.(*timeoutCtx); !ok {
			t.Fatalf("Timeout returned %T, not its own context", ours.ctx)
		}
		both := func(f func(w *dtWorld)) { f(&std); f(&ours) }
		dtSettle(t, &std, &ours) // a parent done before: through all its layers

		// Before a short timeout has passed, only what observes nothing.
		const (
			opDone = iota
			opAfterFunc
			opChild
			opStop
			opChildCancel
			opCancelParent
			opCancel
			opObserve
		)
		if expires {
			for i, n := 0, rapid.IntRange(0, 6).Draw(t, "before expiry"); i < n; i++ {
				switch op := rapid.IntRange(opDone, opChild).Draw(t, "op before expiry"); op {
				case opDone:
					both(func(w *dtWorld) { w.dones = append(w.dones, w.ctx.Done()) })
				case opAfterFunc:
					both((*dtWorld).afterFunc)
				case opChild:
					kind := rapid.IntRange(0, 2).Draw(t, "child kind")
					both(func(w *dtWorld) { w.child(kind) })
				}
			}
			both(func(w *dtWorld) {
				select {
				case <-w.ctx.Done():
				case <-time.After(5 * time.Second):
					t.Fatalf("%s: not done 5s after a %v timeout", w.name, shortD)
				}
			})
			dtSettle(t, &std, &ours)
			dtCompare(t, &std, &ours, "expired")
		}
		for i, n := 0, rapid.IntRange(0, 20).Draw(t, "ops"); i < n; i++ {
			op := rapid.IntRange(opDone, opObserve).Draw(t, "op")
			step := fmt.Sprintf("op %d (%d)", i, op)
			switch op {
			case opDone:
				both(func(w *dtWorld) { w.dones = append(w.dones, w.ctx.Done()) })
			case opAfterFunc:
				both((*dtWorld).afterFunc)
			case opChild:
				kind := rapid.IntRange(0, 2).Draw(t, "child kind")
				both(func(w *dtWorld) { w.child(kind) })
			case opStop:
				if len(std.stops) == 0 {
					continue
				}
				j := rapid.IntRange(0, len(std.stops)-1).Draw(t, "stop")
				a, b := std.stops[j](), ours.stops[j]()
				if a != b {
					t.Fatalf("%s: stop %d: WithTimeout %v, Timeout %v", step, j, a, b)
				}
				std.stopped[j] = std.stopped[j] || a
				ours.stopped[j] = ours.stopped[j] || b
			case opChildCancel:
				if len(std.kids) == 0 {
					continue
				}
				j := rapid.IntRange(0, len(std.kids)-1).Draw(t, "child cancel")
				both(func(w *dtWorld) { w.kidStops[j](dtCauseB) })
			case opCancelParent:
				if std.cancelP == nil {
					continue
				}
				var cause error
				if rapid.Bool().Draw(t, "with cause") {
					cause = dtCauseA
				}
				both(func(w *dtWorld) {
					w.cancelP(cause)
					w.pdone = p.Base != "WithoutCancel"
				})
			case opCancel:
				both(func(w *dtWorld) { w.cancel() })
			}
			dtSettle(t, &std, &ours)
			dtCompare(t, &std, &ours, step)
		}

		// The attempt returns: its cancel, then nothing of it is left in
		// the parent nor in the deadline queue.
		dtSettle(t, &std, &ours)
		both(func(w *dtWorld) { w.cancel() })
		dtSettle(t, &std, &ours)
		dtCompare(t, &std, &ours, "after cancel")
		both(func(w *dtWorld) {
			for _, stop := range w.kidStops {
				stop(nil)
			}
		})
		if std.custom != nil && std.custom.af {
			if std.custom.Err() != nil {
				before = 0 // a cancelled custom context drops its registrations
			}
			if a, b := std.custom.registered(), ours.custom.registered(); a != b || b != before {
				t.Fatalf("registrations left with the parent: WithTimeout %d, Timeout %d, %d before the attempt", a, b, before)
			}
		}
		if !shardsEmpty(me) {
			t.Fatalf("the deadline queue still holds an attempt after its cancel")
		}
		both(func(w *dtWorld) {
			if w.cancelP != nil {
				w.cancelP(nil)
			}
			w.cleanup()
		})
	})
	goleak.VerifyNone(t)
}

// The deadline queue's lists stay in deadline order, keep their links
// consistent, never miss a deadline (the timer is set no later than the
// earliest), and expire exactly the attempts whose deadlines have passed,
// whatever the order of additions, removals and firings.
func TestDeadlineShardOrderAndTimer(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var s deadlineShard
		defer func() {
			if s.timer != nil {
				s.timer.Stop()
			}
		}()
		// Times an hour from now, so that the shard's real timer, which
		// fireAt sets, never ends an attempt while the test runs.
		base := int64(time.Since(clockBase) + time.Hour)
		now := base
		type entry struct {
			w  *ctxWatch
			in bool
		}
		var all []*entry
		check := func(step string) {
			s.mu.Lock() // the shard's real timer may fire meanwhile
			defer s.mu.Unlock()
			var n int
			var prev *ctxWatch
			for w := s.head; w != nil; w = w.next {
				if w.prev != prev || !w.queued {
					t.Fatalf("%s: broken links at %d", step, w.at)
				}
				if prev != nil && prev.at > w.at {
					t.Fatalf("%s: %d before %d", step, prev.at, w.at)
				}
				prev = w
				n++
			}
			if s.tail != prev {
				t.Fatalf("%s: tail is not the last", step)
			}
			in := 0
			for _, e := range all {
				if e.in {
					in++
					if !e.w.queued {
						t.Fatalf("%s: an attempt left the list", step)
					}
				} else if e.w.queued {
					t.Fatalf("%s: a removed or expired attempt is still listed", step)
				}
			}
			if n != in {
				t.Fatalf("%s: %d listed, want %d", step, n, in)
			}
			if s.head != nil && (s.when == 0 || s.when > s.head.at) {
				t.Fatalf("%s: timer set for %d, after the earliest deadline %d", step, s.when, s.head.at)
			}
		}
		for i, n := 0, rapid.IntRange(1, 60).Draw(t, "ops"); i < n; i++ {
			step := fmt.Sprint("op ", i)
			switch rapid.IntRange(0, 2).Draw(t, "op") {
			case 0: // a new attempt: deadlines mostly increasing, some a little out of order
				at := now + int64(rapid.IntRange(0, 1000).Draw(t, "in"))
				w := &ctxWatch{c: &timeoutCtx{}, at: at}
				s.add(w)
				all = append(all, &entry{w: w, in: true})
			case 1:
				if len(all) == 0 {
					continue
				}
				e := all[rapid.IntRange(0, len(all)-1).Draw(t, "remove")]
				s.remove(e.w)
				e.in = false
			case 2:
				now += int64(rapid.IntRange(0, 600).Draw(t, "advance"))
				s.fireAt(now)
				for _, e := range all {
					if e.in && e.w.at <= now {
						e.in = false
						if e.w.c.state.Load() != ctxExpired {
							t.Fatalf("%s: deadline %d passed at %d, attempt not expired", step, e.w.at, now)
						}
					} else if e.w.c.state.Load() == ctxExpired && e.w.at > now {
						t.Fatalf("%s: attempt expired before its deadline", step)
					}
				}
			}
			check(step)
		}
	})
}

// A callee that keeps the attempt's context sees it cancelled for good:
// the context is never reused for another attempt.
func TestTimeoutContextKeptAfterReturn(t *testing.T) {
	me := timeoutMethod(t, time.Hour)
	parent := context.WithValue(context.Background(), dtKey{}, "v")
	var kept []context.Context
	var keptDone []<-chan struct{}
	for i := range 2000 {
		ctx, cancel := me.Timeout(parent)
		if i%2 == 0 {
			keptDone = append(keptDone, ctx.Done()) // watched
		} else {
			keptDone = append(keptDone, nil)
		}
		kept = append(kept, ctx)
		cancel()
	}
	rt.GC()
	for range 2000 { // more attempts, which could reuse what the kept ones had
		ctx, cancel := me.Timeout(parent)
		stop := context.AfterFunc(ctx, func() {})
		stop()
		cancel()
	}
	for i, ctx := range kept {
		if err := ctx.Err(); err != context.Canceled {
			t.Fatalf("kept context %d: Err %v, want context.Canceled", i, err)
		}
		if d := keptDone[i]; d != nil && !dtClosed(d) {
			t.Fatalf("kept context %d: its Done channel is open again", i)
		}
		if !dtClosed(ctx.Done()) {
			t.Fatalf("kept context %d: Done not closed", i)
		}
		if v := ctx.Value(dtKey{}); v != "v" {
			t.Fatalf("kept context %d: Value %v", i, v)
		}
		ran := make(chan struct{})
		if context.AfterFunc(ctx, func() { close(ran) })() {
			t.Fatalf("kept context %d: AfterFunc stopped before it ran, on a done context", i)
		}
		<-ran
	}
	if !shardsEmpty(me) {
		t.Fatal("the deadline queue holds attempts that returned")
	}
}

// Once the attempt has returned, nothing holds its context: not the
// caller's context, which lives on, nor the deadline queue, whose timer is
// still set for the first attempt's deadline.
func TestTimeoutContextCollectedAfterReturn(t *testing.T) {
	me := timeoutMethod(t, time.Hour)
	parent, cancelParent := context.WithCancel(context.Background())
	defer cancelParent()
	var ws []weak.Pointer[timeoutCtx]
	for range 100 {
		ctx, cancel := me.Timeout(parent)
		stop := context.AfterFunc(ctx, func() {}) // watched: queued, registered with parent
		_ = stop
		ws = append(ws, weak.Make(ctx.(*timeoutCtx)))
		cancel()
	}
	for range 3 {
		rt.GC()
	}
	for i, w := range ws {
		if w.Value() != nil {
			t.Fatalf("attempt %d's context is still reachable after it returned", i)
		}
	}
}

// Err, asked again and again by a callee that checks it in a loop, stops
// reading the clock: the context is then watched, and its deadline ends it
// through the queue's timer.
func TestTimeoutContextErrLoopArmsDeadline(t *testing.T) {
	me := timeoutMethod(t, 30*time.Millisecond)
	ctx, cancel := me.Timeout(context.Background())
	defer cancel()
	c := ctx.(*timeoutCtx)
	for i := range pollsBeforeWatch {
		if err := ctx.Err(); err != nil {
			t.Fatalf("Err %d: %v", i, err)
		}
		if s := c.state.Load(); s != ctxLive {
			t.Fatalf("after %d calls of Err: state %d, want live", i+1, s)
		}
	}
	if err := ctx.Err(); err != nil {
		t.Fatal(err)
	}
	if s := c.state.Load(); s != ctxWatched {
		t.Fatalf("after %d calls of Err: state %d, want watched", pollsBeforeWatch+1, s)
	}
	<-c.done // closed by the queue's timer, not by a poll
	if err := ctx.Err(); err != context.DeadlineExceeded {
		t.Fatalf("Err %v, want DeadlineExceeded", err)
	}
}

// context.Cause finds the cause in the standard library's cancelCtx through
// a key that resgen learns at init: this Go version's context package must
// answer it.
func TestCancelCtxKeyFound(t *testing.T) {
	if cancelCtxKey == nil {
		t.Fatal("context.Cause asked no key that a cancelCtx answers: an attempt ended by its parent would lose the parent's cause")
	}
}

// Attempts started, watched, derived from, cancelled by their parents, by
// their deadlines and by their return, from many goroutines at once
// (run with -race): each ends once, with the error of what ended it, and
// the deadline queue is empty afterwards.
func TestTimeoutContextConcurrent(t *testing.T) {
	me := timeoutMethod(t, 2*time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				parent, cancelParent := context.WithCancelCause(context.Background())
				ctx, cancelAttempt := me.Timeout(parent)
				// Called once, as generated code does: the cancel function
				// is reused for another attempt once called.
				cancel := sync.OnceFunc(cancelAttempt)
				var inner sync.WaitGroup
				switch (g + i) % 4 {
				case 0: // a callee that waits for the deadline
					<-ctx.Done()
				case 1: // the parent ends it while another goroutine waits
					inner.Add(1)
					go func() { defer inner.Done(); <-ctx.Done() }()
					cancelParent(dtCauseA)
					inner.Wait()
					if cause := context.Cause(ctx); cause != dtCauseA && cause != context.DeadlineExceeded {
						t.Errorf("cause %v, want %v (or the deadline's, if it came first)", cause, dtCauseA)
					}
				case 2: // derived contexts and AfterFunc, then the attempt returns
					kid, kidCancel := context.WithCancel(ctx)
					ran := make(chan struct{})
					context.AfterFunc(ctx, func() { close(ran) })
					cancel()
					<-kid.Done()
					<-ran
					kidCancel()
				case 3: // Err from several goroutines while the attempt returns
					for range 3 {
						inner.Add(1)
						go func() {
							defer inner.Done()
							for range 10 {
								_ = ctx.Err()
							}
						}()
					}
					cancel()
					inner.Wait()
				}
				cancel()
				cancelParent(nil)
				if ctx.Err() == nil || !dtClosed(ctx.Done()) {
					t.Errorf("attempt not done after it returned")
				}
			}
		}()
	}
	wg.Wait()
	if !shardsEmpty(me) {
		t.Fatal("the deadline queue still holds attempts")
	}
	goleak.VerifyNone(t)
}

// A cancel function called a second time before it is reused does
// nothing: it must not go back to the pool twice, which would give two
// attempts the same cancel function.
func TestTimeoutCancelTwiceIsPooledOnce(t *testing.T) {
	me := timeoutMethod(t, time.Hour)
	_, cancel := me.Timeout(context.Background())
	cancel()
	cancel()
	a, cancelA := me.Timeout(context.Background())
	b, cancelB := me.Timeout(context.Background())
	cancelA()
	if err := b.Err(); err != nil {
		t.Fatalf("cancelling one attempt ended another: %v", err)
	}
	if err := a.Err(); err != context.Canceled {
		t.Fatalf("Err %v, want Canceled", err)
	}
	cancelB()
}

// A registration with the parent that runs as the attempt returns (the
// parent cancelled at that moment) may still be running once the attempt
// is done: the ctxWatch it holds must not go back to the pool, where the
// next attempt would take it and the late registration would end that
// attempt instead.
func TestLateParentRegistrationEndsNoOtherAttempt(t *testing.T) {
	me := timeoutMethod(t, time.Hour)
	for i := range 2000 {
		parent, cancelParent := context.WithCancel(context.Background())
		ctx, cancel := me.Timeout(parent)
		_ = ctx.Done() // watched: registered with parent
		if i%2 == 0 {
			// The registration's goroutine is started, and has most
			// likely not run when the attempt returns.
			cancelParent()
			cancel()
		} else { // or the two race
			go cancelParent()
			cancel()
		}
		// The next attempts take what the pool has, at once.
		next := make([]context.Context, 4)
		cancels := make([]context.CancelFunc, len(next))
		for j := range next {
			next[j], cancels[j] = me.Timeout(context.Background())
			_ = next[j].Done()
		}
		<-parent.Done()
		time.Sleep(10 * time.Microsecond) // for the registration's goroutine
		for j, c := range next {
			if err := c.Err(); err != nil || dtClosed(c.Done()) {
				t.Fatalf("an attempt under Background ended by another's parent (Err %v)", err)
			}
			cancels[j]()
		}
	}
}
