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
	// context registers with the caller's. In the same rounds, without a
	// wrapper: a fresh context.WithCancel of the caller's per read, the
	// floor, and a fresh context.WithTimeout (see GetItem/floor).
	b.Run("GetItem/request-context", func(b *testing.B) {
		f := newFixture(b, items)
		w := f.wrap(b, unthrottled)
		benchmarkOverhead(b, f.conn, w, items, func(ctx context.Context, c Catalog, id int64) error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			return reads["GetItem"](ctx, c, id)
		}, contender{"WithCancel", freshContext{f.conn, context.WithCancel}},
			contender{"WithTimeout", freshContext{f.conn, withTimeout5s}})
	})
	// The floor under the per-attempt timeout, read in the same rounds as
	// the wrapper, without one:
	//   - LongLived: one cancellable context for every read, never
	//     cancelled: what pgx's watching a context costs (a Done channel
	//     and a context.AfterFunc per query);
	//   - WithCancel: a fresh context.WithCancel per read, cancelled after
	//     it, as any per-read deadline or cancellation must be, but with no
	//     deadline at all;
	//   - WithTimeout: a fresh context.WithTimeout, a hand-written per-read
	//     timeout.
	b.Run("GetItem/floor", func(b *testing.B) {
		f := newFixture(b, items)
		w := f.wrap(b, unthrottled)
		long, cancel := context.WithCancel(context.Background())
		defer cancel()
		benchmarkOverhead(b, f.conn, w, items, reads["GetItem"],
			contender{"LongLived", cancellable{f.conn, long}},
			contender{"WithCancel", freshContext{f.conn, context.WithCancel}},
			contender{"WithTimeout", freshContext{f.conn, withTimeout5s}})
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

// contender is a Catalog read in the same rounds as the direct and the
// wrapped ones, whose overhead against the direct reads BenchmarkOverhead
// reports as name-%.
type contender struct {
	name string
	c    Catalog
}

func benchmarkOverhead(b *testing.B, direct, wrapped Catalog, items int,
	read func(context.Context, Catalog, int64) error, others ...contender) {
	ctx := context.Background()
	cats := append([]contender{{"direct", direct}, {"wrapped", wrapped}}, others...)
	for i := range 100 { // warm the pool and the statement caches
		for _, c := range cats {
			if err := read(ctx, c.c, int64(1+i)); err != nil {
				b.Fatal(err)
			}
		}
	}
	single := make([][]time.Duration, len(cats)) // single reads
	ratios := make([][]float64, len(cats))
	var added []float64
	next := 0
	var one [overheadBatch]time.Duration
	// batch returns the median of a batch of reads from first on.
	batch := func(k, first int) time.Duration {
		for j := range overheadBatch {
			id := int64(1 + (first+j)%items)
			t0 := time.Now()
			if err := read(ctx, cats[k].c, id); err != nil {
				b.Fatal(err)
			}
			one[j] = time.Since(t0)
		}
		single[k] = append(single[k], one[:]...)
		slices.Sort(one[:])
		return one[overheadBatch/2]
	}
	meds := make([]time.Duration, len(cats))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// Each round starts with the next of them, and goes on in turn.
		for j := range cats {
			k := (i + j) % len(cats)
			meds[k] = batch(k, next)
		}
		next += overheadBatch
		added = append(added, float64(meds[1]-meds[0]))
		for k := 1; k < len(cats); k++ {
			ratios[k] = append(ratios[k], float64(meds[k])/float64(meds[0]))
		}
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
	b.ReportMetric(100*(med(ratios[1])-1), "overhead-%")
	for k := 2; k < len(cats); k++ {
		b.ReportMetric(100*(med(ratios[k])-1), cats[k].name+"-%")
	}
	b.ReportMetric(med(added)/float64(time.Microsecond), "added-µs")
	b.ReportMetric(us(p(single[0], 0.50)), "p50-direct-µs")
	b.ReportMetric(us(p(single[1], 0.50)), "p50-wrapped-µs")
	b.ReportMetric(us(p(single[0], 0.99)), "p99-direct-µs")
	b.ReportMetric(us(p(single[1], 0.99)), "p99-wrapped-µs")
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

// withTimeout5s is a hand-written per-read timeout, as long as the
// wrapper's.
func withTimeout5s(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 5*time.Second)
}

// freshContext is a Catalog whose GetItem reads under a context of its
// own, made from its caller's for that read and cancelled after it, as a
// hand-written per-read timeout would be.
type freshContext struct {
	*Connector
	with func(context.Context) (context.Context, context.CancelFunc)
}

func (c freshContext) GetItem(ctx context.Context, id int64) (Item, error) {
	ctx, cancel := c.with(ctx)
	defer cancel()
	return c.Connector.GetItem(ctx, id)
}
