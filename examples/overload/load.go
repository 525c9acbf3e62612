package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resgen-dev/resgen/runtime"
)

// Phase is a stretch of a run with one state of the server.
type Phase struct {
	Name     string
	Duration time.Duration
	// Workers is the pool's size during the phase; zero means the
	// server's configured size.
	Workers int
	// Fault is what the server does besides serving during the phase.
	Fault Fault
	// Degraded says that the service is worse than nominal during the
	// phase (less capacity, an outage...): the plot shades it.
	Degraded bool
	// Returned says that the service is back to nominal at the phase's
	// start, after a degraded phase: the report measures how long the
	// clients take to recover from it.
	Returned bool
}

// LoadConfig is one run's load and server.
type LoadConfig struct {
	// Rate is the offered load in calls a second, open loop: calls start
	// on schedule whether or not earlier ones have returned.
	Rate float64
	// Even spaces arrivals evenly instead of as a Poisson process.
	Even bool
	// Deadline bounds each call (its context's deadline).
	Deadline time.Duration
	// Server is the server's pool, queue and service time; Observe is the
	// harness's.
	Server ServerConfig
	// Phases follow each other; the server changes state at each start.
	Phases []Phase
	// Seed seeds the arrivals; zero means a random seed.
	Seed uint64
}

// Total returns the length of the run: the sum of its phases.
func (c LoadConfig) Total() time.Duration {
	var d time.Duration
	for _, p := range c.Phases {
		d += p.Duration
	}
	return d
}

// PhaseAt returns the index of the phase at offset at, from the run's
// start (the last phase for offsets past the end).
func (c LoadConfig) PhaseAt(at time.Duration) int {
	var end time.Duration
	for i, p := range c.Phases {
		end += p.Duration
		if at < end {
			return i
		}
	}
	return len(c.Phases) - 1
}

// PhaseStart returns the offset at which phase i starts.
func (c LoadConfig) PhaseStart(i int) time.Duration {
	var d time.Duration
	for _, p := range c.Phases[:i] {
		d += p.Duration
	}
	return d
}

// Builder wraps inner in a generated wrapper built with opts, and returns
// it with its Manager.
type Builder func(inner Service, opts ...runtime.Option) (Service, *runtime.Manager, error)

// builder adapts a generated NewXService to a Builder.
func builder[W interface {
	Service
	Resilience() *runtime.Manager
}](build func(Service, ...runtime.Option) (W, error)) Builder {
	return func(inner Service, opts ...runtime.Option) (Service, *runtime.Manager, error) {
		w, err := build(inner, opts...)
		if err != nil {
			return nil, nil, err
		}
		return w, w.Resilience(), nil
	}
}

// Subject is a client under test: the bare client (Build nil) or a
// wrapper of it.
type Subject struct {
	Name    string
	Build   Builder
	Options []runtime.Option // for the wrapper, after the harness's own
}

// ErrKind is how a call ended.
type ErrKind uint8

// The ways a call ends.
const (
	OK          ErrKind = iota // success
	Deadline                   // the call's deadline or an attempt's timeout
	CircuitOpen                // runtime.ErrCircuitOpen
	Unavailable                // 503
	TooMany                    // 429
	OtherErr                   // anything else (a refused connection, a new kind of rejection...)
	numKinds
)

var kindNames = [numKinds]string{"ok", "deadline", "open", "503", "429", "other"}

func (k ErrKind) String() string { return kindNames[k] }

// kindOf classifies how a call ended.
func kindOf(err error) ErrKind {
	var se *StatusError
	switch {
	case err == nil:
		return OK
	case errors.Is(err, runtime.ErrCircuitOpen):
		return CircuitOpen
	case errors.As(err, &se) && se.Status == http.StatusServiceUnavailable:
		return Unavailable
	case errors.As(err, &se) && se.Status == http.StatusTooManyRequests:
		return TooMany
	case errors.Is(err, context.DeadlineExceeded):
		return Deadline
	}
	return OtherErr
}

// Call is what one call of a run did.
type Call struct {
	At        time.Duration // its scheduled start, from the run's start
	Latency   time.Duration // until it returned
	Kind      ErrKind
	Attempts  int // requests of it the server received
	Limited   int // of which the server answered 429
	OpenSends int // requests of it sent while the wrapper's breaker was open
}

// StateChange is a change of the wrapper's breaker.
type StateChange struct {
	At time.Duration // from the run's start
	To runtime.State
}

// Result is one run of one Subject.
type Result struct {
	Subject string
	Breaker bool // a wrapper's run: Changes are its breaker's
	Config  LoadConfig
	Calls   []Call
	Changes []StateChange // the breaker's state changes, in order
	Server  ServerStats
	Other   string // the first error of kind OtherErr, for the report
	// MaxAttempts is the wrapper's attempts per call (Get's retry
	// max_attempts), 1 for the bare client and a wrapper without retry.
	MaxAttempts int
}

type liveCall struct {
	at, latency time.Duration
	kind        ErrKind
	attempts    atomic.Int32
	limited     atomic.Int32
	openSends   atomic.Int32
}

// warmConns is how many connections a run opens before its first call:
// more than the calls in flight at full capacity.
const warmConns = 128

// maxCalls bounds the number of arrivals of a run: the expected number
// plus eight standard deviations of a Poisson process.
func maxCalls(rate float64, total time.Duration) int {
	mean := rate * total.Seconds()
	return int(mean+8*math.Sqrt(mean)) + 16
}

// Run drives one Subject through cfg's phases against a fresh Server, and
// returns every call's outcome. It returns early, with the calls so far,
// when ctx ends.
func Run(ctx context.Context, cfg LoadConfig, sub Subject) (*Result, error) {
	if cfg.Rate <= 0 || len(cfg.Phases) == 0 || cfg.Deadline <= 0 {
		return nil, fmt.Errorf("load: want a rate, a deadline and phases")
	}
	total := cfg.Total()
	calls := make([]liveCall, maxCalls(cfg.Rate, total))
	lookup := func(s string) *liveCall {
		id, err := strconv.Atoi(s)
		if err != nil || id < 0 || id >= len(calls) {
			return nil
		}
		return &calls[id]
	}

	scfg := cfg.Server
	scfg.Observe = func(r *http.Request, o Outcome) {
		if c := lookup(r.Header.Get(callHeader)); c != nil {
			c.attempts.Add(1)
			if o == Limited {
				c.limited.Add(1)
			}
		}
	}
	srv, err := StartServer(scfg)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	hc := NewHTTPClient(scfg.HTTP2)
	defer hc.CloseIdleConnections()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	err = warmUp(wctx, hc, srv.URL(), warmConns)
	wcancel()
	if err != nil {
		return nil, err
	}
	inner := NewClient(srv.URL(), hc)

	res := &Result{Subject: sub.Name, Config: cfg, Breaker: sub.Build != nil, MaxAttempts: 1}
	var start time.Time
	var changes sync.Mutex
	var open atomic.Bool
	var svc Service = inner
	if sub.Build != nil {
		obs := runtime.ObserverFunc(func(e runtime.Event) {
			if e.Kind != runtime.EventStateChange {
				return
			}
			open.Store(e.To == runtime.StateOpen)
			changes.Lock()
			res.Changes = append(res.Changes, StateChange{At: time.Since(start), To: e.To})
			changes.Unlock()
		})
		opts := append([]runtime.Option{runtime.WithLogger(nil), runtime.WithObserver(obs)}, sub.Options...)
		w, mgr, err := sub.Build(inner, opts...)
		if err != nil {
			return nil, fmt.Errorf("building the %s wrapper: %w", sub.Name, err)
		}
		defer mgr.Close()
		svc = w
		res.MaxAttempts = 1
		if c, ok := mgr.Config("Get"); ok && !c.Retry.Disabled {
			res.MaxAttempts = c.Retry.MaxAttempts
		}
		inner.OnSend = func(ctx context.Context) {
			if open.Load() {
				if id := callOf(ctx); id >= 0 && id < len(calls) {
					calls[id].openSends.Add(1)
				}
			}
		}
	}

	apply := func(p Phase) {
		w := p.Workers
		if w == 0 {
			w = scfg.Workers
		}
		srv.SetWorkers(w)
		srv.SetFault(p.Fault)
	}
	apply(cfg.Phases[0])

	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var otherOnce sync.Once
	var wg sync.WaitGroup
	start = time.Now()
	var timers []*time.Timer
	for i := 1; i < len(cfg.Phases); i++ {
		p := cfg.Phases[i]
		timers = append(timers, time.AfterFunc(cfg.PhaseStart(i), func() { apply(p) }))
	}
	n := 0
	var next time.Duration
	for n < len(calls) {
		if cfg.Even {
			next = time.Duration(float64(n) / cfg.Rate * float64(time.Second))
		} else {
			next += time.Duration(rng.ExpFloat64() / cfg.Rate * float64(time.Second))
		}
		if next >= total {
			break
		}
		if d := time.Until(start.Add(next)); d > 0 {
			time.Sleep(d)
		}
		if ctx.Err() != nil {
			break
		}
		c := &calls[n]
		c.at = next
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(withCall(ctx, id), cfg.Deadline)
			t0 := time.Now()
			_, err := svc.Get(cctx, "key-"+strconv.Itoa(id%1024))
			c.latency = time.Since(t0)
			cancel()
			c.kind = kindOf(err)
			if c.kind == OtherErr {
				otherOnce.Do(func() { res.Other = err.Error() })
			}
		}(n)
		n++
	}
	wg.Wait()
	for _, t := range timers {
		t.Stop()
	}
	if err := srv.Close(); err != nil {
		return nil, fmt.Errorf("closing the server: %w", err)
	}
	res.Server = srv.Stats()
	res.Calls = make([]Call, n)
	for i := range res.Calls {
		c := &calls[i]
		res.Calls[i] = Call{
			At: c.at, Latency: c.latency, Kind: c.kind,
			Attempts: int(c.attempts.Load()), Limited: int(c.limited.Load()), OpenSends: int(c.openSends.Load()),
		}
	}
	changes.Lock()
	defer changes.Unlock()
	return res, ctx.Err()
}
