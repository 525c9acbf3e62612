package resgenimpl_test

import (
	"errors"
	"testing"
	"time"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/fakeclock"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
)

func TestLocalStore(t *testing.T) {
	clock := fakeclock.New(time.Unix(1000, 0))
	s := resgenimpl.NewLocalStore(clock)
	b, err := s.Breaker("b", runtime.CircuitBreakerConfig{FailureThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.Allow(clock)
	if err != nil {
		t.Fatal(err)
	}
	b.Failure(p, 1<<20, clock) // a whole call's worth
	if _, err := b.Allow(clock); !errors.Is(err, runtime.ErrCircuitOpen) {
		t.Fatalf("Allow after the threshold: %v, want ErrCircuitOpen", err)
	}
	k, err := s.Bucket("k", runtime.RateLimitConfig{MaxRequestsPerMinute: 60, BurstSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := k.Reserve(clock.Now(), 0); !ok {
		t.Fatal("first token refused")
	}
	if _, ok := k.Reserve(clock.Now(), 0); ok {
		t.Fatal("a second token within the second, with burst 1")
	}
	if _, err := s.Bucket("bad", runtime.RateLimitConfig{BurstSize: -1}); err == nil {
		t.Fatal("a negative burst was accepted")
	}
}
