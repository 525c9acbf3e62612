package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// createTable creates the catalog's table with items 1..n: item i is
// named "item-i" and costs i×100 cents.
func createTable(ctx context.Context, admin *pgx.Conn, table string, n int) error {
	t := pgx.Identifier{table}.Sanitize()
	_, err := admin.Exec(ctx, `CREATE TABLE `+t+` (id bigint PRIMARY KEY, name text NOT NULL, price_cents bigint NOT NULL)`)
	if err != nil {
		return fmt.Errorf("creating %s: %w", table, err)
	}
	_, err = admin.Exec(ctx, `INSERT INTO `+t+` SELECT i, 'item-' || i, i * 100 FROM generate_series(1, $1::bigint) AS i`, n)
	if err != nil {
		return fmt.Errorf("filling %s: %w", table, err)
	}
	return nil
}

// dropTable drops the table, if it is there.
func dropTable(ctx context.Context, admin *pgx.Conn, table string) error {
	_, err := admin.Exec(ctx, `DROP TABLE IF EXISTS `+pgx.Identifier{table}.Sanitize())
	return err
}

// chaos is what happens to the connector while the workers read.
type chaos struct {
	// App is the connector's application_name: every backend with it is
	// terminated every KillEvery (0: never).
	App       string
	KillEvery time.Duration
	// Table's column From is renamed To after RenameAfter (0: never).
	Table, From, To string
	RenameAfter     time.Duration
}

// chaosReport says what the chaos did.
type chaosReport struct {
	Kills     int64 // backends terminated
	KillRuns  int64 // times pg_terminate_backend ran
	RenamedAt time.Duration
	Renamed   bool
	Err       error // the first error of the admin connection
}

// run kills and renames through admin until stop is closed. Its queries
// do not take stop as a context: pgx closes a connection whose query is
// cancelled, and the admin connection outlives the chaos.
func (ch chaos) run(stop <-chan struct{}, admin *pgx.Conn) chaosReport {
	var rep chaosReport
	start := time.Now()
	var kill <-chan time.Time
	if ch.KillEvery > 0 {
		t := time.NewTicker(ch.KillEvery)
		defer t.Stop()
		kill = t.C
	}
	var rename <-chan time.Time
	if ch.RenameAfter > 0 {
		t := time.NewTimer(ch.RenameAfter)
		defer t.Stop()
		rename = t.C
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		var err error
		select {
		case <-stop:
			return rep
		case <-kill:
			var n int64
			err = admin.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
				FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`, ch.App).Scan(&n)
			if err != nil {
				err = fmt.Errorf("pg_terminate_backend: %w", err)
				break
			}
			rep.Kills += n
			rep.KillRuns++
		case <-rename:
			_, err = admin.Exec(ctx, `ALTER TABLE `+pgx.Identifier{ch.Table}.Sanitize()+
				` RENAME COLUMN `+pgx.Identifier{ch.From}.Sanitize()+` TO `+pgx.Identifier{ch.To}.Sanitize())
			if err != nil {
				err = fmt.Errorf("renaming %s to %s: %w", ch.From, ch.To, err)
				break
			}
			rep.Renamed, rep.RenamedAt = true, time.Since(start)
		}
		if err != nil && rep.Err == nil {
			rep.Err = err
		}
	}
}

// start runs the chaos in a goroutine; the returned func stops it and
// returns its report.
func (ch chaos) start(admin *pgx.Conn) (stop func() chaosReport) {
	done := make(chan struct{})
	rep := make(chan chaosReport, 1)
	go func() { rep <- ch.run(done, admin) }()
	return func() chaosReport {
		close(done)
		return <-rep
	}
}

// The reads the workers make.
const (
	opGet = iota
	opList
	opStream
	numOps
)

var opNames = [numOps]string{"GetItem", "ListItems", "StreamItems"}

// loadReport counts the reads of a load run and their outcome.
type loadReport struct {
	Elapsed        time.Duration
	Reads, Failed  [numOps]int64
	StreamRowFails int64 // StreamItems calls that succeeded but whose rows then failed

	mu     sync.Mutex
	errors map[string]int
}

func (r *loadReport) total() (reads, failed int64) {
	for i := range numOps {
		reads += r.Reads[i]
		failed += r.Failed[i]
	}
	return reads, failed
}

// SuccessRate is the share of reads that succeeded.
func (r *loadReport) SuccessRate() float64 {
	n, failed := r.total()
	if n == 0 {
		return 0
	}
	return float64(n-failed) / float64(n)
}

func (r *loadReport) fail(op int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.errors == nil {
		r.errors = make(map[string]int)
	}
	r.errors[fmt.Sprintf("%s: %v", opNames[op], err)]++
}

// topErrors returns the n most frequent errors, with their counts.
func (r *loadReport) topErrors(n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range r.errors {
		all = append(all, kv{k, v})
	}
	slices.SortFunc(all, func(a, b kv) int { return b.v - a.v })
	var out []string
	for _, e := range all[:min(n, len(all))] {
		out = append(out, fmt.Sprintf("%d × %s", e.v, e.k))
	}
	return out
}

// runLoad reads cat from workers goroutines for d: six reads in ten are
// GetItem, three ListItems (10 items), one StreamItems (20 items); each
// result is checked against what createTable wrote for items 1..items.
// progress, if not nil, counts the reads as they end. When stop ends, no
// new read starts (the reads under way are not cancelled).
func runLoad(stop context.Context, cat Catalog, workers int, d time.Duration, items int, progress *atomic.Int64) *loadReport {
	rep := new(loadReport)
	var reads, failed [numOps]atomic.Int64
	var streamRowFails atomic.Int64
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			for i := 0; time.Now().Before(deadline) && stop.Err() == nil; i++ {
				op := opGet
				switch i % 10 {
				case 6, 7, 8:
					op = opList
				case 9:
					op = opStream
				}
				// Each read has its own generous deadline: the run's end
				// must not cut reads short and count them as failures.
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				streamed, err := read(ctx, cat, op, rng.Int64N(int64(items))+1, items)
				cancel()
				reads[op].Add(1)
				if err != nil {
					failed[op].Add(1)
					if streamed {
						streamRowFails.Add(1)
					}
					rep.fail(op, err)
				}
				if progress != nil {
					progress.Add(1)
				}
			}
		})
	}
	wg.Wait()
	rep.Elapsed = time.Since(start)
	for i := range numOps {
		rep.Reads[i], rep.Failed[i] = reads[i].Load(), failed[i].Load()
	}
	rep.StreamRowFails = streamRowFails.Load()
	return rep
}

// read makes one read and checks its result. streamed reports a
// StreamItems call that succeeded, whose rows then failed.
func read(ctx context.Context, cat Catalog, op int, id int64, items int) (streamed bool, err error) {
	switch op {
	case opGet:
		it, err := cat.GetItem(ctx, id)
		if err != nil {
			return false, err
		}
		return false, checkItem(it, id)
	case opList:
		list, err := cat.ListItems(ctx, id-1, 10)
		if err != nil {
			return false, err
		}
		return false, checkItems(list, id, 10, items)
	default:
		rows, err := cat.StreamItems(ctx, id-1, 20)
		if err != nil {
			return false, err
		}
		defer rows.Close()
		var list []Item
		for rows.Next() {
			it, err := ScanItem(rows)
			if err != nil {
				return true, err
			}
			list = append(list, it)
		}
		if err := rows.Err(); err != nil {
			return true, err
		}
		return false, checkItems(list, id, 20, items)
	}
}

var errWrongData = errors.New("wrong data")

func checkItem(it Item, id int64) error {
	if it != (Item{ID: id, Name: fmt.Sprintf("item-%d", id), PriceCents: id * 100}) {
		return fmt.Errorf("%w: item %d is %+v", errWrongData, id, it)
	}
	return nil
}

func checkItems(list []Item, first int64, limit, items int) error {
	want := min(limit, items-int(first)+1)
	if len(list) != want {
		return fmt.Errorf("%w: %d items from %d, want %d", errWrongData, len(list), first, want)
	}
	for i, it := range list {
		if err := checkItem(it, first+int64(i)); err != nil {
			return err
		}
	}
	return nil
}
