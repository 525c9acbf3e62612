package redisstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/resgen-dev/resgen/internal/testenv"
	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/redisstore"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
)

// The fleet: real processes (this test binary, run again as workers)
// sharing one rate limit and one breaker through a Redis server of their
// own, against one loopback service. `make fleet` runs the long version.

const fleetEnv = "RESGEN_FLEET_WORKER"

type fleetConfig struct {
	ID       int
	Redis    string
	Service  string
	Prefix   string
	Duration time.Duration
	Rate     int // calls a second
	Timeout  time.Duration
	RPM      int // the shared limit
	Burst    int
	Failures int // the shared breaker
	Recovery time.Duration
	// Overload runs the brownout fleet instead (TestFleetBrownout):
	// adaptive throttling and the retry budget on, every other policy off.
	Overload bool
}

type fleetReport struct {
	ID          int
	Admits      []int64 // Unix ns of each admission
	Opens       []int64 // Unix ns of each change to OPEN
	Calls       int
	Rejected    int // breaker open
	RateLimited int
	Failed      int
	MaxOverhead time.Duration // the longest time spent in the resilience stages of one call
	DownAtEnd   bool
	Panic       string
	Leak        string
	Warnings    int     // "Redis unreachable" logged
	Throttled   []int64 // Unix ns of each throttled call (Overload)
}

// TestMain runs a fleet worker instead of the tests when asked to.
func TestMain(m *testing.M) {
	if cfg := os.Getenv(fleetEnv); cfg != "" {
		os.Exit(fleetWorker(cfg))
	}
	goleak.VerifyTestMain(m)
}

func fleetWorker(raw string) (code int) {
	var cfg fleetConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	rep := fleetReport{ID: cfg.ID}
	defer func() {
		if p := recover(); p != nil {
			rep.Panic = fmt.Sprint(p)
		}
		json.NewEncoder(os.Stdout).Encode(rep)
	}()
	client := redis.NewClient(&redis.Options{
		Addr: cfg.Redis, ContextTimeoutEnabled: true,
		DialTimeout: cfg.Timeout, ReadTimeout: cfg.Timeout, WriteTimeout: cfg.Timeout, MaxRetries: -1,
	})
	store := redisstore.New(client, redisstore.WithPrefix(cfg.Prefix), redisstore.WithTimeout(cfg.Timeout),
		redisstore.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	var mu sync.Mutex
	obs := runtime.ObserverFunc(func(e runtime.Event) {
		if e.Kind == runtime.EventStateChange && e.To == runtime.StateOpen {
			mu.Lock()
			rep.Opens = append(rep.Opens, time.Now().UnixNano())
			mu.Unlock()
		}
	})
	spec := &resgenimpl.Spec{Wrapper: "Fleet", Interface: "x.Service", Methods: []resgenimpl.MethodSpec{{Name: "Get", Config: runtime.Config{
		Retry:          runtime.RetryConfig{Disabled: true},
		CircuitBreaker: runtime.CircuitBreakerConfig{FailureThreshold: cfg.Failures, RecoveryTimeout: cfg.Recovery, SuccessThreshold: 2},
		RateLimit:      runtime.RateLimitConfig{MaxRequestsPerMinute: cfg.RPM, BurstSize: cfg.Burst, Strategy: runtime.StrategyDrop, Global: true},
		Throttle:       runtime.ThrottleConfig{Disabled: true},
		RetryBudget:    runtime.RetryBudgetConfig{Disabled: true},
	}}}}
	if cfg.Overload {
		spec.Methods[0].Config = runtime.Config{
			Retry:          runtime.RetryConfig{Disabled: true},
			CircuitBreaker: runtime.CircuitBreakerConfig{Disabled: true},
			RateLimit:      runtime.RateLimitConfig{Disabled: true},
		}
	}
	m, err := resgenimpl.NewManager(struct{}{}, spec, runtime.WithStore(store), runtime.WithObserver(obs), runtime.WithLogger(nil))
	if err != nil {
		panic(err)
	}
	me := m.Method(0)
	hc := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(time.Second / time.Duration(cfg.Rate))
	end := time.Now().Add(cfg.Duration)
	for time.Now().Before(end) {
		<-tick.C
		rep.Calls++
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		var c resgenimpl.Call
		t0 := time.Now()
		err := me.Admit(ctx, &c)
		spent := time.Since(t0)
		switch {
		case err == nil:
			mu.Lock()
			rep.Admits = append(rep.Admits, t0.UnixNano())
			mu.Unlock()
			ok := false
			req, _ := http.NewRequestWithContext(ctx, "GET", cfg.Service, nil)
			req.Header.Set("X-Worker", strconv.Itoa(cfg.ID))
			var fail error = internalError{}
			if resp, err := hc.Do(req); err == nil {
				ok = resp.StatusCode == http.StatusOK
				if resp.StatusCode == http.StatusServiceUnavailable {
					fail = status503{}
				}
				resp.Body.Close()
			}
			t1 := time.Now()
			if ok {
				me.Success(&c)
			} else {
				rep.Failed++
				me.Failure(ctx, &c, fail)
			}
			spent += time.Since(t1)
		case errors.Is(err, runtime.ErrCircuitOpen):
			rep.Rejected++
		case errors.Is(err, runtime.ErrRateLimited):
			rep.RateLimited++
		case errors.Is(err, runtime.ErrThrottled):
			rep.Throttled = append(rep.Throttled, t0.UnixNano())
		default:
			panic(err)
		}
		cancel()
		rep.MaxOverhead = max(rep.MaxOverhead, spent)
	}
	tick.Stop()
	rep.DownAtEnd = store.Down()
	m.Close()
	store.Close()
	client.Close()
	hc.CloseIdleConnections()
	if err := goleak.Find(goleak.IgnoreCurrent()); err != nil {
		rep.Leak = err.Error()
	}
	return 0
}

// redisServer is a redis-server of the test's own, which it may stop and
// kill (the machine's Redis is shared with other tests).
type redisServer struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

func startRedis(t *testing.T, port int) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if testenv.Required() {
			t.Fatalf("redis-server is required (RESGEN_INTEGRATION=require): %v", err)
		}
		t.Skipf("redis-server not found (%v): skipping; install it, or set RESGEN_INTEGRATION=require to make this a failure", err)
	}
	if port == 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &redisServer{t: t, port: port, cmd: cmd}
	t.Cleanup(r.kill)
	c := redis.NewClient(&redis.Options{Addr: r.addr()})
	defer c.Close()
	for deadline := time.Now().Add(5 * time.Second); c.Ping(context.Background()).Err() != nil; {
		if time.Now().After(deadline) {
			t.Fatal("own redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r
}

func (r *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *redisServer) signal(s syscall.Signal) {
	if err := r.cmd.Process.Signal(s); err != nil {
		r.t.Errorf("signal %v to own redis-server: %v", s, err)
	}
}

func (r *redisServer) kill() {
	if r.cmd.ProcessState == nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
}

// maxInWindow returns the most admissions in any window [t, t+w] of the
// sorted times, among windows that start and end within [from, to).
func maxInWindow(ts []int64, w time.Duration, from, to int64) int {
	best, j := 0, 0
	for i := range ts {
		if ts[i] < from || ts[i]+int64(w) >= to {
			continue
		}
		j = max(j, i)
		for j < len(ts) && ts[j] <= ts[i]+int64(w) {
			j++
		}
		best = max(best, j-i)
	}
	return best
}

func TestFleet(t *testing.T) {
	u := time.Second // the schedule's unit
	if os.Getenv("RESGEN_FLEET_LONG") != "" {
		u = 4 * time.Second
	}
	rs := startRedis(t, 0)
	var outage atomic.Bool
	var served atomic.Int64
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		if outage.Load() && r.Header.Get("X-Worker") == "0" {
			w.WriteHeader(http.StatusServiceUnavailable) // only worker 0 sees the outage
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer svc.Close()

	const workers = 4
	const perSecond = 300 // the shared limit
	limit := runtime.RateLimitConfig{MaxRequestsPerMinute: perSecond * 60, BurstSize: 30, Strategy: runtime.StrategyDrop, Global: true}
	// The store's timeout: in `make test` the workers run with the race
	// detector on a machine busy with other tests, where Redis answers
	// within 50ms less reliably.
	timeout := 200 * time.Millisecond
	if u > time.Second {
		timeout = 50 * time.Millisecond
	}
	duration := 9 * u
	type proc struct {
		cmd            *exec.Cmd
		stdout, stderr bytes.Buffer
	}
	procs := make([]*proc, workers)
	start := time.Now()
	for i := range procs {
		cfg, err := json.Marshal(fleetConfig{
			ID: i, Redis: rs.addr(), Service: svc.URL, Prefix: "fleet:", Duration: duration,
			Rate: 150, Timeout: timeout, RPM: limit.MaxRequestsPerMinute, Burst: limit.BurstSize,
			Failures: 5, Recovery: 500 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		p := &proc{cmd: exec.Command(os.Args[0], "-test.run=^$")}
		p.cmd.Env = append(os.Environ(), fleetEnv+"="+string(cfg))
		p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[i] = p
	}
	at := func(d time.Duration) { time.Sleep(time.Until(start.Add(d))) }
	at(2 * u)
	outageAt := time.Now()
	outage.Store(true)
	// Long enough for worker 0 to be admitted failure_threshold times
	// whatever its share of the leases (at 150 calls/s against a shared
	// 300/s, a lean share admits a few a 100ms).
	at(3 * u)
	outage.Store(false)
	at(4 * u)
	stopAt := time.Now()
	rs.signal(syscall.SIGSTOP) // Redis hangs
	at(5 * u)
	rs.signal(syscall.SIGKILL) // and dies
	rs.cmd.Wait()
	at(6 * u)
	backAt := time.Now()
	startRedis(t, rs.port) // and restarts, empty
	var reps []fleetReport
	for i, p := range procs {
		err := p.cmd.Wait()
		var rep fleetReport
		if jerr := json.Unmarshal(p.stdout.Bytes(), &rep); jerr != nil || err != nil {
			t.Fatalf("worker %d: %v, %v\nstderr:\n%s", i, err, jerr, p.stderr.String())
		}
		if rep.Panic != "" || rep.Leak != "" {
			t.Errorf("worker %d: panic %q, leak %q", i, rep.Panic, rep.Leak)
		}
		rep.Warnings = bytes.Count(p.stderr.Bytes(), []byte("Redis unreachable"))
		reps = append(reps, rep)
	}

	var all []int64
	var maxOverhead time.Duration
	for _, r := range reps {
		all = append(all, r.Admits...)
		maxOverhead = max(maxOverhead, r.MaxOverhead)
		t.Logf("worker %d: %d calls, %d admitted, %d rate-limited, %d rejected by the breaker, %d failed; longest resilience overhead %v; lost Redis %d times; down at end %v",
			r.ID, r.Calls, len(r.Admits), r.RateLimited, r.Rejected, r.Failed, r.MaxOverhead, r.Warnings, r.DownAtEnd)
		if r.DownAtEnd {
			t.Errorf("worker %d still served from local state %v after Redis restarted", r.ID, time.Since(backAt))
		}
	}
	slices.Sort(all)
	if int64(len(all)) != served.Load() {
		t.Errorf("%d admissions, %d requests served", len(all), served.Load())
	}

	// The bounds: burst + rate·T + N·lease with Redis, + N more through an
	// outage (see the package doc).
	lease := int64(min(float64(limit.BurstSize), math.Ceil(perSecond*redisstore.DefaultLeaseHorizon.Seconds())))
	upTo := stopAt.UnixNano()
	for _, w := range []time.Duration{100 * time.Millisecond, 250 * time.Millisecond, time.Second, 2 * time.Second} {
		rateT := int(math.Ceil(perSecond * w.Seconds()))
		up := limit.BurstSize + rateT + workers*int(lease)
		down := up + workers
		nUp := maxInWindow(all, w, start.UnixNano(), upTo)
		nAll := maxInWindow(all, w, start.UnixNano(), math.MaxInt64)
		t.Logf("window %v: at most %d admitted with Redis up (bound %d = burst %d + rate·T %d + N·lease %d), %d over the whole run with the outage (bound %d); burst + rate·T alone is %d",
			w, nUp, up, limit.BurstSize, rateT, workers*int(lease), nAll, down, limit.BurstSize+rateT)
		if nUp > up {
			t.Errorf("window %v: %d admissions with Redis up, above the bound %d", w, nUp, up)
		}
		if nAll > down {
			t.Errorf("window %v: %d admissions through the outage, above the bound %d", w, nAll, down)
		}
	}

	// An outage seen by worker 0 alone opens the breaker in all.
	var first, last int64
	for _, r := range reps {
		i := slices.IndexFunc(r.Opens, func(ts int64) bool { return ts >= outageAt.UnixNano() })
		if i < 0 || r.Opens[i] > stopAt.UnixNano() {
			t.Errorf("worker %d: the breaker did not open during the outage", r.ID)
			continue
		}
		if first == 0 || r.Opens[i] < first {
			first = r.Opens[i]
		}
		last = max(last, r.Opens[i])
	}
	spread := time.Duration(last - first)
	t.Logf("breaker opened %v after the outage began; open in all %d processes within %v", time.Duration(first-outageAt.UnixNano()), workers, spread)
	if spread > 200*time.Millisecond {
		t.Errorf("open in all processes only after %v, want within 200ms", spread)
	}

	// Every call bounded; limits resumed after Redis came back.
	t.Logf("longest time a call spent in the resilience stages: %v (store timeout %v)", maxOverhead, timeout)
	if maxOverhead > timeout+150*time.Millisecond {
		t.Errorf("a call spent %v in the resilience stages, want about the store's timeout %v at most", maxOverhead, timeout)
	}
	tail := backAt.Add(1500 * time.Millisecond).UnixNano() // Redis is tried again once a second
	var after int
	for _, ts := range all {
		if ts >= tail {
			after++
		}
	}
	span := start.Add(duration).Sub(time.Unix(0, tail)).Seconds()
	t.Logf("after Redis returned: %d admissions in the last %.1fs (limit %d/s)", after, span, perSecond)
	if span > 0.5 && float64(after) < 0.5*perSecond*span {
		t.Errorf("only %d admissions in the %.1fs after Redis returned: the shared limit did not resume", after, span)
	}
}

// TestFleetBrownout: four real processes share a dependency through Redis,
// three busy (150 calls/s each) and one quiet (8 calls/s, too few to
// throttle by itself: the throttle needs ten requests in its 1s window).
// For a while the service can serve only a quarter of what they send, 11
// requests each 100ms, and answers 503 to the others (a brownout): the
// quiet process throttles from the fleet's counts, soon after the busy
// ones, about as much as they do, and stops when the brownout ends.
func TestFleetBrownout(t *testing.T) {
	u := time.Second
	if os.Getenv("RESGEN_FLEET_LONG") != "" {
		u = 4 * time.Second
	}
	rs := startRedis(t, 0)
	var brownout atomic.Bool
	var mu sync.Mutex
	var slot time.Time // the service's current 100ms
	var served int
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if brownout.Load() {
			mu.Lock()
			if now := time.Now(); now.Sub(slot) >= 100*time.Millisecond {
				slot, served = now, 0
			}
			served++
			full := served > 11
			mu.Unlock()
			if full {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer svc.Close()
	const workers, quiet = 4, 3
	type proc struct {
		cmd            *exec.Cmd
		stdout, stderr bytes.Buffer
	}
	procs := make([]*proc, workers)
	start := time.Now()
	duration := 6 * u
	for i := range procs {
		rate := 150
		if i == quiet {
			rate = 8
		}
		cfg, err := json.Marshal(fleetConfig{
			ID: i, Redis: rs.addr(), Service: svc.URL, Prefix: "brownout:", Duration: duration,
			Rate: rate, Timeout: 200 * time.Millisecond, Overload: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		p := &proc{cmd: exec.Command(os.Args[0], "-test.run=^$")}
		p.cmd.Env = append(os.Environ(), fleetEnv+"="+string(cfg))
		p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[i] = p
	}
	at := func(d time.Duration) { time.Sleep(time.Until(start.Add(d))) }
	at(u)
	from := time.Now()
	brownout.Store(true)
	at(4 * u)
	to := time.Now()
	brownout.Store(false)
	var reps []fleetReport
	for i, p := range procs {
		err := p.cmd.Wait()
		var rep fleetReport
		if jerr := json.Unmarshal(p.stdout.Bytes(), &rep); jerr != nil || err != nil {
			t.Fatalf("worker %d: %v, %v\nstderr:\n%s", i, err, jerr, p.stderr.String())
		}
		if rep.Panic != "" || rep.Leak != "" {
			t.Errorf("worker %d: panic %q, leak %q", i, rep.Panic, rep.Leak)
		}
		reps = append(reps, rep)
	}
	count := func(ts []int64, a, b time.Time) int {
		n := 0
		for _, x := range ts {
			if x >= a.UnixNano() && x < b.UnixNano() {
				n++
			}
		}
		return n
	}
	share := func(r fleetReport, a, b time.Time) float64 {
		th, sent := count(r.Throttled, a, b), count(r.Admits, a, b)
		return float64(th) / float64(max(th+sent, 1))
	}
	for _, r := range reps {
		first := time.Duration(-1)
		if i := slices.IndexFunc(r.Throttled, func(x int64) bool { return x >= from.UnixNano() }); i >= 0 {
			first = time.Duration(r.Throttled[i] - from.UnixNano())
		}
		t.Logf("worker %d: %d calls; throttled %.0f%% before the brownout, %.0f%% during it (first %v into it), %.0f%% from 1.5s after it",
			r.ID, r.Calls, 100*share(r, start, from), 100*share(r, from, to), first, 100*share(r, to.Add(1500*time.Millisecond), start.Add(duration)))
	}
	// The throttle starts once the window holds more failures than
	// successes (0.7s into the brownout); the quiet process sends 8 calls
	// a second, so the short run checks that it throttles at all, the
	// long one (96 calls in the brownout) that it sheds a share.
	q := reps[quiet]
	if n := count(q.Throttled, from, to); n == 0 {
		t.Error("the quiet process throttled none of its calls in the brownout")
	}
	if s := share(q, from.Add(time.Second), to); u > time.Second && s < 0.15 {
		t.Errorf("the quiet process throttled %.0f%% of its calls in the brownout, want the fleet's share (at least 15%%)", 100*s)
	}
	for _, r := range reps {
		if s := share(r, start, from); s > 0 {
			t.Errorf("worker %d throttled %.0f%% before the brownout", r.ID, 100*s)
		}
		if s := share(r, to.Add(1500*time.Millisecond), start.Add(duration)); s > 0 {
			t.Errorf("worker %d throttled %.0f%% from 1.5s after the brownout ended", r.ID, 100*s)
		}
	}
}
