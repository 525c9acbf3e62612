package resgenimpl_test

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/fakeclock"
)

// TestPanickingObserverNeitherCrashesNorWedges: an observer that panicked
// on a breaker's state change crashed the process when the change came
// from the timer that ends an open interval (a goroutine no caller can
// recover in), and on the caller's goroutine it left the failed call's
// bookkeeping half done. The panic is now the observer's alone: the event
// is dropped for it, the breaker goes on, and the first panic is logged.
func TestPanickingObserverNeitherCrashesNorWedges(t *testing.T) {
	clock := fakeclock.New(time.Now())
	var (
		mu     sync.Mutex
		logged []string
		panics atomic.Int64
	)
	logger := slog.New(recordHandler(func(r slog.Record) { mu.Lock(); logged = append(logged, r.Message); mu.Unlock() }))
	cfg := runtime.Config{
		Retry:          runtime.RetryConfig{Disabled: true},
		RateLimit:      runtime.RateLimitConfig{Disabled: true},
		Throttle:       runtime.ThrottleConfig{Disabled: true},
		CircuitBreaker: runtime.CircuitBreakerConfig{FailureThreshold: 1, InitialRecoveryTimeout: time.Hour, RecoveryTimeout: time.Hour, SuccessThreshold: 1},
		Recovery:       runtime.RecoveryConfig{CheckInterval: 100 * time.Millisecond},
	}
	inner := &downable{}
	inner.down.Store(true)
	w, err := NewResilientOrders(inner, cfg, runtime.WithLogger(logger), runtime.WithClock(clock),
		runtime.WithObserver(runtime.ObserverFunc(func(runtime.Event) { panics.Add(1); panic("observer bug") })))
	require.NoError(t, err)
	m := w.Resilience()
	t.Cleanup(m.Close)
	ctx := context.Background()

	assert.NotPanics(t, func() {
		_, err := w.Get(ctx, "a")
		assert.Error(t, err)
	})
	require.Equal(t, runtime.StateOpen, m.Breakers()[0].State, "the failure opened the breaker")

	// Ping succeeds: the prober, on a goroutine of its own, lets the breaker
	// go half-open, and the observer panics there.
	require.Eventually(t, func() bool {
		clock.Advance(100 * time.Millisecond)
		return m.Breakers()[0].State == runtime.StateHalfOpen
	}, 5*time.Second, time.Millisecond, "the breaker went half-open though its observer panicked")

	inner.down.Store(false)
	assert.NotPanics(t, func() {
		_, err := w.Get(ctx, "a")
		assert.NoError(t, err)
	})
	assert.Equal(t, runtime.StateClosed, m.Breakers()[0].State, "the probe closed the breaker")
	assert.GreaterOrEqual(t, panics.Load(), int64(3), "the observer was called at every change")
	mu.Lock()
	defer mu.Unlock()
	var observerLogs int
	for _, msg := range logged {
		if strings.Contains(msg, "observer") && strings.Contains(msg, "panicked") {
			observerLogs++
		}
	}
	assert.Equal(t, 1, observerLogs, "the first panic is logged, not the following ones: %q", logged)
}

// TestPanickingClassifierFallsBackToTheRules: a Classifier that panicked
// crashed the caller on the failure path. Its errors are now classified by
// resgen's rules, so a 503 is still retried.
func TestPanickingClassifierFallsBackToTheRules(t *testing.T) {
	var logged []string
	logger := slog.New(recordHandler(func(r slog.Record) { logged = append(logged, r.Message) }))
	cfg := runtime.Config{
		Retry:          runtime.RetryConfig{MaxAttempts: 3, InitialDelay: time.Nanosecond, MaxDelay: time.Nanosecond, Jitter: runtime.JitterNone},
		RetryBudget:    runtime.RetryBudgetConfig{Disabled: true},
		RateLimit:      runtime.RateLimitConfig{Disabled: true},
		CircuitBreaker: runtime.CircuitBreakerConfig{Disabled: true},
	}
	inner := &downable{code: 503}
	inner.down.Store(true)
	w, err := NewResilientOrders(inner, cfg, runtime.WithLogger(logger),
		runtime.WithClassifier(func(error) runtime.Class { panic("classifier bug") }))
	require.NoError(t, err)
	t.Cleanup(w.Resilience().Close)
	assert.NotPanics(t, func() { _, err = w.Get(context.Background(), "a") })
	var re *runtime.RetryError
	assert.True(t, errors.As(err, &re), "the call gave up after its retries: %v", err)
	assert.Equal(t, int64(3), inner.calls.Load(), "a 503 is retried by resgen's rules")
	var panicLogs []string
	for _, msg := range logged {
		if strings.Contains(msg, "panicked") {
			panicLogs = append(panicLogs, msg)
		}
	}
	require.Len(t, panicLogs, 1, "the first panic is logged, once: %q", logged)
	assert.Contains(t, panicLogs[0], "Classifier of ResilientOrders panicked")
}

// downable is an Orders whose Get fails with HTTP code (500 when zero) while
// down, and whose Ping says the service is up.
type downable struct {
	down  atomic.Bool
	code  int
	calls atomic.Int64
}

func (f *downable) Get(context.Context, string) (string, error) {
	f.calls.Add(1)
	if f.down.Load() {
		return "", httpStatusErr{cmp.Or(f.code, 500)}
	}
	return "ok", nil
}

func (f *downable) Ping(context.Context) error { return nil }

// recordHandler is a slog.Handler that gives every record, at every level,
// to f, which must be safe for concurrent use when the Manager logs from
// its own goroutines.
type recordHandler func(slog.Record)

func (h recordHandler) Enabled(context.Context, slog.Level) bool      { return true }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error { h(r); return nil }
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler            { return h }
func (h recordHandler) WithGroup(string) slog.Handler                 { return h }

// panickingTracer traces every call; its CallTrace panics in the method
// that panicIn names.
type panickingTracer struct{ panicIn atomic.Value } // string

func (p *panickingTracer) StartCall(context.Context, runtime.CallInfo) runtime.CallTrace {
	if p.panicIn.Load() == "StartCall" {
		panic("tracer bug in StartCall")
	}
	return panickingTrace{p}
}

type panickingTrace struct{ p *panickingTracer }

func (t panickingTrace) StartAttempt(ctx context.Context, _ runtime.AttemptInfo) context.Context {
	if t.p.panicIn.Load() == "StartAttempt" {
		panic("tracer bug in StartAttempt")
	}
	return ctx
}

func (t panickingTrace) EndAttempt(error, runtime.Class) {
	if t.p.panicIn.Load() == "EndAttempt" {
		panic("tracer bug in EndAttempt")
	}
}

func (t panickingTrace) End(error) {
	if t.p.panicIn.Load() == "End" {
		panic("tracer bug in End")
	}
}

// TestPanickingTracerFailsNoProbe: a Tracer that panicked in StartAttempt
// failed an attempt that had been admitted and was never made, so that a
// half-open breaker's probe counted as failed and the breaker never closed
// while the tracer was broken; a panic in End reached a caller whose call
// had succeeded. A tracer's panic now leaves the call untraced, whichever
// method of it panics.
func TestPanickingTracerFailsNoProbe(t *testing.T) {
	for _, hook := range []string{"StartCall", "StartAttempt", "EndAttempt", "End"} {
		t.Run(hook, func(t *testing.T) {
			clock := fakeclock.New(time.Now())
			var (
				mu     sync.Mutex
				logged []string
			)
			logger := slog.New(recordHandler(func(r slog.Record) { mu.Lock(); logged = append(logged, r.Message); mu.Unlock() }))
			cfg := runtime.Config{
				Retry:          runtime.RetryConfig{Disabled: true},
				RateLimit:      runtime.RateLimitConfig{Disabled: true},
				Throttle:       runtime.ThrottleConfig{Disabled: true},
				CircuitBreaker: runtime.CircuitBreakerConfig{FailureThreshold: 1, InitialRecoveryTimeout: time.Second, RecoveryTimeout: time.Second, SuccessThreshold: 1},
			}
			tracer := &panickingTracer{}
			tracer.panicIn.Store("")
			inner := &downable{}
			inner.down.Store(true)
			w, err := NewResilientOrders(inner, cfg, runtime.WithLogger(logger), runtime.WithClock(clock), runtime.WithTracer(tracer))
			require.NoError(t, err)
			m := w.Resilience()
			t.Cleanup(m.Close)
			ctx := context.Background()
			_, err = w.Get(ctx, "a")
			require.Error(t, err)
			require.Equal(t, runtime.StateOpen, m.Breakers()[0].State)

			clock.Advance(2 * time.Second) // the next attempt is the half-open breaker's probe
			inner.down.Store(false)
			tracer.panicIn.Store(hook)
			assert.NotPanics(t, func() {
				v, err := w.Get(ctx, "a")
				assert.NoError(t, err)
				assert.Equal(t, "ok", v)
			})
			assert.Equal(t, runtime.StateClosed, m.Breakers()[0].State, "the probe succeeded, and closed the breaker")
			mu.Lock()
			defer mu.Unlock()
			var tracerLogs int
			for _, msg := range logged {
				if strings.Contains(msg, "Tracer of ResilientOrders panicked in "+hook) {
					tracerLogs++
				}
			}
			assert.Equal(t, 1, tracerLogs, "the panic is logged once: %q", logged)
		})
	}
}
