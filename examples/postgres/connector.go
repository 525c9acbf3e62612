package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Config says where a Connector's table is and how it connects.
type Config struct {
	// DSN is the database's connection string (a postgres:// URL or
	// key=value pairs, as pgxpool.ParseConfig reads them); empty means
	// libpq's defaults and PG* environment variables.
	DSN string
	// Table is the catalog's table, in the connection's current schema.
	// It has the columns id (bigint), name (text) and price_cents
	// (bigint) when the connector starts; they may be renamed later.
	Table string
	// ApplicationName is set on every connection of the pool, so that
	// its backends can be told apart in pg_stat_activity. Empty: the
	// DSN's, or none.
	ApplicationName string
	// MaxConns is the pool's size; 0 means pgxpool's default.
	MaxConns int32
}

// Connector is the Catalog over a pgxpool.Pool: the connector itself,
// with no resilience of its own. One attempt is one query; errors are
// pgx's (*pgconn.PgError, with SQLState, and network errors), which
// runtime.Classify understands.
//
// It has the recovery hooks that the generated wrapper looks for:
//
//   - Reconnect, on a connection error (a backend terminated, a broken
//     socket): it closes every connection of the pool and checks that a
//     new one can be made;
//   - AdaptSchema, on a schema error: when a column was renamed (SQLSTATE
//     42703, undefined_column), it finds the column's new name in
//     information_schema and switches its queries to it;
//   - Ping, which probes the database while the wrapper's breaker is open.
//
// Host returns the server's host:port, the key of the per-host rate
// limit. Connect builds a Connector; its zero value is not usable. A
// Connector is safe for concurrent use.
type Connector struct {
	pool  *pgxpool.Pool
	host  string
	table string
	cols  atomic.Pointer[columns]
	mu    sync.Mutex // serializes schema resolution

	reconnects  atomic.Int64
	adaptations atomic.Int64
}

var _ Catalog = (*Connector)(nil)

// logical are the columns the connector reads, by the names they had when
// it started. It knows them after that by their position in the table
// (pg_attribute.attnum, information_schema's ordinal_position), which a
// rename keeps.
var logical = [...]string{"id", "name", "price_cents"}

// columns is the physical side of the logical columns, and the queries
// written with their current names.
type columns struct {
	names [len(logical)]string // the current name of each logical column
	pos   [len(logical)]int    // its ordinal position
	types [len(logical)]string // its data type, which a rename keeps

	get, list, stream string
}

// Connect opens a pool on cfg.DSN and reads the table's columns.
func Connect(ctx context.Context, cfg Config) (*Connector, error) {
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, err
	}
	if cfg.ApplicationName != "" {
		pc.ConnConfig.RuntimeParams["application_name"] = cfg.ApplicationName
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, err
	}
	c := &Connector{
		pool:  pool,
		host:  net.JoinHostPort(pc.ConnConfig.Host, strconv.Itoa(int(pc.ConnConfig.Port))),
		table: cfg.Table,
	}
	found, err := c.readColumns(ctx)
	if err != nil {
		pool.Close()
		return nil, err
	}
	var cols columns
	for i, name := range logical {
		col, ok := found.byName[name]
		if !ok {
			pool.Close()
			return nil, fmt.Errorf("table %q has no column %q", cfg.Table, name)
		}
		cols.names[i], cols.pos[i], cols.types[i] = name, col.pos, col.typ
	}
	c.cols.Store(c.queries(cols))
	return c, nil
}

// Host returns the server's host:port.
func (c *Connector) Host() string { return c.host }

// Close closes the pool, and waits for its connections to close.
func (c *Connector) Close() { c.pool.Close() }

// Columns returns the current names of the columns id, name and
// price_cents.
func (c *Connector) Columns() []string {
	cols := c.cols.Load()
	return cols.names[:]
}

// Reconnects returns how many Reconnect calls succeeded.
func (c *Connector) Reconnects() int64 { return c.reconnects.Load() }

// Adaptations returns how many AdaptSchema calls switched the queries to
// new column names.
func (c *Connector) Adaptations() int64 { return c.adaptations.Load() }

// GetItem returns the item with the given id, or ErrNotFound.
func (c *Connector) GetItem(ctx context.Context, id int64) (Item, error) {
	var it Item
	err := c.pool.QueryRow(ctx, c.cols.Load().get, id).Scan(&it.ID, &it.Name, &it.PriceCents)
	if errors.Is(err, pgx.ErrNoRows) {
		return Item{}, fmt.Errorf("item %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Item{}, fmt.Errorf("item %d: %w", id, err)
	}
	return it, nil
}

// ListItems returns at most limit items whose id is above afterID, by id.
func (c *Connector) ListItems(ctx context.Context, afterID int64, limit int) ([]Item, error) {
	rows, err := c.pool.Query(ctx, c.cols.Load().list, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list items: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Item, error) { return ScanItem(row) })
	if err != nil {
		return nil, fmt.Errorf("list items: %w", err)
	}
	return items, nil
}

// StreamItems returns the rows of at most limit items whose id is above
// afterID, by id. The caller must close them.
//
// pgx's Query returns no error when the server answers the query with one
// (a terminated backend's FATAL, an undefined column of a prepared
// statement): the rows report it, from their first Next. So StreamItems
// reads the first row before it returns, and returns the query's error
// itself, where the wrapper can reconnect, adapt and retry; the rows it
// returns give that row first.
func (c *Connector) StreamItems(ctx context.Context, afterID int64, limit int) (pgx.Rows, error) {
	rows, err := c.pool.Query(ctx, c.cols.Load().stream, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("stream items: %w", err)
	}
	first := rows.Next()
	if !first {
		if err := rows.Err(); err != nil {
			rows.Close()
			return nil, fmt.Errorf("stream items: %w", err)
		}
	}
	return &peekedRows{Rows: rows, first: first}, nil
}

// peekedRows is pgx.Rows whose first row StreamItems has read ahead.
type peekedRows struct {
	pgx.Rows
	first bool // the row read ahead is yet to be returned by Next
}

// Next moves to the row read ahead, then to the following ones.
func (r *peekedRows) Next() bool {
	if r.first {
		r.first = false
		return true
	}
	return r.Rows.Next()
}

// Reconnect replaces every connection of the pool: the idle ones are
// closed at once, those in use when their query ends (pgxpool's Reset,
// safe while queries run). Then it checks that a new connection can be
// made and answers. The wrapper calls it after a connection error, once
// for all the calls that failed together.
func (c *Connector) Reconnect(ctx context.Context) error {
	c.pool.Reset()
	if err := c.pool.Ping(ctx); err != nil {
		return fmt.Errorf("reconnect: %w", err)
	}
	c.reconnects.Add(1)
	return nil
}

// Ping checks that the database answers, on a connection of the pool.
func (c *Connector) Ping(ctx context.Context) error { return c.pool.Ping(ctx) }

// AdaptSchema follows a renamed column. On undefined_column (SQLSTATE
// 42703) it reads the table's columns from information_schema, finds each
// logical column at the position it had (a rename keeps a column's
// position and type), and switches the queries to the names found there.
// Any other schema error, a column gone from its position or changed in
// type, or no name that changed, is an error: nothing was adapted, and the
// wrapper returns the query's error.
func (c *Connector) AdaptSchema(ctx context.Context, cause error) error {
	var pe *pgconn.PgError
	if !errors.As(cause, &pe) || pe.Code != "42703" {
		return fmt.Errorf("adapt schema: only renamed columns are followed: %w", cause)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	found, err := c.readColumns(ctx)
	if err != nil {
		return fmt.Errorf("adapt schema: %w", err)
	}
	cur := c.cols.Load()
	next := *cur
	for i, name := range logical {
		col, ok := found.byPos[cur.pos[i]]
		if !ok || col.typ != cur.types[i] {
			return fmt.Errorf("adapt schema: column %q (was %q, position %d) was dropped or changed type: %w",
				name, cur.names[i], cur.pos[i], cause)
		}
		next.names[i] = col.name
	}
	if next.names == cur.names {
		return fmt.Errorf("adapt schema: no column of %q was renamed: %w", c.table, cause)
	}
	c.cols.Store(c.queries(next))
	c.adaptations.Add(1)
	return nil
}

type column struct {
	name, typ string
	pos       int
}

type tableColumns struct {
	byName map[string]column
	byPos  map[int]column
}

// readColumns reads the table's columns from information_schema.
func (c *Connector) readColumns(ctx context.Context) (tableColumns, error) {
	rows, err := c.pool.Query(ctx, `SELECT column_name, data_type, ordinal_position
		FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1`, c.table)
	if err != nil {
		return tableColumns{}, fmt.Errorf("reading the columns of %q: %w", c.table, err)
	}
	cols, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (column, error) {
		var col column
		err := row.Scan(&col.name, &col.typ, &col.pos)
		return col, err
	})
	if err != nil {
		return tableColumns{}, fmt.Errorf("reading the columns of %q: %w", c.table, err)
	}
	if len(cols) == 0 {
		return tableColumns{}, fmt.Errorf("table %q not found", c.table)
	}
	t := tableColumns{byName: make(map[string]column, len(cols)), byPos: make(map[int]column, len(cols))}
	for _, col := range cols {
		t.byName[col.name], t.byPos[col.pos] = col, col
	}
	return t, nil
}

// queries writes the queries of cols.
func (c *Connector) queries(cols columns) *columns {
	q := func(name string) string { return pgx.Identifier{name}.Sanitize() }
	id, sel := q(cols.names[0]), q(cols.names[0])+", "+q(cols.names[1])+", "+q(cols.names[2])
	from := " FROM " + q(c.table)
	cols.get = "SELECT " + sel + from + " WHERE " + id + " = $1"
	cols.list = "SELECT " + sel + from + " WHERE " + id + " > $1 ORDER BY " + id + " LIMIT $2"
	cols.stream = cols.list
	return &cols
}
