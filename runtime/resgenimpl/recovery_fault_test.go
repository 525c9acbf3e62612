package resgenimpl_test

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/fakeclock"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
)

// dropping is a connector whose connection drops: Get fails with
// io.ErrUnexpectedEOF until Reconnect succeeds, which it does only while
// the service is up. reconnect, when set, runs at the start of each
// Reconnect (to panic, or block).
type dropping struct {
	down       atomic.Bool // the service is down: Reconnect fails
	connected  atomic.Bool
	calls      atomic.Int64
	reconnects atomic.Int64
	reconnect  func(ctx context.Context, n int64)
}

func (d *dropping) Get(context.Context, string) (string, error) {
	d.calls.Add(1)
	if !d.connected.Load() {
		return "", io.ErrUnexpectedEOF
	}
	return "ok", nil
}

func (d *dropping) Reconnect(ctx context.Context) error {
	n := d.reconnects.Add(1)
	if d.reconnect != nil {
		d.reconnect(ctx, n)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if d.down.Load() {
		return errors.New("connection refused")
	}
	d.connected.Store(true)
	return nil
}

// recoveryConfig has single attempts and no breaker, so that only the
// recovery decides what a call returns.
func recoveryConfig() runtime.Config {
	return runtime.Config{
		Retry:          runtime.RetryConfig{Disabled: true},
		CircuitBreaker: runtime.CircuitBreakerConfig{Disabled: true},
		RateLimit:      runtime.RateLimitConfig{Disabled: true},
		Timeout:        runtime.TimeoutConfig{Disabled: true},
		Recovery:       runtime.RecoveryConfig{CheckInterval: 10 * time.Second},
	}
}

// within fails the test when fn does not return within a second of wall
// time: the wedged recovery made callers wait forever.
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: still waiting after 5s", what)
	}
}

// TestReconnectPanicDoesNotWedgeRecovery: a Reconnect that panicked once
// left its run in progress for good, and every later connection error
// waited on it (forever, with context.Background()). Now the panic is the
// hook's error and the next error runs Reconnect again.
func TestReconnectPanicDoesNotWedgeRecovery(t *testing.T) {
	defer goleak.VerifyNone(t)
	inner := &dropping{reconnect: func(_ context.Context, n int64) {
		if n == 1 {
			panic("reconnect bug")
		}
	}}
	var obs recorder
	w, err := NewResilientOrders(inner, recoveryConfig(), runtime.WithLogger(nil), runtime.WithObserver(&obs))
	require.NoError(t, err)
	defer w.Resilience().Close()

	var first error
	within(t, "first call", func() { _, first = w.Get(context.Background(), "1") })
	assert.ErrorIs(t, first, io.ErrUnexpectedEOF)
	obs.mu.Lock()
	var recoveries []runtime.Event
	for _, e := range obs.events {
		if e.Kind == runtime.EventRecovery {
			recoveries = append(recoveries, e)
		}
	}
	obs.mu.Unlock()
	require.Len(t, recoveries, 1)
	var pe *runtime.HookPanicError
	require.ErrorAs(t, recoveries[0].Err, &pe, "the failed recovery's error")
	assert.Equal(t, "Reconnect", pe.Hook)
	assert.Equal(t, "reconnect bug", pe.Value)

	// The next connection error runs Reconnect again (the call, with no
	// retries, still fails), and the call after that goes through.
	within(t, "call after the panic", func() { _, err = w.Get(context.Background(), "1") })
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.EqualValues(t, 2, inner.reconnects.Load())
	got, err := w.Get(context.Background(), "1")
	require.NoError(t, err)
	assert.Equal(t, "ok", got)
}

// TestHookPanicsBecomeHookErrors: a panic in each recovery hook is that
// hook's error, and the hook runs again on the next error.
func TestHookPanicsBecomeHookErrors(t *testing.T) {
	defer goleak.VerifyNone(t)
	type hooks struct {
		name string
		err  error
		in   func(panics *atomic.Int64) any
	}
	for _, tc := range []hooks{
		{"RefreshCredentials", unauthorized{}, func(p *atomic.Int64) any { return &panickyRefresh{panics: p} }},
		{"AdaptSchema", schemaErr{}, func(p *atomic.Int64) any { return &panickyAdapt{panics: p} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var panics atomic.Int64
			in := tc.in(&panics)
			spec := &resgenimpl.Spec{Wrapper: "W", Interface: "x.I", Methods: []resgenimpl.MethodSpec{{Name: "Get", Config: recoveryConfig()}}}
			m, err := resgenimpl.NewManager(in, spec, runtime.WithLogger(nil))
			require.NoError(t, err)
			defer m.Close()
			me := m.Method(0)
			for call := 1; call <= 2; call++ {
				var c resgenimpl.Call
				require.NoError(t, me.Admit(context.Background(), &c))
				var got error
				within(t, tc.name, func() { got = me.Failure(context.Background(), &c, tc.err) })
				assert.ErrorIs(t, got, tc.err, "call %d", call)
			}
			assert.EqualValues(t, 2, panics.Load(), "the hook ran once per call")
		})
	}
}

// schemaErr is an undefined column, by its SQLSTATE.
type schemaErr struct{}

func (schemaErr) Error() string    { return "column does not exist" }
func (schemaErr) SQLState() string { return "42703" }

type panickyRefresh struct{ panics *atomic.Int64 }

func (p *panickyRefresh) RefreshCredentials(context.Context) error {
	p.panics.Add(1)
	panic("refresh bug")
}

type panickyAdapt struct{ panics *atomic.Int64 }

func (p *panickyAdapt) AdaptSchema(context.Context, error) error {
	p.panics.Add(1)
	panic("adapt bug")
}

// panickyPing's Ping panics.
type panickyPing struct {
	pingable
	panics atomic.Int64
}

func (p *panickyPing) Ping(context.Context) error {
	p.panics.Add(1)
	panic("ping bug")
}

// TestPingPanicDoesNotCrashProcess: Ping runs in the prober's goroutine,
// where no caller can recover a panic: it crashed the process. Now it is
// a failed ping (observed with a *HookPanicError), the breaker stays open,
// and the prober pings again an interval later.
func TestPingPanicDoesNotCrashProcess(t *testing.T) {
	defer goleak.VerifyNone(t)
	clock := fakeclock.New(epoch)
	inner := &panickyPing{pingable: pingable{clock: clock}}
	var obs recorder
	w, err := NewResilientOrders(inner, pingConfig(),
		runtime.WithClock(clock), runtime.WithLogger(nil), runtime.WithObserver(&obs))
	require.NoError(t, err)
	defer w.Resilience().Close()

	openBreaker(t, w, &inner.pingable)
	clock.BlockUntil(2)
	for i := 1; i <= 2; i++ {
		clock.Advance(10 * time.Second)
		clock.BlockUntil(2) // the ping failed; the prober waits again
		assert.EqualValues(t, i, inner.panics.Load())
		assert.Equal(t, runtime.StateOpen, mustState(t, w.Resilience(), "ResilientOrders"))
	}
	obs.mu.Lock()
	var pings []error
	for _, e := range obs.events {
		if e.Kind == runtime.EventRecovery && e.Action == "ping" {
			pings = append(pings, e.Err)
		}
	}
	obs.mu.Unlock()
	require.Len(t, pings, 2)
	var pe *runtime.HookPanicError
	require.ErrorAs(t, pings[0], &pe)
	assert.Equal(t, "Ping", pe.Hook)
}

// TestDeadlineDuringReconnectIsDeadlineExceeded: a caller's deadline that
// passed while Reconnect ran made the call return "giving up after 2
// attempts: unexpected EOF" after one attempt; it now returns the
// caller's context error.
func TestDeadlineDuringReconnectIsDeadlineExceeded(t *testing.T) {
	defer goleak.VerifyNone(t)
	inner := &dropping{reconnect: func(ctx context.Context, _ int64) { <-ctx.Done() }}
	cfg := recoveryConfig()
	cfg.Retry = runtime.RetryConfig{MaxAttempts: 3, InitialDelay: time.Millisecond}
	w, err := NewResilientOrders(inner, cfg, runtime.WithLogger(nil))
	require.NoError(t, err)
	defer w.Resilience().Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = w.Get(ctx, "1")
	assert.ErrorIs(t, err, context.DeadlineExceeded, "got %v", err)
	var re *runtime.RetryError
	assert.False(t, errors.As(err, &re), "a count of attempts that were not made: %v", err)
	assert.EqualValues(t, 1, inner.calls.Load())
}

// TestRecoveryBudgetRefillsAfterOutage: max_recovery_attempts came back
// only after a successful call, which could not come without a recovery:
// three failed Reconnects while the service was down left the wrapper
// broken for good. The budget now refills every recovery_check_interval.
func TestRecoveryBudgetRefillsAfterOutage(t *testing.T) {
	defer goleak.VerifyNone(t)
	clock := fakeclock.New(epoch)
	inner := &dropping{}
	inner.down.Store(true)
	w, err := NewResilientOrders(inner, recoveryConfig(), runtime.WithClock(clock), runtime.WithLogger(nil))
	require.NoError(t, err)
	defer w.Resilience().Close()

	for range 5 {
		_, err := w.Get(context.Background(), "1")
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	}
	assert.EqualValues(t, 3, inner.reconnects.Load(), "max_recovery_attempts bounds one outage")

	inner.down.Store(false) // the service is back
	clock.Advance(10*time.Second - 1)
	_, err = w.Get(context.Background(), "1")
	require.ErrorIs(t, err, io.ErrUnexpectedEOF, "the budget refilled before recovery_check_interval")
	assert.EqualValues(t, 3, inner.reconnects.Load())

	clock.Advance(1)
	_, err = w.Get(context.Background(), "1") // reconnects, and the retry-free call still fails
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.EqualValues(t, 4, inner.reconnects.Load())
	got, err := w.Get(context.Background(), "1")
	require.NoError(t, err, "the wrapper stayed broken after the service came back")
	assert.Equal(t, "ok", got)
}
