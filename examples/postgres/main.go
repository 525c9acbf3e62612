package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/resgen-dev/resgen/internal/testenv"
	"github.com/resgen-dev/resgen/runtime"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// demoScale scales the database profile's time values down for the demo
// and the tests: initial_delay 1s → 5ms, max_delay 60s → 100ms,
// recovery_timeout 30s → 1s, recovery_check_interval 30s → 250ms. With
// backends killed every 250ms, a retry that waited the profile's second
// would meet the next kill as often as not. Attempts, thresholds and rate
// limits are left as the directives say.
var demoScale = runtime.Settings{
	{Policy: "retry", Key: "initial_delay", Value: "5ms"},
	{Policy: "retry", Key: "max_delay", Value: "100ms"},
	{Policy: "circuit_breaker", Key: "recovery_timeout", Value: "1s"},
	{Policy: "recovery", Key: "recovery_check_interval", Value: "250ms"},
}

// recoveries counts the wrapper's recovery events and breaker transitions.
// It is called synchronously by every goroutine: it only adds.
type recoveries struct {
	reconnects, reconnectsFailed atomic.Int64
	adapted, adaptFailed         atomic.Int64
	retries, pings               atomic.Int64

	mu          sync.Mutex
	transitions []string
}

func (r *recoveries) Observe(e runtime.Event) {
	switch e.Kind {
	case runtime.EventRetry:
		r.retries.Add(1)
	case runtime.EventRecovery:
		switch {
		case e.Action == "reconnect" && e.OK:
			r.reconnects.Add(1)
		case e.Action == "reconnect":
			r.reconnectsFailed.Add(1)
		case e.Action == "adapt_schema" && e.OK:
			r.adapted.Add(1)
		case e.Action == "adapt_schema":
			r.adaptFailed.Add(1)
		case e.Action == "ping":
			r.pings.Add(1)
		}
	case runtime.EventStateChange:
		r.mu.Lock()
		r.transitions = append(r.transitions, e.From.String()+" → "+e.To.String())
		r.mu.Unlock()
	}
}

func (r *recoveries) breaker() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.transitions...)
}

// run is the demo: flags in, report out, exit code back.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("postgres", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("dsn", testenv.PostgresDSN(), "the database's connection string")
	duration := fs.Duration("duration", 4*time.Second, "how long the workers read")
	workers := fs.Int("workers", 6, "goroutines reading")
	killEvery := fs.Duration("kill-every", 250*time.Millisecond, "how often the connector's backends are killed (0: never)")
	rename := fs.Bool("rename", true, "rename the column name to title halfway through")
	verbose := fs.Bool("v", false, "log every resilience action to stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *workers < 1 || *duration <= 0 || *killEvery < 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "postgres: -workers and -duration must be positive, -kill-every not negative; no arguments")
		return 2
	}

	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	admin, err := pgx.Connect(cctx, *dsn)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "postgres: cannot reach PostgreSQL at %s: %v\n", redact(*dsn), err)
		fmt.Fprintln(stderr, "postgres: the demo needs a server; start one, or point -dsn (or RESGEN_POSTGRES_DSN) at one")
		return 1
	}
	defer admin.Close(context.Background())

	// A table and an application_name of the demo's own, so that only its
	// backends are killed and nothing else in the database is touched.
	name := fmt.Sprintf("resgen_demo_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6)
	const items = 1000
	if err := createTable(ctx, admin, name, items); err != nil {
		fmt.Fprintln(stderr, "postgres:", err)
		return 1
	}
	defer func() {
		if err := dropTable(context.Background(), admin, name); err != nil {
			fmt.Fprintln(stderr, "postgres:", err)
		}
	}()
	conn, err := Connect(ctx, Config{DSN: *dsn, Table: name, ApplicationName: name, MaxConns: int32(*workers) + 2})
	if err != nil {
		fmt.Fprintln(stderr, "postgres:", err)
		return 1
	}
	defer conn.Close()

	obs := new(recoveries)
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cat, err := NewResilientCatalog(conn, runtime.WithConfig(demoScale), runtime.WithObserver(obs), runtime.WithLogger(logger))
	if err != nil {
		fmt.Fprintln(stderr, "postgres:", err)
		return 1
	}
	defer cat.Resilience().Close()
	cfg, _ := cat.Resilience().Config("GetItem")

	fmt.Fprintf(stdout, "resgen demo: a PostgreSQL connector (pgx v5, pgxpool) under faults (examples/postgres)\n\n")
	fmt.Fprintf(stdout, "database  %s, table %s (%d items), application_name %s\n", redact(*dsn), name, items, name)
	if *killEvery > 0 {
		fmt.Fprintf(stdout, "          every %v, a second connection kills the connector's backends (pg_terminate_backend)\n", *killEvery)
	}
	if *rename {
		fmt.Fprintf(stdout, "          after %v, it renames the column name to title (ALTER TABLE ... RENAME COLUMN)\n", *duration/2)
	}
	fmt.Fprintf(stdout, "client    ResilientCatalog, database profile: max_attempts %d, failure_threshold %d, timeout %v per attempt,\n",
		cfg.Retry.MaxAttempts, cfg.CircuitBreaker.FailureThreshold, cfg.Timeout.Duration)
	fmt.Fprintf(stdout, "          rate limit %d requests/min burst %d per host, max_recovery_attempts %d;\n",
		cfg.RateLimit.MaxRequestsPerMinute, cfg.RateLimit.BurstSize, cfg.Recovery.MaxAttempts)
	fmt.Fprintf(stdout, "          Connector.Reconnect on connection errors, Connector.AdaptSchema on schema errors, Ping probes\n")
	fmt.Fprintf(stdout, "          time values scaled for the demo with runtime.WithConfig: initial_delay 1s → %v, max_delay 60s → %v,\n",
		cfg.Retry.InitialDelay, cfg.Retry.MaxDelay)
	fmt.Fprintf(stdout, "          recovery_timeout 30s → %v, recovery_check_interval 30s → %v\n",
		cfg.CircuitBreaker.RecoveryTimeout, cfg.Recovery.CheckInterval)
	fmt.Fprintf(stdout, "\nreading from %d goroutines for %v (Ctrl-C stops early)\n", *workers, *duration)

	ch := chaos{App: name, KillEvery: *killEvery, Table: name, From: "name", To: "title"}
	if *rename {
		ch.RenameAfter = *duration / 2
	}
	stopChaos := ch.start(admin)

	var progress atomic.Int64
	stopProgress := startProgress(stdout, &progress, conn, obs)
	rep := runLoad(ctx, cat, *workers, *duration, items, &progress)
	chRep := stopChaos()
	stopProgress()

	summarize(stdout, rep, chRep, conn, cat, obs)
	heap := measureHeap(conn, 2000)
	fmt.Fprintf(stdout, "\nResilience state on the heap (runtime.ReadMemStats around 2000 wrappers of this connector)\n")
	fmt.Fprintf(stdout, "  %.0f bytes per ResilientCatalog (3 methods): %.0f per method, %.0f for the rest\n",
		heap.PerWrapper, heap.PerMethod, heap.Fixed)
	fmt.Fprintf(stdout, "  %.3f%% of this process's heap after the run (%.1f MiB in use)\n",
		100*heap.PerWrapper/float64(heap.ProcessHeap), float64(heap.ProcessHeap)/(1<<20))
	if chRep.Err != nil {
		fmt.Fprintln(stderr, "postgres: the chaos connection failed:", chRep.Err)
		return 1
	}
	return 0
}

// redact returns dsn without its password.
func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxx")
		}
		return u.String()
	}
	return dsn
}

// startProgress prints a progress line every second until the returned
// func is called.
func startProgress(w io.Writer, reads *atomic.Int64, conn *Connector, obs *recoveries) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fmt.Fprintf(w, "  %4.1fs  reads %7d  retries %4d  reconnects %3d  schema adaptations %d  columns %s\n",
					time.Since(start).Seconds(), reads.Load(), obs.retries.Load(), obs.reconnects.Load(),
					obs.adapted.Load(), strings.Join(conn.Columns(), ","))
			case <-done:
				return
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

func summarize(w io.Writer, rep *loadReport, ch chaosReport, conn *Connector, cat *ResilientCatalog, obs *recoveries) {
	reads, failed := rep.total()
	fmt.Fprintf(w, "\nSummary after %v\n", rep.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "  success rate       %.3f%%: %d of %d reads succeeded, %d failed\n",
		100*rep.SuccessRate(), reads-failed, reads, failed)
	for op := range numOps {
		fmt.Fprintf(w, "                     %-11s %7d reads, %d failed\n", opNames[op], rep.Reads[op], rep.Failed[op])
	}
	if rep.StreamRowFails > 0 {
		fmt.Fprintf(w, "                     (%d StreamItems failures came while reading rows, after the wrapper had returned)\n",
			rep.StreamRowFails)
	}
	fmt.Fprintf(w, "  backends killed    %d, in %d runs of pg_terminate_backend\n", ch.Kills, ch.KillRuns)
	if ch.Renamed {
		fmt.Fprintf(w, "  column renamed     name → title at %v; the connector now reads columns %s\n",
			ch.RenamedAt.Round(time.Millisecond), strings.Join(conn.Columns(), ", "))
	}
	fmt.Fprintf(w, "  reconnects         %d (%d failed); Connector.Reconnect succeeded %d times\n",
		obs.reconnects.Load(), obs.reconnectsFailed.Load(), conn.Reconnects())
	fmt.Fprintf(w, "  schema adaptations %d (%d failed); Connector.AdaptSchema switched names %d times\n",
		obs.adapted.Load(), obs.adaptFailed.Load(), conn.Adaptations())
	if tr := obs.breaker(); len(tr) == 0 {
		fmt.Fprintf(w, "  breaker            closed throughout\n")
	} else {
		fmt.Fprintf(w, "  breaker            %s (%d health probes)\n", strings.Join(tr, ", "), obs.pings.Load())
	}
	if errs := rep.topErrors(3); len(errs) > 0 {
		fmt.Fprintf(w, "  errors             %s\n", strings.Join(errs, "\n                     "))
	}

	fmt.Fprintf(w, "\nResilientCatalog.Resilience().Metrics()\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "  method\tcalls\tsuccesses\tfailures\tafter retry\tretries\tfailed attempts\tretry delay\tdelayed\trecoveries ok/tried\ttime to recovery\t\n")
	for _, m := range cat.Resilience().Metrics() {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%d\t%d\t%v\t%d\t%d/%d\t%v\t\n",
			m.Method, m.Calls, m.Successes, m.Failures, m.SuccessesAfterRetry, m.RetryAttempts, m.FailedAttempts,
			m.RetryDelay.Round(time.Millisecond), m.Delayed, m.RecoveriesSucceeded, m.RecoveriesTried,
			m.TimeToRecovery.Round(10*time.Microsecond))
	}
	tw.Flush()
}
