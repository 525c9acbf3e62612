package resgenimpl

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/resgen-dev/resgen/runtime"
)

// timeoutMethod returns a Method with a per-attempt timeout of d and no
// other policy, as the wrappers build it.
func timeoutMethod(tb testing.TB, d time.Duration) *Method {
	tb.Helper()
	rm, err := NewManager(&toCtxGetter{}, &Spec{
		Wrapper:   "ResilientGetter",
		Interface: "runtime.toGetter",
		Methods:   []MethodSpec{{Name: "Get", Config: toConfig(d, 1)}},
	}, runtime.WithLogger(nil))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(rm.Close)
	return rm.Method(0)
}

// What a callee does with the attempt's context, from nothing to what pgx
// does with every query (it asks for Done, then watches the context with
// context.AfterFunc until the query returns).
var timeoutUses = []struct {
	name string
	use  func(ctx context.Context)
}{
	{"nothing", func(context.Context) {}},
	{"Err", func(ctx context.Context) { _ = ctx.Err() }},
	{"Done", func(ctx context.Context) { _ = ctx.Done() }},
	{"AfterFunc", func(ctx context.Context) {
		if ctx.Done() != nil {
			stop := context.AfterFunc(ctx, func() {})
			stop()
		}
	}},
}

// BenchmarkTimeoutVsWithTimeout compares Timeout with context.WithTimeout
// and cancel, in the same run: each iteration times a batch of attempts
// under one, then a batch under the other (in alternating order), and the
// benchmark reports the median cost per attempt of each, the median of the
// per-iteration ratios, and the allocations of each, for each use the
// callee makes of the context, under a parent that is never cancelled and
// one that may be.
//
//	go test -run '^$' -bench TimeoutVsWithTimeout -count 5 ./runtime
func BenchmarkTimeoutVsWithTimeout(b *testing.B) {
	const batch = 32
	me := timeoutMethod(b, time.Minute)
	cancellable, cancel := context.WithCancel(context.Background())
	defer cancel()
	parents := []struct {
		name string
		ctx  context.Context
	}{{"Background", context.Background()}, {"WithCancel", cancellable}}
	for _, p := range parents {
		for _, u := range timeoutUses {
			b.Run(p.name+"/"+u.name, func(b *testing.B) {
				std := func() {
					ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
					u.use(ctx)
					cancel()
				}
				ours := func() {
					ctx, cancel := me.Timeout(p.ctx)
					u.use(ctx)
					cancel()
				}
				timed := func(f func()) time.Duration {
					t0 := time.Now()
					for range batch {
						f()
					}
					return time.Since(t0)
				}
				var tStd, tOurs, ratios []float64
				for i := 0; b.Loop(); i++ {
					var s, o time.Duration
					if i%2 == 0 {
						s, o = timed(std), timed(ours)
					} else {
						o, s = timed(ours), timed(std)
					}
					tStd, tOurs = append(tStd, float64(s)/batch), append(tOurs, float64(o)/batch)
					ratios = append(ratios, float64(o)/float64(s))
				}
				b.StopTimer()
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(median(tStd), "WithTimeout-ns/attempt")
				b.ReportMetric(median(tOurs), "Timeout-ns/attempt")
				b.ReportMetric(median(ratios), "ratio")
				b.ReportMetric(testing.AllocsPerRun(1000, std), "WithTimeout-allocs/attempt")
				b.ReportMetric(testing.AllocsPerRun(1000, ours), "Timeout-allocs/attempt")
			})
		}
	}
}

func median(xs []float64) float64 {
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// BenchmarkPgxLikeAttempt is the floor under a PostgreSQL read with a
// per-attempt timeout: what a context costs when the callee uses it as pgx
// does with every query (pgconn's ContextWatcher: under its lock, Done,
// then a channel and context.AfterFunc with a function that holds the
// context; after the query, the registration's stop). The rows:
//
//   - Background: a context that is never done, which pgx does not watch;
//
//   - LongLived: one cancellable context for every query, pgx's own cost of
//     watching one;
//
//   - WithCancel: a fresh context.WithCancel per query, no deadline at all;
//
//   - WithTimeout: a fresh context.WithTimeout, a hand-written timeout;
//
//   - Timeout: the attempt's context with its 5s deadline.
//
//     go test -run '^$' -bench PgxLikeAttempt -count 5 ./runtime/resgenimpl
func BenchmarkPgxLikeAttempt(b *testing.B) {
	me := timeoutMethod(b, 5*time.Second)
	long, cancelLong := context.WithCancel(context.Background())
	defer cancelLong()
	rows := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"Background", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }},
		{"LongLived", func() (context.Context, context.CancelFunc) { return long, func() {} }},
		{"WithCancel", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }},
		{"WithTimeout", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 5*time.Second)
		}},
		{"Timeout", func() (context.Context, context.CancelFunc) { return me.Timeout(context.Background()) }},
	}
	var w pgxLikeWatcher
	for _, r := range rows {
		b.Run(r.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ctx, cancel := r.ctx()
				w.watch(ctx)
				w.unwatch()
				cancel()
			}
		})
	}
}

// pgxLikeWatcher watches a query's context as pgconn's ContextWatcher does.
type pgxLikeWatcher struct {
	mu       sync.Mutex
	stop     func() bool
	done     chan struct{}
	canceled int
}

func (w *pgxLikeWatcher) watch(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ctx.Done() != nil {
		w.done = make(chan struct{})
		w.stop = context.AfterFunc(ctx, func() {
			w.canceled++ // where pgx sets the connection's deadline from ctx
			_ = ctx
			close(w.done)
		})
	}
}

func (w *pgxLikeWatcher) unwatch() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stop != nil {
		if !w.stop() {
			<-w.done
		}
		w.stop, w.done = nil, nil
	}
}
