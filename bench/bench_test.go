package bench

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/ratelimiter"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"

	"github.com/resgen-dev/resgen/runtime"
)

var sink string

// reference is the minimal hand-inlined resilient call: one atomic
// breaker check, one mutex-guarded token bucket, a for loop.
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
		r.tokens = min(r.tokens+now.Sub(r.last).Seconds()*1e9, 1e9)
		r.last = now
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

func loop(b *testing.B, o Orders) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		sink, _ = o.Get(ctx, "1")
	}
}

// BenchmarkSuccessPath measures one successful call through each stack.
// Compare ratios within one run: the machine is noisy.
func BenchmarkSuccessPath(b *testing.B) {
	b.Run("direct", func(b *testing.B) { loop(b, nop{}) })
	b.Run("reference", func(b *testing.B) {
		loop(b, &reference{inner: nop{}, tokens: 1e9, last: time.Now()})
	})
	b.Run("resgen/retry+breaker+ratelimit", func(b *testing.B) {
		w, err := NewResilientOrders(nop{}, runtime.WithLogger(nil))
		if err != nil {
			b.Fatal(err)
		}
		loop(b, w)
	})
	b.Run("resgen/retry+breaker", func(b *testing.B) {
		w, err := NewResilientRetryBreaker(nop{}, runtime.WithLogger(nil))
		if err != nil {
			b.Fatal(err)
		}
		loop(b, w)
	})
	b.Run("failsafe-go/retry+breaker+ratelimit", func(b *testing.B) {
		exec := failsafe.With[string](
			retrypolicy.NewBuilder[string]().WithMaxAttempts(3).WithBackoff(time.Second, time.Minute).Build(),
			circuitbreaker.NewBuilder[string]().WithFailureThreshold(5).WithDelay(time.Minute).Build(),
			ratelimiter.NewBurstyBuilder[string](1_000_000_000, time.Minute).Build(),
		)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			sink, _ = exec.Get(func() (string, error) { return nop{}.Get(ctx, "1") })
		}
	})
	b.Run("gobreaker/Execute", func(b *testing.B) {
		cb := gobreaker.NewCircuitBreaker[string](gobreaker.Settings{Name: "bench"})
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			sink, _ = cb.Execute(func() (string, error) { return nop{}.Get(ctx, "1") })
		}
	})
	b.Run("x/time/rate/Allow", func(b *testing.B) {
		l := rate.NewLimiter(rate.Inf, 1)
		l.SetLimit(1e9)
		l.SetBurst(1e9)
		b.ReportAllocs()
		for b.Loop() {
			if l.Allow() {
				sink, _ = nop{}.Get(context.Background(), "1")
			}
		}
	})
}

// BenchmarkOpenBreaker measures a call failed fast by an open breaker.
func BenchmarkOpenBreaker(b *testing.B) {
	w, err := NewResilientOrders(down{}, runtime.WithLogger(nil), runtime.WithConfig(runtime.Settings{
		{Policy: "retry", Value: "off"},
		{Policy: "circuit_breaker", Key: "failure_threshold", Value: "1"},
		{Policy: "circuit_breaker", Key: "recovery_timeout", Value: "1h"},
	}))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	w.Get(ctx, "1")
	if _, err := w.Get(ctx, "1"); !errors.Is(err, runtime.ErrCircuitOpen) {
		b.Fatalf("breaker not open: %v", err)
	}
	loop(b, w)
}

type down struct{}

func (down) Get(context.Context, string) (string, error) {
	return "", runtime.Transient(errors.New("down")) // a failure of the service: it counts against the breaker
}

// BenchmarkTimeout compares a wrapper with only a timeout to
// context.WithTimeout and cancel alone.
func BenchmarkTimeout(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.Run("context.WithTimeout", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c, cancel := context.WithTimeout(ctx, time.Minute)
			sink, _ = nop{}.Get(c, "1")
			cancel()
		}
	})
	b.Run("resgen/timeout", func(b *testing.B) {
		w, err := NewResilientTimeout(nop{}, runtime.WithLogger(nil))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			sink, _ = w.Get(ctx, "1")
		}
	})
}
