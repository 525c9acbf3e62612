// Command httpapi shows resgen on a REST connector, modelled on a
// Shopify-like store API: Shop is the connector's interface, Client its
// implementation over net/http, and ResilientShop (shop_resilient.go,
// generated) wraps a Client with retry, a circuit breaker, a per-host rate
// limit, per-attempt timeouts and credential refresh.
//
// Run it with nothing to install:
//
//	go run ./examples/httpapi
//
// It starts a fault-injecting orders API on 127.0.0.1 (server.go) that
// fails 20% of requests with 503, enforces its own rate limit with 429 and
// Retry-After, and expires its bearer tokens every few seconds; drives the
// wrapped client from several goroutines; and prints what the wrapper did:
// success rate, attempts, retries, 429s, credential refreshes, breaker
// transitions, rate-limit delays and the wrapper's metrics. Flags:
//
//	-calls N           calls to make (default 1500)
//	-workers N         goroutines making them (default 8)
//	-fail-rate F       share of API requests the server fails with 503 (default 0.2)
//	-token-lifetime D  how long the server's bearer tokens last (default 2s)
//	-server-rps R      the server's own rate limit, requests per second (default 200)
//	-outage D          take the server down for D halfway through, to see the breaker open
//	-duration D        stop after D whatever is left (default 60s)
//	-v                 log every resilience action to stderr
//
// The api profile's delays are made for real APIs (initial_delay 2s,
// recovery_timeout 60s). So that the demo finishes in seconds, it scales
// them at run time with runtime.WithConfig, and says so.
package main

import (
	"context"
	"time"
)

//go:generate go run github.com/resgen-dev/resgen/cmd/resgen -type Shop

// Shop is the orders API of a shop, the connector that resgen wraps.
//
// Every attempt, retries included, takes a token of the per-host rate
// limit, shared by every wrapper of the process that talks to the same
// Host(). The limit sits below the server's (server.go: 200 requests per
// second, burst 40), so that the server never has to answer 429.
//
//resgen:profile api
//resgen:rate_limit max_requests_per_minute=9000 burst_size=20
//resgen:timeout 5s
type Shop interface {
	// ListOrders returns the orders created after since, oldest first, at
	// most 50 of them.
	ListOrders(ctx context.Context, since time.Time) ([]Order, error)

	// GetOrder returns the order with the given id.
	GetOrder(ctx context.Context, id int64) (Order, error)

	// CreateOrder creates an order. It is safe to retry: the server
	// creates at most one order per IdempotencyKey, and answers a repeated
	// request with the order it created the first time.
	CreateOrder(ctx context.Context, o NewOrder) (Order, error)

	// Close releases the client's idle connections.
	//
	//resgen:skip
	Close() error
}

// Order is an order of the shop.
type Order struct {
	ID         int64     `json:"id"`
	Customer   string    `json:"customer"`
	TotalCents int64     `json:"total_cents"`
	CreatedAt  time.Time `json:"created_at"`
}

// NewOrder is what CreateOrder sends.
type NewOrder struct {
	// IdempotencyKey identifies the order across retries: the same key
	// never creates two orders. It is sent as the Idempotency-Key header.
	IdempotencyKey string `json:"-"`
	Customer       string `json:"customer"`
	TotalCents     int64  `json:"total_cents"`
}
