package resgenimpl_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resgen-dev/resgen/runtime"
)

type nopOrders struct{}

func (nopOrders) Get(context.Context, string) (string, error) { return "ok", nil }

// fastLimit is a rate limit that never throttles a benchmark.
var fastLimit = runtime.RateLimitConfig{MaxRequestsPerMinute: 1_000_000_000, BurstSize: 1_000_000_000, Global: true}

func benchWrapper(b *testing.B, cfg runtime.Config) *ResilientOrders {
	b.Helper()
	w, err := NewResilientOrders(nopOrders{}, cfg, runtime.WithLogger(nil))
	if err != nil {
		b.Fatal(err)
	}
	return w
}

// reference is the minimal hand-inlined resilient call resgen is measured
// against: one atomic breaker check, one mutex-guarded token bucket, a for
// loop.
type reference struct {
	open   atomic.Bool
	mu     sync.Mutex
	tokens float64
	last   time.Time
	inner  Orders
}

func (r *reference) Get(ctx context.Context, id string) (string, error) {
	for attempt := 1; ; attempt++ {
		if r.open.Load() {
			return "", runtime.ErrCircuitOpen
		}
		now := time.Now()
		r.mu.Lock()
		r.tokens += now.Sub(r.last).Seconds() * 1e9
		r.last = now
		if r.tokens > 1e9 {
			r.tokens = 1e9
		}
		ok := r.tokens >= 1
		if ok {
			r.tokens--
		}
		r.mu.Unlock()
		if !ok {
			return "", runtime.ErrRateLimited
		}
		s, err := r.inner.Get(ctx, id)
		if err == nil || attempt == 3 {
			return s, err
		}
	}
}

func BenchmarkSuccessPath(b *testing.B) {
	ctx := context.Background()
	var sink string
	b.Run("direct", func(b *testing.B) {
		var o Orders = nopOrders{}
		b.ReportAllocs()
		for b.Loop() {
			sink, _ = o.Get(ctx, "1")
		}
	})
	b.Run("reference", func(b *testing.B) {
		var o Orders = &reference{inner: nopOrders{}, tokens: 1e9, last: time.Now()}
		b.ReportAllocs()
		for b.Loop() {
			sink, _ = o.Get(ctx, "1")
		}
	})
	b.Run("retry+breaker+ratelimit", func(b *testing.B) {
		var o Orders = benchWrapper(b, runtime.Config{RateLimit: fastLimit, Timeout: runtime.TimeoutConfig{Disabled: true}})
		b.ReportAllocs()
		for b.Loop() {
			sink, _ = o.Get(ctx, "1")
		}
	})
	b.Run("retry+breaker", func(b *testing.B) {
		var o Orders = benchWrapper(b, runtime.Config{
			RateLimit: runtime.RateLimitConfig{Disabled: true}, Timeout: runtime.TimeoutConfig{Disabled: true}})
		b.ReportAllocs()
		for b.Loop() {
			sink, _ = o.Get(ctx, "1")
		}
	})
	b.Run("retry+breaker+latency", func(b *testing.B) {
		w, err := NewResilientOrders(nopOrders{}, runtime.Config{
			RateLimit: runtime.RateLimitConfig{Disabled: true}, Timeout: runtime.TimeoutConfig{Disabled: true}},
			runtime.WithLogger(nil), runtime.WithLatencyHistograms())
		if err != nil {
			b.Fatal(err)
		}
		var o Orders = w
		b.ReportAllocs()
		for b.Loop() {
			sink, _ = o.Get(ctx, "1")
		}
	})
	b.Run("open-breaker", func(b *testing.B) {
		w := benchWrapper(b, runtime.Config{
			RateLimit:      fastLimit,
			Timeout:        runtime.TimeoutConfig{Disabled: true},
			Retry:          runtime.RetryConfig{Disabled: true},
			CircuitBreaker: runtime.CircuitBreakerConfig{FailureThreshold: 1, RecoveryTimeout: time.Hour},
		})
		w.inner = failingOrders{}
		w.Get(ctx, "1")
		w.inner = nopOrders{}
		if _, err := w.Get(ctx, "1"); !errors.Is(err, runtime.ErrCircuitOpen) {
			b.Fatalf("breaker not open: %v", err)
		}
		var o Orders = w
		b.ReportAllocs()
		for b.Loop() {
			sink, _ = o.Get(ctx, "1")
		}
	})
	_ = sink
}

type failingOrders struct{}

func (failingOrders) Get(context.Context, string) (string, error) {
	return "", runtime.Transient(errors.New("down")) // a failure of the service: it counts against the breaker
}

func BenchmarkTimeout(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.Run("context.WithTimeout", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c, cancel := context.WithTimeout(ctx, time.Minute)
			nopOrders{}.Get(c, "1")
			cancel()
		}
	})
	b.Run("wrapper", func(b *testing.B) {
		var o Orders = benchWrapper(b, runtime.Config{
			RateLimit:      runtime.RateLimitConfig{Disabled: true},
			CircuitBreaker: runtime.CircuitBreakerConfig{Disabled: true},
			Retry:          runtime.RetryConfig{Disabled: true},
			Timeout:        runtime.TimeoutConfig{Duration: time.Minute},
		})
		b.ReportAllocs()
		for b.Loop() {
			o.Get(ctx, "1")
		}
	})
}

func BenchmarkParallel(b *testing.B) {
	w := benchWrapper(b, runtime.Config{RateLimit: fastLimit, Timeout: runtime.TimeoutConfig{Disabled: true}})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			w.Get(ctx, "1")
		}
	})
}

var _ = slog.Default
