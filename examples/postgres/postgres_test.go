package main

// Against the real PostgreSQL server (internal/testenv: 127.0.0.1:5432,
// database test; skipped without it, a failure with
// RESGEN_INTEGRATION=require). Each test creates a table and an
// application_name of its own, so that it kills only its own backends,
// and drops the table at the end.
//
// The overhead against the unwrapped connector is BenchmarkOverhead:
//
//	go test -run '^$' -bench Overhead -benchtime 20000x -count 5 ./examples/postgres/

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/goleak"

	"github.com/resgen-dev/resgen/internal/testenv"
	"github.com/resgen-dev/resgen/runtime"
)

func TestMain(m *testing.M) {
	// Every test closes its pools (pgxpool's health-check goroutines) and
	// its wrappers: nothing may be left running.
	goleak.VerifyTestMain(m)
}

var uniq atomic.Int64

// fixture is a table of items 1..n, an admin connection to change it and
// kill backends, and a Connector of it with an application_name of its
// own.
type fixture struct {
	admin *pgx.Conn
	table string // also the connector's application_name
	conn  *Connector
}

func newFixture(t testing.TB, items int) *fixture {
	t.Helper()
	testenv.NeedService(t, "PostgreSQL", testenv.PostgresAddr)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, testenv.PostgresDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	f := &fixture{admin: admin, table: fmt.Sprintf("resgen_test_%d_%d", os.Getpid(), uniq.Add(1))}
	if err := dropTable(ctx, admin, f.table); err != nil { // a crashed earlier run's
		t.Fatal(err)
	}
	if err := createTable(ctx, admin, f.table, items); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := dropTable(context.Background(), admin, f.table); err != nil {
			t.Errorf("dropping %s: %v", f.table, err)
		}
	})
	f.conn, err = Connect(ctx, Config{DSN: testenv.PostgresDSN(), Table: f.table, ApplicationName: f.table, MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.conn.Close)
	return f
}

// wrap wraps the fixture's connector with the demo's time scale, quiet,
// then opts.
func (f *fixture) wrap(t testing.TB, opts ...runtime.Option) *ResilientCatalog {
	t.Helper()
	w, err := NewResilientCatalog(f.conn, append([]runtime.Option{runtime.WithConfig(demoScale), runtime.WithLogger(nil)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Resilience().Close)
	return w
}

// killBackends terminates the connector's backends, waits until they have
// exited (up to 5s), and returns how many there were.
func (f *fixture) killBackends(t *testing.T) int64 {
	t.Helper()
	var n int64
	err := f.admin.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000))
		FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`, f.table).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) exec(t *testing.T, sql string) {
	t.Helper()
	if _, err := f.admin.Exec(context.Background(), sql); err != nil {
		t.Fatal(err)
	}
}

func totals(w *ResilientCatalog) runtime.MethodMetrics {
	var sum runtime.MethodMetrics
	for _, m := range w.Resilience().Metrics() {
		sum.Calls += m.Calls
		sum.Successes += m.Successes
		sum.Failures += m.Failures
		sum.SuccessesAfterRetry += m.SuccessesAfterRetry
		sum.RetryAttempts += m.RetryAttempts
		sum.FailedAttempts += m.FailedAttempts
		sum.Rejected += m.Rejected
		sum.RecoveriesTried += m.RecoveriesTried
		sum.RecoveriesSucceeded += m.RecoveriesSucceeded
	}
	return sum
}

// TestDatabaseProfileInForce checks what the directives and the profile
// resolve to, and that the connector's hooks were found.
func TestDatabaseProfileInForce(t *testing.T) {
	w, err := NewResilientCatalog(&Connector{host: "db.example:5432"}, runtime.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := w.Resilience().Config("StreamItems")
	if cfg.Retry.MaxAttempts != 3 || cfg.Retry.InitialDelay != time.Second || cfg.CircuitBreaker.FailureThreshold != 5 ||
		cfg.CircuitBreaker.RecoveryTimeout != 30*time.Second || cfg.Timeout.Duration != 5*time.Second ||
		cfg.RateLimit.MaxRequestsPerMinute != 600000 || cfg.Recovery.DisableConnectionRecovery ||
		cfg.Recovery.DisableSchemaAdaptation {
		t.Errorf("StreamItems's configuration is not the database profile's with the interface's directives: %+v", cfg)
	}
	if _, ok := w.Resilience().Config("Close"); ok {
		t.Error("Close (resgen:skip) has a configuration")
	}
}

// TestReadsSurviveKilledBackendsAndRenamedColumn is resgen's proof on PostgreSQL:
// while workers read, a second connection kills the connector's backends
// every 250ms, and renames the column name halfway through. At least
// 99.9% of the reads succeed, through reconnects and one schema
// adaptation, all counted. The bare connector, under the same kills,
// fails reads: the kills reach it.
func TestReadsSurviveKilledBackendsAndRenamedColumn(t *testing.T) {
	if testing.Short() {
		t.Skip("reads under faults for seconds")
	}
	const items, workers = 1000, 6

	t.Run("bare connector fails", func(t *testing.T) {
		f := newFixture(t, items)
		stop := chaos{App: f.table, KillEvery: 250 * time.Millisecond}.start(f.admin)
		rep := runLoad(context.Background(), f.conn, workers, 1500*time.Millisecond, items, nil)
		ch := stop()
		reads, failed := rep.total()
		t.Logf("bare connector: %d of %d reads failed under %d kills", failed, reads, ch.Kills)
		if ch.Err != nil {
			t.Fatal(ch.Err)
		}
		if failed == 0 {
			t.Fatal("no read failed: the kills did not reach the connector, so the test proves nothing")
		}
	})

	t.Run("wrapped connector succeeds", func(t *testing.T) {
		f := newFixture(t, items)
		obs := new(recoveries)
		w := f.wrap(t, runtime.WithObserver(obs))
		stop := chaos{App: f.table, KillEvery: 250 * time.Millisecond,
			Table: f.table, From: "name", To: "title", RenameAfter: 2 * time.Second}.start(f.admin)
		rep := runLoad(context.Background(), w, workers, 4*time.Second, items, nil)
		ch := stop()
		if ch.Err != nil {
			t.Fatal(ch.Err)
		}

		reads, failed := rep.total()
		sum := totals(w)
		t.Logf("%d reads in %v: %.3f%% succeeded (%d failed, %d of them while reading streamed rows); %d backends killed in %d runs",
			reads, rep.Elapsed.Round(time.Millisecond), 100*rep.SuccessRate(), failed, rep.StreamRowFails, ch.Kills, ch.KillRuns)
		t.Logf("wrapper: %d retries, %d calls succeeded after a retry, %d/%d recoveries; observer: %d reconnects (%d failed), %d schema adaptations (%d failed); breaker %v",
			sum.RetryAttempts, sum.SuccessesAfterRetry, sum.RecoveriesSucceeded, sum.RecoveriesTried,
			obs.reconnects.Load(), obs.reconnectsFailed.Load(), obs.adapted.Load(), obs.adaptFailed.Load(), obs.breaker())
		for _, e := range rep.topErrors(5) {
			t.Logf("  %s", e)
		}

		if ch.Kills == 0 || !ch.Renamed {
			t.Fatalf("the chaos did not happen: %d backends killed, renamed %v", ch.Kills, ch.Renamed)
		}
		if reads < 1000 {
			t.Fatalf("only %d reads: too few to measure 99.9%%", reads)
		}
		if rate := rep.SuccessRate(); rate < 0.999 {
			t.Errorf("%.3f%% of reads succeeded, want at least 99.9%%", 100*rate)
		}
		for op := range numOps {
			if rep.Reads[op] == 0 {
				t.Errorf("no %s read was made", opNames[op])
			}
		}
		// Reconnects: counted by the observer, by the metrics and by the
		// connector itself.
		if obs.reconnects.Load() == 0 || f.conn.Reconnects() == 0 || sum.SuccessesAfterRetry == 0 {
			t.Errorf("reconnects not counted: observer %d, connector %d, successes after retry %d",
				obs.reconnects.Load(), f.conn.Reconnects(), sum.SuccessesAfterRetry)
		}
		if got := obs.reconnects.Load() + obs.adapted.Load(); sum.RecoveriesSucceeded != got {
			t.Errorf("metrics count %d successful recoveries, the observer %d", sum.RecoveriesSucceeded, got)
		}
		// The schema adaptation: at least once (a second wrapper of the
		// same connector, or a failed information_schema read under the
		// kills, may make another), counted, and in force.
		if obs.adapted.Load() < 1 || f.conn.Adaptations() < 1 {
			t.Errorf("schema adaptation not counted: observer %d, connector %d", obs.adapted.Load(), f.conn.Adaptations())
		}
		if got := f.conn.Columns(); got[1] != "title" {
			t.Errorf("the connector reads columns %v, want name renamed to title", got)
		}
	})
}

// TestReconnectAfterTerminate checks one reconnect, deterministically:
// every backend of the connector is killed, and the next read fails once,
// reconnects, and succeeds.
func TestReconnectAfterTerminate(t *testing.T) {
	f := newFixture(t, 10)
	obs := new(recoveries)
	w := f.wrap(t, runtime.WithObserver(obs))
	ctx := context.Background()
	if _, err := w.GetItem(ctx, 1); err != nil { // a connection in the pool
		t.Fatal(err)
	}
	if n := f.killBackends(t); n == 0 {
		t.Fatal("no backend to kill")
	}
	it, err := w.GetItem(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkItem(it, 2); err != nil {
		t.Fatal(err)
	}
	m, _ := w.Resilience().MethodMetrics("GetItem")
	if m.RetryAttempts != 1 || m.SuccessesAfterRetry != 1 || m.RecoveriesSucceeded != 1 || obs.reconnects.Load() != 1 ||
		f.conn.Reconnects() != 1 {
		t.Fatalf("want one retry after one reconnect: %+v; observer %d reconnects, connector %d",
			m, obs.reconnects.Load(), f.conn.Reconnects())
	}
}

// TestAdaptSchemaFollowsRenames checks schema adaptation without load: a
// renamed column is followed, twice; a dropped one is not, and the read
// fails at once with the database's error.
func TestAdaptSchemaFollowsRenames(t *testing.T) {
	f := newFixture(t, 10)
	obs := new(recoveries)
	w := f.wrap(t, runtime.WithObserver(obs))
	ctx := context.Background()
	q := pgx.Identifier{f.table}.Sanitize()

	for i, to := range []string{"title", "label"} {
		from := f.conn.Columns()[1]
		f.exec(t, `ALTER TABLE `+q+` RENAME COLUMN `+from+` TO `+to)
		list, err := w.ListItems(ctx, 0, 5)
		if err != nil {
			t.Fatalf("after renaming %s to %s: %v", from, to, err)
		}
		if err := checkItems(list, 1, 5, 10); err != nil {
			t.Fatal(err)
		}
		if got := f.conn.Columns()[1]; got != to {
			t.Fatalf("the connector reads %q, want %q", got, to)
		}
		if obs.adapted.Load() != int64(i+1) || f.conn.Adaptations() != int64(i+1) {
			t.Fatalf("after %d renames: observer %d adaptations, connector %d", i+1, obs.adapted.Load(), f.conn.Adaptations())
		}
	}
	// The other methods read the new names too, without adapting again.
	if _, err := w.GetItem(ctx, 3); err != nil {
		t.Fatal(err)
	}

	f.exec(t, `ALTER TABLE `+q+` DROP COLUMN price_cents`)
	before, _ := w.Resilience().MethodMetrics("GetItem")
	_, err := w.GetItem(ctx, 4)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42703" {
		t.Fatalf("GetItem after a dropped column: %v, want SQLSTATE 42703", err)
	}
	after, _ := w.Resilience().MethodMetrics("GetItem")
	if n := after.FailedAttempts - before.FailedAttempts; n != 1 {
		t.Errorf("a dropped column took %d attempts, want 1", n)
	}
	if obs.adaptFailed.Load() != 1 || f.conn.Adaptations() != 2 {
		t.Errorf("a dropped column: %d failed adaptations (want 1), connector adapted %d times (want 2)",
			obs.adaptFailed.Load(), f.conn.Adaptations())
	}
	if after.BreakerState != runtime.StateClosed {
		t.Errorf("breaker %v after schema errors, want closed: they are not the database's failures", after.BreakerState)
	}
}

// TestNotFoundIsAnAnswer checks that ErrNotFound (excluded_errors on
// GetItem) is returned at once and never opens the breaker.
func TestNotFoundIsAnAnswer(t *testing.T) {
	f := newFixture(t, 10)
	w := f.wrap(t)
	for range 20 {
		if _, err := w.GetItem(context.Background(), 1000); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetItem(1000): %v, want ErrNotFound", err)
		}
	}
	m, _ := w.Resilience().MethodMetrics("GetItem")
	if m.FailedAttempts != 20 || m.RetryAttempts != 0 || m.BreakerState != runtime.StateClosed {
		t.Fatalf("not-found reads were retried or opened the breaker: %+v", m)
	}
}

// TestStreamedRowsOutliveAttemptTimeout checks that StreamItems's rows
// stay readable after the attempt's timeout has passed: the wrapper lifts
// the timeout of a successful attempt (TimeoutKeep) instead of cancelling
// the context the rows read with.
func TestStreamedRowsOutliveAttemptTimeout(t *testing.T) {
	const items = 20000 // more than the socket buffers hold: reading them needs the connection
	f := newFixture(t, items)
	w := f.wrap(t, runtime.WithConfig(runtime.Settings{{Policy: "timeout", Key: "duration", Value: "100ms"}}))
	rows, err := w.StreamItems(context.Background(), 0, items)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	time.Sleep(300 * time.Millisecond) // the attempt's 100ms timeout passes while the caller holds the rows
	n := 0
	for rows.Next() {
		it, err := ScanItem(rows)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkItem(it, int64(n+1)); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if err := rows.Err(); err != nil || n != items {
		t.Fatalf("read %d of %d rows: %v", n, items, err)
	}
}

// TestResilienceHeap measures the heap that the resilience state adds:
// per wrapper and per method.
func TestResilienceHeap(t *testing.T) {
	h := measureHeap(&Connector{host: testenv.PostgresAddr}, 5000)
	t.Logf("ResilientCatalog: %.0f bytes per wrapper (%d methods): %.0f per method, %.0f fixed",
		h.PerWrapper, len(resilientCatalogSpec.Methods), h.PerMethod, h.Fixed)
	if h.PerWrapper <= 0 || h.PerMethod <= 0 || h.PerWrapper > 64<<10 {
		t.Errorf("implausible figures: %+v", h)
	}
}

func TestRunDemo(t *testing.T) {
	testenv.NeedService(t, "PostgreSQL", testenv.PostgresAddr)
	var out, errs bytes.Buffer
	code := run(context.Background(), []string{"-duration", "1500ms", "-workers", "4"}, &out, &errs)
	t.Log(out.String())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	for _, want := range []string{"success rate", "backends killed", "column renamed     name → title",
		"reads columns id, title, price_cents", "bytes per ResilientCatalog"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the summary lacks %q", want)
		}
	}
}

func TestRunDemoWithoutServer(t *testing.T) {
	var out, errs bytes.Buffer
	code := run(context.Background(), []string{"-dsn", "postgres://postgres@127.0.0.1:1/test?connect_timeout=2"}, &out, &errs)
	if code != 1 || !strings.Contains(errs.String(), "cannot reach PostgreSQL at") {
		t.Fatalf("exit %d, stderr %q: want 1 and a clear message", code, errs.String())
	}
}
