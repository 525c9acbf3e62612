// Package inventory is the connector of the status page example: Inventory
// is its interface, Warehouse a fake implementation whose outages can be
// switched on and off, and ResilientInventory (inventory_resilient.go,
// generated) wraps it with retry, a circuit breaker, a rate limit and
// per-attempt timeouts. The example's command and the browser test of
// runtime/statusz both drive it.
package inventory

import (
	"context"
	"errors"
	"sync/atomic"
)

//go:generate go run github.com/resgen-dev/resgen/cmd/resgen -type Inventory

// Inventory is a warehouse's stock API, the connector that resgen wraps.
//
// The breaker opens after three failed calls and lets a probe through two
// seconds later, so that a demo sees it open and close in seconds.
//
//resgen:retry max_attempts=2 initial_delay=10ms max_delay=50ms
//resgen:circuit_breaker failure_threshold=3 recovery_timeout=2s success_threshold=1
//resgen:rate_limit max_requests_per_minute=6000 burst_size=50 per_host=false
//resgen:timeout 1s
//resgen:recovery off
type Inventory interface {
	// Stock returns how many items of sku the warehouse holds.
	Stock(ctx context.Context, sku string) (int, error)

	// Reserve sets n items of sku aside for an order.
	Reserve(ctx context.Context, sku string, n int) error
}

// ErrUnknownSKU is the answer for a sku the warehouse does not stock: the
// caller's mistake (404), which the breaker does not count.
var ErrUnknownSKU = &StatusError{Code: 404, Msg: "unknown sku"}

// StatusError is an error answer of the warehouse, with its HTTP status.
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string { return e.Msg }

// StatusCode returns the answer's HTTP status, which resgen classifies.
func (e *StatusError) StatusCode() int { return e.Code }

// Warehouse is a fake Inventory held in memory. While it is down (SetDown)
// every call fails with 500: a warehouse that is down, not one that is
// busy (a lone 503 opens no breaker until its streak has lasted 100ms).
type Warehouse struct {
	down  atomic.Bool
	calls atomic.Int64
}

// SetDown starts (true) or ends (false) an outage.
func (w *Warehouse) SetDown(down bool) { w.down.Store(down) }

// Calls returns the number of calls that reached the warehouse.
func (w *Warehouse) Calls() int64 { return w.calls.Load() }

var errUnavailable = &StatusError{Code: 500, Msg: "warehouse down (500)"}

func (w *Warehouse) answer(sku string) error {
	w.calls.Add(1)
	if w.down.Load() {
		return errUnavailable
	}
	if sku == "" || sku[0] == '?' {
		return ErrUnknownSKU
	}
	return nil
}

// Stock returns 42 for any sku but an unknown one (empty, or starting
// with '?').
func (w *Warehouse) Stock(_ context.Context, sku string) (int, error) {
	if err := w.answer(sku); err != nil {
		return 0, err
	}
	return 42, nil
}

// Reserve succeeds for any sku but an unknown one.
func (w *Warehouse) Reserve(_ context.Context, sku string, n int) error {
	if n <= 0 {
		return errors.New("inventory: reserve needs a positive count")
	}
	return w.answer(sku)
}
