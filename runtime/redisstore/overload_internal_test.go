package redisstore

import (
	"log/slog"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/resgen-dev/resgen/runtime/store"
)

// A wrapper that shares a dependency's counts as the last other one
// stops (a Manager replaced by another) must land on the share the Store
// reports: the last source's stop drops a share it finds empty, and a
// source added meanwhile to the dropped share was never reported again.
func TestShareOverloadRacingLastStopKeepsTheShare(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never reached: only the Store's bookkeeping runs
	defer c.Close()
	s := New(c, WithLogger(slog.New(slog.DiscardHandler)))
	defer s.Close()
	local := func() store.OverloadCounts { return store.OverloadCounts{} }
	_, stop := s.ShareOverload("dep", local)
	for i := range 5000 {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); stop() }()
		_, next := s.ShareOverload("dep", local)
		wg.Wait()
		s.mu.Lock()
		sh := s.shares["dep"]
		s.mu.Unlock()
		if sh == nil {
			t.Fatalf("round %d: the live source's share was dropped", i)
		}
		sh.mu.Lock()
		n := len(sh.sources)
		sh.mu.Unlock()
		if n != 1 {
			t.Fatalf("round %d: the Store's share has %d sources, want the live one", i, n)
		}
		stop = next
	}
	stop()
}
