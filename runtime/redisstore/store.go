// Package redisstore keeps resgen's circuit-breaker and rate-limit state in
// Redis (go-redis v9), so that every process that wraps the same service
// shares one breaker and one token bucket:
//
//	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
//	w, err := shop.NewResilientStore(inner,
//		runtime.WithStore(redisstore.New(client)))
//
// Each state is one Redis key updated by a Lua script per operation, timed
// by the server's clock (TIME), so processes need not agree on the time.
//
// When Redis cannot be reached, or does not answer within the timeout
// (WithTimeout), the operation is served by state kept in the process
// (runtime.NewLocalStore): the wrapper goes on with local limits and a local
// breaker, says so once at Warn level, and once at Info level when Redis
// answers again. While Redis is down it is tried again at most once a
// second, so calls do not each pay the timeout.
//
// Set ContextTimeoutEnabled in the client's options so that go-redis itself
// honours the per-operation timeout; otherwise the Store runs each Redis
// operation in its own goroutine to return in time, and a hung connection
// holds that goroutine until the client's own read timeout.
package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resgen-dev/resgen/runtime"
)

// Option configures a Store.
type Option func(*Store)

// WithPrefix sets the prefix of the Store's Redis keys (default "resgen:").
// Stores that share state must use the same prefix.
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

// DefaultPrefix is the prefix of the Store's keys unless WithPrefix says
// otherwise.
const DefaultPrefix = "resgen:"

// DefaultTimeout bounds each Redis operation unless WithTimeout says
// otherwise.
const DefaultTimeout = 50 * time.Millisecond

// retryEvery is how often Redis is tried again after it failed.
const retryEvery = time.Second

// Store is a runtime.Store that keeps state in Redis (see the package doc).
// It is safe for concurrent use; one Store may serve many wrappers.
type Store struct {
	client  redis.UniversalClient
	prefix  string
	timeout time.Duration
	logger  *slog.Logger
	direct  bool // the client honours contexts' deadlines itself
	local   runtime.Store

	down    atomic.Bool
	retryAt atomic.Int64 // Unix nanoseconds: when Redis may be tried again while down

	mu       sync.Mutex
	breakers map[breakerKey]*breaker
	buckets  map[string]*bucket
}

type breakerKey struct {
	name string
	cfg  [3]int64
}

// New returns a Store that keeps state in Redis through client.
func New(client redis.UniversalClient, opts ...Option) *Store {
	s := &Store{
		client:   client,
		prefix:   DefaultPrefix,
		timeout:  DefaultTimeout,
		logger:   slog.Default(),
		local:    runtime.NewLocalStore(nil),
		breakers: make(map[breakerKey]*breaker),
		buckets:  make(map[string]*bucket),
	}
	for _, o := range opts {
		o(s)
	}
	if c, ok := client.(*redis.Client); ok && c.Options().ContextTimeoutEnabled {
		s.direct = true
	}
	return s
}

// Breaker returns the breaker called name, shared through Redis by every
// Store with the same prefix. Its settings are cfg's: processes that share
// a breaker should agree on them.
func (s *Store) Breaker(name string, cfg runtime.CircuitBreakerConfig) (runtime.BreakerState, error) {
	if err := (runtime.Config{CircuitBreaker: cfg}).Validate(); err != nil {
		return nil, err
	}
	cfg = (runtime.Config{CircuitBreaker: cfg}).Normalize().CircuitBreaker
	k := breakerKey{name, [3]int64{int64(cfg.FailureThreshold), int64(cfg.RecoveryTimeout), int64(cfg.SuccessThreshold)}}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.breakers[k]
	if !ok {
		b = newBreaker(s, name, cfg)
		s.breakers[k] = b
	}
	return b, nil
}

// Bucket returns the token bucket called key, shared through Redis by every
// Store with the same prefix.
func (s *Store) Bucket(key string, cfg runtime.RateLimitConfig) (runtime.BucketState, error) {
	if err := (runtime.Config{RateLimit: cfg}).Validate(); err != nil {
		return nil, err
	}
	cfg = (runtime.Config{RateLimit: cfg}).Normalize().RateLimit
	k := fmt.Sprintf("%s\x00%d/%d", key, cfg.MaxRequestsPerMinute, cfg.BurstSize)
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[k]
	if !ok {
		b = newBucket(s, key, cfg)
		s.buckets[k] = b
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
	if !s.down.Swap(true) {
		s.logger.Warn(fmt.Sprintf("Redis unreachable for resgen state (prefix %q): %v; falling back to local state", s.prefix, err),
			slog.String("prefix", s.prefix), slog.Any("error", err))
	}
}

func (s *Store) answered() {
	if s.down.Load() && s.down.Swap(false) {
		s.logger.Info(fmt.Sprintf("Redis reachable again for resgen state (prefix %q); using shared state", s.prefix),
			slog.String("prefix", s.prefix))
	}
}

// Down reports whether the Store is serving from local state because Redis
// failed to answer its last operation.
func (s *Store) Down() bool { return s.down.Load() }

type result struct {
	v   []int64
	err error
}

// eval runs script on key under the Store's timeout and returns its reply,
// or ok=false (Redis down or failing: the caller serves locally).
func (s *Store) eval(script *redis.Script, key string, args ...any) (v []int64, ok bool) {
	if !s.available() {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	run := func() (r result) {
		defer func() {
			if p := recover(); p != nil {
				r.err = fmt.Errorf("redisstore: panic: %v", p)
			}
		}()
		r.v, r.err = script.Run(ctx, s.client, []string{key}, args...).Int64Slice()
		return r
	}
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
		return nil, false
	}
	s.answered()
	return r.v, true
}

// localPermit and localToken mark the permits and tokens issued by local
// state, so that their results go back to it.
const (
	localPermit runtime.Permit = 1 << 63
	localToken  int64          = math.MinInt64
)
