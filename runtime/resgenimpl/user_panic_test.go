package resgenimpl_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
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
// from a Ping prober (a goroutine no caller can recover in), and on the
// caller's goroutine it reached a caller whose own call had nothing wrong. The panic is now the observer's alone: the event
// is dropped for it, the breaker goes on, and the first panic is logged.
func TestPanickingObserverNeitherCrashesNorWedges(t *testing.T) {
	clock := fakeclock.New(time.Now())
	var panics atomic.Int64
	log := &rlLog{}
	cfg := runtime.Config{
		Retry:          runtime.RetryConfig{Disabled: true},
		RateLimit:      runtime.RateLimitConfig{Disabled: true},
		Throttle:       runtime.ThrottleConfig{Disabled: true},
		CircuitBreaker: runtime.CircuitBreakerConfig{FailureThreshold: 1, InitialRecoveryTimeout: time.Hour, RecoveryTimeout: time.Hour, SuccessThreshold: 1},
		Recovery:       runtime.RecoveryConfig{CheckInterval: 100 * time.Millisecond},
	}
	inner := pingingFlaky{&flaky{n: 1, err: statusErr(500)}} // the first call fails
	w, err := NewResilientOrders(inner, cfg, runtime.WithLogger(slog.New(log)), runtime.WithClock(clock),
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

	assert.NotPanics(t, func() {
		_, err := w.Get(ctx, "a")
		assert.NoError(t, err)
	})
	assert.Equal(t, runtime.StateClosed, m.Breakers()[0].State, "the probe closed the breaker")
	assert.GreaterOrEqual(t, panics.Load(), int64(3), "the observer was called at every change")
	assert.Len(t, panicLogs(log, "observer"), 1, "the first panic is logged, not the following ones")
}

// TestPanickingClassifierFallsBackToTheRules: a Classifier that panicked
// crashed the caller on the failure path. Its errors are now classified by
// resgen's rules, so a 503 is still retried.
func TestPanickingClassifierFallsBackToTheRules(t *testing.T) {
	log := &rlLog{}
	cfg := runtime.Config{
		Retry:          runtime.RetryConfig{MaxAttempts: 3, InitialDelay: time.Nanosecond, MaxDelay: time.Nanosecond, Jitter: runtime.JitterNone},
		RetryBudget:    runtime.RetryBudgetConfig{Disabled: true},
		RateLimit:      runtime.RateLimitConfig{Disabled: true},
		CircuitBreaker: runtime.CircuitBreakerConfig{Disabled: true},
	}
	inner := &flaky{n: 1 << 30, err: statusErr(503)}
	w, err := NewResilientOrders(inner, cfg, runtime.WithLogger(slog.New(log)),
		runtime.WithClassifier(func(error) runtime.Class { panic("classifier bug") }))
	require.NoError(t, err)
	t.Cleanup(w.Resilience().Close)
	assert.NotPanics(t, func() { _, err = w.Get(context.Background(), "a") })
	var re *runtime.RetryError
	assert.True(t, errors.As(err, &re), "the call gave up after its retries: %v", err)
	assert.Equal(t, int32(3), inner.calls.Load(), "a 503 is retried by resgen's rules")
	assert.Len(t, panicLogs(log, "Classifier of ResilientOrders panicked"), 1, "the first panic is logged, once")
}

// panicLogs returns the messages of h's records that say something
// panicked and contain want.
func panicLogs(h *rlLog, want string) []string {
	var out []string
	for _, r := range h.records() {
		if strings.Contains(r.Message, "panicked") && strings.Contains(r.Message, want) {
			out = append(out, r.Message)
		}
	}
	return out
}

// pingingFlaky is a flaky Orders whose Ping says the service is up, so
// that an open breaker's prober lets it go half-open.
type pingingFlaky struct{ *flaky }

func (pingingFlaky) Ping(context.Context) error { return nil }

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
			log := &rlLog{}
			cfg := runtime.Config{
				Retry:          runtime.RetryConfig{Disabled: true},
				RateLimit:      runtime.RateLimitConfig{Disabled: true},
				Throttle:       runtime.ThrottleConfig{Disabled: true},
				CircuitBreaker: runtime.CircuitBreakerConfig{FailureThreshold: 1, InitialRecoveryTimeout: time.Second, RecoveryTimeout: time.Second, SuccessThreshold: 1},
			}
			tracer := &panickingTracer{}
			tracer.panicIn.Store("")
			inner := &flaky{n: 1, err: statusErr(500)} // the first call fails
			w, err := NewResilientOrders(inner, cfg, runtime.WithLogger(slog.New(log)), runtime.WithClock(clock), runtime.WithTracer(tracer))
			require.NoError(t, err)
			m := w.Resilience()
			t.Cleanup(m.Close)
			ctx := context.Background()
			_, err = w.Get(ctx, "a")
			require.Error(t, err)
			require.Equal(t, runtime.StateOpen, m.Breakers()[0].State)

			clock.Advance(2 * time.Second) // the next attempt is the half-open breaker's probe
			tracer.panicIn.Store(hook)
			assert.NotPanics(t, func() {
				v, err := w.Get(ctx, "a")
				assert.NoError(t, err)
				assert.Equal(t, "order a", v)
			})
			assert.Equal(t, runtime.StateClosed, m.Breakers()[0].State, "the probe succeeded, and closed the breaker")
			assert.Len(t, panicLogs(log, "Tracer of ResilientOrders panicked in "+hook), 1, "the panic is logged once")
		})
	}
}
