package runtime

import (
	"context"
	"testing"
	"time"
)

// timeoutMethod returns a Method with a per-attempt timeout of d and no
// other policy, as the wrappers build it.
func timeoutMethod(tb testing.TB, d time.Duration) *Method {
	tb.Helper()
	rm, err := NewManager(&toCtxGetter{}, &Spec{
		Wrapper:   "ResilientGetter",
		Interface: "runtime.toGetter",
		Methods:   []MethodSpec{{Name: "Get", Config: toConfig(d, 1)}},
	}, WithLogger(nil))
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
// under one, then a batch under the other, and reports both costs per
// attempt, their ratio and their allocations, for each use the callee makes
// of the context, under a parent that is never cancelled and one that may
// be.
//
//	go test -run '^$' -bench TimeoutVsWithTimeout -count 5 ./runtime
func BenchmarkTimeoutVsWithTimeout(b *testing.B) {
	const batch = 64
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
				var tStd, tOurs time.Duration
				for b.Loop() {
					t0 := time.Now()
					for range batch {
						std()
					}
					t1 := time.Now()
					for range batch {
						ours()
					}
					tStd, tOurs = tStd+t1.Sub(t0), tOurs+time.Since(t1)
				}
				b.StopTimer()
				n := float64(b.N * batch)
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(float64(tStd)/n, "WithTimeout-ns/attempt")
				b.ReportMetric(float64(tOurs)/n, "Timeout-ns/attempt")
				b.ReportMetric(float64(tOurs)/float64(tStd), "ratio")
				b.ReportMetric(testing.AllocsPerRun(1000, std), "WithTimeout-allocs/attempt")
				b.ReportMetric(testing.AllocsPerRun(1000, ours), "Timeout-allocs/attempt")
			})
		}
	}
}
