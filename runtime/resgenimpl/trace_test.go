package resgenimpl_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/fakeclock"
)

// recTracer writes down what a Tracer is told, one line per call of its
// methods, and gives each attempt a context that the wrapped method can
// recognize.
type recTracer struct {
	mu    sync.Mutex
	lines []string
}

type attemptKey struct{}

func (t *recTracer) add(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, fmt.Sprintf(format, args...))
}

func (t *recTracer) StartCall(_ context.Context, c runtime.CallInfo) runtime.CallTrace {
	t.add("call %s/%s.%s", c.Wrapper, c.Instance, c.Method)
	return (*recCall)(t)
}

type recCall recTracer

func (c *recCall) StartAttempt(ctx context.Context, a runtime.AttemptInfo) context.Context {
	(*recTracer)(c).add("attempt %d delay=%s wait=%s breaker=%s/%s", a.Attempt, a.Delay, a.RateLimitWait, a.Breaker, a.BreakerState)
	return context.WithValue(ctx, attemptKey{}, a.Attempt)
}

func (c *recCall) EndAttempt(err error, class runtime.Class) {
	(*recTracer)(c).add("end attempt err=%v class=%s", err, class)
}

func (c *recCall) End(err error) {
	(*recTracer)(c).add("end err=%v", err)
}

// attemptSeer fails its first n calls with err and writes down which
// attempt's context each call received.
type attemptSeer struct {
	n    int
	err  error
	seen []any
}

func (a *attemptSeer) Get(ctx context.Context, _ string) (string, error) {
	a.seen = append(a.seen, ctx.Value(attemptKey{}))
	if len(a.seen) <= a.n {
		return "", a.err
	}
	return "ok", nil
}

// TestTracerFollowsEveryAttempt: a traced call is told to its Tracer in
// order (call, each attempt with its backoff and breaker state, its end),
// and the wrapped method receives the context the Tracer gave its attempt.
func TestTracerFollowsEveryAttempt(t *testing.T) {
	clock := fakeclock.New(time.Unix(0, 0))
	tr := &recTracer{}
	inner := &attemptSeer{n: 2, err: statusErr(503)}
	w, err := NewResilientOrders(inner, runtime.Config{
		Retry:     runtime.RetryConfig{MaxAttempts: 3, InitialDelay: time.Second, Jitter: runtime.JitterNone},
		RateLimit: runtime.RateLimitConfig{Disabled: true},
	}, runtime.WithClock(clock), runtime.WithLogger(nil), runtime.WithTracer(tr), runtime.WithInstance("eu"))
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() {
		_, err := w.Get(context.Background(), "7")
		done <- err
	}()
	clock.BlockUntil(1)
	clock.Advance(time.Second)
	clock.BlockUntil(1)
	clock.Advance(2 * time.Second)
	require.NoError(t, <-done)

	assert.Equal(t, []any{1, 2, 3}, inner.seen, "the wrapped method receives each attempt's context")
	assert.Equal(t, []string{
		"call ResilientOrders/eu.Get",
		"attempt 1 delay=0s wait=0s breaker=ResilientOrders/CLOSED",
		"end attempt err=status 5xx class=server",
		"attempt 2 delay=1s wait=0s breaker=ResilientOrders/CLOSED",
		"end attempt err=status 5xx class=server",
		"attempt 3 delay=2s wait=0s breaker=ResilientOrders/CLOSED",
		"end attempt err=<nil> class=none",
		"end err=<nil>",
	}, tr.lines)
}

// TestTracerSeesEveryWayACallEnds: whatever ends a call (success at once,
// exhausted retries, a permanent error, the open breaker, the rate limit,
// the caller's cancellation during the backoff), End is called once with
// what the call returns.
func TestTracerSeesEveryWayACallEnds(t *testing.T) {
	noRetryDelay := runtime.RetryConfig{MaxAttempts: 2, InitialDelay: time.Millisecond, Jitter: runtime.JitterNone}
	tests := []struct {
		name  string
		cfg   runtime.Config
		inner Orders
		ctx   func() context.Context
		calls int
		want  []string // the last line of each call's trace
	}{
		{
			name:  "success",
			cfg:   runtime.Config{RateLimit: runtime.RateLimitConfig{Disabled: true}},
			inner: &attemptSeer{},
			calls: 1,
			want:  []string{"end err=<nil>"},
		},
		{
			name:  "exhausted",
			cfg:   runtime.Config{Retry: noRetryDelay, RateLimit: runtime.RateLimitConfig{Disabled: true}},
			inner: &attemptSeer{n: 10, err: statusErr(503)},
			calls: 1,
			want:  []string{"end err=ResilientOrders.Get: giving up after 2 attempts: status 5xx"},
		},
		{
			name:  "permanent",
			cfg:   runtime.Config{Retry: noRetryDelay, RateLimit: runtime.RateLimitConfig{Disabled: true}},
			inner: &attemptSeer{n: 10, err: statusErr(404)},
			calls: 1,
			want:  []string{"end err=status 4xx"},
		},
		{
			name: "breaker open",
			cfg: runtime.Config{Retry: runtime.RetryConfig{Disabled: true}, RateLimit: runtime.RateLimitConfig{Disabled: true},
				CircuitBreaker: runtime.CircuitBreakerConfig{FailureThreshold: 1, RecoveryTimeout: time.Hour}},
			inner: &attemptSeer{n: 10, err: statusErr(500)},
			calls: 2,
			want:  []string{"end err=status 5xx", "end err=resgen: circuit breaker \"ResilientOrders\" is open"},
		},
		{
			name: "rate limited",
			cfg: runtime.Config{RateLimit: runtime.RateLimitConfig{MaxRequestsPerMinute: 1, BurstSize: 1, Global: true,
				Strategy: runtime.StrategyDrop}},
			inner: &attemptSeer{},
			calls: 2,
			want:  []string{"end err=<nil>", "end err=resgen: rate limited by \"ResilientOrders\""},
		},
		{
			name: "canceled in backoff",
			cfg: runtime.Config{Retry: runtime.RetryConfig{MaxAttempts: 3, InitialDelay: time.Hour, MaxDelay: time.Hour, Jitter: runtime.JitterNone},
				RateLimit: runtime.RateLimitConfig{Disabled: true}},
			inner: &cancelAfterFirst{},
			calls: 1,
			want:  []string{"end err=context canceled"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &recTracer{}
			w, err := NewResilientOrders(tt.inner, tt.cfg, runtime.WithLogger(nil), runtime.WithTracer(tr))
			require.NoError(t, err)
			ctx := context.Background()
			if c, ok := tt.inner.(*cancelAfterFirst); ok {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				c.cancel = cancel
			}
			for range tt.calls {
				_, _ = w.Get(ctx, "1")
			}
			var calls, ends []string
			for _, l := range tr.lines {
				switch {
				case strings.HasPrefix(l, "call "):
					calls = append(calls, l)
				case strings.HasPrefix(l, "end err="):
					ends = append(ends, l)
				}
			}
			assert.Len(t, calls, tt.calls, "one trace per call:\n%s", strings.Join(tr.lines, "\n"))
			assert.Equal(t, tt.want, ends, "End once per call, with what it returns:\n%s", strings.Join(tr.lines, "\n"))
		})
	}
}

// cancelAfterFirst fails with a server error and cancels the call's
// context soon after, which ends the call during its backoff.
type cancelAfterFirst struct{ cancel context.CancelFunc }

func (c *cancelAfterFirst) Get(context.Context, string) (string, error) {
	time.AfterFunc(10*time.Millisecond, c.cancel)
	return "", statusErr(503)
}

// TestTracerNilCallTraceLeavesTheCallAlone: a Tracer that returns no
// CallTrace (sampling the call out) changes nothing of the call.
func TestTracerNilCallTraceLeavesTheCallAlone(t *testing.T) {
	w, err := NewResilientOrders(&attemptSeer{n: 1, err: statusErr(503)}, runtime.Config{
		Retry:     runtime.RetryConfig{MaxAttempts: 2, InitialDelay: time.Millisecond, Jitter: runtime.JitterNone},
		RateLimit: runtime.RateLimitConfig{Disabled: true},
	}, runtime.WithLogger(nil), runtime.WithTracer(nilTracer{}))
	require.NoError(t, err)
	s, err := w.Get(context.Background(), "1")
	require.NoError(t, err)
	assert.Equal(t, "ok", s)
}

type nilTracer struct{}

func (nilTracer) StartCall(context.Context, runtime.CallInfo) runtime.CallTrace { return nil }
