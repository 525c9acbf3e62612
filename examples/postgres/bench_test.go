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
// the real PostgreSQL, against the unwrapped connector in the same run:
// each iteration makes one direct and one wrapped read, in alternating
// order, and the reported overhead is the median of the per-iteration
// differences over the median direct read.
//
//	go test -run '^$' -bench Overhead -benchtime 20000x -count 5 ./examples/postgres/
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
	// caller's context (pgx watches a cancellable context with a goroutine
	// per query).
	b.Run("GetItem/caller-deadline", func(b *testing.B) {
		f := newFixture(b, items)
		w := f.wrap(b, unthrottled)
		benchmarkOverhead(b, f.conn, w, items, func(ctx context.Context, c Catalog, id int64) error {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			return reads["GetItem"](ctx, c, id)
		})
	})
	// Without the per-attempt timeout, whose context (see above) is most
	// of what the wrapper adds.
	b.Run("GetItem/timeout=off", func(b *testing.B) {
		f := newFixture(b, items)
		w := f.wrap(b, unthrottled, runtime.WithConfig(runtime.Settings{{Policy: "timeout", Value: "off"}}))
		benchmarkOverhead(b, f.conn, w, items, reads["GetItem"])
	})
}

func benchmarkOverhead(b *testing.B, direct *Connector, wrapped *ResilientCatalog, items int,
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
	var d, w, diffs []time.Duration
	call := func(c Catalog, id int64) time.Duration {
		t0 := time.Now()
		if err := read(ctx, c, id); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		id := int64(1 + i%items)
		var dd, ww time.Duration
		if i%2 == 0 {
			dd, ww = call(direct, id), call(wrapped, id)
		} else {
			ww, dd = call(wrapped, id), call(direct, id)
		}
		d, w, diffs = append(d, dd), append(w, ww), append(diffs, ww-dd)
	}
	b.StopTimer()
	p := func(ds []time.Duration, q float64) time.Duration {
		slices.Sort(ds)
		return ds[min(len(ds)-1, int(q*float64(len(ds))))]
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	p50d := p(d, 0.50)
	b.ReportMetric(100*float64(p(diffs, 0.50))/float64(p50d), "overhead-%")
	b.ReportMetric(us(p(diffs, 0.50)), "added-µs")
	b.ReportMetric(us(p50d), "p50-direct-µs")
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
