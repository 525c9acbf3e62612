package resgenimpl_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/fakeclock"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
)

// failOnce fails its first call with err, then succeeds, counting calls.
type failOnce struct {
	err   error
	calls int
}

func (f *failOnce) Get(context.Context, string) (string, error) {
	f.calls++
	if f.calls == 1 {
		return "", f.err
	}
	return "ok", nil
}

type safeToRetry struct {
	safe bool
	err  error
}

func (e safeToRetry) Error() string {
	return fmt.Sprintf("pgconn: %v (safe to retry: %v)", e.err, e.safe)
}
func (e safeToRetry) SafeToRetry() bool { return e.safe }
func (e safeToRetry) Unwrap() error     { return e.err }

type awsCode string

func (e awsCode) Error() string     { return "api error " + string(e) }
func (e awsCode) ErrorCode() string { return string(e) }

type netTimeout struct{}

func (netTimeout) Error() string   { return "i/o timeout" }
func (netTimeout) Timeout() bool   { return true }
func (netTimeout) Temporary() bool { return true }

// sentOrNot is every error a non-idempotent method may meet, and whether
// it proves that the request was never processed.
var sentOrNot = []struct {
	name   string
	err    error
	unsent bool
}{
	{"refused connection", &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}, true},
	{"dial timeout", &net.OpError{Op: "dial", Net: "tcp", Err: netTimeout{}}, true},
	{"failed DNS lookup", &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "db", IsNotFound: true}}, true},
	{"bare ECONNREFUSED", fmt.Errorf("connect: %w", syscall.ECONNREFUSED), true},
	{"SafeToRetry true", safeToRetry{true, errors.New("write failed before sending")}, true},
	{"SafeToRetry false over a dial error", safeToRetry{false, &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, false},
	{"driver.ErrBadConn", fmt.Errorf("exec: %w", driver.ErrBadConn), true},
	{"HTTP 429", statusErr(429), true},
	{"AWS throttling", awsCode("ThrottlingException"), true},
	{"gRPC Unavailable while dialing", errors.New(`rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`), true},
	{"a marked refused connection", runtime.Transient(&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), true},
	{"gRPC Unavailable after sending", errors.New(`rpc error: code = Unavailable desc = error reading from server: EOF`), false},
	{"gRPC ResourceExhausted", errors.New(`rpc error: code = ResourceExhausted desc = disk full`), false},
	{"io.EOF: a connection closed under the request", io.EOF, false},
	{"io.ErrUnexpectedEOF", io.ErrUnexpectedEOF, false},
	{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}, false},
	{"broken pipe", &net.OpError{Op: "write", Net: "tcp", Err: syscall.EPIPE}, false},
	{"read timeout", &net.OpError{Op: "read", Net: "tcp", Err: netTimeout{}}, false},
	{"the attempt's deadline", context.DeadlineExceeded, false},
	{"HTTP 503", statusErr(503), false},
	{"a marked transient error", runtime.Transient(errors.New("busy")), false},
}

// TestNonIdempotentRetriesOnlyWhatWasNeverSent is the decision per error
// of a method declared not idempotent: a retry after a timeout, a reset or
// a closed connection could apply a write twice, so only an error that
// proves that the request was never processed is retried. An idempotent
// method retries every one of these errors.
func TestNonIdempotentRetriesOnlyWhatWasNeverSent(t *testing.T) {
	for _, tc := range sentOrNot {
		t.Run(tc.name, func(t *testing.T) {
			if got := runtime.NotSent(tc.err); got != tc.unsent {
				t.Errorf("NotSent(%v) = %v, want %v", tc.err, got, tc.unsent)
			}
			for _, idempotent := range []bool{true, false} {
				inner := &failOnce{err: tc.err}
				cfg := runtime.Config{
					Retry:          runtime.RetryConfig{MaxAttempts: 2, InitialDelay: time.Nanosecond, Jitter: runtime.JitterNone, NonIdempotent: !idempotent},
					CircuitBreaker: runtime.CircuitBreakerConfig{Disabled: true},
					RateLimit:      runtime.RateLimitConfig{Disabled: true},
					Timeout:        runtime.TimeoutConfig{Disabled: true},
					Recovery:       runtime.RecoveryConfig{Disabled: true},
				}
				w, err := NewResilientOrders(inner, cfg, runtime.WithLogger(nil))
				if err != nil {
					t.Fatal(err)
				}
				_, err = w.Get(context.Background(), "x")
				want := 1
				if idempotent || tc.unsent {
					want = 2
				}
				if inner.calls != want {
					t.Errorf("idempotent=%v: %d attempts (error %v), want %d", idempotent, inner.calls, err, want)
				}
				if want == 1 && !errors.Is(err, tc.err) {
					t.Errorf("idempotent=%v: the call returned %v, want the attempt's error", idempotent, err)
				}
			}
		})
	}
}

// TestNotSentAllocatesNothing keeps the proof as cheap as classification:
// type checks through the chain, no allocation.
func TestNotSentAllocatesNothing(t *testing.T) {
	for _, tc := range sentOrNot {
		if n := testing.AllocsPerRun(100, func() { runtime.NotSent(tc.err) }); n != 0 {
			t.Errorf("NotSent(%s) allocates %v times", tc.name, n)
		}
	}
}

// eofWrapper returns a wrapper's Manager and its one method, of either
// shape.
func eofWrapper(t *testing.T, stream, idempotent bool) (*resgenimpl.Manager, *resgenimpl.Method) {
	t.Helper()
	cfg := runtime.Config{
		Retry:          runtime.RetryConfig{MaxAttempts: 3, InitialDelay: time.Nanosecond, Jitter: runtime.JitterNone, NonIdempotent: !idempotent},
		CircuitBreaker: runtime.CircuitBreakerConfig{FailureThreshold: 1},
		RateLimit:      runtime.RateLimitConfig{Disabled: true},
		Timeout:        runtime.TimeoutConfig{Disabled: true},
		Recovery:       runtime.RecoveryConfig{Disabled: true},
	}
	m, err := resgenimpl.NewManager(nil, &resgenimpl.Spec{
		Wrapper: "ResilientConn", Interface: "test.Conn",
		Methods: []resgenimpl.MethodSpec{{Name: "M", Config: cfg, Request: !stream}},
	}, runtime.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	return m, m.Method(0)
}

// TestEOFClosesARequestButEndsAStream: a bare io.EOF is the end of the
// stream of a Read- or Recv-shaped method (an answer: not retried, not a
// failure), and a connection closed under the request for every other
// method (retried, a failure), except where a retry could apply the
// request twice.
func TestEOFClosesARequestButEndsAStream(t *testing.T) {
	for _, tc := range []struct {
		name               string
		stream, idempotent bool
		retried, counts    bool
	}{
		{"a request", false, true, true, true},
		{"a stream's end", true, true, false, false},
		{"a request not idempotent", false, false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mgr, m := eofWrapper(t, tc.stream, tc.idempotent)
			ctx := context.Background()
			// Three calls' first attempts: with max_attempts 3 and
			// failure_threshold 1, they open the breaker if they count.
			for i := 0; i < 3; i++ {
				var c resgenimpl.Call
				if err := m.Admit(ctx, &c); err != nil {
					t.Fatal(err)
				}
				err := m.Failure(ctx, &c, io.EOF)
				if retried := err == nil; retried != tc.retried {
					t.Fatalf("retried = %v (Failure returned %v), want %v", retried, err, tc.retried)
				}
			}
			open := mgr.Breakers()[0].State == runtime.StateOpen
			if open != tc.counts {
				t.Errorf("counted against the breaker = %v, want %v", open, tc.counts)
			}
		})
	}
}

// panicky panics on its first call while told to, fails while down, and
// succeeds otherwise.
type panicky struct {
	panics bool
	down   bool
	calls  int
}

func (p *panicky) Get(context.Context, string) (string, error) {
	p.calls++
	if p.panics {
		p.panics = false
		panic("bug in the client")
	}
	if p.down {
		return "", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	}
	return "ok", nil
}

// TestPanickingProbeGivesBackItsSlot: a half-open probe whose wrapped call
// panics used to keep its probe slot, so that the breaker refused every
// probe until it took the panicked one for hung, counted it as a failure
// and opened again: two recovery timeouts instead of one. Now the panic
// reaches the caller unchanged and counts as the probe's failure: the
// breaker opens again at once, and the next probe, one recovery timeout
// later, closes it.
func TestPanickingProbeGivesBackItsSlot(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_000_000, 0))
	inner := &panicky{down: true}
	const open = 10 * time.Second
	cfg := runtime.Config{
		Retry:          runtime.RetryConfig{Disabled: true},
		CircuitBreaker: runtime.CircuitBreakerConfig{FailureThreshold: 1, SuccessThreshold: 1, RecoveryTimeout: open, InitialRecoveryTimeout: open},
		RateLimit:      runtime.RateLimitConfig{Disabled: true},
		Timeout:        runtime.TimeoutConfig{Disabled: true},
		Recovery:       runtime.RecoveryConfig{Disabled: true},
	}
	w, err := NewResilientOrders(inner, cfg, runtime.WithClock(clock), runtime.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	state := func() runtime.State { return w.Resilience().Breakers()[0].State }
	if _, err := w.Get(ctx, "x"); err == nil {
		t.Fatal("the outage's first call succeeded")
	}
	if state() != runtime.StateOpen {
		t.Fatalf("breaker %v after a failure with failure_threshold 1, want OPEN", state())
	}
	clock.Advance(open)
	inner.down, inner.panics = false, true
	func() {
		defer func() {
			if r := recover(); r != "bug in the client" {
				t.Fatalf("recovered %v, want the wrapped call's own panic", r)
			}
		}()
		w.Get(ctx, "x")
		t.Fatal("the probe did not panic")
	}()
	if inner.calls != 2 {
		t.Fatalf("%d calls reached the service, want 2 (the panic is not retried)", inner.calls)
	}
	if state() != runtime.StateOpen {
		t.Fatalf("breaker %v after its probe panicked, want OPEN again", state())
	}
	clock.Advance(open)
	if got, err := w.Get(ctx, "x"); err != nil || got != "ok" {
		t.Fatalf("the probe one recovery timeout after the panic: %q, %v; want ok", got, err)
	}
	if state() != runtime.StateClosed {
		t.Fatalf("breaker %v after a successful probe with success_threshold 1, want CLOSED", state())
	}
	mm := w.Resilience().Metrics()[0]
	if mm.Failures != 2 || mm.Successes != 1 {
		t.Errorf("metrics: %d failures, %d successes; want 2 (the outage's call and the panic) and 1", mm.Failures, mm.Successes)
	}
}

// TestPanicInClosedStateCountsNothing: a panic says nothing about the
// service, so a closed breaker does not count it, and the wrapper keeps
// working.
func TestPanicInClosedStateCountsNothing(t *testing.T) {
	inner := &panicky{}
	cfg := runtime.Config{
		CircuitBreaker: runtime.CircuitBreakerConfig{FailureThreshold: 1},
		RateLimit:      runtime.RateLimitConfig{Disabled: true},
		Timeout:        runtime.TimeoutConfig{Disabled: true},
		Recovery:       runtime.RecoveryConfig{Disabled: true},
	}
	w, err := NewResilientOrders(inner, cfg, runtime.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		inner.panics = true
		func() {
			defer func() { recover() }()
			w.Get(context.Background(), "x")
		}()
	}
	if s := w.Resilience().Breakers()[0].State; s != runtime.StateClosed {
		t.Fatalf("breaker %v after three panics, want CLOSED", s)
	}
	if _, err := w.Get(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
}

// recovering fails its first call with err, then succeeds, and counts its
// recoveries.
type recovering struct {
	failOnce
	reconnects, refreshes int
}

func (r *recovering) Reconnect(context.Context) error          { r.reconnects++; return nil }
func (r *recovering) RefreshCredentials(context.Context) error { r.refreshes++; return nil }

// TestNonIdempotentRecovery: after a connection error a method that is not
// idempotent still reconnects, for the calls that follow, but tries again
// only when the request was never sent; a refused credential is the
// service refusing the request, so the call is tried again after a
// refresh.
func TestNonIdempotentRecovery(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		err                   error
		attempts              int
		reconnects, refreshes int
	}{
		{"closed under the request", io.EOF, 1, 1, 0},
		{"reset under the request", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, 1, 1, 0},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, 2, 1, 0},
		{"credentials refused", statusErr(401), 2, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &recovering{failOnce: failOnce{err: tc.err}}
			cfg := runtime.Config{
				Retry:          runtime.RetryConfig{MaxAttempts: 3, InitialDelay: time.Nanosecond, Jitter: runtime.JitterNone, NonIdempotent: true},
				CircuitBreaker: runtime.CircuitBreakerConfig{Disabled: true},
				RateLimit:      runtime.RateLimitConfig{Disabled: true},
				Timeout:        runtime.TimeoutConfig{Disabled: true},
			}
			w, err := NewResilientOrders(inner, cfg, runtime.WithLogger(nil))
			if err != nil {
				t.Fatal(err)
			}
			_, err = w.Get(context.Background(), "x")
			if inner.calls != tc.attempts || inner.reconnects != tc.reconnects || inner.refreshes != tc.refreshes {
				t.Fatalf("%d attempts, %d reconnects, %d refreshes (%v); want %d, %d, %d",
					inner.calls, inner.reconnects, inner.refreshes, err, tc.attempts, tc.reconnects, tc.refreshes)
			}
		})
	}
}

// script fails its calls with the errors of a script, in order, and then
// succeeds; it counts the attempts that the service may have processed.
type script struct {
	errs      []error
	calls     int
	processed int
}

func (s *script) Get(context.Context, string) (string, error) {
	s.calls++
	if s.calls > len(s.errs) {
		s.processed++
		return "ok", nil
	}
	err := s.errs[s.calls-1]
	if !runtime.NotSent(err) {
		s.processed++
	}
	return "", err
}

// TestNonIdempotentAppliedAtMostOnce is the promise of idempotent=false as
// a property: whatever errors the attempts meet, at most one attempt of a
// call may have been processed by the service; and the call makes no
// attempt after one that may have been.
func TestNonIdempotentAppliedAtMostOnce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 6).Draw(t, "failures")
		s := &script{}
		for i := 0; i < n; i++ {
			s.errs = append(s.errs, rapid.SampledFrom(sentOrNot).Draw(t, "error").err)
		}
		cfg := runtime.Config{
			Retry:          runtime.RetryConfig{MaxAttempts: rapid.IntRange(1, 8).Draw(t, "max_attempts"), InitialDelay: time.Nanosecond, Jitter: runtime.JitterNone, NonIdempotent: true},
			CircuitBreaker: runtime.CircuitBreakerConfig{Disabled: true},
			RateLimit:      runtime.RateLimitConfig{Disabled: true},
			Timeout:        runtime.TimeoutConfig{Disabled: true},
			Recovery:       runtime.RecoveryConfig{Disabled: true},
			RetryBudget:    runtime.RetryBudgetConfig{Disabled: true},
		}
		w, err := NewResilientOrders(s, cfg, runtime.WithLogger(nil))
		if err != nil {
			t.Fatal(err)
		}
		w.Get(context.Background(), "x")
		if s.processed > 1 {
			t.Fatalf("%d attempts may have been processed (errors %v)", s.processed, s.errs[:min(s.calls, len(s.errs))])
		}
		for i := 0; i < s.calls-1 && i < len(s.errs); i++ {
			if !runtime.NotSent(s.errs[i]) {
				t.Fatalf("attempt %d followed attempt %d, which failed with %v: it may have been processed", i+2, i+1, s.errs[i])
			}
		}
	})
}
