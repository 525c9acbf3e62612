// Command postgres shows resgen on a PostgreSQL connector built on pgx v5:
// Catalog is the connector's interface, Connector its implementation over a
// *pgxpool.Pool, and ResilientCatalog (catalog_resilient.go, generated)
// wraps a Connector with the database profile: retry, a circuit breaker, a
// per-host rate limit, per-attempt timeouts, connection recovery
// (Connector.Reconnect), schema adaptation (Connector.AdaptSchema) and
// health probes (Connector.Ping).
//
// It needs a PostgreSQL server; by default the test database on
// 127.0.0.1:5432 as user postgres (RESGEN_POSTGRES_DSN overrides it):
//
//	go run ./examples/postgres
//
// The demo creates a table of its own, reads it from several goroutines
// for a few seconds while a second connection kills the connector's
// backends with pg_terminate_backend every few hundred milliseconds, and
// renames one of the table's columns halfway through; then it prints how
// many reads succeeded, how many reconnects and schema adaptations the
// wrapper ran, its metrics, and the heap its resilience state takes. It
// drops its table at the end. Flags:
//
//	-dsn URL         the database (default RESGEN_POSTGRES_DSN, or postgres://postgres@127.0.0.1:5432/test)
//	-duration D      how long the workers read (default 4s)
//	-workers N       goroutines reading (default 6)
//	-kill-every D    how often the connector's backends are killed (default 250ms; 0: never)
//	-rename=false    do not rename the column halfway through
//	-v               log every resilience action to stderr
//
// The database profile's delays are made for production (initial_delay
// 1s, recovery_timeout 30s); the demo scales them down with
// runtime.WithConfig so that it finishes in seconds, and says so.
package main

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

//go:generate go run github.com/resgen-dev/resgen/cmd/resgen -type Catalog

// Catalog is the item catalog of a shop, kept in one PostgreSQL table: the
// connector that resgen wraps.
//
// The database profile's rate limit (300 requests a minute) is a
// budget for a production database shared by many clients; this example's
// reads are cheap primary-key and range scans on one local server, so its
// limit is raised to what such a server takes without trouble. It is
// still shared by every wrapper of the process that talks to the same
// Host().
//
//resgen:profile database
//resgen:rate_limit max_requests_per_minute=600000 burst_size=1000
//resgen:timeout 5s
type Catalog interface {
	// GetItem returns the item with the given id, or ErrNotFound.
	//
	//resgen:circuit_breaker excluded_errors=ErrNotFound
	GetItem(ctx context.Context, id int64) (Item, error)

	// ListItems returns at most limit items whose id is above afterID, by
	// id.
	ListItems(ctx context.Context, afterID int64, limit int) ([]Item, error)

	// StreamItems returns the rows of at most limit items whose id is
	// above afterID, by id, as they arrive from the server: each row is
	// id, name, price_cents (ScanItem reads one). The caller must close
	// them. The rows use the context of the attempt that returned them,
	// so the wrapper lifts the attempt's timeout when it succeeds instead
	// of cancelling it (TimeoutKeep). The query's own errors are
	// StreamItems's, which the wrapper retries; an error while reading
	// the rows after the first comes after the wrapper has returned, and
	// is the caller's to handle.
	StreamItems(ctx context.Context, afterID int64, limit int) (pgx.Rows, error)

	// Close closes the connector's pool.
	//
	//resgen:skip
	Close()
}

// Item is an item of the catalog.
type Item struct {
	ID         int64
	Name       string
	PriceCents int64
}

// ErrNotFound is GetItem's error for an id that no item has: an answer,
// not a failure of the database, so it is neither retried nor counted by
// the circuit breaker.
var ErrNotFound = errors.New("item not found")

// ScanItem reads an item from a row of StreamItems (pgx.Rows is a pgx.Row).
func ScanItem(row pgx.Row) (Item, error) {
	var it Item
	err := row.Scan(&it.ID, &it.Name, &it.PriceCents)
	return it, err
}
