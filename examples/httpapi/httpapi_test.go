package main

// resgen's promises, measured against the real loopback server
// (server.go) with the api profile's attempts and thresholds, and its
// delays scaled down (demoScale) so that each test takes a few seconds:
//
//	(a) TestSuccessRateUnderTwentyPercentFailures: 99.5% of calls succeed
//	    while 20% of attempts fail with 503, and the breaker stays closed;
//	(b) TestNoRateLimitViolations: zero 429s when the client's limit is
//	    below the server's, while the client's limit is what holds it back;
//	(c) TestAutomaticRecovery: at least 95% of the calls that met a
//	    transient failure succeed, and all that met an expired token get
//	    past it by credential refresh;
//	(d) TestFaultFreeRunBehavesAsUnwrapped here, and BenchmarkOverhead for
//	    the overhead and the p99 added latency, which a test cannot assert
//	    without being flaky:
//
//	go test -run '^$' -bench Overhead -benchtime 10000x -count 5 ./examples/httpapi/

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/resgen-dev/resgen/runtime"
)

func TestMain(m *testing.M) {
	// Every test stops its server and closes its client's idle
	// connections: nothing may be left running.
	goleak.VerifyTestMain(m)
}

// skipShort skips the tests that run load for seconds in -short mode
// (make test-short).
func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs load against the loopback server for seconds")
	}
}

// transitions records the breaker's state changes.
type transitions struct {
	mu   sync.Mutex
	seen []string
}

func (tr *transitions) Observe(e runtime.Event) {
	if e.Kind == runtime.EventStateChange {
		tr.mu.Lock()
		tr.seen = append(tr.seen, e.From.String()+"→"+e.To.String())
		tr.mu.Unlock()
	}
}

func (tr *transitions) list() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.seen)
}

type fixture struct {
	srv    *Server
	client *Client
	shop   *ResilientShop
	breaks *transitions
}

// start starts a server with cfg and wraps a traced client of it, with the
// demo's time scale, then opts. Everything stops when the test ends.
func start(t testing.TB, cfg ServerConfig, opts ...runtime.Option) *fixture {
	t.Helper()
	srv, err := StartServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("closing the server: %v", err)
		}
	})
	client, err := newTracedClient(srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	f := &fixture{srv: srv, client: client, breaks: new(transitions)}
	opts = append([]runtime.Option{
		runtime.WithConfig(demoScale),
		runtime.WithLogger(nil),
		runtime.WithObserver(f.breaks),
	}, opts...)
	f.shop, err = NewResilientShop(client, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.shop.Resilience().Close)
	return f
}

// clientLimit sets the client's rate limit, per host, in requests per
// second.
func clientLimit(perSecond, burst int) runtime.Option {
	return runtime.WithConfig(runtime.Settings{
		{Policy: "rate_limit", Key: "max_requests_per_minute", Value: fmt.Sprint(perSecond * 60)},
		{Policy: "rate_limit", Key: "burst_size", Value: fmt.Sprint(burst)},
	})
}

func (f *fixture) load(t *testing.T, calls, workers int) *loadReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep := runLoad(ctx, f.shop, calls, workers, nil)
	if rep.Calls != calls {
		t.Fatalf("%d of %d calls made in %v", rep.Calls, calls, rep.Elapsed)
	}
	st := f.srv.Stats()
	t.Logf("%d calls in %v: %.2f%% succeeded; server: %d requests, %d × 503, %d × 401, %d × 429, %d tokens",
		rep.Calls, rep.Elapsed.Round(time.Millisecond), 100*rep.SuccessRate(),
		st.Requests, st.Unavailable, st.Unauthorized, st.Throttled, st.Tokens)
	for _, e := range rep.topErrors(3) {
		t.Logf("  %s", e)
	}
	return rep
}

func (f *fixture) totals() runtime.MethodMetrics {
	var sum runtime.MethodMetrics
	for _, m := range f.shop.Resilience().Metrics() {
		sum.Calls += m.Calls
		sum.Successes += m.Successes
		sum.Failures += m.Failures
		sum.SuccessesAfterRetry += m.SuccessesAfterRetry
		sum.RetryAttempts += m.RetryAttempts
		sum.FailedAttempts += m.FailedAttempts
		sum.Rejected += m.Rejected
		sum.Delayed += m.Delayed
		sum.RecoveriesTried += m.RecoveriesTried
		sum.RecoveriesSucceeded += m.RecoveriesSucceeded
	}
	return sum
}

// TestAPIProfileInForce checks that the tests below run the api profile's
// attempts and thresholds, with only its delays scaled.
func TestAPIProfileInForce(t *testing.T) {
	f := start(t, ServerConfig{})
	for _, method := range []string{"ListOrders", "GetOrder", "CreateOrder"} {
		cfg, ok := f.shop.Resilience().Config(method)
		if !ok {
			t.Fatalf("no method %s", method)
		}
		if cfg.Retry.MaxAttempts != 5 || cfg.CircuitBreaker.FailureThreshold != 3 ||
			cfg.CircuitBreaker.SuccessThreshold != 2 || !cfg.Retry.RetryOn.Matches(&APIError{Status: 503}, runtime.ClassServer) {
			t.Errorf("%s: %+v, want the api profile's max_attempts 5, failure_threshold 3, success_threshold 2", method, cfg)
		}
		if cfg.Retry.InitialDelay != 20*time.Millisecond || cfg.CircuitBreaker.RecoveryTimeout != time.Second {
			t.Errorf("%s: initial_delay %v, recovery_timeout %v: want the demo's 20ms and 1s",
				method, cfg.Retry.InitialDelay, cfg.CircuitBreaker.RecoveryTimeout)
		}
		if cfg.RateLimit.MaxRequestsPerMinute != 9000 || cfg.RateLimit.BurstSize != 20 || cfg.RateLimit.Global {
			t.Errorf("%s: rate limit %+v, want the directive's 9000/min, burst 20, per host", method, cfg.RateLimit)
		}
	}
}

// (a) The promise: "99.5% success rate even with 20% underlying service
// failure rate", with the api profile's breaker (failure_threshold 3),
// which must not open under noise.
func TestSuccessRateUnderTwentyPercentFailures(t *testing.T) {
	skipShort(t)
	f := start(t, ServerConfig{FailRate: 0.2}, clientLimit(1000, 20))
	rep := f.load(t, 2000, 8)

	if rate := rep.SuccessRate(); rate < 0.995 {
		t.Errorf("success rate %.2f%%, want at least 99.5%%", 100*rate)
	}
	if tr := f.breaks.list(); len(tr) > 0 {
		t.Errorf("the breaker changed state under noise: %v", tr)
	}
	// The test measures what it says: about 20% of attempts failed.
	st := f.srv.Stats()
	if share := float64(st.Unavailable) / float64(st.Requests); share < 0.17 || share > 0.23 {
		t.Errorf("%.1f%% of %d attempts failed with 503, want about 20%%", 100*share, st.Requests)
	}
	m := f.totals()
	if m.Calls != int64(rep.Calls) || m.Successes != int64(rep.Succeeded) || m.Rejected != 0 {
		t.Errorf("metrics %+v disagree with the run: %d calls, %d succeeded", m, rep.Calls, rep.Succeeded)
	}
	if m.Successes+m.FailedAttempts != st.Requests {
		t.Errorf("metrics count %d attempts, the server %d requests", m.Successes+m.FailedAttempts, st.Requests)
	}
}

// (b) The promise: "zero rate limit violations during normal operation". The
// client's per-host limit (80/s, burst 10) is below the server's (100/s,
// burst 20), and the workers ask for more than either: the client's limit
// holds them back, and the server never answers 429, although 20% of
// attempts fail and are retried, and tokens expire, which both cost
// attempts too.
func TestNoRateLimitViolations(t *testing.T) {
	skipShort(t)
	cfg := ServerConfig{FailRate: 0.2, RateLimit: 100, Burst: 20, TokenLifetime: time.Second}

	// The control: without the wrapper, the same workers break the
	// server's limit, so zero 429s below is the wrapper's doing.
	t.Run("unwrapped", func(t *testing.T) {
		f := start(t, cfg)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		go func() {
			for ctx.Err() == nil && f.srv.Stats().Throttled == 0 {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		runLoad(ctx, f.client, math.MaxInt, 8, nil)
		if st := f.srv.Stats(); st.Throttled == 0 {
			t.Fatalf("the unwrapped client got no 429 in %d requests: the server's limit is not tested", st.Requests)
		}
	})

	f := start(t, cfg, clientLimit(80, 10))
	t0 := time.Now()
	rep := f.load(t, 200, 8)
	elapsed := time.Since(t0)

	st := f.srv.Stats()
	if st.Throttled != 0 || rep.MetThrottle != 0 {
		t.Errorf("the server answered 429 %d times (%d calls met one), want 0", st.Throttled, rep.MetThrottle)
	}
	m := f.totals()
	if m.Delayed == 0 {
		t.Errorf("no attempt waited for a token: the client's limit did not hold the workers back")
	}
	// The client's bucket admits at most burst + rate × elapsed attempts.
	if limit := 10 + 80*elapsed.Seconds(); float64(st.Requests) > limit+1 {
		t.Errorf("%d requests in %v, more than the client's limit allows (%.0f)", st.Requests, elapsed, limit)
	}
	if rep.SuccessRate() < 0.995 {
		t.Errorf("success rate %.2f%%, want at least 99.5%%", 100*rep.SuccessRate())
	}
}

// (c) The promise: "automatic recovery from 95% of transient failures", and
// credential refresh for every call that meets an expired token. The
// server fails 20% of requests and expires its tokens every second; the
// tracing transport records, call by call, what its attempts met.
//
// The wrapper refreshes credentials once per call (then a 401 is final, so
// that bad credentials cannot loop), so the token lifetime must exceed what
// is left of a call after a refresh, at most four backoffs (20+40+80+160ms
// here), and the stalls of a loaded machine running the race detector.
// Real tokens last an hour; the api profile's backoffs add up to 30s.
func TestAutomaticRecovery(t *testing.T) {
	skipShort(t)
	f := start(t, ServerConfig{FailRate: 0.2, TokenLifetime: time.Second}, clientLimit(1000, 20))
	rep := f.load(t, 1500, 8)
	t.Logf("transient: %d of %d calls recovered; expired token: %d of %d got past it, %d succeeded; "+
		"%d calls outlived a token, %d got past both expiries",
		rep.RecoveredTransient, rep.MetTransient, rep.RecoveredExpired, rep.MetExpired, rep.SucceededExpired,
		rep.MetExpiredTwice, rep.RecoveredExpiredTwice)

	if rep.MetTransient < 100 {
		t.Fatalf("only %d calls met a transient failure: the test measures nothing", rep.MetTransient)
	}
	if r := float64(rep.RecoveredTransient) / float64(rep.MetTransient); r < 0.95 {
		t.Errorf("%.2f%% of the calls that met a transient failure recovered, want at least 95%%", 100*r)
	}
	st := f.srv.Stats()
	if rep.MetExpired == 0 || st.Unauthorized == 0 {
		t.Fatalf("%d calls met an expired token (%d × 401): the test measures nothing", rep.MetExpired, st.Unauthorized)
	}
	// Every call that met an expired token got past it: its next attempt
	// went out with a fresh token. (It may still fail after that, of five
	// 503s in a row, one call in 3000: that counts against the transient
	// failures' recovery above, not against the refresh. And a call that
	// outlives its refreshed token, which only a stalled machine makes
	// possible here, meets a second expiry that the wrapper does not
	// refresh: it is counted apart, in MetExpiredTwice.)
	if rep.RecoveredExpired != rep.MetExpired {
		t.Errorf("%d of the %d calls that met an expired token got past it, want all", rep.RecoveredExpired, rep.MetExpired)
	}
	m := f.totals()
	if m.RecoveriesTried == 0 || m.RecoveriesSucceeded != m.RecoveriesTried {
		t.Errorf("%d of %d credential refreshes succeeded, want all, and some", m.RecoveriesSucceeded, m.RecoveriesTried)
	}
	// The metrics tell the same story: every call that succeeded after a
	// failed attempt was retried or refreshed.
	if m.SuccessesAfterRetry < int64(rep.RecoveredTransient) {
		t.Errorf("SuccessesAfterRetry %d, fewer than the %d calls recovered from transient failures",
			m.SuccessesAfterRetry, rep.RecoveredTransient)
	}
}

// (d) A fault-free run: the wrapper behaves as the unwrapped client does,
// one attempt per call, no delay, the same answers. How much slower it is
// is BenchmarkOverhead's to measure.
func TestFaultFreeRunBehavesAsUnwrapped(t *testing.T) {
	f := start(t, ServerConfig{}, clientLimit(1_000_000, 1_000_000))
	ctx := context.Background()
	const calls = 300
	for i := range calls {
		id := int64(1 + i%100)
		want, err := f.client.GetOrder(ctx, id)
		if err != nil {
			t.Fatalf("unwrapped GetOrder(%d): %v", id, err)
		}
		got, err := f.shop.GetOrder(ctx, id)
		if err != nil {
			t.Fatalf("wrapped GetOrder(%d): %v", id, err)
		}
		if got != want {
			t.Fatalf("GetOrder(%d): wrapped %+v, unwrapped %+v", id, got, want)
		}
	}
	st := f.srv.Stats()
	m := f.totals()
	if st.Requests != 2*calls || st.OK != 2*calls {
		t.Errorf("the server saw %d requests (%d OK), want %d", st.Requests, st.OK, 2*calls)
	}
	if m.Calls != calls || m.Successes != calls || m.RetryAttempts != 0 || m.FailedAttempts != 0 || m.Delayed != 0 {
		t.Errorf("wrapper metrics %+v, want %d calls, each one attempt, no delay", m, calls)
	}
	if tr := f.breaks.list(); len(tr) > 0 {
		t.Errorf("the breaker changed state: %v", tr)
	}
}

// An outage opens the breaker, which then fails fast without touching the
// server, probes it with Ping, and closes once it is back.
func TestBreakerOpensOnOutageAndCloses(t *testing.T) {
	skipShort(t)
	f := start(t, ServerConfig{}, clientLimit(1000, 20))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := f.shop.GetOrder(ctx, 1); err != nil {
		t.Fatal(err)
	}
	f.srv.Down(time.Minute)
	down := time.Now()

	// Calls fail, then fail fast, until the breaker has failed a few fast;
	// then the server comes back, and calls go on until the breaker has
	// closed again.
	var fast int
	var back time.Duration
	rm := f.shop.Resilience()
	for {
		_, err := f.shop.GetOrder(ctx, 2)
		if err == nil && back == 0 {
			back = time.Since(down)
		}
		if state, _ := rm.BreakerState(rm.Wrapper()); err == nil && state == runtime.StateClosed {
			break
		}
		if errors.Is(err, runtime.ErrCircuitOpen) {
			if fast++; fast == 5 {
				if st := f.srv.Stats(); st.Unavailable > 3*5+10 {
					// 503s count against the breaker once 100ms passed
					// without a success (a full queue's runs of 503s are a
					// brownout's); it opens after failure_threshold (3)
					// calls' worth of failed attempts more, 15 of them. One
					// caller makes a few requests in 100ms.
					t.Errorf("the server answered %d requests with 503 before the breaker held them back, want at most 25",
						st.Unavailable)
				}
				f.srv.Up()
			}
			time.Sleep(20 * time.Millisecond)
		}
		if ctx.Err() != nil {
			t.Fatalf("the wrapper did not recover: %v", err)
		}
	}
	st := f.srv.Stats()
	t.Logf("first success %v after the outage began; %d calls failed fast; server: %d × 503, %d health checks; breaker %v",
		back.Round(time.Millisecond), fast, st.Unavailable, st.Health, f.breaks.list())

	tr := f.breaks.list()
	if len(tr) < 3 || tr[0] != "CLOSED→OPEN" || tr[len(tr)-1] != "HALF_OPEN→CLOSED" {
		t.Errorf("breaker transitions %v, want CLOSED→OPEN ... HALF_OPEN→CLOSED", tr)
	}
	if fast < 5 {
		t.Errorf("%d calls failed fast while the breaker was open, want at least 5", fast)
	}
}

// The demo runs, finishes, and reports what the tests assert, in a few
// seconds.
func TestRunDemo(t *testing.T) {
	skipShort(t)
	var out, errs syncBuffer
	code := run(context.Background(), []string{"-calls", "300", "-workers", "4", "-token-lifetime", "300ms", "-outage", "300ms"}, &out, &errs)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	for _, want := range []string{"success rate", "429s received", "credential refresh", "breaker", "Metrics()", "initial_delay 2s → 20ms",
		"goes down for 300ms", "Side by side, the same faults", "bare client ", "wrapped client ", "(bare "} {
		if !contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if contains(out.String(), "\r") {
		t.Errorf("the output, not a terminal, holds a carriage return: a log would show one huge line")
	}
	if code := run(context.Background(), []string{"-calls", "0"}, &out, &errs); code != 2 {
		t.Errorf("-calls 0: exit %d, want 2", code)
	}
}

// TestDemoShowsTheBreakerOpenAndCloseBesideTheBareClient: the demo as
// the quick start runs it (its default faults, an outage included, fewer
// calls) shows the breaker open and close again, and the unwrapped client
// failing more calls than the wrapped one against the same faults.
func TestDemoShowsTheBreakerOpenAndCloseBesideTheBareClient(t *testing.T) {
	skipShort(t)
	var out, errs syncBuffer
	if code := run(context.Background(), []string{"-calls", "800"}, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	got := out.String()
	for _, want := range []string{"CLOSED → OPEN", "HALF_OPEN → CLOSED", "now CLOSED"} {
		if !contains(got, want) {
			t.Errorf("the default demo's output lacks %q:\n%s", want, got)
		}
	}
	var bareFailed, wrappedFailed, n int
	for _, line := range strings.Split(got, "\n") {
		if _, err := fmt.Sscanf(strings.TrimSpace(line), "bare client %d of %d calls failed", &bareFailed, &n); err == nil {
			continue
		}
		_, _ = fmt.Sscanf(strings.TrimSpace(line), "wrapped client %d of %d calls failed", &wrappedFailed, &n)
	}
	if n != 800 || bareFailed <= wrappedFailed {
		t.Errorf("side by side: bare %d failed, wrapped %d failed, of %d calls; want 800 calls, the bare client failing more:\n%s",
			bareFailed, wrappedFailed, n, got)
	}
}

// TestProgressPlainOffTerminal: progress written to a pipe or a log is
// one plain line per update, never a carriage return.
func TestProgressPlainOffTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "progress")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Fatal("a regular file taken for a terminal")
	}
	var buf syncBuffer
	if isTerminal(&buf) {
		t.Fatal("a buffer taken for a terminal")
	}
}

// BenchmarkOverhead measures what the wrapper adds to a fault-free call
// over loopback: each iteration calls GetOrder once unwrapped and once
// wrapped, in alternating order, and the benchmark reports
//
//	overhead-%       the median of the pairs' differences, over the median
//	                 unwrapped call (robust to the pauses of a busy machine,
//	                 which a mean is not)
//	p50-*, p99-*     the latency of each, and what the wrapper adds at p99
//
// The calls go to a server in the same process, over loopback: a call takes
// tens of microseconds, so that this is the worst case for the overhead; a
// real API answers in milliseconds.
//
//	go test -run '^$' -bench Overhead -benchtime 10000x -count 5 ./examples/httpapi/
func BenchmarkOverhead(b *testing.B) {
	bg := func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }
	b.Run("profile", func(b *testing.B) { benchmarkOverhead(b, bg) })
	// Callers that set a deadline of their own, sooner than the 5s
	// timeout: the wrapper adds no timer of its own, and both calls pay
	// for the caller's context.
	b.Run("caller-deadline", func(b *testing.B) {
		benchmarkOverhead(b, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 2*time.Second)
		})
	})
	// Without the per-attempt timeout, whose context and timer are most of
	// what the wrapper adds to a call of a few tens of microseconds.
	b.Run("timeout=off", func(b *testing.B) {
		benchmarkOverhead(b, bg, runtime.WithConfig(runtime.Settings{{Policy: "timeout", Value: "off"}}))
	})
}

func benchmarkOverhead(b *testing.B, newCtx func() (context.Context, context.CancelFunc), opts ...runtime.Option) {
	f := start(b, ServerConfig{}, append([]runtime.Option{clientLimit(1_000_000, 1_000_000)}, opts...)...)
	if _, err := f.shop.GetOrder(context.Background(), 1); err != nil { // the token, and a connection
		b.Fatal(err)
	}
	direct := make([]time.Duration, 0, b.N)
	wrapped := make([]time.Duration, 0, b.N)
	diffs := make([]time.Duration, 0, b.N)
	call := func(s Shop, id int64) time.Duration {
		ctx, cancel := newCtx()
		defer cancel()
		t0 := time.Now()
		if _, err := s.GetOrder(ctx, id); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		id := int64(1 + i%100)
		var d, w time.Duration
		if i%2 == 0 {
			d, w = call(f.client, id), call(f.shop, id)
		} else {
			w, d = call(f.shop, id), call(f.client, id)
		}
		direct, wrapped, diffs = append(direct, d), append(wrapped, w), append(diffs, w-d)
	}
	b.StopTimer()
	p := func(ds []time.Duration, q float64) time.Duration {
		slices.Sort(ds)
		return ds[min(len(ds)-1, int(q*float64(len(ds))))]
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	p50d, p50w := p(direct, 0.50), p(wrapped, 0.50)
	p99d, p99w := p(direct, 0.99), p(wrapped, 0.99)
	b.ReportMetric(100*float64(p(diffs, 0.50))/float64(p50d), "overhead-%")
	b.ReportMetric(ms(p50d), "p50-direct-ms")
	b.ReportMetric(ms(p50w), "p50-wrapped-ms")
	b.ReportMetric(ms(p99d), "p99-direct-ms")
	b.ReportMetric(ms(p99w), "p99-wrapped-ms")
	b.ReportMetric(ms(p99w-p99d), "p99-added-ms")
}
