package resgenimpl_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
)

// The shapes of the errors of widely used clients, as local types: the
// compat module builds the clients' own values.

// apiErr has the AWS SDK's APIError shape.
type apiErr struct{ code string }

func (e apiErr) Error() string     { return "api error " + e.code }
func (e apiErr) ErrorCode() string { return e.code }

// responseErr has the shape of the AWS SDK's HTTP response errors.
type responseErr struct {
	status int
	err    error
}

func (e *responseErr) Error() string {
	return fmt.Sprintf("https response error StatusCode: %d, %v", e.status, e.err)
}
func (e *responseErr) HTTPStatusCode() int { return e.status }
func (e *responseErr) Unwrap() error       { return e.err }

// asStatus answers errors.As with via, and unwraps to inner.
type asStatus struct{ via, inner error }

func (e asStatus) Error() string      { return "as status" }
func (e asStatus) As(target any) bool { return errors.As(e.via, target) }
func (e asStatus) Unwrap() error      { return e.inner }

// asOnly reaches its cause only through an As method, as the AWS SDK's
// response errors reach the ones they embed.
type asOnly struct{ inner error }

func (e asOnly) Error() string        { return "as only: " + e.inner.Error() }
func (e asOnly) As(target any) bool   { return errors.As(e.inner, target) }
func (e asOnly) HTTPStatusCode() int  { return 503 }
func (e asOnly) ServiceRequest() bool { return true }

type boolErr struct {
	name string
	v    bool
}

func (e boolErr) Error() string { return e.name }

type connectionErr struct{ boolErr }

func (e connectionErr) ConnectionError() bool { return e.v }

type retryableErr struct{ boolErr }

func (e retryableErr) RetryableError() bool { return e.v }

type canceledErr struct{ boolErr }

func (e canceledErr) CanceledError() bool { return e.v }

type timeoutOnly struct{ boolErr }

func (e timeoutOnly) Timeout() bool { return e.v }

type temporaryOnly struct{ boolErr }

func (e temporaryOnly) Temporary() bool { return e.v }

// The shapes of Kubernetes' errors (kube_shape_test.go), shared with the
// package's internal tests.
type (
	kubeStatus  = resgenimpl.KubeStatus
	kubeDetails = resgenimpl.KubeDetails
	kubeErr     = resgenimpl.KubeErr
)

// statusString has a Status method of another shape.
type statusString struct{}

func (statusString) Error() string  { return "status string" }
func (statusString) Status() string { return "503 Service Unavailable" }

func TestClassifyShapesOfRealClients(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want runtime.Class
	}{
		{"AWS throttling code beats 400", &responseErr{400, apiErr{"ThrottlingException"}}, runtime.ClassRateLimited},
		{"AWS Throttling", &responseErr{400, apiErr{"Throttling"}}, runtime.ClassRateLimited},
		{"AWS RequestLimitExceeded", &responseErr{503, apiErr{"RequestLimitExceeded"}}, runtime.ClassRateLimited},
		{"AWS ProvisionedThroughputExceededException", &responseErr{400, apiErr{"ProvisionedThroughputExceededException"}}, runtime.ClassRateLimited},
		{"AWS SlowDown beats 503", &responseErr{503, apiErr{"SlowDown"}}, runtime.ClassRateLimited},
		{"AWS TooManyRequestsException", &responseErr{429, apiErr{"TooManyRequestsException"}}, runtime.ClassRateLimited},
		{"AWS RequestTimeout beats 400", &responseErr{400, apiErr{"RequestTimeout"}}, runtime.ClassTimeout},
		{"AWS TransactionInProgressException", &responseErr{400, apiErr{"TransactionInProgressException"}}, runtime.ClassTransient},
		{"AWS other code: its status decides", &responseErr{400, apiErr{"ResourceNotFoundException"}}, runtime.ClassPermanent},
		{"AWS 503", &responseErr{503, apiErr{"ServiceUnavailable"}}, runtime.ClassServer},
		{"AWS 500 without an API error", &responseErr{500, errors.New("internal")}, runtime.ClassServer},
		{"ErrorCode alone, unknown code", apiErr{"ValidationException"}, runtime.ClassUnknown},
		{"an As method is followed", asOnly{errors.New("x")}, runtime.ClassServer},
		{"an As method reaches an ErrorCode", asOnly{apiErr{"SlowDown"}}, runtime.ClassRateLimited},
		{"an As method answers before the errors it wraps", asStatus{via: httpStatusErr{404}, inner: httpStatusErr{503}}, runtime.ClassPermanent},
		{"an As method that finds nothing", asStatus{via: errors.New("x"), inner: httpStatusErr{503}}, runtime.ClassServer},

		{"ConnectionError true", connectionErr{boolErr{"send", true}}, runtime.ClassConnection},
		{"ConnectionError false", connectionErr{boolErr{"send", false}}, runtime.ClassUnknown},
		{"RetryableError true", retryableErr{boolErr{"retry me", true}}, runtime.ClassTransient},
		{"RetryableError false", retryableErr{boolErr{"do not", false}}, runtime.ClassPermanent},
		{"RetryableError false loses to a 503", fmt.Errorf("%w: %w", retryableErr{boolErr{"do not", false}}, httpStatusErr{503}), runtime.ClassServer},
		{"CanceledError true", canceledErr{boolErr{"canceled", true}}, runtime.ClassCanceled},
		{"CanceledError false", canceledErr{boolErr{"canceled", false}}, runtime.ClassUnknown},
		{"Timeout alone true", timeoutOnly{boolErr{"slow", true}}, runtime.ClassTimeout},
		{"Timeout alone false", timeoutOnly{boolErr{"slow", false}}, runtime.ClassUnknown},
		{"Temporary alone true", temporaryOnly{boolErr{"again", true}}, runtime.ClassTransient},
		{"Temporary alone false", temporaryOnly{boolErr{"again", false}}, runtime.ClassUnknown},
		{"Temporary loses to a status", fmt.Errorf("%w: %w", temporaryOnly{boolErr{"again", true}}, httpStatusErr{404}), runtime.ClassPermanent},

		{"Kubernetes ServiceUnavailable", &kubeErr{kubeStatus{Reason: "ServiceUnavailable", Code: 503}}, runtime.ClassServer},
		{"Kubernetes TooManyRequests", &kubeErr{kubeStatus{Reason: "TooManyRequests", Code: 429}}, runtime.ClassRateLimited},
		{"Kubernetes ServerTimeout is a 500 worth retrying", &kubeErr{kubeStatus{Reason: "ServerTimeout", Code: 500}}, runtime.ClassTimeout},
		{"Kubernetes Timeout", &kubeErr{kubeStatus{Reason: "Timeout", Code: 504}}, runtime.ClassTimeout},
		{"Kubernetes Unauthorized", &kubeErr{kubeStatus{Reason: "Unauthorized", Code: 401}}, runtime.ClassAuth},
		{"Kubernetes NotFound", &kubeErr{kubeStatus{Reason: "NotFound", Code: 404}}, runtime.ClassPermanent},
		{"Kubernetes Conflict", &kubeErr{kubeStatus{Reason: "Conflict", Code: 409}}, runtime.ClassPermanent},
		{"Kubernetes code only", &kubeErr{kubeStatus{Code: 502}}, runtime.ClassServer},
		{"Kubernetes no code, no reason", &kubeErr{kubeStatus{}}, runtime.ClassUnknown},
		{"a nil Kubernetes error does not panic", (*kubeErr)(nil), runtime.ClassUnknown},
		{"Status of another shape", statusString{}, runtime.ClassUnknown},
		{"a joined Kubernetes error", errors.Join(errors.New("list pods"), &kubeErr{kubeStatus{Reason: "TooManyRequests", Code: 429}}), runtime.ClassRateLimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, runtime.Classify(tt.err), "Classify(%v)", tt.err)
			wrapped := fmt.Errorf("get order: %w", fmt.Errorf("query: %w", tt.err))
			assert.Equal(t, tt.want, runtime.Classify(wrapped), "Classify(%v)", wrapped)
		})
	}
}

// TestKubernetesRetryAfter: a 429 of the Kubernetes API carries its delay
// in Status().Details.RetryAfterSeconds.
func TestKubernetesRetryAfter(t *testing.T) {
	err := fmt.Errorf("list: %w", &kubeErr{kubeStatus{Reason: "TooManyRequests", Code: 429, Details: &kubeDetails{RetryAfterSeconds: 7}}})
	d, ok := runtime.RetryAfter(err)
	assert.True(t, ok)
	assert.Equal(t, 7*time.Second, d)
	for _, err := range []error{
		&kubeErr{kubeStatus{Reason: "TooManyRequests", Code: 429}},
		&kubeErr{kubeStatus{Code: 429, Details: &kubeDetails{}}},
		(*kubeErr)(nil),
		errors.New("plain"),
	} {
		_, ok := runtime.RetryAfter(err)
		assert.False(t, ok, "RetryAfter(%#v)", err)
	}
}

// TestClassifyAllocatesNothing: classifying an error that wraps its cause
// with Unwrap allocates nothing, so that a failing dependency does not add
// garbage to the outage.
func TestClassifyAllocatesNothing(t *testing.T) {
	plain := errors.New("boom")
	for _, err := range []error{
		plain,
		fmt.Errorf("get order: %w", plain),
		errors.Join(plain, io.ErrUnexpectedEOF),
		httpStatusErr{503},
		fmt.Errorf("read: %w", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("reset")}),
		&pgErr{"40001"},
		&responseErr{400, apiErr{"ThrottlingException"}},
		runtime.Transient(plain),
	} {
		allocs := testing.AllocsPerRun(100, func() { runtime.Classify(err) })
		assert.Zero(t, allocs, "Classify(%v) allocates", err)
	}
}

func TestTransientAndPermanentMarks(t *testing.T) {
	errOutOfStock := errors.New("out of stock")
	tests := []struct {
		name  string
		err   error
		cause error
		want  runtime.Class
	}{
		{"Transient of a plain error", runtime.Transient(errOutOfStock), errOutOfStock, runtime.ClassTransient},
		{"Permanent of a plain error", runtime.Permanent(errOutOfStock), errOutOfStock, runtime.ClassPermanent},
		{"Permanent beats a 503", runtime.Permanent(httpStatusErr{503}), httpStatusErr{503}, runtime.ClassPermanent},
		{"Transient beats io.EOF", runtime.Transient(io.EOF), io.EOF, runtime.ClassTransient},
		{"the outer mark wins", runtime.Permanent(fmt.Errorf("x: %w", runtime.Transient(errOutOfStock))), errOutOfStock, runtime.ClassPermanent},
		{"a wrapped mark", fmt.Errorf("reserve: %w", runtime.Transient(errOutOfStock)), errOutOfStock, runtime.ClassTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, runtime.Classify(tt.err))
			assert.ErrorIs(t, tt.err, tt.cause, "errors.Is sees through the mark")
		})
	}
	assert.NoError(t, runtime.Transient(nil))
	assert.NoError(t, runtime.Permanent(nil))
	err := runtime.Transient(httpStatusErr{429})
	assert.Equal(t, "unexpected status 429", err.Error())
	var se httpStatusErr
	require.ErrorAs(t, err, &se, "errors.As sees through the mark")
	assert.Equal(t, 429, se.code)
}

// unknownManager is a manager of two methods that retry three times and
// open their breaker after one failed call.
func unknownManager(t *testing.T, retry runtime.RetryConfig, opts ...runtime.Option) *resgenimpl.Manager {
	t.Helper()
	retry.MaxAttempts, retry.InitialDelay, retry.MaxDelay, retry.Jitter = 3, 1, 1, runtime.JitterNone
	cfg := runtime.Config{
		Retry:          retry,
		RateLimit:      runtime.RateLimitConfig{Disabled: true},
		CircuitBreaker: runtime.CircuitBreakerConfig{FailureThreshold: 1, RecoveryTimeout: time.Hour},
	}
	spec := &resgenimpl.Spec{Wrapper: "W", Methods: []resgenimpl.MethodSpec{{Name: "Get", Config: cfg}, {Name: "Put", Config: cfg}}}
	m, err := resgenimpl.NewManager(nil, spec, append([]runtime.Option{runtime.WithLogger(nil)}, opts...)...)
	require.NoError(t, err)
	return m
}

// call makes one call of me that fails with err at every attempt, and
// returns the number of attempts and the call's error.
func call(t *testing.T, me *resgenimpl.Method, err error) (int, error) {
	t.Helper()
	ctx := context.Background()
	var c resgenimpl.Call
	for attempts := 1; ; attempts++ {
		if aerr := me.Admit(ctx, &c); aerr != nil {
			return attempts - 1, aerr
		}
		if ferr := me.Failure(ctx, &c, err); ferr != nil {
			return attempts, ferr
		}
		require.NoError(t, me.Backoff(ctx, &c))
	}
}

// TestUnknownErrorIsNeitherRetriedNorCounted: a plain error of the wrapped
// implementation was not retried, yet opened the breaker.
func TestUnknownErrorIsNeitherRetriedNorCounted(t *testing.T) {
	plain := errors.New("invalid order id")
	tests := []struct {
		name     string
		retryOn  runtime.Matcher
		err      error
		attempts int
		opens    bool
	}{
		{"unknown by default: passed through", runtime.Matcher{}, plain, 1, false},
		{"marked transient: retried and counted", runtime.Matcher{}, runtime.Transient(plain), 3, true},
		{"marked permanent: neither", runtime.Matcher{}, runtime.Permanent(plain), 1, false},
		{"retry_on unknown: retried and counted", runtime.Matcher{Classes: runtime.ClassesTransient | runtime.ClassUnknown}, plain, 3, true},
		{"retry_on names it: retried and counted", runtime.Matcher{Classes: runtime.ClassesTransient, Match: func(err error) bool { return errors.Is(err, plain) }}, plain, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			me := unknownManager(t, runtime.RetryConfig{RetryOn: tt.retryOn}).Method(0)
			attempts, err := call(t, me, tt.err)
			assert.Equal(t, tt.attempts, attempts, "attempts")
			assert.ErrorIs(t, err, plain)
			for range 3 { // an attempt weighs a third of a call: three calls' worth
				call(t, me, tt.err)
			}
			_, err = call(t, me, tt.err)
			assert.Equal(t, tt.opens, errors.Is(err, runtime.ErrCircuitOpen), "the breaker opened: %v", err)
		})
	}
}

// TestUnknownErrorWarnsOncePerMethod: an unknown error that met a retry
// policy was silently not retried.
func TestUnknownErrorWarnsOncePerMethod(t *testing.T) {
	plain := errors.New("invalid order id")
	warnings := func(h *rlLog) (n map[string]int) {
		n = map[string]int{}
		for _, r := range h.records() {
			if r.Level == slog.LevelWarn && strings.HasPrefix(r.Message, "Error of unknown class") {
				n[rlAttrs(r)["method"]]++
			}
		}
		return n
	}
	t.Run("once per method", func(t *testing.T) {
		h := &rlLog{}
		m := unknownManager(t, runtime.RetryConfig{}, runtime.WithLogger(slog.New(h)))
		for range 3 {
			call(t, m.Method(0), plain)
			call(t, m.Method(1), fmt.Errorf("put: %w", plain))
		}
		assert.Equal(t, map[string]int{"Get": 1, "Put": 1}, warnings(h))
		recs := h.records()
		require.NotEmpty(t, recs)
		assert.Contains(t, recs[0].Message, "Error of unknown class from Get is not retried and not counted against its circuit breaker: invalid order id")
		assert.Contains(t, recs[0].Message, "runtime.Transient")
	})
	for _, tt := range []struct {
		name  string
		retry runtime.RetryConfig
		err   error
	}{
		{"not for a known class", runtime.RetryConfig{}, runtime.Permanent(plain)},
		{"not without retries", runtime.RetryConfig{Disabled: true}, plain},
		{"not when retry_on names it", runtime.RetryConfig{RetryOn: runtime.Matcher{Classes: runtime.ClassesAll}}, plain},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := &rlLog{}
			m := unknownManager(t, tt.retry, runtime.WithLogger(slog.New(h)))
			call(t, m.Method(0), tt.err)
			assert.Empty(t, warnings(h))
		})
	}
}
