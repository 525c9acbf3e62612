package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/redisstore"
	"github.com/resgen-dev/resgen/runtime/store"
)

// TestClusterFailover: the master that holds a breaker is killed and its
// replica takes over. Meanwhile no call waits longer than the Store's
// timeout, and the breaker the fleet knew open stays open; once the
// replica serves, both processes are back on shared state, the breaker
// still open, and changes are pushed again (resubscribed if their node
// was the one lost).
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("a failover takes seconds")
	}
	rc := startCluster(t, 3, 1)
	const timeout = 100 * time.Millisecond
	p := fmt.Sprintf("cluster:%s:", t.Name())
	var stores []*redisstore.Store
	for range 2 {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.addrs, ContextTimeoutEnabled: true,
			DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout})
		t.Cleanup(func() { c.Close() })
		stores = append(stores, newStore(t, c, redisstore.WithPrefix(p), redisstore.WithTimeout(timeout),
			redisstore.WithLogger(slog.New(slog.DiscardHandler))))
	}
	a, b := stores[0], stores[1]
	// Open for a minute, locally too (the local breaker of an outage opens
	// for InitialRecoveryTimeout first).
	cfg := runtime.CircuitBreakerConfig{FailureThreshold: 2, RecoveryTimeout: time.Minute, InitialRecoveryTimeout: time.Minute, SuccessThreshold: 1}
	ba, _ := a.Breaker("W", cfg)
	bb, _ := b.Breaker("W", cfg)
	open(t, ba)
	settle(a, b)
	if s := bb.State(); s != runtime.StateOpen {
		t.Fatalf("state %v before the failover, want OPEN", s)
	}
	admin := rc.client(t, true)
	ctx := context.Background()
	// Let the replica have the open breaker, then kill its master.
	key := p + "{breaker:W}"
	nodes := rc.servers(t, slot(key))
	for deadline := time.Now().Add(10 * time.Second); len(nodes) < 2; nodes = rc.servers(t, slot(key)) {
		if time.Now().After(deadline) {
			t.Fatalf("slot of %q served by %v after 10s: want a master and a replica", key, nodes)
		}
		time.Sleep(50 * time.Millisecond)
	}
	master := nodes[0]
	replica := redis.NewClient(&redis.Options{Addr: nodes[1], OnConnect: func(ctx context.Context, cn *redis.Conn) error {
		return cn.ReadOnly(ctx).Err()
	}})
	defer replica.Close()
	for deadline := time.Now().Add(5 * time.Second); replica.HGet(ctx, key, "s").Val() != "1"; {
		if time.Now().After(deadline) {
			t.Fatal("the replica did not get the open breaker within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	killed := time.Now()
	rc.killAddr(t, master)

	var mu sync.Mutex
	var slowest time.Duration
	var wrong []string
	check := func(name string, br store.Breaker, s *redisstore.Store) {
		t0 := time.Now()
		down := s.Down()
		_, err := br.Allow(sys)
		d := time.Since(t0)
		mu.Lock()
		defer mu.Unlock()
		slowest = max(slowest, d)
		if !errors.Is(err, runtime.ErrCircuitOpen) {
			wrong = append(wrong, fmt.Sprintf("%s at %v: %v (down %v, then %v, state %v)", name, time.Since(killed).Round(time.Millisecond), err, down, s.Down(), br.State()))
		}
	}
	var back time.Duration
	for deadline := killed.Add(20 * time.Second); ; {
		check("a", ba, a)
		check("b", bb, b)
		a.Flush()
		b.Flush()
		if !a.Down() && !b.Down() && time.Since(killed) > 3*time.Second && rc.servers(t, slot(key))[0] != master {
			back = time.Since(killed)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stores still down (%v, %v) 20s after the master was killed", a.Down(), b.Down())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("shared state back %v after the master was killed; slowest Allow %v", back.Round(time.Millisecond), slowest)
	if len(wrong) > 0 {
		t.Fatalf("the open breaker admitted during the failover: %s", strings.Join(wrong, "; "))
	}
	if slowest > timeout+100*time.Millisecond {
		t.Fatalf("an Allow took %v during the failover, want at most the Store's timeout %v", slowest, timeout)
	}
	if s := ba.State(); s != runtime.StateOpen {
		t.Fatalf("state %v after the failover, want OPEN", s)
	}
	h, err := admin.HGetAll(ctx, key).Result()
	if err != nil || h["s"] != "1" {
		t.Fatalf("breaker hash on the promoted replica %v, %v: want it open", h, err)
	}
	// Changes are pushed again: a second breaker opened by a reaches b
	// well within the poll's second.
	xa, _ := a.Breaker("X", cfg)
	xb, _ := b.Breaker("X", cfg)
	open(t, xa)
	a.Flush()
	t0 := time.Now()
	for xb.State() != runtime.StateOpen {
		if time.Since(t0) > 500*time.Millisecond {
			t.Fatal("a change made after the failover did not reach the other process within 500ms")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("a change after the failover reached the other process in %v", time.Since(t0).Round(time.Millisecond))
}

// servers returns the addresses of the nodes that serve slot, its master
// first, as a live node sees them.
func (rc *redisCluster) servers(t *testing.T, slot int) []string {
	t.Helper()
	for _, addr := range rc.addrs {
		if !rc.alive(addr) {
			continue
		}
		n := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 100 * time.Millisecond, ReadTimeout: 200 * time.Millisecond})
		slots, err := n.ClusterSlots(context.Background()).Result()
		n.Close()
		if err != nil {
			continue
		}
		for _, r := range slots {
			if slot >= r.Start && slot <= r.End {
				var addrs []string
				for _, n := range r.Nodes {
					addrs = append(addrs, n.Addr)
				}
				return addrs
			}
		}
	}
	t.Fatal("no node answers CLUSTER SLOTS")
	return nil
}

func (rc *redisCluster) alive(addr string) bool {
	for i, a := range rc.addrs {
		if a == addr {
			return rc.nodes[i].ProcessState == nil
		}
	}
	return false
}

// killAddr kills the node at addr.
func (rc *redisCluster) killAddr(t *testing.T, addr string) {
	t.Helper()
	for i, a := range rc.addrs {
		if a == addr {
			rc.nodes[i].Process.Kill()
			rc.nodes[i].Wait()
			return
		}
	}
	t.Fatalf("no node at %s", addr)
}
