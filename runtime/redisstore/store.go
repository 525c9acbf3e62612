// Package redisstore keeps resgen's circuit-breaker and rate-limit state in
// Redis (go-redis v9), so that every process that wraps the same service
// shares one breaker and one token bucket:
//
//	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
//	w, err := shop.NewResilientStore(inner,
//		runtime.WithStore(redisstore.New(client)))
//
// Each state is one Redis hash updated by Lua scripts, timed by the
// server's clock (TIME), so processes need not agree on the time. Calls do
// not each go to Redis: each process decides from local state and
// synchronizes in the background (see "The local fast path" below), so
// that the success path costs about what in-process state costs.
//
// # The local fast path
//
// Rate limits: a process leases tokens from the shared bucket in batches
// sized from its own recent demand (what it asked for over the lease
// horizon, 200ms by default, admitted or not; at most the burst and at
// most the limit's rate over the horizon) and hands them out with one
// atomic operation each; a background goroutine leases the next batch
// when half of the current one is used; tokens left unused for a second
// expire, and those left at Close are given back (see "Close" below).
// Since leases follow demand, not what a process got, processes that
// together ask for more than the limit split its tokens in proportion to
// their demands, each within one lease of its share. The shared bucket
// counts leased tokens when they are leased, so in any window of length
// T, admissions across N processes stay within
//
//	burst + rate·T + N·lease
//
// where lease is the largest lease a process holds (the tokens leased
// before the window and used in it), at most min(burst, rate·horizon). Size it with WithLeaseHorizon: a
// horizon h bounds lease by min(burst, rate·h); WithLeaseHorizon(0)
// turns leases off (one Redis round trip per admission, and the bound is
// burst + rate·T).
//
// Breakers: a closed breaker admits from the state last known, with one
// atomic load. Failures, and the first success after failures, are sent
// to Redis by the background goroutine at once, coalesced while a round
// trip is in flight; a change of state is published (Redis pub/sub) and
// every Store that shares the breaker applies it on receipt, and polls the
// state once a second in case a message was lost. A breaker opened by one
// process is thus open in all within a round trip or two. Probes of a
// half-open breaker and their results go to Redis synchronously: they are
// few. The Manager reports changes made by other processes as its own
// (store.Watcher).
//
// Adaptive throttling and the retry budget (store.OverloadSharer): each
// process's wrappers count a dependency's requests, accepts, calls and
// retries over their windows in the process; every background round
// (100ms) the Store asks them for those counts, and sends those of the
// dependencies that are hot (a quarter of the attempts of the throttle's
// window failed, in any process) in one pipeline, one script per
// dependency; the others go with the once-a-second heartbeat. The script writes this process's
// field of the dependency's hash, stamped by the server's clock, and
// returns the sums of the other fields, deleting those not renewed for
// 3s: a process that stops reporting drops out of the fleet's counts
// then, one that closes its Store at once. A dependency that turns hot in
// one process is published on the Store's channel, so that every process
// that shares it reads the fleet's counts each round from then on. Each
// wrapper then decides from its own counts plus the others' last read: a
// process that sends little throttles as soon as the fleet sees a
// brownout, and the retry budget's floor is split among the processes,
// so that the fleet's retries stay within its ratio of the fleet's calls
// plus one floor (see runtime.ThrottleConfig and
// runtime.RetryBudgetConfig). No call waits for this, and a success pays
// nothing more for it: the counts are the methods' own counters, read in
// the background.
//
// # Faults
//
// When Redis cannot be reached, or does not answer within the timeout
// (WithTimeout), the Store serves from the process: it says so once at
// Warn level, and once at Info level when Redis answers again; while Redis
// is down it is tried again at most once a second (by one caller, or by
// the background goroutine), so no call waits longer than the timeout, and
// at most once a second. Local state carries on from the last fleet state
// known: an open breaker stays open (the process's breaker opens anew, for
// InitialRecoveryTimeout first as any breaker), a failure streak is kept;
// throttling and the retry budget count the process's own calls (each
// wrapper says so once in its log, and once when the fleet's counts are
// back); each
// bucket falls back to its share of the limit, the rate and burst divided
// by the number of processes that used it in the last few seconds (a
// heartbeat in Redis counts them), starting empty. During an outage the
// fleet's admissions in a window of length T thus stay within
//
//	burst + rate·T + N·lease + N
//
// as long as no process joins during the outage (a process that joins
// then counts itself alone, and uses the whole limit). A process that has
// never reached Redis uses the whole limit too. When Redis restarts empty,
// the breakers' state is written back from what the processes knew, and
// the buckets start full.
//
// # Redis Cluster
//
// New takes any redis.UniversalClient: a *redis.Client (one server, or a
// Sentinel failover client), or a *redis.ClusterClient for Redis Cluster
// (redis.NewClusterClient, or redis.NewUniversalClient with several
// addresses):
//
//	client := redis.NewClusterClient(&redis.ClusterOptions{
//		Addrs:                 []string{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"},
//		ContextTimeoutEnabled: true,
//	})
//	store := redisstore.New(client)
//
// Each state's keys share a hash tag, the braces around the state's kind
// and name, so that they live in one slot and a script that touches
// several of them never fails with CROSSSLOT; states of different names
// spread over the cluster's nodes:
//
//	resgen:{bucket:NAME}           the bucket
//	resgen:{bucket:NAME}:members   the processes that use it
//	resgen:{breaker:NAME}          the breaker
//	resgen:{overload:NAME}         a dependency's overload counts, a field per process
//
// A prefix may hold braces of its own: its first {...} is then the hash
// tag of every key, and every state lives in that one slot (still no
// CROSSSLOT); a prefix must not hold an empty {} before any other brace,
// which would make Redis hash each key whole. Changes of state are
// published on one channel (PREFIX + "events"): Redis Cluster forwards
// every PUBLISH to every node, so a Store subscribed through any node
// hears the changes of states on all of them. A *redis.Ring works but is
// not recommended: it shards pub/sub by channel and keys by key, so
// changes reach the other processes only by the once-a-second poll.
//
// When a master fails, the operations on its slots fail until a replica
// takes over; the Store serves from local state meanwhile (see "Faults"),
// and each failed operation has the cluster client reload the slot map, so
// that the Store is back on shared state within about a second of the
// promotion, not at the client's periodic reload
// (ClusterStateReloadInterval, a minute by default). The breakers' state
// the replica received carries on; a subscription on the lost node is made
// again on another.
//
// Set ContextTimeoutEnabled in the client's options so that go-redis itself
// honours the per-operation timeout; otherwise the Store runs each Redis
// operation in its own goroutine to return in time, and a hung connection
// holds that goroutine until the client's own read timeout.
//
// # Close
//
// Close the Store when done with it: it stops its goroutines, takes the
// process out of the buckets' membership, and gives the tokens it leased
// and did not hand out back to the shared buckets, so that a rolling
// restart of a fleet does not take each process's lease out of the limit
// until the bucket refills. That is one round trip, within the Store's
// timeout when the client honours contexts (ContextTimeoutEnabled;
// otherwise within the client's read timeout); while Redis is down the
// tokens are left to expire. Tokens are given back only while the bucket still counts them:
// once it has filled up again (or been paused) after they were leased,
// it has already let them go, and giving them back would admit them
// twice. A Manager does not close the Store it was given (a Store may
// serve many): close the Store after the Managers that use it, before
// the process exits.
package redisstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
	"github.com/resgen-dev/resgen/runtime/store"
)

// Option configures a Store.
type Option func(*Store)

// WithPrefix sets the prefix of the Store's Redis keys and of its pub/sub
// channel (default "resgen:"). Stores that share state must use the same
// prefix. On Redis Cluster, braces in the prefix change how keys are
// hashed (see the package doc).
func WithPrefix(prefix string) Option {
	return func(s *Store) { s.prefix = prefix }
}

// WithTimeout bounds each Redis operation (default 50ms). An operation that
// takes longer is served by local state instead.
func WithTimeout(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.timeout = d
		}
	}
}

// WithLogger sends the Store's logs (Redis lost, Redis back) to l instead of
// slog.Default(). WithLogger(nil) silences them.
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) {
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		s.logger = l
	}
}

// WithLeaseHorizon sets how many of its rate-limit tokens a process leases
// at once: about what it asked for over d recently (its demand, admitted
// or not), at most the bucket's burst
// and at most the limit's rate over d (default DefaultLeaseHorizon). Each
// process may admit up to one lease beyond the bucket's bound (see the
// package doc); 0 leases nothing, and every admission is a Redis round
// trip.
func WithLeaseHorizon(d time.Duration) Option {
	return func(s *Store) { s.horizon = max(d, 0) }
}

// withClock is a test hook: the leases' bookkeeping reads now instead of
// the time, and the test runs the background rounds itself (Store.round).
func withClock(now func() time.Time) Option {
	return func(s *Store) { s.now, s.manual = now, true }
}

// DefaultPrefix is the prefix of the Store's keys unless WithPrefix says
// otherwise.
const DefaultPrefix = "resgen:"

// DefaultTimeout bounds each Redis operation unless WithTimeout says
// otherwise.
const DefaultTimeout = 50 * time.Millisecond

// DefaultLeaseHorizon is the lease horizon unless WithLeaseHorizon says
// otherwise.
const DefaultLeaseHorizon = 200 * time.Millisecond

const (
	retryEvery     = time.Second     // how often Redis is tried again after it failed
	heartbeatEvery = time.Second     // how often membership is renewed and states are polled
	memberTTL      = 3 * time.Second // a process not heard of for that long is gone
	leaseTTL       = time.Second     // leased tokens unused for that long expire
	tickEvery      = 100 * time.Millisecond
)

// Store is a runtime.Store that keeps state in Redis (see the package doc).
// It is safe for concurrent use; one Store may serve many wrappers. Its
// zero value is not usable: call New.
type Store struct {
	client  redis.UniversalClient
	prefix  string
	channel string // pub/sub channel of state changes
	id      string // this Store's name in membership sets
	timeout time.Duration
	horizon time.Duration
	logger  *slog.Logger
	direct  bool // the client honours contexts' deadlines itself
	local   runtime.Store

	downMu   sync.Mutex // orders the changes of down and outages
	down     atomic.Bool
	outages  atomic.Uint64 // how many times Redis was lost: local state is per outage
	retryAt  atomic.Int64  // Unix nanoseconds: when Redis may be tried again while down
	reached  atomic.Bool   // Redis answered at least once
	resynced atomic.Bool   // the background goroutine must poll every state now

	mu       sync.Mutex
	breakers map[breakerKey]*breaker
	buckets  map[string]*bucket
	blist    []*breaker // the same, for the background goroutine
	klist    []*bucket
	shares   map[string]*overloadShare // overload counts, by dependency
	slist    []*overloadShare          // the same, for the background goroutine

	startOnce sync.Once
	closeOnce sync.Once
	wake      chan struct{} // buffered: something waits for the background goroutine
	stop      chan struct{}
	stopCtx   context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	psMu sync.Mutex
	ps   *redis.PubSub

	emu    sync.Mutex
	events []func()      // state changes for the watchers, in order
	queued chan struct{} // buffered: events are waiting
	rtrips atomic.Int64

	// Test hooks: the clock of the leases' bookkeeping, and whether the
	// test runs the background rounds itself (no loop goroutine).
	now    func() time.Time
	manual bool
}

type breakerKey struct {
	name string
	cfg  [3]int64
}

// New returns a Store that keeps state in Redis through client: a
// *redis.Client, a *redis.ClusterClient, a failover client, any
// redis.UniversalClient.
func New(client redis.UniversalClient, opts ...Option) *Store {
	var id [8]byte
	rand.Read(id[:])
	s := &Store{
		client:   client,
		prefix:   DefaultPrefix,
		timeout:  DefaultTimeout,
		horizon:  DefaultLeaseHorizon,
		logger:   slog.Default(),
		local:    resgenimpl.NewLocalStore(nil),
		breakers: make(map[breakerKey]*breaker),
		buckets:  make(map[string]*bucket),
		shares:   make(map[string]*overloadShare),
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		queued:   make(chan struct{}, 1),
		id:       fmt.Sprintf("%x", id),
		now:      time.Now,
	}
	for _, o := range opts {
		o(s)
	}
	s.channel = s.prefix + "events"
	s.stopCtx, s.cancel = context.WithCancel(context.Background())
	switch c := client.(type) {
	case *redis.Client:
		s.direct = c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		s.direct = c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		s.direct = c.Options().ContextTimeoutEnabled
	}
	return s
}

// Close stops the Store's goroutines, takes this process out of the
// buckets' membership and gives the buckets the leased tokens it did not
// hand out (see the package doc), within the Store's timeout when the
// client honours contexts (else within its read timeout). States it
// handed out keep working from local state afterwards, without Redis.
// Close does not close the client.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.cancel()
		s.psMu.Lock()
		if s.ps != nil {
			s.ps.Close() // ends a Receive in flight
		}
		s.psMu.Unlock()
		s.wg.Wait()
		s.mu.Lock()
		ks, shs := s.klist, s.slist
		s.mu.Unlock()
		if len(ks)+len(shs) > 0 && !s.down.Load() {
			ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
			defer cancel()
			pipe := s.client.Pipeline()
			for _, b := range ks {
				pipe.ZRem(ctx, b.mkey, s.id)
				b.giveBack(ctx, pipe)
			}
			for _, sh := range shs {
				pipe.HDel(ctx, sh.key, s.id) // out of the fleet's counts at once
			}
			pipe.Exec(ctx)
		}
		s.down.Store(true) // from now on, local state
		s.retryAt.Store(math.MaxInt64)
	})
	return nil
}

// start starts the background goroutines, once.
func (s *Store) start() {
	s.startOnce.Do(func() {
		select {
		case <-s.stop:
			return // closed before any state was asked for
		default:
		}
		s.wg.Add(2)
		if !s.manual {
			s.wg.Add(1)
			go s.loop()
		}
		go s.subscribe()
		go s.deliver()
	})
}

// kick wakes the background goroutine without waiting.
func (s *Store) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Breaker returns the breaker called name, shared through Redis by every
// Store with the same prefix. Its settings are cfg's: processes that share
// a breaker should agree on them.
func (s *Store) Breaker(name string, cfg runtime.CircuitBreakerConfig) (store.Breaker, error) {
	if err := (runtime.Config{CircuitBreaker: cfg}).Validate(); err != nil {
		return nil, err
	}
	cfg = (runtime.Config{CircuitBreaker: cfg}).Normalize().CircuitBreaker
	k := breakerKey{name, [3]int64{int64(cfg.FailureThreshold), int64(cfg.RecoveryTimeout), int64(cfg.SuccessThreshold)}}
	s.mu.Lock()
	b, ok := s.breakers[k]
	if !ok {
		b = newBreaker(s, name, cfg)
		s.breakers[k] = b
		s.blist = append(s.blist, b)
	}
	s.mu.Unlock()
	if !ok {
		s.start()
		b.poll() // the fleet's state before the first call
	}
	return b, nil
}

// Bucket returns the token bucket called key, shared through Redis by every
// Store with the same prefix.
func (s *Store) Bucket(key string, cfg runtime.RateLimitConfig) (store.Bucket, error) {
	if err := (runtime.Config{RateLimit: cfg}).Validate(); err != nil {
		return nil, err
	}
	cfg = (runtime.Config{RateLimit: cfg}).Normalize().RateLimit
	k := fmt.Sprintf("%s\x00%d/%d", key, cfg.MaxRequestsPerMinute, cfg.BurstSize)
	s.mu.Lock()
	b, ok := s.buckets[k]
	if !ok {
		b = newBucket(s, key, cfg)
		s.buckets[k] = b
		s.klist = append(s.klist, b)
	}
	s.mu.Unlock()
	if !ok {
		s.start()
		s.kick() // its heartbeat
	}
	return b, nil
}

// available reports whether Redis should be tried: always while it is up;
// while it is down, once a second (one caller, the others go local).
func (s *Store) available() bool {
	if !s.down.Load() {
		return true
	}
	now := time.Now().UnixNano()
	r := s.retryAt.Load()
	return now >= r && s.retryAt.CompareAndSwap(r, now+int64(retryEvery))
}

func (s *Store) failed(err error) {
	s.retryAt.Store(time.Now().Add(retryEvery).UnixNano())
	if c, ok := s.client.(interface{ ReloadState(context.Context) }); ok {
		// A cluster client learns of a failover from a MOVED reply or its
		// periodic reload (a minute by default); a master that is gone
		// answers nothing: ask the cluster for its slots now.
		c.ReloadState(context.Background())
	}
	if s.down.Load() {
		return
	}
	s.downMu.Lock()
	defer s.downMu.Unlock()
	if !s.down.Load() {
		s.outages.Add(1) // before down: the outage's local state starts from what was known then
		s.down.Store(true)
		s.logger.Warn(fmt.Sprintf("Redis unreachable for resgen state (prefix %q): %v; falling back to local state", s.prefix, err),
			slog.String("prefix", s.prefix), slog.Any("error", err))
	}
}

func (s *Store) answered() {
	s.reached.Store(true)
	if !s.down.Load() {
		return
	}
	s.downMu.Lock()
	defer s.downMu.Unlock()
	if s.down.Swap(false) {
		s.resynced.Store(true)
		s.kick()
		s.logger.Info(fmt.Sprintf("Redis reachable again for resgen state (prefix %q); using shared state", s.prefix),
			slog.String("prefix", s.prefix))
	}
}

// Down reports whether the Store is serving from local state because Redis
// failed to answer its last operation.
func (s *Store) Down() bool { return s.down.Load() }

// RoundTrips returns how many round trips to Redis the Store has made
// (a pipeline is one), for measurements.
func (s *Store) RoundTrips() int64 { return s.rtrips.Load() }

// do runs op under the Store's timeout, unless Redis is down and not due
// to be tried again, and records the outcome. ok says whether op ran and
// succeeded. op's result is used only when it returns in time.
func do[T any](s *Store, op func(ctx context.Context) (T, error)) (v T, ok bool) {
	if !s.available() {
		return v, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	run := func() (r result) {
		defer func() {
			if p := recover(); p != nil {
				r.err = fmt.Errorf("redisstore: panic: %v", p)
			}
		}()
		r.v, r.err = op(ctx)
		return r
	}
	s.rtrips.Add(1)
	var r result
	if s.direct {
		r = run()
	} else {
		ch := make(chan result, 1)
		go func() { ch <- run() }()
		select {
		case r = <-ch:
		case <-ctx.Done():
			r.err = ctx.Err()
		}
	}
	if r.err != nil {
		s.failed(r.err)
		return v, false
	}
	s.answered()
	return r.v, true
}

// eval runs script on key under the Store's timeout and returns its reply,
// or ok=false (Redis down or failing: the caller serves locally).
func (s *Store) eval(script *redis.Script, key string, args ...any) (v []int64, ok bool) {
	return do(s, func(ctx context.Context) ([]int64, error) {
		return script.Run(ctx, s.client, []string{key}, args...).Int64Slice()
	})
}

// loop is the background goroutine: it sends breakers' outcomes, leases
// tokens, renews membership and polls states.
func (s *Store) loop() {
	defer s.wg.Done()
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	var beat time.Time
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
		case <-tick.C:
		}
		s.round(&beat)
	}
}

// round is one round of the background goroutine; beat is when the last
// heartbeat went through.
func (s *Store) round(beat *time.Time) {
	s.mu.Lock()
	bs, ks, shs := s.blist, s.klist, s.slist
	s.mu.Unlock()
	for _, b := range bs {
		b.flush()
	}
	now := s.now()
	for _, b := range ks {
		b.refill(now)
	}
	if now.Sub(*beat) >= heartbeatEvery || s.resynced.Load() {
		if s.heartbeat(bs, ks, overloadReports(shs, true)) {
			*beat = now
			s.resynced.Store(false)
		}
	} else {
		s.reportOverload(overloadReports(shs, false))
	}
}

// heartbeat renews this process's membership of every bucket, reads
// every breaker's state and sends the overload reports rs, in one round
// trip.
func (s *Store) heartbeat(bs []*breaker, ks []*bucket, rs []overloadReport) bool {
	if len(bs)+len(ks)+len(rs) == 0 {
		return true
	}
	type cmds struct{ members, states, overload []*redis.Cmd }
	c, ok := do(s, func(ctx context.Context) (c cmds, err error) {
		pipe := s.client.Pipeline()
		for _, b := range ks {
			c.members = append(c.members, memberScript.Eval(ctx, pipe, []string{b.mkey}, s.id, micros(memberTTL)))
		}
		for _, b := range bs {
			c.states = append(c.states, b.pollCmd(ctx, pipe))
		}
		for _, r := range rs {
			c.overload = append(c.overload, r.cmd(ctx, pipe, s))
		}
		_, err = pipe.Exec(ctx)
		return c, err
	})
	if !ok {
		return false
	}
	members, states := c.members, c.states
	for i, b := range ks {
		if n, err := members[i].Int64(); err == nil && n > 0 {
			b.members.Store(n)
		}
	}
	for i, b := range bs {
		if v, err := states[i].Int64Slice(); err == nil {
			b.apply(v, true)
		}
	}
	now := s.now()
	for i, r := range rs {
		r.applied(c.overload[i], now)
	}
	return true
}

// subscribe receives the state changes other processes publish, and
// resubscribes after Redis comes back.
func (s *Store) subscribe() {
	defer s.wg.Done()
	for {
		ps := s.client.Subscribe(s.stopCtx, s.channel)
		s.psMu.Lock()
		s.ps = ps
		s.psMu.Unlock()
		if _, err := ps.ReceiveTimeout(s.stopCtx, time.Second); err == nil {
			s.resynced.Store(true) // messages may have been missed meanwhile
			s.kick()
			for {
				msg, err := ps.ReceiveTimeout(s.stopCtx, time.Second)
				if isTimeout(err) && s.stopCtx.Err() == nil {
					continue // Redis is checked by the other operations
				}
				if err != nil {
					break
				}
				if m, ok := msg.(*redis.Message); ok {
					s.received(m.Payload)
				}
			}
		}
		ps.Close()
		select {
		case <-s.stop:
			return
		case <-time.After(retryEvery / 4):
		}
	}
}

// deliver calls the watchers, in order, outside every lock.
func (s *Store) deliver() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			s.drain()
			return
		case <-s.queued:
			s.drain()
		}
	}
}

func (s *Store) drain() {
	for {
		s.emu.Lock()
		q := s.events
		s.events = nil
		s.emu.Unlock()
		if len(q) == 0 {
			return
		}
		for _, f := range q {
			f()
		}
	}
}

// notify queues f for the watchers; it never blocks a caller.
func (s *Store) notify(f func()) {
	s.emu.Lock()
	s.events = append(s.events, f)
	s.emu.Unlock()
	select {
	case s.queued <- struct{}{}:
	default:
	}
}

// localPermit and localToken mark the permits and tokens issued by local
// state, so that their results go back to it.
const (
	localPermit store.Permit = 1 << 63
	localToken  int64        = math.MinInt64
)

// received applies a message of the Store's channel: a breaker's change of
// state, a bucket's pause, or a dependency's overload counts turning hot.
func (s *Store) received(msg string) {
	f := strings.Fields(msg)
	if len(f) < 3 {
		return
	}
	s.mu.Lock()
	bs, ks := s.blist, s.klist
	s.mu.Unlock()
	switch f[0] {
	case "b":
		if len(f) != 7 {
			return
		}
		v := []int64{1, 0, 0, 0, 0, 1}
		for i := 2; i <= 5; i++ {
			n, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				return
			}
			v[i-1] = n
		}
		for _, b := range bs {
			if b.key == f[1] {
				b.apply(v, f[6] != s.id)
			}
		}
	case "o":
		if f[2] != s.id {
			s.heated(f[1])
		}
	case "p":
		d, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return
		}
		until := time.Now().Add(time.Duration(d) * time.Microsecond)
		for _, b := range ks {
			if b.key == f[1] {
				b.paused(until)
			}
		}
	}
}

// Flush sends the breakers' outcomes not sent yet and reads every
// breaker's state from Redis, now, each Redis operation within the
// Store's timeout. The background goroutine does the same within a round
// trip or two; Flush is for when that must have happened: before a
// process exits, or in a test.
func (s *Store) Flush() {
	s.mu.Lock()
	bs := s.blist
	s.mu.Unlock()
	for _, b := range bs {
		b.flush()
		b.poll()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
