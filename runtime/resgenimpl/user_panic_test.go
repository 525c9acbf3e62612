package resgenimpl_test

import (
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
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
)

// callOnce runs the generated loop of me around get, as a wrapper's method
// does, and returns the call's error and its number of attempts.
func callOnce(ctx context.Context, me *resgenimpl.Method, get func() error) (err error, attempts int) {
	var c resgenimpl.Call
	defer me.End(&c)
	for {
		if err = me.Admit(ctx, &c); err != nil {
			return err, attempts
		}
		attempts++
		actx, cancel := me.AttemptContext(ctx, &c)
		_ = actx
		err = get()
		cancel()
		if err == nil {
			me.Success(&c)
			return nil, attempts
		}
		if err = me.Failure(ctx, &c, err); err != nil {
			return err, attempts
		}
		if err = me.Backoff(ctx, &c); err != nil {
			return err, attempts
		}
	}
}

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
	spec := &resgenimpl.Spec{Wrapper: "W", Methods: []resgenimpl.MethodSpec{{Name: "Get", Config: cfg}}}
	m, err := resgenimpl.NewManager(pinger{}, spec, runtime.WithLogger(logger), runtime.WithClock(clock),
		runtime.WithObserver(runtime.ObserverFunc(func(runtime.Event) { panics.Add(1); panic("observer bug") })))
	require.NoError(t, err)
	t.Cleanup(m.Close)
	me := m.Method(0)
	var down atomic.Bool
	down.Store(true)
	get := func() error {
		if down.Load() {
			return httpStatusErr{500}
		}
		return nil
	}
	ctx := context.Background()

	assert.NotPanics(t, func() {
		err, _ := callOnce(ctx, me, get)
		assert.Error(t, err)
	})
	require.Equal(t, runtime.StateOpen, m.Resilience().Breakers()[0].State, "the failure opened the breaker")

	// Ping succeeds: the prober, on a goroutine of its own, lets the breaker
	// go half-open, and the observer panics there.
	require.Eventually(t, func() bool {
		clock.Advance(100 * time.Millisecond)
		return m.Resilience().Breakers()[0].State == runtime.StateHalfOpen
	}, 5*time.Second, time.Millisecond, "the breaker went half-open though its observer panicked")

	down.Store(false)
	assert.NotPanics(t, func() {
		err, _ := callOnce(ctx, me, get)
		assert.NoError(t, err)
	})
	assert.Equal(t, runtime.StateClosed, m.Resilience().Breakers()[0].State, "the probe closed the breaker")
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
	spec := &resgenimpl.Spec{Wrapper: "W", Methods: []resgenimpl.MethodSpec{{Name: "Get", Config: cfg}}}
	m, err := resgenimpl.NewManager(nil, spec, runtime.WithLogger(logger),
		runtime.WithClassifier(func(error) runtime.Class { panic("classifier bug") }))
	require.NoError(t, err)
	t.Cleanup(m.Close)
	var attempts int
	assert.NotPanics(t, func() {
		err, attempts = callOnce(context.Background(), m.Method(0), func() error { return httpStatusErr{503} })
	})
	var re *runtime.RetryError
	assert.True(t, errors.As(err, &re), "the call gave up after its retries: %v", err)
	assert.Equal(t, 3, attempts, "a 503 is retried by resgen's rules")
	var panicLogs []string
	for _, msg := range logged {
		if strings.Contains(msg, "panicked") {
			panicLogs = append(panicLogs, msg)
		}
	}
	require.Len(t, panicLogs, 1, "the first panic is logged, once: %q", logged)
	assert.Contains(t, panicLogs[0], "Classifier of W panicked")
}

// pinger answers Ping: the service is up.
type pinger struct{}

func (pinger) Ping(context.Context) error { return nil }

// recordHandler is a slog.Handler that gives every record, at every level,
// to f, which must be safe for concurrent use when the Manager logs from
// its own goroutines.
type recordHandler func(slog.Record)

func (h recordHandler) Enabled(context.Context, slog.Level) bool      { return true }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error { h(r); return nil }
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler            { return h }
func (h recordHandler) WithGroup(string) slog.Handler                 { return h }
