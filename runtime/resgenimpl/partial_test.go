package resgenimpl_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/fakeclock"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
)

// readerConn's Read fails after reading part of what it was asked for, or
// after reading nothing, as its n says.
type readerConn struct {
	n     int
	err   error
	calls int
}

func (r *readerConn) Read(p []byte) (int, error) {
	r.calls++
	return r.n, r.err
}

// resilientReader is a wrapper written by hand as resgen generates a
// method whose results report progress.
type resilientReader struct {
	inner *readerConn
	rm    *resgenimpl.Manager
}

func (w *resilientReader) Read(ctx context.Context, p []byte) (n int, err error) {
	m := w.rm.Method(0)
	var call resgenimpl.Call
	for {
		if err = m.Admit(ctx, &call); err != nil {
			return n, err
		}
		n, err = w.inner.Read(p)
		if err == nil {
			m.Success(&call)
			return n, nil
		}
		if n != 0 {
			return n, m.Progress(ctx, &call, err)
		}
		if err = m.Failure(ctx, &call, err); err != nil {
			return n, err
		}
		if err = m.Backoff(ctx, &call); err != nil {
			return n, err
		}
	}
}

// TestProgressIsNeverRetried: a Read that fails after reading part of its
// buffer returns at once, whatever the retry policy, with its error
// unchanged. The breaker takes the attempt as the service's success, as a
// PartialError, unless partial-failure recovery is disabled (then it is
// the failure that its error is); the caller's own cancellation counts
// neither way.
func TestProgressIsNeverRetried(t *testing.T) {
	errBusy := errors.New("busy")
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name        string
		ctx         context.Context
		noPartial   bool
		wantState   runtime.State
		wantPartial int64
	}{
		{"partial recovery", context.Background(), false, runtime.StateClosed, 4},
		{"partial recovery disabled", context.Background(), true, runtime.StateOpen, 0},
		{"caller cancelled", canceled, false, runtime.StateClosed, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := &readerConn{n: 3, err: errBusy}
			rm, err := resgenimpl.NewManager(inner, &resgenimpl.Spec{
				Wrapper:   "resilientReader",
				Interface: "runtime_test.readerConn",
				Methods: []resgenimpl.MethodSpec{{Name: "Read", Config: runtime.Config{
					Retry: runtime.RetryConfig{MaxAttempts: 2, InitialDelay: time.Millisecond, Jitter: runtime.JitterNone,
						RetryOn: runtime.Matcher{Classes: runtime.ClassesAll}},
					CircuitBreaker: runtime.CircuitBreakerConfig{FailureThreshold: 2, RecoveryTimeout: time.Minute, SuccessThreshold: 1},
					RateLimit:      runtime.RateLimitConfig{Disabled: true},
					Timeout:        runtime.TimeoutConfig{Disabled: true},
					Recovery:       runtime.RecoveryConfig{DisablePartialFailureRecovery: tt.noPartial},
				}}},
			}, runtime.WithClock(fakeclock.New(time.Unix(0, 0))), runtime.WithLogger(nil))
			if err != nil {
				t.Fatal(err)
			}
			w := &resilientReader{inner: inner, rm: rm}
			for i := range 4 {
				n, err := w.Read(tt.ctx, make([]byte, 8))
				if n != 3 || err != errBusy {
					t.Fatalf("call %d: Read = %d, %v; want 3, the attempt's own error", i+1, n, err)
				}
			}
			if inner.calls != 4 {
				t.Errorf("4 calls made %d attempts, want 4: none retried", inner.calls)
			}
			mm, _ := rm.MethodMetrics("Read")
			if mm.BreakerState != tt.wantState || mm.PartialFailures != tt.wantPartial {
				t.Errorf("breaker %v, %d partial failures; want %v, %d", mm.BreakerState, mm.PartialFailures, tt.wantState, tt.wantPartial)
			}
		})
	}
}

// TestStreamMethodsStayUnretriedUnderOverrides: a stream's method
// (MethodSpec.InStream) is never retried, limited or broken, even when a
// run-time override that applies to every method turns retry on: a message
// sent again on a stream could be received twice.
func TestStreamMethodsStayUnretriedUnderOverrides(t *testing.T) {
	cfg := runtime.Config{Retry: runtime.RetryConfig{Disabled: true}, Timeout: runtime.TimeoutConfig{Disabled: true}}
	spec := &resgenimpl.Spec{Wrapper: "ResilientWatchClient", Interface: "x.WatchClient", Methods: []resgenimpl.MethodSpec{
		{Name: "SendMsg", Config: cfg, Request: true, InStream: true},
		{Name: "Get", Config: cfg, Request: true},
	}}
	m, err := resgenimpl.NewManager(struct{}{}, spec, runtime.WithLogger(nil),
		runtime.WithConfig(runtime.Settings{{Policy: "retry", Key: "max_attempts", Value: "5"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	attempts := func(me *resgenimpl.Method) int {
		var c resgenimpl.Call
		n := 0
		for {
			if err := me.Admit(context.Background(), &c); err != nil {
				t.Fatal(err)
			}
			n++
			if me.Failure(context.Background(), &c, io.ErrUnexpectedEOF) != nil {
				return n
			}
			if n == 5 {
				return n
			}
		}
	}
	if n := attempts(m.Method(0)); n != 1 {
		t.Errorf("a stream's SendMsg made %d attempts under retry.max_attempts=5, want 1", n)
	}
	if n := attempts(m.Method(1)); n != 5 {
		t.Errorf("an ordinary method made %d attempts under retry.max_attempts=5, want 5 (the override applies)", n)
	}
	if mm, _ := m.MethodMetrics("SendMsg"); mm.ConcurrencyLimit != 0 {
		t.Errorf("a stream's SendMsg has a concurrency limit of %d, want none", mm.ConcurrencyLimit)
	}
}
