package resgenimpl

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	rt "runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// The per-attempt timeouts. Deadlines are real time (WithClock does not
// apply to them), so these tests use short real timeouts; what waits is
// the code under test or a test server streaming slowly, never the test.
//
// The wrappers below are written by hand exactly as resgen generates
// method bodies: AttemptContext (Timeout) for plain results,
// AttemptContextKeep (TimeoutKeep) for results that
// use the attempt's context after the method returns.

// toGetter is a connector whose results are plain values.
type toGetter interface {
	Get(ctx context.Context, id string) (string, error)
}

type toGetterWrapper struct {
	inner toGetter
	rm    *Manager
	m     *Method
}

func newToGetterWrapper(t *testing.T, inner toGetter, cfg runtime.Config, opts ...runtime.Option) *toGetterWrapper {
	t.Helper()
	rm, err := NewManager(inner, &Spec{
		Wrapper:   "ResilientGetter",
		Interface: "runtime.toGetter",
		Methods:   []MethodSpec{{Name: "Get", Config: cfg}},
	}, append([]runtime.Option{runtime.WithLogger(nil)}, opts...)...)
	require.NoError(t, err)
	return &toGetterWrapper{inner: inner, rm: rm, m: rm.Method(0)}
}

func (w *toGetterWrapper) Get(ctx context.Context, id string) (string, error) {
	m := w.m
	var (
		r0   string
		err  error
		call Call
	)
	for {
		if err = m.Admit(ctx, &call); err != nil {
			return r0, err
		}
		actx, cancel := m.AttemptContext(ctx, &call)
		r0, err = w.inner.Get(actx, id)
		cancel()
		if err == nil {
			m.Success(&call)
			return r0, nil
		}
		if err = m.Failure(ctx, &call, err); err != nil {
			return r0, err
		}
		if err = m.Backoff(ctx, &call); err != nil {
			return r0, err
		}
	}
}

// toDoer is a connector whose result, an *http.Response, is used after the
// method returns: its body is read then.
type toDoer interface {
	Do(ctx context.Context, req *http.Request) (*http.Response, error)
}

// toDoerWrapper wraps Do with AttemptContextKeep, as generated, and, for
// comparison, DoPlain with AttemptContext: what a generator unaware of the
// difference would write.
type toDoerWrapper struct {
	inner   toDoer
	rm      *Manager
	methods [2]*Method
}

func newToDoerWrapper(t *testing.T, inner toDoer, cfg runtime.Config, opts ...runtime.Option) *toDoerWrapper {
	t.Helper()
	rm, err := NewManager(inner, &Spec{
		Wrapper:   "ResilientDoer",
		Interface: "runtime.toDoer",
		Methods:   []MethodSpec{{Name: "Do", Config: cfg}, {Name: "DoPlain", Config: cfg}},
	}, append([]runtime.Option{runtime.WithLogger(nil)}, opts...)...)
	require.NoError(t, err)
	return &toDoerWrapper{inner: inner, rm: rm, methods: [2]*Method{rm.Method(0), rm.Method(1)}}
}

func (w *toDoerWrapper) Do(ctx context.Context, req *http.Request) (*http.Response, error) {
	m := w.methods[0]
	var (
		r0   *http.Response
		err  error
		call Call
	)
	for {
		if err = m.Admit(ctx, &call); err != nil {
			return r0, err
		}
		actx, release := m.AttemptContextKeep(ctx, &call)
		r0, err = w.inner.Do(actx, req)
		release(err)
		if err == nil {
			m.Success(&call)
			return r0, nil
		}
		if err = m.Failure(ctx, &call, err); err != nil {
			return r0, err
		}
		if err = m.Backoff(ctx, &call); err != nil {
			return r0, err
		}
	}
}

func (w *toDoerWrapper) DoPlain(ctx context.Context, req *http.Request) (*http.Response, error) {
	m := w.methods[1]
	var (
		r0   *http.Response
		err  error
		call Call
	)
	for {
		if err = m.Admit(ctx, &call); err != nil {
			return r0, err
		}
		actx, cancel := m.AttemptContext(ctx, &call)
		r0, err = w.inner.Do(actx, req)
		cancel()
		if err == nil {
			m.Success(&call)
			return r0, nil
		}
		if err = m.Failure(ctx, &call, err); err != nil {
			return r0, err
		}
		if err = m.Backoff(ctx, &call); err != nil {
			return r0, err
		}
	}
}

// toHTTP is the inner value: an http.Client that records each attempt's
// context.
type toHTTP struct {
	client   *http.Client
	mu       sync.Mutex
	ctxs     []context.Context
	deadline time.Time // the last attempt's, when it started
}

func (d *toHTTP) Do(ctx context.Context, req *http.Request) (*http.Response, error) {
	d.mu.Lock()
	d.ctxs = append(d.ctxs, ctx)
	d.deadline, _ = ctx.Deadline()
	d.mu.Unlock()
	return d.client.Do(req.WithContext(ctx))
}

func (d *toHTTP) attempts() []context.Context {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]context.Context(nil), d.ctxs...)
}

// toConfig has a timeout of d and nothing else but retries of 1ms.
func toConfig(d time.Duration, attempts int) runtime.Config {
	return runtime.Config{
		Retry:          runtime.RetryConfig{MaxAttempts: attempts, InitialDelay: time.Millisecond, Jitter: runtime.JitterNone},
		CircuitBreaker: runtime.CircuitBreakerConfig{Disabled: true},
		RateLimit:      runtime.RateLimitConfig{Disabled: true},
		Timeout:        runtime.TimeoutConfig{Duration: d},
	}
}

// toCtxGetter records the context of each attempt; it hangs until its
// context ends when hang is set.
type toCtxGetter struct {
	hang bool
	mu   sync.Mutex
	ctxs []context.Context
}

func (g *toCtxGetter) Get(ctx context.Context, _ string) (string, error) {
	g.mu.Lock()
	g.ctxs = append(g.ctxs, ctx)
	g.mu.Unlock()
	if g.hang {
		<-ctx.Done()
		return "", ctx.Err()
	}
	return "ok", nil
}

func (g *toCtxGetter) attempts() []context.Context {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]context.Context(nil), g.ctxs...)
}

// toEvents collects a wrapper's events.
type toEvents struct {
	mu     sync.Mutex
	events []runtime.Event
}

func (o *toEvents) Observe(e runtime.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, e)
}

func (o *toEvents) of(kind runtime.EventKind) []runtime.Event {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []runtime.Event
	for _, e := range o.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func TestTimeoutAttemptDeadline(t *testing.T) {
	inner := &toCtxGetter{}
	w := newToGetterWrapper(t, inner, toConfig(5*time.Second, 1))
	before := time.Now()
	_, err := w.Get(context.Background(), "1")
	after := time.Now()
	require.NoError(t, err)
	ctxs := inner.attempts()
	require.Len(t, ctxs, 1)
	dl, ok := ctxs[0].Deadline()
	require.True(t, ok, "the attempt has a deadline")
	assert.False(t, dl.Before(before.Add(5*time.Second)), "deadline %v", dl)
	assert.False(t, dl.After(after.Add(5*time.Second)), "deadline %v", dl)
	assert.ErrorIs(t, ctxs[0].Err(), context.Canceled, "cancelled as soon as the attempt returned")

	// A caller's deadline later than the timeout: the timeout applies.
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	_, err = w.Get(ctx, "2")
	require.NoError(t, err)
	dl, _ = inner.attempts()[1].Deadline()
	assert.WithinDuration(t, time.Now().Add(5*time.Second), dl, time.Second)
}

// With a rate limit, the attempt's deadline counts from the limiter's
// reading of the clock when its token was there, and from after the wait
// when it waited for one.
func TestTimeoutAttemptDeadlineWithRateLimit(t *testing.T) {
	inner := &toCtxGetter{}
	cfg := toConfig(5*time.Second, 1)
	const interval = 50 * time.Millisecond // between tokens
	cfg.RateLimit = runtime.RateLimitConfig{MaxRequestsPerMinute: int(time.Minute / interval), BurstSize: 2}
	w := newToGetterWrapper(t, inner, cfg)
	before := time.Now()
	for _, id := range []string{"1", "2", "3"} { // the third waits for its token
		_, err := w.Get(context.Background(), id)
		require.NoError(t, err)
	}
	after := time.Now()
	ctxs := inner.attempts()[1:] // the first may have read the clock to start clockAnchor
	require.Len(t, ctxs, 2)
	dl1, ok1 := ctxs[0].Deadline()
	dl2, ok2 := ctxs[1].Deadline()
	require.True(t, ok1 && ok2, "the attempts have deadlines")
	for _, dl := range []time.Time{dl1, dl2} {
		assert.False(t, dl.Before(before.Add(5*time.Second)), "deadline %v", dl)
		assert.False(t, dl.After(after.Add(5*time.Second)), "deadline %v", dl)
	}
	// The bucket admits no three attempts within less than an interval,
	// so the third started at least an interval after before; the second
	// started at once, and ended long before that.
	assert.False(t, dl2.Before(before.Add(5*time.Second+interval)),
		"the third attempt's deadline %v counts from the end of its wait, at least %v after %v", dl2, interval, before)
	for _, c := range ctxs {
		assert.ErrorIs(t, c.Err(), context.Canceled, "cancelled as soon as the attempt returned")
	}
}

// toBlockedGetter blocks its first call until release is closed, and
// records each attempt's deadline.
type toBlockedGetter struct {
	release chan struct{}
	mu      sync.Mutex
	calls   int
	dls     []time.Time
}

func (g *toBlockedGetter) Get(ctx context.Context, _ string) (string, error) {
	dl, _ := ctx.Deadline()
	g.mu.Lock()
	g.calls++
	first := g.calls == 1
	g.dls = append(g.dls, dl)
	g.mu.Unlock()
	if first {
		<-g.release
	}
	return "ok", nil
}

// An attempt that waited for a concurrency slot reads the clock again for
// its token and its deadline: the reading taken before the slot is stale.
func TestRateLimitReadsTheClockAfterAConcurrencyWait(t *testing.T) {
	inner := &toBlockedGetter{release: make(chan struct{})}
	cfg := toConfig(5*time.Second, 1)
	cfg.RateLimit = runtime.RateLimitConfig{MaxRequestsPerMinute: 1e9, BurstSize: 1e9}
	cfg.Concurrency = runtime.ConcurrencyConfig{MaxInFlight: 1, Fixed: true}
	w := newToGetterWrapper(t, inner, cfg)
	now() // start clockAnchor, so that deadlines come from the limiter's reading
	done := make(chan error, 2)
	go func() { _, err := w.Get(context.Background(), "a"); done <- err }()
	for inner.attempts() != 1 {
		time.Sleep(time.Millisecond)
	}
	go func() { _, err := w.Get(context.Background(), "b"); done <- err }()
	for w.m.conc.waiters.Load() != 1 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	released := time.Now()
	close(inner.release)
	require.NoError(t, <-done)
	require.NoError(t, <-done)
	require.Len(t, inner.dls, 2)
	assert.False(t, inner.dls[1].Before(released.Add(5*time.Second)),
		"deadline %v counts from before the wait for the slot, which ended at %v", inner.dls[1], released)
}

func (g *toBlockedGetter) attempts() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls
}

func TestNowFrom(t *testing.T) {
	before := now()
	at := int64(time.Since(clockBase))
	got := nowFrom(at)
	after := now()
	assert.False(t, got.Before(before) || got.After(after), "%v not within [%v, %v]", got, before, after)
	assert.Equal(t, at, int64(got.Sub(clockBase)), "the same instant by the monotonic clock")
	late := nowFrom(at - int64(time.Hour)) // before clockAnchor: read now
	assert.False(t, late.Before(after), "%v before %v", late, after)
}

func TestTimeoutCallerDeadlineSoonerKeepsSameContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	type key struct{}
	ctx = context.WithValue(ctx, key{}, "v")

	inner := &toCtxGetter{}
	w := newToGetterWrapper(t, inner, toConfig(5*time.Second, 1))
	_, err := w.Get(ctx, "1")
	require.NoError(t, err)
	assert.True(t, inner.attempts()[0] == ctx, "a new context for a deadline that changes nothing")
	require.NoError(t, ctx.Err(), "the caller's context is not cancelled after the attempt")

	me := w.m
	actx, release := me.TimeoutKeep(ctx)
	assert.True(t, actx == ctx, "TimeoutKeep: the same context too")
	release(errors.New("failed"))
	assert.NoError(t, ctx.Err(), "releasing it does not cancel the caller's context")

	// No timeout: the caller's context, whatever it is.
	off := toConfig(0, 1)
	off.Timeout.Disabled = true
	w = newToGetterWrapper(t, &toCtxGetter{}, off)
	bg := context.Background()
	actx, cancelAttempt := w.m.Timeout(bg)
	assert.True(t, actx == bg)
	cancelAttempt()
	actx, release = w.m.TimeoutKeep(bg)
	assert.True(t, actx == bg)
	release(nil)
}

func TestTimeoutHungCallCancelledAndRetried(t *testing.T) {
	inner := &toCtxGetter{hang: true}
	events := &toEvents{}
	w := newToGetterWrapper(t, inner, toConfig(20*time.Millisecond, 3), runtime.WithObserver(events))
	start := time.Now()
	_, err := w.Get(context.Background(), "1")
	assert.GreaterOrEqual(t, time.Since(start), 3*20*time.Millisecond)

	assert.ErrorIs(t, err, context.DeadlineExceeded)
	var re *runtime.RetryError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 3, re.Attempts)
	ctxs := inner.attempts()
	require.Len(t, ctxs, 3)
	for i, c := range ctxs {
		assert.Equal(t, context.DeadlineExceeded, c.Err(), "attempt %d", i+1)
	}
	retries := events.of(runtime.EventRetry)
	require.Len(t, retries, 2)
	for _, e := range retries {
		assert.Equal(t, runtime.ClassTimeout, e.Class)
	}
	gaveUp := events.of(runtime.EventGiveUp)
	require.Len(t, gaveUp, 1)
	assert.Equal(t, runtime.ClassTimeout, gaveUp[0].Class)
}

// toSlowServer answers with its headers at once and its body after delay,
// or stops when the client goes away.
func toSlowServer(t *testing.T, delay time.Duration) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "first,")
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, "second")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func toClient(t *testing.T) *toHTTP {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &toHTTP{client: &http.Client{Transport: tr}}
}

// TestTimeoutKeepBodyReadAfterReturn is failsafe-go #123: the timeout
// bounds the attempt, which ends when the response's headers are in; the
// body, read after the method returns and after longer than the timeout,
// must still come.
func TestTimeoutKeepBodyReadAfterReturn(t *testing.T) {
	// Three attempts, so that a loaded machine that misses the timeout
	// with the headers does not fail the test.
	const timeout = 300 * time.Millisecond
	srv := toSlowServer(t, 2*timeout)
	inner := toClient(t)
	w := newToDoerWrapper(t, inner, toConfig(timeout, 3))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	resp, err := w.Do(ctx, req)
	require.NoError(t, err)
	defer resp.Body.Close()

	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err, "the body is cut off by a timeout that applied to the attempt")
	assert.Equal(t, "first,second", string(body))
	inner.mu.Lock()
	deadline := inner.deadline
	inner.mu.Unlock()
	assert.True(t, time.Now().After(deadline), "the body came after the attempt's deadline")

	attempts := inner.attempts()
	actx := attempts[len(attempts)-1]
	assert.NoError(t, actx.Err(), "the attempt's context lives as long as its results")
	dl, ok := actx.Deadline()
	want, _ := ctx.Deadline()
	assert.True(t, ok)
	assert.Equal(t, want, dl, "after the attempt, the caller's deadline applies")
}

// TestTimeoutPlainCancelsBody documents why TimeoutKeep exists: with the
// plain Timeout, the attempt's context is cancelled when the method
// returns, and so is the body of the response it returned.
func TestTimeoutPlainCancelsBody(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := toSlowServer(t, 2*timeout)
	w := newToDoerWrapper(t, toClient(t), toConfig(timeout, 3))
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	resp, err := w.DoPlain(context.Background(), req)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	assert.ErrorIs(t, err, context.Canceled, "the classic bug: the results die with the attempt")
}

func TestTimeoutKeepCallerCancelStopsBodyRead(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv := toSlowServer(t, time.Minute)
	inner := toClient(t)
	w := newToDoerWrapper(t, inner, toConfig(10*time.Second, 1))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	resp, err := w.Do(ctx, req)
	require.NoError(t, err)
	defer resp.Body.Close()

	read := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(resp.Body)
		read <- err
	}()
	cancel()
	err = <-read
	assert.ErrorIs(t, err, context.Canceled, "the caller's cancellation reaches the body")
	actx := inner.attempts()[0]
	<-actx.Done()
	assert.Equal(t, context.Canceled, actx.Err())
	srv.Close()
	inner.client.CloseIdleConnections()
}

// TestTimeoutKeepHungServerTimesOut: an attempt that does not return in
// time is cancelled with DeadlineExceeded, which the HTTP client reports,
// and the wrapper classifies as a timeout and retries.
func TestTimeoutKeepHungServerTimesOut(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		<-r.Context().Done() // no headers until the client goes away
	}))
	t.Cleanup(srv.Close)
	inner := toClient(t)
	events := &toEvents{}
	w := newToDoerWrapper(t, inner, toConfig(50*time.Millisecond, 2), runtime.WithObserver(events))
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)

	resp, err := w.Do(context.Background(), req)
	if resp != nil {
		resp.Body.Close()
	}
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	retries := events.of(runtime.EventRetry)
	require.Len(t, retries, 1)
	assert.Equal(t, runtime.ClassTimeout, retries[0].Class, "%v", retries[0].Err)
	for _, c := range inner.attempts() {
		assert.Equal(t, context.DeadlineExceeded, c.Err())
	}
	assert.Len(t, inner.attempts(), 2)
}

func toMethod(t *testing.T, timeout time.Duration) *Method {
	t.Helper()
	rm, err := NewManager(struct{}{}, &Spec{
		Wrapper: "W", Methods: []MethodSpec{{Name: "M", Config: toConfig(timeout, 1)}},
	}, runtime.WithLogger(nil))
	require.NoError(t, err)
	return rm.Method(0)
}

func TestTimeoutKeepDeadlineAndErrAfterRelease(t *testing.T) {
	me := toMethod(t, time.Minute)
	parent, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Hour))
	defer cancel()

	actx, release := me.TimeoutKeep(parent)
	dl, ok := actx.Deadline()
	assert.True(t, ok)
	assert.WithinDuration(t, time.Now().Add(time.Minute), dl, time.Second, "the attempt's own deadline")
	release(nil)
	dl, ok = actx.Deadline()
	want, _ := parent.Deadline()
	assert.True(t, ok)
	assert.Equal(t, want, dl, "the parent's deadline after the attempt")
	assert.NoError(t, actx.Err())
	select {
	case <-actx.Done():
		t.Fatal("done after a successful attempt")
	default:
	}

	// A parent without a deadline: none after the attempt.
	actx, release = me.TimeoutKeep(context.Background())
	_, ok = actx.Deadline()
	assert.True(t, ok)
	release(nil)
	_, ok = actx.Deadline()
	assert.False(t, ok)
	assert.NoError(t, actx.Err())

	// A failed attempt: cancelled at once.
	actx, release = me.TimeoutKeep(parent)
	derived, cancelDerived := context.WithCancel(actx)
	defer cancelDerived()
	release(errors.New("attempt failed"))
	<-actx.Done()
	assert.Equal(t, context.Canceled, actx.Err())
	<-derived.Done()
	assert.Equal(t, context.Canceled, derived.Err())
	assert.NoError(t, parent.Err())
}

func TestTimeoutKeepExpires(t *testing.T) {
	me := toMethod(t, 10*time.Millisecond)
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	actx, release := me.TimeoutKeep(parent)
	derived, cancelDerived := context.WithCancel(actx)
	defer cancelDerived()
	<-actx.Done()
	assert.Equal(t, context.DeadlineExceeded, actx.Err())
	assert.Equal(t, context.DeadlineExceeded, context.Cause(actx))
	<-derived.Done()
	assert.Equal(t, context.DeadlineExceeded, derived.Err())
	release(nil) // too late: it stays cancelled
	assert.Equal(t, context.DeadlineExceeded, actx.Err())
	assert.NoError(t, parent.Err())
}

// TestTimeoutKeepLateTimerAfterSuccess: the deadline's timer could fire
// while release stopped it (time.Timer.Stop then returns false and the
// function runs anyway), and cancelled the results of a successful attempt.
// This calls what the timer calls, after release.
func TestTimeoutKeepLateTimerAfterSuccess(t *testing.T) {
	actx, release := newAttemptContext(context.Background(), time.Now().Add(time.Hour), time.Hour)
	release(nil)
	actx.(*attemptContext).cancel(context.DeadlineExceeded, true) // the timer, late
	assert.NoError(t, actx.Err())
	select {
	case <-actx.Done():
		t.Fatal("a successful attempt's context was cancelled by its deadline")
	default:
	}
}

// TestTimeoutKeepParentCauseIsNotErr: a parent cancelled with a cause
// made the attempt's Err return the cause, where the context contract
// says Canceled; the cause is for context.Cause.
func TestTimeoutKeepParentCauseIsNotErr(t *testing.T) {
	me := toMethod(t, time.Minute)
	cause := errors.New("shutting down")

	parent, cancel := context.WithCancelCause(context.Background())
	actx, release := me.TimeoutKeep(parent)
	release(nil)
	derived, cancelDerived := context.WithCancel(actx)
	defer cancelDerived()
	cancel(cause)
	<-actx.Done()
	assert.Equal(t, context.Canceled, actx.Err())
	assert.Equal(t, cause, context.Cause(actx))
	<-derived.Done()
	assert.Equal(t, context.Canceled, derived.Err())
	assert.Equal(t, cause, context.Cause(derived))

	// Already cancelled when the attempt starts.
	actx, release = me.TimeoutKeep(parent)
	defer release(nil)
	<-actx.Done()
	assert.Equal(t, context.Canceled, actx.Err())
	assert.Equal(t, cause, context.Cause(actx))

	// A parent whose deadline passed.
	dparent, dcancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer dcancel()
	actx, release = me.TimeoutKeep(dparent)
	defer release(nil)
	<-actx.Done()
	assert.Equal(t, context.DeadlineExceeded, actx.Err())
}

// TestTimeoutKeepDerivedContexts: contexts derived from the attempt's, and
// functions registered with context.AfterFunc, follow the parent without a
// goroutine each.
func TestTimeoutKeepDerivedContexts(t *testing.T) {
	me := toMethod(t, time.Minute)
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	actx, release := me.TimeoutKeep(parent)
	release(nil)

	const n = 1000
	g0 := rt.NumGoroutine()
	derived := make([]context.Context, n)
	cancels := make([]context.CancelFunc, n)
	for i := range derived {
		if i%2 == 0 {
			derived[i], cancels[i] = context.WithCancel(actx)
		} else {
			derived[i], cancels[i] = context.WithTimeout(actx, time.Hour)
		}
	}
	var ran sync.WaitGroup
	ran.Add(1)
	var calls atomic.Int32
	context.AfterFunc(actx, func() {
		calls.Add(1)
		ran.Done()
	})
	stopped := context.AfterFunc(actx, func() { t.Error("stopped AfterFunc ran") })
	assert.True(t, stopped())
	assert.Less(t, rt.NumGoroutine()-g0, 10, "a goroutine per derived context")

	// One derived context cancelled on its own leaves the others alone.
	cancels[0]()
	assert.NoError(t, actx.Err())
	assert.NoError(t, derived[1].Err())

	cancel()
	for i, d := range derived {
		<-d.Done()
		assert.ErrorIs(t, d.Err(), context.Canceled, "derived %d", i)
	}
	ran.Wait()
	assert.Equal(t, int32(1), calls.Load())
	for _, c := range cancels {
		c()
	}

	// Registered after cancellation: runs at once.
	done := make(chan struct{})
	context.AfterFunc(actx, func() { close(done) })
	<-done
	late, lateCancel := context.WithCancel(actx)
	defer lateCancel()
	<-late.Done()
}

// settledHeap returns the heap in use once collections have freed what
// they can and the cleanups they queued have run: it collects until the
// heap is within limit of base, or stops growing smaller.
func settledHeap(base, limit uint64) uint64 {
	var ms rt.MemStats
	best := uint64(math.MaxUint64)
	stale := 0
	for stale < 50 {
		rt.GC()
		rt.Gosched() // the cleanups run in a goroutine of their own
		rt.ReadMemStats(&ms)
		if ms.HeapAlloc <= base+limit {
			return ms.HeapAlloc
		}
		if ms.HeapAlloc < best {
			best, stale = ms.HeapAlloc, 0
		} else {
			stale++
		}
	}
	return best
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}

// TestTimeoutKeepMillionCallsFlat: a million attempts under one long-lived
// parent leave nothing behind: no registration with the parent, no timer,
// no goroutine.
func TestTimeoutKeepMillionCallsFlat(t *testing.T) {
	// A million attempts take seconds; ten times as long under the race
	// detector, which also slows the goroutine that runs cleanups.
	n := 1_000_000
	if testing.Short() || raceEnabled() {
		n = 100_000
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(), goleak.IgnoreAnyFunction("runtime.runCleanups"))
	me := toMethod(t, time.Hour)
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	failed := errors.New("attempt failed")

	const limit = 3 << 20
	before := settledHeap(0, 0)
	start := time.Now()
	for i := range n {
		actx, release := me.TimeoutKeep(parent)
		if actx.Err() != nil {
			t.Fatal("cancelled at once")
		}
		if i%8 == 0 {
			release(failed)
		} else {
			release(nil)
		}
	}
	elapsed := time.Since(start)
	after := settledHeap(before, limit)
	t.Logf("%d attempts in %v; heap %d → %d bytes", n, elapsed, before, after)
	assert.LessOrEqual(t, after, before+limit, "heap grew by more than 3 MiB")

	// The parent still cancels what holds it.
	actx, release := me.TimeoutKeep(parent)
	release(nil)
	cancel()
	<-actx.Done()
	assert.Equal(t, context.Canceled, actx.Err())
}

// TestTimeoutKeepStreamCancelledAfterGC: a stream's producer that waits on
// the attempt context's Done channel, and holds nothing else of it, is
// still stopped by the caller's cancellation after a garbage collection.
func TestTimeoutKeepStreamCancelledAfterGC(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(), goleak.IgnoreAnyFunction("runtime.runCleanups"))
	me := toMethod(t, time.Hour)
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()

	stream := func(ctx context.Context) (<-chan int, error) {
		ch := make(chan int)
		done := ctx.Done()
		go func() {
			defer close(ch)
			<-done
		}()
		return ch, nil
	}
	ch := func() <-chan int {
		actx, release := me.TimeoutKeep(parent)
		ch, err := stream(actx)
		release(err)
		return ch
	}()
	for range 5 {
		rt.GC()
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("the producer was not cancelled with the caller's context")
	}
}

// ctxTracer gives each attempt a context that carries its number.
type ctxTracer struct{}

type ctxTracerKey struct{}

func (ctxTracer) StartCall(context.Context, runtime.CallInfo) runtime.CallTrace { return ctxTrace{} }

type ctxTrace struct{}

func (ctxTrace) StartAttempt(ctx context.Context, a runtime.AttemptInfo) context.Context {
	return context.WithValue(ctx, ctxTracerKey{}, a.Attempt)
}
func (ctxTrace) EndAttempt(error, runtime.Class) {}
func (ctxTrace) End(error)                       {}

// TestAttemptContextIsTheTracersUnderTheTimeout: with a Tracer, the
// wrapped method receives the context the Tracer gave its attempt, with
// the per-attempt deadline on it, whether its results use the context
// after it returns (AttemptContextKeep) or not (AttemptContext); without a
// timeout, the Tracer's context itself.
func TestAttemptContextIsTheTracersUnderTheTimeout(t *testing.T) {
	inner := &toCtxGetter{}
	w := newToGetterWrapper(t, inner, toConfig(5*time.Second, 1), runtime.WithTracer(ctxTracer{}))
	_, err := w.Get(context.Background(), "1")
	require.NoError(t, err)
	actx := inner.attempts()[0]
	assert.Equal(t, 1, actx.Value(ctxTracerKey{}), "the Tracer's context")
	_, ok := actx.Deadline()
	assert.True(t, ok, "under the timeout")

	off := toConfig(0, 1)
	off.Timeout.Disabled = true
	inner = &toCtxGetter{}
	w = newToGetterWrapper(t, inner, off, runtime.WithTracer(ctxTracer{}))
	_, err = w.Get(context.Background(), "1")
	require.NoError(t, err)
	assert.Equal(t, 1, inner.attempts()[0].Value(ctxTracerKey{}), "the Tracer's context, without a timeout")

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer srv.Close()
	d := &toHTTP{client: srv.Client()}
	dw := newToDoerWrapper(t, d, toConfig(5*time.Second, 1), runtime.WithTracer(ctxTracer{}))
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := dw.Do(context.Background(), req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	kctx := d.attempts()[0]
	assert.Equal(t, 1, kctx.Value(ctxTracerKey{}), "AttemptContextKeep: the Tracer's context")
	assert.NoError(t, kctx.Err(), "AttemptContextKeep: alive after a success, for the results")
}
