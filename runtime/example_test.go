package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
)

// apiError is an HTTP client's error: Classify reads its status through
// StatusCode, and a server's Retry-After hint through RetryAfter.
type apiError struct {
	Status int
	After  time.Duration
}

func (e *apiError) Error() string             { return fmt.Sprintf("api: status %d", e.Status) }
func (e *apiError) StatusCode() int           { return e.Status }
func (e *apiError) RetryAfter() time.Duration { return e.After }

func ExampleClassify() {
	_, notExist := os.Open("/no/such/file")
	for _, err := range []error{
		&apiError{Status: 503},
		fmt.Errorf("list orders: %w", &apiError{Status: 429, After: 2 * time.Second}),
		&apiError{Status: 404},
		fmt.Errorf("read: %w", io.ErrUnexpectedEOF),
		notExist,
		context.Canceled,
		errors.New("something else"),
	} {
		fmt.Printf("%-12s %v\n", runtime.Classify(err), err)
	}
	// Output:
	// server       api: status 503
	// rate_limited list orders: api: status 429
	// permanent    api: status 404
	// connection   read: unexpected EOF
	// permanent    open /no/such/file: no such file or directory
	// canceled     context canceled
	// unknown      something else
}

// An implementation says what its own errors are where it returns them:
// unknown errors are neither retried nor counted against the breaker.
func ExampleTransient() {
	errBusy := errors.New("inventory busy")
	errInvalidSKU := errors.New("invalid SKU")
	for _, err := range []error{
		errBusy,
		runtime.Transient(fmt.Errorf("reserve: %w", errBusy)),
		runtime.Permanent(errInvalidSKU),
	} {
		fmt.Printf("%-9s %-40v errors.Is(err, errBusy) = %v\n", runtime.Classify(err), err, errors.Is(err, errBusy))
	}
	// Output:
	// unknown   inventory busy                           errors.Is(err, errBusy) = true
	// transient reserve: inventory busy                  errors.Is(err, errBusy) = true
	// permanent invalid SKU                              errors.Is(err, errBusy) = false
}

func ExampleParseRetryAfter() {
	now := time.Date(2015, time.October, 21, 7, 0, 0, 0, time.UTC)
	for _, v := range []string{"120", "Wed, 21 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 06:00:00 GMT", "soon"} {
		d, ok := runtime.ParseRetryAfter(v, now)
		fmt.Printf("%q: %v %v\n", v, d, ok)
	}
	// Output:
	// "120": 2m0s true
	// "Wed, 21 Oct 2015 07:28:00 GMT": 28m0s true
	// "Wed, 21 Oct 2015 06:00:00 GMT": 0s true
	// "soon": 0s false
}

func ExampleConfig_Apply() {
	var cfg runtime.Config // zero: resgen's defaults
	for _, s := range []runtime.Setting{
		{Policy: "retry", Key: "max_attempts", Value: "5"},
		{Policy: "retry", Key: "initial_delay", Value: "200ms"},
		{Policy: "rate_limit", Value: "off"},
		{Policy: "retry", Key: "max_attempt", Value: "7"},
		{Policy: "circuit_breaker", Key: "failure_threshold", Value: "0"},
	} {
		if err := cfg.Apply(s); err != nil {
			fmt.Println("error:", err)
		}
	}
	fmt.Println("max_attempts:", cfg.Retry.MaxAttempts)
	fmt.Println("initial_delay:", cfg.Retry.InitialDelay)
	fmt.Println("rate limit off:", cfg.RateLimit.Disabled)
	fmt.Println("max_delay after Normalize:", cfg.Normalize().Retry.MaxDelay)

	// Apply checks each value; Validate checks the whole Config and
	// reports every problem at once.
	cfg.Retry.MaxDelay = 100 * time.Millisecond
	cfg.Retry.BackoffMultiplier = 0.5
	err := cfg.Validate()
	fmt.Println(err)
	var fe *runtime.FieldError
	if errors.As(err, &fe) {
		fmt.Println("first field:", fe.Field)
	}
	// Output:
	// error: unknown key "max_attempt" for retry (did you mean "max_attempts"?)
	// error: circuit_breaker.failure_threshold: must be at least 1, not 0
	// max_attempts: 5
	// initial_delay: 200ms
	// rate limit off: true
	// max_delay after Normalize: 1m0s
	// retry.max_delay: 100ms is less than retry.initial_delay 200ms
	// retry.backoff_multiplier: must be at least 1, not 0.5
	// first field: retry.max_delay
}

func ExampleRetryError() {
	// What a wrapper's method returns when it gives up after retries, here
	// because the breaker opened before its fourth attempt.
	var err error = &runtime.RetryError{
		Method:   "ResilientOrders.Get",
		Attempts: 3,
		Err:      fmt.Errorf("get order 7: %w", &apiError{Status: 503}),
		Stop:     runtime.ErrCircuitOpen,
	}
	fmt.Println(err)

	var api *apiError
	if errors.As(err, &api) {
		fmt.Println("last status:", api.StatusCode())
	}
	fmt.Println("circuit open:", errors.Is(err, runtime.ErrCircuitOpen))
	fmt.Println("rate limited:", errors.Is(err, runtime.ErrRateLimited))
	var re *runtime.RetryError
	if errors.As(err, &re) {
		fmt.Println("attempts:", re.Attempts)
	}
	// Output:
	// ResilientOrders.Get: giving up after 3 attempts (resgen: circuit breaker is open): get order 7: api: status 503
	// last status: 503
	// circuit open: true
	// rate limited: false
	// attempts: 3
}

// A concurrency limit that drops: the second attempt in flight is turned
// away with an error that names the limit and errors.Is
// ErrConcurrencyLimit. Generated code makes these calls; a test or a
// hand-written wrapper can too.
func ExampleConcurrencyError() {
	m, err := resgenimpl.NewManager(struct{}{}, &resgenimpl.Spec{Wrapper: "ResilientStore", Methods: []resgenimpl.MethodSpec{{
		Name: "Get",
		Config: runtime.Config{Concurrency: runtime.ConcurrencyConfig{
			MaxInFlight: 1, Fixed: true, Strategy: runtime.StrategyDrop,
		}},
	}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	get := m.Method(0)
	ctx := context.Background()
	var first, second resgenimpl.Call
	fmt.Println(get.Admit(ctx, &first)) // the one slot
	err = get.Admit(ctx, &second)
	fmt.Println(errors.Is(err, runtime.ErrConcurrencyLimit), err)
	get.Success(&first) // gives the slot back
	fmt.Println(get.Admit(ctx, &second))
	get.End(&second)
	// Output:
	// <nil>
	// true resgen: concurrency limit of ResilientStore.Get reached: 1 in flight
	// <nil>
}
