package redisstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resgen-dev/resgen/internal/testenv"
	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/redisstore"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
	"github.com/resgen-dev/resgen/runtime/store"
)

const callWeight = store.CallWeight

var sys = systemClock{}

type systemClock struct{ runtime.Clock }

func (systemClock) Now() time.Time { return time.Now() }

// newClient returns a client of the test Redis; honour says whether it
// honours contexts' deadlines itself (both paths of the Store are tested).
func newClient(t testing.TB, honour bool) *redis.Client {
	t.Helper()
	testenv.NeedService(t, "Redis", testenv.RedisAddr)
	c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr, ContextTimeoutEnabled: honour, PoolSize: 8})
	t.Cleanup(func() { c.Close() })
	return c
}

// testPrefix returns a prefix no other test uses, and deletes its keys
// when the test ends.
func testPrefix(t testing.TB) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	p := "resgentest:" + t.Name() + ":" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr})
		defer c.Close()
		ctx := context.Background()
		keys, _ := c.Keys(ctx, p+"*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return p
}

// twoStores returns two Stores with separate clients sharing a prefix:
// two processes.
func twoStores(t *testing.T) (*redisstore.Store, *redisstore.Store) {
	p := testPrefix(t)
	log := slog.New(slog.DiscardHandler)
	a := newStore(t, newClient(t, true), redisstore.WithPrefix(p), redisstore.WithTimeout(time.Second), redisstore.WithLogger(log))
	b := newStore(t, newClient(t, false), redisstore.WithPrefix(p), redisstore.WithTimeout(time.Second), redisstore.WithLogger(log))
	return a, b
}

func checkUp(t *testing.T, stores ...*redisstore.Store) {
	t.Helper()
	for i, s := range stores {
		if s.Down() {
			t.Fatalf("store %d fell back to local state", i)
		}
	}
}

func TestSharedBucketBoundsAdmissions(t *testing.T) { testSharedBucketBoundsAdmissions(t, twoStores) }

func testSharedBucketBoundsAdmissions(t *testing.T, twoStores func(*testing.T) (*redisstore.Store, *redisstore.Store)) {
	a, b := twoStores(t)
	cfg := runtime.RateLimitConfig{MaxRequestsPerMinute: 600, BurstSize: 5} // a token per 100ms
	ba, err := a.Bucket("host", cfg)
	if err != nil {
		t.Fatal(err)
	}
	bb, err := b.Bucket("host", cfg)
	if err != nil {
		t.Fatal(err)
	}
	const window = time.Second
	var admitted atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < 8; i++ {
		bs := ba
		if i%2 == 1 {
			bs = bb
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < window {
				if _, ok := bs.Reserve(time.Now(), 0); ok {
					admitted.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	checkUp(t, a, b)
	limit := 5 + int64(elapsed/(100*time.Millisecond)) + 1
	n := admitted.Load()
	t.Logf("%d admitted in %v (limit %d)", n, elapsed, limit)
	if n > limit {
		t.Fatalf("%d admitted in %v across both stores, want at most burst + rate×T = %d", n, elapsed, limit)
	}
	if n < 5+int64(window/(100*time.Millisecond))-3 {
		t.Fatalf("only %d admitted in %v: the bucket refills too slowly", n, elapsed)
	}
}

func TestBucketWaitCancelPause(t *testing.T) { testBucketWaitCancelPause(t, twoStores) }

func testBucketWaitCancelPause(t *testing.T, twoStores func(*testing.T) (*redisstore.Store, *redisstore.Store)) {
	a, b := twoStores(t)
	cfg := runtime.RateLimitConfig{MaxRequestsPerMinute: 60, BurstSize: 1}
	ba, _ := a.Bucket("k", cfg)
	bb, _ := b.Bucket("k", cfg)
	if _, ok := ba.Reserve(time.Now(), 0); !ok {
		t.Fatal("first token refused")
	}
	if _, ok := bb.Reserve(time.Now(), 0); ok {
		t.Fatal("second store took a token the first one had taken")
	}
	r1, ok := bb.Reserve(time.Now(), 2*time.Second)
	if !ok || r1.Wait < 900*time.Millisecond || r1.Wait > time.Second {
		t.Fatalf("reservation %+v, %v: want a wait of about 1s", r1, ok)
	}
	r2, ok := ba.Reserve(time.Now(), 3*time.Second)
	if !ok || r2.Wait < 1900*time.Millisecond {
		t.Fatalf("reservation %+v, %v: want a wait of about 2s", r2, ok)
	}
	// r1 is not the newest: giving it back would let r2 and the next share a slot.
	ba.Cancel(r1)
	r3, ok := ba.Reserve(time.Now(), 4*time.Second)
	if !ok || r3.Wait < 2900*time.Millisecond {
		t.Fatalf("reservation %+v after cancelling an older one: want about 3s", r3)
	}
	bb.Cancel(r3)
	r4, ok := bb.Reserve(time.Now(), 4*time.Second)
	if !ok || r4.Token != r3.Token || r4.Wait > r3.Wait {
		t.Fatalf("reservation %+v after cancelling the newest %+v: want its slot back", r4, r3)
	}
	// Pause pushes everyone's next token past until.
	cb, _ := a.Bucket("p", runtime.RateLimitConfig{MaxRequestsPerMinute: 6000, BurstSize: 10})
	cc, _ := b.Bucket("p", runtime.RateLimitConfig{MaxRequestsPerMinute: 6000, BurstSize: 10})
	cb.Pause(time.Now().Add(500 * time.Millisecond))
	if _, ok := cc.Reserve(time.Now(), 0); ok {
		t.Fatal("token admitted during a pause")
	}
	r, ok := cc.Reserve(time.Now(), time.Second)
	if !ok || r.Wait < 400*time.Millisecond || r.Wait > 500*time.Millisecond {
		t.Fatalf("reservation %+v during a 500ms pause", r)
	}
	checkUp(t, a, b)
}

func TestBucketKeyExpires(t *testing.T) {
	p := testPrefix(t)
	c := newClient(t, true)
	s := newStore(t, c, redisstore.WithPrefix(p))
	bs, _ := s.Bucket("e", runtime.RateLimitConfig{MaxRequestsPerMinute: 60000, BurstSize: 1})
	if _, ok := bs.Reserve(time.Now(), 0); !ok {
		t.Fatal("refused")
	}
	ttl, err := c.PTTL(context.Background(), p+"{bucket:e}").Result()
	if err != nil || ttl <= 0 || ttl > 2*time.Second {
		t.Fatalf("bucket key's TTL %v, %v: want it to expire soon after the bucket refills", ttl, err)
	}
}

var breakerCfg = runtime.CircuitBreakerConfig{FailureThreshold: 2, RecoveryTimeout: 300 * time.Millisecond, SuccessThreshold: 2}

func open(t *testing.T, br store.Breaker) {
	t.Helper()
	for i := 0; i < 2; i++ {
		p, err := br.Allow(sys)
		if err != nil {
			t.Fatalf("failure %d: %v", i, err)
		}
		br.Failure(p, callWeight, sys)
	}
}

func TestBreakerSharedAcrossStores(t *testing.T) { testBreakerSharedAcrossStores(t, twoStores) }

func testBreakerSharedAcrossStores(t *testing.T, twoStores func(*testing.T) (*redisstore.Store, *redisstore.Store)) {
	a, b := twoStores(t)
	ba, _ := a.Breaker("W", breakerCfg)
	bb, _ := b.Breaker("W", breakerCfg)

	// A success between failures resets the streak, whoever reports it.
	p, _ := ba.Allow(sys)
	ba.Failure(p, callWeight, sys)
	settle(a, b)
	p, _ = bb.Allow(sys)
	bb.Success(p, sys)
	settle(a, b)
	p, _ = ba.Allow(sys)
	ba.Failure(p, callWeight, sys)
	settle(a, b)
	if s := bb.State(); s != runtime.StateClosed {
		t.Fatalf("state %v after failure, success, failure; want CLOSED", s)
	}
	// Half a call's worth from each store adds up.
	p, _ = ba.Allow(sys)
	ba.Failure(p, callWeight/2, sys)
	p, _ = bb.Allow(sys)
	bb.Failure(p, callWeight/2, sys)
	settle(a, b)
	if s := bb.State(); s != runtime.StateOpen {
		t.Fatalf("state %v after two calls' worth of failures; want OPEN", s)
	}
	if _, err := bb.Allow(sys); !errors.Is(err, runtime.ErrCircuitOpen) {
		t.Fatalf("other store's Allow while open: %v, want ErrCircuitOpen", err)
	}
	if _, err := ba.Allow(sys); !errors.Is(err, runtime.ErrCircuitOpen) {
		t.Fatalf("Allow while open: %v, want ErrCircuitOpen", err)
	}
	checkUp(t, a, b)
}

func TestBreakerHalfOpenProbesBounded(t *testing.T) { testBreakerHalfOpenProbesBounded(t, twoStores) }

func testBreakerHalfOpenProbesBounded(t *testing.T, twoStores func(*testing.T) (*redisstore.Store, *redisstore.Store)) {
	a, b := twoStores(t)
	ba, _ := a.Breaker("W", breakerCfg)
	bb, _ := b.Breaker("W", breakerCfg)
	open(t, ba)
	time.Sleep(breakerCfg.RecoveryTimeout + 20*time.Millisecond)

	var mu sync.Mutex
	type probe struct {
		br store.Breaker
		p  store.Permit
	}
	var probes []probe
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		br := ba
		if i%2 == 1 {
			br = bb
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p, err := br.Allow(sys); err == nil {
				mu.Lock()
				probes = append(probes, probe{br, p})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(probes) != 2 {
		t.Fatalf("%d probes admitted across both stores, want success_threshold = 2", len(probes))
	}
	settle(a, b)
	if s := ba.State(); s != runtime.StateHalfOpen {
		t.Fatalf("state %v, want HALF_OPEN", s)
	}
	// Release frees a probe's slot for another.
	probes[0].br.Release(probes[0].p)
	p, err := bb.Allow(sys)
	if err != nil {
		t.Fatalf("Allow after a probe's release: %v", err)
	}
	if _, err := ba.Allow(sys); !errors.Is(err, runtime.ErrCircuitOpen) {
		t.Fatalf("third probe: %v, want ErrCircuitOpen", err)
	}
	probes[1].br.Success(probes[1].p, sys)
	settle(a, b)
	if s := ba.State(); s != runtime.StateHalfOpen {
		t.Fatalf("state %v after one success, want HALF_OPEN", s)
	}
	bb.Success(p, sys)
	settle(a, b)
	if s := ba.State(); s != runtime.StateClosed {
		t.Fatalf("state %v after two successes, want CLOSED", s)
	}
	checkUp(t, a, b)
}

func TestBreakerHalfOpenFailureReopens(t *testing.T) {
	a, b := twoStores(t)
	ba, _ := a.Breaker("W", breakerCfg)
	bb, _ := b.Breaker("W", breakerCfg)
	open(t, ba)
	time.Sleep(breakerCfg.RecoveryTimeout + 20*time.Millisecond)
	p1, err := ba.Allow(sys)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := bb.Allow(sys)
	if err != nil {
		t.Fatal(err)
	}
	bb.Failure(p2, callWeight, sys)
	settle(a, b)
	if s := ba.State(); s != runtime.StateOpen {
		t.Fatalf("state %v after a probe failed, want OPEN", s)
	}
	// p1 belongs to the half-open state that is gone.
	ba.Success(p1, sys)
	if _, err := ba.Allow(sys); !errors.Is(err, runtime.ErrCircuitOpen) {
		t.Fatalf("Allow after reopening: %v", err)
	}
	checkUp(t, a, b)
}

func TestBreakerStalePermitsIgnored(t *testing.T) {
	a, b := twoStores(t)
	ba, _ := a.Breaker("W", breakerCfg)
	bb, _ := b.Breaker("W", breakerCfg)
	stale, err := ba.Allow(sys) // closed, generation 0
	if err != nil {
		t.Fatal(err)
	}
	open(t, bb)
	// A failure admitted before the breaker opened does not count again.
	ba.Failure(stale, callWeight, sys)
	time.Sleep(breakerCfg.RecoveryTimeout + 20*time.Millisecond)
	p, err := ba.Allow(sys)
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	// Stale results of the closed state change nothing in half-open.
	bb.Failure(stale, callWeight, sys)
	bb.Success(stale, sys)
	bb.Success(stale, sys)
	settle(a, b)
	if s := ba.State(); s != runtime.StateHalfOpen {
		t.Fatalf("state %v after stale results, want HALF_OPEN", s)
	}
	ba.Success(p, sys)
	p, err = bb.Allow(sys)
	if err != nil {
		t.Fatal(err)
	}
	bb.Success(p, sys)
	settle(a, b)
	if s := ba.State(); s != runtime.StateClosed {
		t.Fatalf("state %v, want CLOSED", s)
	}
	// A stale half-open probe's failure does not reopen the closed breaker.
	bb.Failure(p, callWeight, sys)
	ba.Failure(stale, callWeight, sys)
	ba.Failure(stale, callWeight, sys)
	settle(a, b)
	if s := ba.State(); s != runtime.StateClosed {
		t.Fatalf("state %v after stale failures, want CLOSED", s)
	}
	checkUp(t, a, b)
}

func TestBreakerHungProbesReopen(t *testing.T) {
	a, b := twoStores(t)
	ba, _ := a.Breaker("W", breakerCfg)
	bb, _ := b.Breaker("W", breakerCfg)
	open(t, ba)
	time.Sleep(breakerCfg.RecoveryTimeout + 20*time.Millisecond)
	ba.Allow(sys)
	bb.Allow(sys)
	time.Sleep(breakerCfg.RecoveryTimeout + 20*time.Millisecond)
	if _, err := ba.Allow(sys); !errors.Is(err, runtime.ErrCircuitOpen) {
		t.Fatalf("Allow with probes hung past the recovery timeout: %v", err)
	}
	settle(a, b)
	if s := bb.State(); s != runtime.StateOpen {
		t.Fatalf("state %v, want OPEN", s)
	}
	checkUp(t, a, b)
}

// closedAddr returns an address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// syncBuffer is a log sink safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func fallbackStore(t *testing.T, addr string) (*redisstore.Store, *syncBuffer) {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	var logs syncBuffer
	s := newStore(t, c, redisstore.WithPrefix(testPrefix(t)), redisstore.WithTimeout(50*time.Millisecond),
		redisstore.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	return s, &logs
}

func checkFallback(t *testing.T, s *redisstore.Store, logs *syncBuffer) {
	t.Helper()
	bs, _ := s.Bucket("host", runtime.RateLimitConfig{MaxRequestsPerMinute: 60, BurstSize: 3})
	br, _ := s.Breaker("W", breakerCfg)
	start := time.Now()
	admitted := 0
	for i := 0; i < 100; i++ {
		if _, ok := bs.Reserve(time.Now(), 0); ok {
			admitted++
		}
	}
	if admitted != 3 {
		t.Errorf("%d of 100 admitted by the local fallback, want burst = 3", admitted)
	}
	open(t, br)
	rejected := 0
	for i := 0; i < 100; i++ {
		if _, err := br.Allow(sys); errors.Is(err, runtime.ErrCircuitOpen) {
			rejected++
		}
	}
	if rejected != 100 {
		t.Errorf("%d of 100 rejected by the open local breaker", rejected)
	}
	if s := br.State(); s != runtime.StateOpen {
		t.Errorf("local state %v, want OPEN", s)
	}
	// 200-odd operations: one pays the timeout, the others do not try Redis.
	if d := time.Since(start); d > time.Second {
		t.Errorf("operations took %v with Redis unreachable", d)
	}
	if !s.Down() {
		t.Error("store does not report Redis down")
	}
	// The store is down before its warning is written (the goroutine that
	// saw Redis fail may be the background one): wait for the line.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) &&
		!strings.Contains(logs.String(), "Redis unreachable for resgen state"); {
		time.Sleep(5 * time.Millisecond)
	}
	if n := strings.Count(logs.String(), "Redis unreachable for resgen state"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "falling back to local state") {
		t.Errorf("logs: %s", logs.String())
	}
}

func TestFallbackClosedPort(t *testing.T) {
	s, logs := fallbackStore(t, closedAddr(t))
	checkFallback(t, s, logs)
}

// TestFallbackHungServer: a server that accepts connections and never
// answers costs one timeout, not a hang.
func TestFallbackHungServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	s, logs := fallbackStore(t, l.Addr().String())
	start := time.Now()
	bs, _ := s.Bucket("one", runtime.RateLimitConfig{})
	bs.Reserve(time.Now(), 0)
	if d := time.Since(start); d > 150*time.Millisecond {
		t.Fatalf("first operation against a hung server took %v, want about the 50ms timeout", d)
	}
	checkFallback(t, s, logs)
}

// flaky is a net.Conn that fails while broken is set.
type flaky struct {
	net.Conn
	broken *atomic.Bool
}

var errBroken = errors.New("test: network broken")

func (c flaky) Write(p []byte) (int, error) {
	if c.broken.Load() {
		return 0, errBroken
	}
	return c.Conn.Write(p)
}

func TestFallbackAndBack(t *testing.T) {
	testenv.NeedService(t, "Redis", testenv.RedisAddr)
	var broken atomic.Bool
	c := redis.NewClient(&redis.Options{
		Addr:       testenv.RedisAddr,
		MaxRetries: -1,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if broken.Load() {
				return nil, errBroken
			}
			var d net.Dialer
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return flaky{conn, &broken}, nil
		},
	})
	t.Cleanup(func() { c.Close() })
	var logs syncBuffer
	p := testPrefix(t)
	s := newStore(t, c, redisstore.WithPrefix(p), redisstore.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	other := newStore(t, newClient(t, true), redisstore.WithPrefix(p))
	br, _ := s.Breaker("W", breakerCfg)
	ob, _ := other.Breaker("W", breakerCfg)

	if _, err := br.Allow(sys); err != nil {
		t.Fatal(err)
	}
	checkUp(t, s)
	broken.Store(true)
	s.Flush()   // Redis is lost
	open(t, br) // locally
	if _, err := br.Allow(sys); !errors.Is(err, runtime.ErrCircuitOpen) {
		t.Fatalf("local breaker: %v", err)
	}
	if ob.State() != runtime.StateClosed {
		t.Fatal("a local failure reached Redis")
	}
	broken.Store(false)
	// Redis is tried again within a second; the shared breaker is closed.
	deadline := time.Now().Add(3 * time.Second)
	for s.Down() && time.Now().Before(deadline) {
		br.State()
		time.Sleep(50 * time.Millisecond)
	}
	if s.Down() {
		t.Fatal("store still down 3s after Redis came back")
	}
	if _, err := br.Allow(sys); err != nil {
		t.Fatalf("shared breaker after Redis came back: %v", err)
	}
	out := logs.String()
	if strings.Count(out, "level=WARN") != 1 || strings.Count(out, "level=INFO") != 1 ||
		!strings.Contains(out, "Redis reachable again") {
		t.Fatalf("want one warning and one info:\n%s", out)
	}
}

// newStore returns a Store closed when the test ends.
func newStore(t testing.TB, c redis.UniversalClient, opts ...redisstore.Option) *redisstore.Store {
	s := redisstore.New(c, opts...)
	t.Cleanup(func() { s.Close() })
	return s
}

// settle waits for the stores to have sent what they know and to have
// read what the others sent.
func settle(stores ...*redisstore.Store) {
	for _, s := range stores {
		s.Flush()
	}
	for _, s := range stores {
		s.Flush()
	}
}

// TestOutageFallsBackToShare: two processes that lose Redis together
// each fall back to half of the shared limit, starting empty, not to a
// full bucket of their own (which admitted 80 calls against a shared bound
// of 45 over 4s).
func TestOutageFallsBackToShare(t *testing.T) {
	rs := startRedis(t, 0)
	cfg := runtime.RateLimitConfig{MaxRequestsPerMinute: 600, BurstSize: 5} // 10/s
	var buckets []store.Bucket
	var stores []*redisstore.Store
	for range 2 {
		c := redis.NewClient(&redis.Options{Addr: rs.addr(), MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
		t.Cleanup(func() { c.Close() })
		s := newStore(t, c, redisstore.WithPrefix("share:"), redisstore.WithLogger(slog.New(slog.DiscardHandler)))
		b, err := s.Bucket("host", cfg)
		if err != nil {
			t.Fatal(err)
		}
		stores, buckets = append(stores, s), append(buckets, b)
	}
	// Both heartbeats are in: each sees two members.
	deadline := time.Now().Add(3 * time.Second)
	for {
		c := redis.NewClient(&redis.Options{Addr: rs.addr()})
		n, _ := c.ZCard(context.Background(), "share:{bucket:host}:members").Result()
		c.Close()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d members after 3s, want 2", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(1100 * time.Millisecond) // a heartbeat that reads both
	rs.kill()
	admitted := 0
	start := time.Now()
	for time.Since(start) < 4*time.Second {
		for _, b := range buckets {
			if _, ok := b.Reserve(time.Now(), 0); ok {
				admitted++
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i, s := range stores {
		if !s.Down() {
			t.Fatalf("store %d does not know Redis is gone", i)
		}
	}
	// The outage bound: burst + rate·T + N (the shares start empty, one
	// token each, and their rates add up to the limit's).
	bound := 5 + 40 + 2
	t.Logf("%d admitted over 4s by two processes without Redis (bound %d)", admitted, bound)
	if admitted > bound {
		t.Fatalf("%d admitted over 4s by two processes without Redis, above the shared bound %d", admitted, bound)
	}
	if admitted < 30 {
		t.Fatalf("only %d admitted over 4s: the shares are too small", admitted)
	}
}

// TestRemoteChangesReachObservers: a breaker that another process opens
// and closes is reported by this process's Manager as its own changes.
func TestRemoteChangesReachObservers(t *testing.T) { testRemoteChangesReachObservers(t, twoStores) }

func testRemoteChangesReachObservers(t *testing.T, twoStores func(*testing.T) (*redisstore.Store, *redisstore.Store)) {
	a, b := twoStores(t)
	cfg := runtime.Config{
		Retry:          runtime.RetryConfig{Disabled: true},
		CircuitBreaker: runtime.CircuitBreakerConfig{FailureThreshold: 2, RecoveryTimeout: 200 * time.Millisecond, SuccessThreshold: 1},
		RateLimit:      runtime.RateLimitConfig{Disabled: true},
		Throttle:       runtime.ThrottleConfig{Disabled: true},
	}
	spec := &resgenimpl.Spec{Wrapper: "W", Interface: "x.I", Methods: []resgenimpl.MethodSpec{{Name: "Get", Config: cfg}}}
	var mu sync.Mutex
	var seen []string
	var logs syncBuffer
	obs := runtime.ObserverFunc(func(e runtime.Event) {
		if e.Kind == runtime.EventStateChange {
			mu.Lock()
			seen = append(seen, e.From.String()+">"+e.To.String())
			mu.Unlock()
		}
	})
	ma, err := resgenimpl.NewManager(struct{}{}, spec, runtime.WithLogger(nil), runtime.WithStore(a))
	if err != nil {
		t.Fatal(err)
	}
	defer ma.Close()
	mb, err := resgenimpl.NewManager(struct{}{}, spec, runtime.WithStore(b), runtime.WithObserver(obs),
		runtime.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	ctx := context.Background()
	for range 2 {
		call(ctx, ma.Method(0), func() error { return internalError{} })
	}
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for {
			mu.Lock()
			got := slices.Contains(seen, want)
			mu.Unlock()
			if got {
				return
			}
			if time.Now().After(deadline) {
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("events %v, want %s", seen, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("CLOSED>OPEN")
	if s, _ := mb.BreakerState("W"); s != runtime.StateOpen {
		t.Fatalf("state %v, want OPEN", s)
	}
	time.Sleep(250 * time.Millisecond)
	if err := call(ctx, ma.Method(0), func() error { return nil }); err != nil {
		t.Fatalf("probe: %v", err)
	}
	waitFor("HALF_OPEN>CLOSED")
	out := logs.String()
	if !strings.Contains(out, "Circuit breaker OPEN for W (shared state, opened by another process)") ||
		!strings.Contains(out, "Circuit breaker CLOSED for W") {
		t.Fatalf("logs:\n%s", out)
	}
}

// TestLateOpenMessageDoesNotExtendOpen: a breaker's change published on
// Redis and delivered late (a cluster's bus delayed one by 34ms) tells
// the time left open when it was sent; taken as the time left when it
// arrived, it held the breaker open past the recovery timeout, and the
// process that opened it admitted no probe when it was due.
func TestLateOpenMessageDoesNotExtendOpen(t *testing.T) {
	p := testPrefix(t)
	c := newClient(t, true)
	s := newStore(t, c, redisstore.WithPrefix(p), redisstore.WithTimeout(time.Second))
	br, _ := s.Breaker("W", breakerCfg)
	open(t, br)
	settle(s)
	if st := br.State(); st != runtime.StateOpen {
		t.Fatalf("state %v, want OPEN", st)
	}
	opened := time.Now()
	time.Sleep(100 * time.Millisecond)
	// The change again, as if its delivery had taken 100ms: the whole
	// recovery timeout left, generation 1, from this Store.
	msg := fmt.Sprintf("b %s{breaker:W} 1 1 0 %d other", p, breakerCfg.RecoveryTimeout.Microseconds())
	if err := c.Publish(context.Background(), p+"events", msg).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // delivered
	time.Sleep(time.Until(opened.Add(breakerCfg.RecoveryTimeout + 20*time.Millisecond)))
	if _, err := br.Allow(sys); err != nil {
		t.Fatalf("Allow %v after opening (recovery timeout %v), after a late message: %v, want a probe",
			time.Since(opened).Round(time.Millisecond), breakerCfg.RecoveryTimeout, err)
	}
	checkUp(t, s)
}
