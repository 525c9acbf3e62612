package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/resgen-dev/resgen/runtime"
)

// unthrottled raises the rate limit far above what the benchmark can
// reach: the limiter still admits every attempt (one compare-and-swap),
// but never makes one wait.
var unthrottled = runtime.WithConfig(runtime.Settings{
	{Policy: "rate_limit", Key: "max_requests_per_minute", Value: "1000000000"},
	{Policy: "rate_limit", Key: "burst_size", Value: "1000000"},
})

// BenchmarkOverhead measures what the wrapper adds to a fault-free read of
// the real PostgreSQL, against the unwrapped connector in the same run.
// Each iteration is a round: a batch of direct reads and a batch of
// wrapped reads of the same rows, on the same pool, in alternating order
// (the first of a round warms what the second finds warm). A round's ratio
// is its wrapped batch's median read over its direct batch's, and the
// overhead is the median of the rounds' ratios, less 1: a moment of load
// slows both halves of a round alike and moves its ratio little, and a
// median, unlike a mean, is not diluted by the slow reads of both. The
// latencies are of single reads.
//
//	go test -run '^$' -bench Overhead -benchtime 1000x -count 5 ./examples/postgres/
func BenchmarkOverhead(b *testing.B) {
	const items = 1000
	reads := map[string]func(ctx context.Context, c Catalog, id int64) error{
		"GetItem": func(ctx context.Context, c Catalog, id int64) error {
			_, err := c.GetItem(ctx, id)
			return err
		},
		"ListItems": func(ctx context.Context, c Catalog, id int64) error {
			_, err := c.ListItems(ctx, id-1, 10)
			return err
		},
		"StreamItems": func(ctx context.Context, c Catalog, id int64) error {
			rows, err := c.StreamItems(ctx, id-1, 10)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				if _, err := ScanItem(rows); err != nil {
					return err
				}
			}
			return rows.Err()
		},
	}
	for _, name := range []string{"GetItem", "ListItems", "StreamItems"} {
		b.Run(name, func(b *testing.B) {
			f := newFixture(b, items)
			w := f.wrap(b, unthrottled)
			benchmarkOverhead(b, f.conn, w, items, reads[name])
		})
	}
	// Callers that set a deadline of their own, sooner than the 5s
	// timeout: the wrapper adds no timer, and both calls pay for the
	// caller's context (pgx watches a cancellable context with
	// context.AfterFunc per query).
	b.Run("GetItem/caller-deadline", func(b *testing.B) {
		f := newFixture(b, items)
		w := f.wrap(b, unthrottled)
		benchmarkOverhead(b, f.conn, w, items, func(ctx context.Context, c Catalog, id int64) error {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			return reads["GetItem"](ctx, c, id)
		})
	})
	// Callers under a request's context, cancellable but without a
	// deadline, as a server's handlers are: both calls pay for pgx's
	// watching it, and the wrapper adds its 5s per-attempt timeout, whose
	// context registers with the caller's.
	b.Run("GetItem/request-context", func(b *testing.B) {
		f := newFixture(b, items)
		w := f.wrap(b, unthrottled)
		benchmarkOverhead(b, f.conn, w, items, func(ctx context.Context, c Catalog, id int64) error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			return reads["GetItem"](ctx, c, id)
		})
	})
	// No wrapper on either side: what pgx itself does with a context that
	// may be cancelled (a Done channel and a context.AfterFunc per query),
	// which the per-attempt timeout's context is, against
	// context.Background(), which the direct reads above use.
	b.Run("GetItem/pgx-cancellable", func(b *testing.B) {
		f := newFixture(b, items)
		cctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		benchmarkOverhead(b, f.conn, cancellable{f.conn, cctx}, items, reads["GetItem"])
	})
	// Without the per-attempt timeout, whose context (see above) is most
	// of what the wrapper adds.
	b.Run("GetItem/timeout=off", func(b *testing.B) {
		f := newFixture(b, items)
		w := f.wrap(b, unthrottled, runtime.WithConfig(runtime.Settings{{Policy: "timeout", Value: "off"}}))
		benchmarkOverhead(b, f.conn, w, items, reads["GetItem"])
	})
}

// cancellable is a Catalog whose GetItem reads under ctx, a context that
// is never cancelled but could be, instead of its caller's.
type cancellable struct {
	*Connector
	ctx context.Context
}

func (c cancellable) GetItem(_ context.Context, id int64) (Item, error) {
	return c.Connector.GetItem(c.ctx, id)
}

// overheadBatch is the reads of each kind in one round of BenchmarkOverhead:
// about half a millisecond of each, so that a round sees one state of the
// machine.
const overheadBatch = 20

func benchmarkOverhead(b *testing.B, direct, wrapped Catalog, items int,
	read func(context.Context, Catalog, int64) error) {
	ctx := context.Background()
	for i := range 100 { // warm the pool and both statement caches
		if err := read(ctx, direct, int64(1+i)); err != nil {
			b.Fatal(err)
		}
		if err := read(ctx, wrapped, int64(1+i)); err != nil {
			b.Fatal(err)
		}
	}
	var d, w []time.Duration // single reads
	var added, ratios []float64
	next := 0
	var one [overheadBatch]time.Duration
	// batch returns the median of a batch of reads from first on.
	batch := func(c Catalog, first int, into *[]time.Duration) time.Duration {
		for j := range overheadBatch {
			id := int64(1 + (first+j)%items)
			t0 := time.Now()
			if err := read(ctx, c, id); err != nil {
				b.Fatal(err)
			}
			one[j] = time.Since(t0)
		}
		*into = append(*into, one[:]...)
		slices.Sort(one[:])
		return one[overheadBatch/2]
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		var dd, ww time.Duration
		if i%2 == 0 {
			dd, ww = batch(direct, next, &d), batch(wrapped, next, &w)
		} else {
			ww, dd = batch(wrapped, next, &w), batch(direct, next, &d)
		}
		next += overheadBatch
		added, ratios = append(added, float64(ww-dd)), append(ratios, float64(ww)/float64(dd))
	}
	b.StopTimer()
	p := func(ds []time.Duration, q float64) time.Duration {
		slices.Sort(ds)
		return ds[min(len(ds)-1, int(q*float64(len(ds))))]
	}
	med := func(xs []float64) float64 {
		slices.Sort(xs)
		return xs[len(xs)/2]
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(100*(med(ratios)-1), "overhead-%")
	b.ReportMetric(med(added)/float64(time.Microsecond), "added-µs")
	b.ReportMetric(us(p(d, 0.50)), "p50-direct-µs")
	b.ReportMetric(us(p(w, 0.50)), "p50-wrapped-µs")
	b.ReportMetric(us(p(d, 0.99)), "p99-direct-µs")
	b.ReportMetric(us(p(w, 0.99)), "p99-wrapped-µs")
}

// BenchmarkParallel reads with GetItem from GOMAXPROCS goroutines, through
// the connector directly and through the wrapper, whose breaker, rate
// limit and counters they share: compare the two ns/op.
//
//	go test -run '^$' -bench Parallel -count 5 ./examples/postgres/
func BenchmarkParallel(b *testing.B) {
	const items = 1000
	f := newFixture(b, items)
	w := f.wrap(b, unthrottled)
	noTimeout := f.wrap(b, unthrottled, runtime.WithConfig(runtime.Settings{{Policy: "timeout", Value: "off"}}))
	for _, c := range []struct {
		name string
		cat  Catalog
	}{{"direct", f.conn}, {"wrapped", w}, {"wrapped/timeout=off", noTimeout}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for i := int64(0); pb.Next(); i++ {
					if _, err := c.cat.GetItem(ctx, 1+i%items); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkNewResilientCatalog measures building a wrapper, and reports
// the heap its resilience state keeps (see measureHeap).
//
//	go test -run '^$' -bench NewResilientCatalog ./examples/postgres/
func BenchmarkNewResilientCatalog(b *testing.B) {
	inner := &Connector{host: "127.0.0.1:5432"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewResilientCatalog(inner, runtime.WithLogger(nil)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	h := measureHeap(inner, 5000)
	b.ReportMetric(h.PerWrapper, "heap-B/wrapper")
	b.ReportMetric(h.PerMethod, "heap-B/method")
}
