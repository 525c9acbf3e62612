package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/resgen-dev/resgen/runtime"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// demoScale scales the api profile's time values down for the demo and the
// tests: initial_delay 2s → 20ms, max_delay 60s → 1s, recovery_timeout 60s
// → 1s, recovery_check_interval 30s → 250ms. Attempts, thresholds and rate
// limits are left as the directives say.
var demoScale = runtime.Settings{
	{Policy: "retry", Key: "initial_delay", Value: "20ms"},
	{Policy: "retry", Key: "max_delay", Value: "1s"},
	{Policy: "circuit_breaker", Key: "recovery_timeout", Value: "1s"},
	{Policy: "recovery", Key: "recovery_check_interval", Value: "250ms"},
}

// demoObserver counts the wrapper's events for the progress line and the
// summary. It is called synchronously by every goroutine: it only adds.
type demoObserver struct {
	start     time.Time
	retries   atomic.Int64
	refreshes atomic.Int64 // credential refreshes that worked
	refreshNG atomic.Int64 // ... that failed
	pings     atomic.Int64

	mu          sync.Mutex
	transitions []string
	state       runtime.State
}

func (o *demoObserver) Observe(e runtime.Event) {
	switch e.Kind {
	case runtime.EventRetry:
		o.retries.Add(1)
	case runtime.EventRecovery:
		switch {
		case e.Action == "ping":
			o.pings.Add(1)
		case e.Action == "refresh_credentials" && e.OK:
			o.refreshes.Add(1)
		case e.Action == "refresh_credentials":
			o.refreshNG.Add(1)
		}
	case runtime.EventStateChange:
		o.mu.Lock()
		o.state = e.To
		o.transitions = append(o.transitions, fmt.Sprintf("%6.2fs  %s → %s",
			time.Since(o.start).Seconds(), e.From, e.To))
		o.mu.Unlock()
	}
}

func (o *demoObserver) breaker() (runtime.State, []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.state, append([]string(nil), o.transitions...)
}

// run is the demo: flags in, report out, exit code back.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("httpapi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	calls := fs.Int("calls", 1500, "calls to make")
	workers := fs.Int("workers", 8, "goroutines making them")
	failRate := fs.Float64("fail-rate", 0.2, "share of API requests the server fails with 503")
	tokenLife := fs.Duration("token-lifetime", 2*time.Second, "how long the server's bearer tokens last (0: forever)")
	serverRPS := fs.Float64("server-rps", 200, "the server's own rate limit, requests per second (0: none)")
	serverBurst := fs.Int("server-burst", 40, "the server's rate-limit burst")
	outage := fs.Duration("outage", 1500*time.Millisecond, "take the servers down for this long halfway through the calls (0: no outage)")
	bare := fs.Bool("bare", true, "run the unwrapped client beside the wrapped one, against a server of its own with the same faults")
	duration := fs.Duration("duration", 60*time.Second, "stop after this long, whatever is left")
	verbose := fs.Bool("v", false, "log every resilience action to stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *calls < 1 || *workers < 1 || *duration <= 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "httpapi: -calls, -workers and -duration must be positive; no arguments")
		return 2
	}

	serverCfg := ServerConfig{
		FailRate:      *failRate,
		RateLimit:     *serverRPS,
		Burst:         *serverBurst,
		TokenLifetime: *tokenLife,
	}
	srv, err := StartServer(serverCfg)
	if err != nil {
		fmt.Fprintln(stderr, "httpapi:", err)
		return 1
	}
	defer srv.Close()
	client, err := newTracedClient(srv)
	if err != nil {
		fmt.Fprintln(stderr, "httpapi:", err)
		return 1
	}
	defer client.Close()
	// The unwrapped client has a server of its own, configured alike: the
	// same faults, without either client's requests eating into the
	// other's rate limit.
	var bareSrv *Server
	var bareClient *Client
	if *bare {
		if bareSrv, err = StartServer(serverCfg); err != nil {
			fmt.Fprintln(stderr, "httpapi:", err)
			return 1
		}
		defer bareSrv.Close()
		if bareClient, err = newTracedClient(bareSrv); err != nil {
			fmt.Fprintln(stderr, "httpapi:", err)
			return 1
		}
		defer bareClient.Close()
	}

	obs := &demoObserver{start: time.Now()}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	shop, err := NewResilientShop(client,
		runtime.WithConfig(demoScale),
		runtime.WithObserver(obs),
		runtime.WithLogger(logger))
	if err != nil {
		fmt.Fprintln(stderr, "httpapi:", err)
		return 1
	}
	defer shop.Resilience().Close()
	cfg, _ := shop.Resilience().Config("GetOrder")

	fmt.Fprintf(stdout, "resgen demo: a REST connector under faults (examples/httpapi)\n\n")
	fmt.Fprintf(stdout, "server  %s, on loopback\n", srv.URL())
	fmt.Fprintf(stdout, "        fails %.0f%% of API requests with 503\n", *failRate*100)
	if *serverRPS > 0 {
		fmt.Fprintf(stdout, "        admits %.0f requests/s, burst %d; 429 + Retry-After beyond\n", *serverRPS, *serverBurst)
	}
	if *tokenLife > 0 {
		fmt.Fprintf(stdout, "        bearer tokens expire after %v (401 after)\n", *tokenLife)
	}
	if *outage > 0 {
		fmt.Fprintf(stdout, "        goes down for %v halfway through (every request 503)\n", *outage)
	}
	if *bare {
		fmt.Fprintf(stdout, "bare    the same Client unwrapped, beside the wrapped one, against a server of its own\n")
		fmt.Fprintf(stdout, "        with the same faults: it makes call i when the wrapped client has made it, so that\n")
		fmt.Fprintf(stdout, "        both meet the outage together. It has no retry, no breaker, no rate limit, and\n")
		fmt.Fprintf(stdout, "        nothing calls its RefreshCredentials on a 401 (the wrapper does)\n")
	}
	fmt.Fprintf(stdout, "client  ResilientShop, api profile: max_attempts %d, failure_threshold %d, success_threshold %d,\n",
		cfg.Retry.MaxAttempts, cfg.CircuitBreaker.FailureThreshold, cfg.CircuitBreaker.SuccessThreshold)
	fmt.Fprintf(stdout, "        rate limit %d requests/min (%.0f/s) burst %d per host, timeout %v per attempt,\n",
		cfg.RateLimit.MaxRequestsPerMinute, float64(cfg.RateLimit.MaxRequestsPerMinute)/60, cfg.RateLimit.BurstSize,
		cfg.Timeout.Duration)
	fmt.Fprintf(stdout, "        credential refresh on 401, health probes (Ping) while the breaker is open\n")
	fmt.Fprintf(stdout, "        time values scaled for the demo with runtime.WithConfig:\n")
	fmt.Fprintf(stdout, "          initial_delay 2s → %v, max_delay 60s → %v, recovery_timeout 60s → %v, recovery_check_interval 30s → %v\n",
		cfg.Retry.InitialDelay, cfg.Retry.MaxDelay, cfg.CircuitBreaker.RecoveryTimeout, cfg.Recovery.CheckInterval)
	fmt.Fprintf(stdout, "\ndriving %d calls from %d goroutines (at most %v; Ctrl-C stops)\n", *calls, *workers, *duration)

	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	var prog, bareProg progress
	showBare := &bareProg
	if !*bare {
		showBare = nil
	}
	stopProgress := startProgress(stdout, &prog, showBare, *calls, srv, shop, obs)
	var outageDone chan struct{}
	if *outage > 0 {
		outageDone = make(chan struct{})
		go func() {
			defer close(outageDone)
			for prog.done.Load() < int64(*calls/2) {
				select {
				case <-ctx.Done():
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
			srv.Down(*outage)
			if bareSrv != nil {
				bareSrv.Down(*outage)
			}
		}()
	}
	var bareRep *loadReport
	var bareDone sync.WaitGroup
	if *bare {
		bareDone.Go(func() { bareRep = runLoadAfter(ctx, bareClient, *calls, *workers, &bareProg, &prog) })
	}
	rep := runLoad(ctx, shop, *calls, *workers, &prog)
	bareDone.Wait()
	cancel()
	if outageDone != nil {
		<-outageDone
	}
	stopProgress()

	summarize(stdout, rep, srv.Stats(), shop, obs)
	if bareRep != nil {
		compare(stdout, bareRep, rep)
	}
	if rep.Calls < *calls {
		fmt.Fprintf(stdout, "\nstopped after %v with %d of %d calls made\n", rep.Elapsed.Round(time.Millisecond), rep.Calls, *calls)
	}
	return 0
}

// startProgress prints a progress line, updated in place four times a
// second on a terminal, until the returned func is called. Elsewhere (a
// log, a pipe, a test) it prints a plain line a second: a \r would make
// one huge line of them.
func startProgress(w io.Writer, p, bare *progress, calls int, srv *Server, shop *ResilientShop, obs *demoObserver) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	tty := isTerminal(w)
	every := time.Second
	if tty {
		every = 250 * time.Millisecond
	}
	line := func() {
		okRate := func(p *progress) float64 {
			n, failed := p.done.Load(), p.failed.Load()
			if n == 0 {
				return 100
			}
			return 100 * float64(n-failed) / float64(n)
		}
		n, rate := p.done.Load(), okRate(p)
		bareOK := ""
		if bare != nil {
			bareOK = fmt.Sprintf(" (bare %6.2f%%)", okRate(bare))
		}
		st := srv.Stats()
		state, _ := shop.Resilience().BreakerState(shop.Resilience().Wrapper())
		start, end := "\r", " "
		if !tty {
			start, end = "", "\n"
		}
		fmt.Fprintf(w, "%s  [%*d/%d]  ok %6.2f%%%s  attempts %5d  retries %4d  429s %d  refreshes %3d  breaker %-9s  %5.1fs%s",
			start, len(fmt.Sprint(calls)), n, calls, rate, bareOK, st.Requests, obs.retries.Load(), st.Throttled,
			obs.refreshes.Load(), state, time.Since(obs.start).Seconds(), end)
	}
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				line()
			case <-done:
				line()
				if tty {
					fmt.Fprintln(w)
				}
				return
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func pct(n, of int) string {
	if of == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f%%", 100*float64(n)/float64(of))
}

func summarize(w io.Writer, rep *loadReport, st ServerStats, shop *ResilientShop, obs *demoObserver) {
	var total runtime.MethodMetrics
	metrics := shop.Resilience().Metrics()
	for _, m := range metrics {
		total.RetryAttempts += m.RetryAttempts
		total.FailedAttempts += m.FailedAttempts
		total.Successes += m.Successes
		total.Delayed += m.Delayed
		total.RateLimitWait += m.RateLimitWait
		total.RetryDelay += m.RetryDelay
		total.Rejected += m.Rejected
		total.RecoveriesSucceeded += m.RecoveriesSucceeded
		total.RecoveriesTried += m.RecoveriesTried
	}
	state, transitions := obs.breaker()

	fmt.Fprintf(w, "\nSummary after %v\n", rep.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "  success rate        %s: %d of %d calls succeeded, %d failed\n",
		pct(rep.Succeeded, rep.Calls), rep.Succeeded, rep.Calls, rep.Failed)
	fmt.Fprintf(w, "  attempts            %d (the server saw %d API requests: %d OK, %d × 503, %d × 401, %d × 429)\n",
		total.Successes+total.FailedAttempts, st.Requests, st.OK, st.Unavailable, st.Unauthorized, st.Throttled)
	fmt.Fprintf(w, "  retries             %d, %v asleep in backoff in total\n", total.RetryAttempts, total.RetryDelay.Round(time.Millisecond))
	fmt.Fprintf(w, "  transient failures  %d calls met one, %d recovered automatically (%s)\n",
		rep.MetTransient, rep.RecoveredTransient, pct(rep.RecoveredTransient, rep.MetTransient))
	fmt.Fprintf(w, "  expired tokens      %d calls met one, %d got past it by credential refresh (%s), %d succeeded\n",
		rep.MetExpired, rep.RecoveredExpired, pct(rep.RecoveredExpired, rep.MetExpired), rep.SucceededExpired)
	if rep.MetExpiredTwice > 0 {
		fmt.Fprintf(w, "                      %d calls outlived a token and met a second expiry; %d got past it (the wrapper refreshes once per call)\n",
			rep.MetExpiredTwice, rep.RecoveredExpiredTwice)
	}
	fmt.Fprintf(w, "  429s received       %d\n", st.Throttled)
	fmt.Fprintf(w, "  credential refresh  %d refreshes (%d failed); the server issued %d tokens\n",
		obs.refreshes.Load(), obs.refreshNG.Load(), st.Tokens)
	if len(transitions) == 0 {
		fmt.Fprintf(w, "  breaker             %s throughout: no transitions\n", state)
	} else {
		fmt.Fprintf(w, "  breaker             %d transitions, %d attempts failed fast, %d health probes; now %s\n",
			len(transitions), total.Rejected, obs.pings.Load(), state)
		for _, t := range transitions {
			fmt.Fprintf(w, "                        %s\n", t)
		}
	}
	fmt.Fprintf(w, "  rate limit          %d attempts delayed for a token, %v waited (summed over goroutines)\n",
		total.Delayed, total.RateLimitWait.Round(time.Millisecond))
	if errs := rep.topErrors(3); len(errs) > 0 {
		fmt.Fprintf(w, "  errors              %s\n", strings.Join(errs, "\n                      "))
	}

	fmt.Fprintf(w, "\nResilientShop.Resilience().Metrics()\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "  method\tcalls\tsuccesses\tfailures\tafter retry\tretries\tfailed attempts\tretry delay\tdelayed\trate wait\trejected\trecoveries\treq/min\t\n")
	for _, m := range metrics {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%d\t%d\t%v\t%d\t%v\t%d\t%d/%d\t%.0f\t\n",
			m.Method, m.Calls, m.Successes, m.Failures, m.SuccessesAfterRetry, m.RetryAttempts, m.FailedAttempts,
			m.RetryDelay.Round(time.Millisecond), m.Delayed, m.RateLimitWait.Round(time.Millisecond), m.Rejected,
			m.RecoveriesSucceeded, m.RecoveriesTried, m.RequestsPerMinute)
	}
	tw.Flush()
	if len(metrics) > 0 {
		fmt.Fprintf(w, "  breaker %s: %s", metrics[0].Breaker, metrics[0].BreakerState)
		if metrics[0].RecoveryTime > 0 {
			fmt.Fprintf(w, ", last outage lasted %v", metrics[0].RecoveryTime.Round(time.Millisecond))
		}
		fmt.Fprintln(w)
	}
}

// compare prints the unwrapped client's run beside the wrapped one's.
func compare(w io.Writer, bare, wrapped *loadReport) {
	fmt.Fprintf(w, "\nSide by side, the same faults\n")
	fmt.Fprintf(w, "  bare client     %d of %d calls failed (%s succeeded)%s\n", bare.Failed, bare.Calls,
		pct(bare.Succeeded, bare.Calls), byAnswer(bare))
	fmt.Fprintf(w, "  wrapped client  %d of %d calls failed (%s succeeded)%s\n", wrapped.Failed, wrapped.Calls,
		pct(wrapped.Succeeded, wrapped.Calls), byAnswer(wrapped))
}

// byAnswer lists r's failed calls by the answer they ended with, most
// frequent first.
func byAnswer(r *loadReport) string {
	if r.Failed == 0 {
		return ""
	}
	keys := make([]string, 0, len(r.ByAnswer))
	for k := range r.ByAnswer {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if d := r.ByAnswer[b] - r.ByAnswer[a]; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d × %s", r.ByAnswer[k], k)
	}
	return ": " + strings.Join(parts, ", ")
}
