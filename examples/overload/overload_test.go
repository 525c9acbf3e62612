package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/templates"
)

func TestMain(m *testing.M) {
	// Every run closes its server, its wrapper and its client's idle
	// connections: nothing may be left running.
	goleak.VerifyTestMain(m)
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// testServer starts a server whose outcomes are sent on the returned
// channel, and closes it at the test's end.
func testServer(t *testing.T, cfg ServerConfig) (*Server, <-chan Outcome) {
	t.Helper()
	outcomes := make(chan Outcome, 64)
	cfg.Observe = func(_ *http.Request, o Outcome) { outcomes <- o }
	s, err := StartServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s, outcomes
}

// get sends one request in the background; its status (0: no answer)
// arrives on the returned channel.
func get(ctx context.Context, hc *http.Client, url string) <-chan int {
	ch := make(chan int, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/get?key=k", nil)
		resp, err := hc.Do(req)
		if err != nil {
			ch <- 0
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		ch <- resp.StatusCode
	}()
	return ch
}

func newTestHTTPClient(t *testing.T) *http.Client {
	hc := NewHTTPClient(false)
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

func TestServerAnswers503AtOnceWhenTheQueueIsFull(t *testing.T) {
	const service = time.Second
	s, outcomes := testServer(t, ServerConfig{Workers: 1, Queue: 2, ServiceTime: service})
	hc := newTestHTTPClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var waiting []<-chan int
	for i := range 3 { // one served, two queued
		waiting = append(waiting, get(ctx, hc, s.URL()))
		if o := <-outcomes; o != Queued {
			t.Fatalf("request %d: outcome %d, want Queued", i, o)
		}
		if i == 0 {
			waitFor(t, "the worker to take the first request", func() bool { return s.Busy() == 1 })
		}
	}
	if n := s.QueueLen(); n != 2 {
		t.Fatalf("queue holds %d, want 2", n)
	}
	start := time.Now()
	status := <-get(ctx, hc, s.URL())
	if status != http.StatusServiceUnavailable || <-outcomes != QueueFull {
		t.Fatalf("a request beyond the queue got %d, want 503 for a full queue", status)
	}
	if d := time.Since(start); d >= service/2 {
		t.Fatalf("the 503 took %v: it must not wait for a worker (%v a request)", d, service)
	}
	if st := s.Stats(); st.Received != 4 || st.QueueFull != 1 {
		t.Fatalf("stats %+v, want 4 received, 1 queue full", st)
	}
	cancel()
	for _, ch := range waiting {
		<-ch
	}
}

func TestServerServesQueuedRequestsWhoseClientLeft(t *testing.T) {
	s, outcomes := testServer(t, ServerConfig{Workers: 1, Queue: 8, ServiceTime: 20 * time.Millisecond})
	hc := newTestHTTPClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	var answers []<-chan int
	for range 4 {
		answers = append(answers, get(ctx, hc, s.URL()))
		<-outcomes
	}
	cancel() // every client goes away, three of them while queued
	for _, ch := range answers {
		<-ch
	}
	waitFor(t, "the abandoned requests to be served", func() bool { return s.Stats().Served == 4 })
}

func TestServerPoolResizesAtRunTime(t *testing.T) {
	s, outcomes := testServer(t, ServerConfig{Workers: 1, Queue: 16, ServiceTime: 400 * time.Millisecond})
	hc := newTestHTTPClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var answers []<-chan int
	send := func(n int) {
		for range n {
			answers = append(answers, get(ctx, hc, s.URL()))
			<-outcomes
		}
	}

	send(4)
	waitFor(t, "one worker busy, three queued", func() bool { return s.Busy() == 1 && s.QueueLen() == 3 })
	s.SetWorkers(4)
	if n := s.Workers(); n != 4 {
		t.Fatalf("Workers() = %d after SetWorkers(4)", n)
	}
	waitFor(t, "four workers busy", func() bool { return s.Busy() == 4 && s.QueueLen() == 0 })

	s.SetWorkers(1) // the three that go finish their request first
	if n := s.Workers(); n != 1 {
		t.Fatalf("Workers() = %d after SetWorkers(1)", n)
	}
	waitFor(t, "the four requests served", func() bool { return s.Stats().Served == 4 })
	send(3)
	waitFor(t, "one worker busy, two queued", func() bool { return s.Busy() == 1 && s.QueueLen() == 2 })
	s.SetWorkers(0) // at least one worker stays
	if n := s.Workers(); n != 1 {
		t.Fatalf("Workers() = %d after SetWorkers(0), want 1", n)
	}
	for _, ch := range answers {
		if st := <-ch; st != http.StatusOK {
			t.Fatalf("a request got %d, want 200", st)
		}
	}
}

func TestServerFaults(t *testing.T) {
	s, outcomes := testServer(t, ServerConfig{Workers: 2, ServiceTime: time.Millisecond})
	hc := newTestHTTPClient(t)
	ctx := context.Background()
	c := NewClient(s.URL(), hc)

	s.SetFault(Fault{Down: true})
	_, err := c.Get(ctx, "k")
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode() != http.StatusServiceUnavailable || <-outcomes != Failed {
		t.Fatalf("down: got %v, want a 503 StatusError", err)
	}
	if runtime.Classify(err) != runtime.ClassServer {
		t.Fatalf("a 503 classifies as %v, want server", runtime.Classify(err))
	}

	s.SetFault(Fault{RateLimit: 5}) // a bucket of 1
	if _, err := c.Get(ctx, "k"); err != nil || <-outcomes != Queued {
		t.Fatalf("the first request under the limit: %v", err)
	}
	_, err = c.Get(ctx, "k")
	if !errors.As(err, &se) || se.StatusCode() != http.StatusTooManyRequests || se.RetryAfter() != time.Second || <-outcomes != Limited {
		t.Fatalf("beyond the limit: got %v, want 429 with Retry-After 1s", err)
	}
	if runtime.Classify(err) != runtime.ClassRateLimited {
		t.Fatalf("a 429 classifies as %v, want rate_limited", runtime.Classify(err))
	}

	s.SetFault(Fault{})
	v, err := c.Get(ctx, "abc")
	if err != nil || v != "value of abc" || <-outcomes != Queued {
		t.Fatalf("no fault: got %q, %v", v, err)
	}
}

func TestEveryBuiltInProfileHasAWrapper(t *testing.T) {
	var have []string
	for _, p := range Profiles {
		have = append(have, p.Name)
	}
	if want := templates.Names(); !slices.Equal(have, want) {
		t.Fatalf("wrappers for %v, built-in profiles %v: add or remove a go:generate line in service.go and an entry in Profiles", have, want)
	}
	for _, p := range Profiles {
		w, mgr, err := p.Build(NewClient("http://127.0.0.1:1", http.DefaultClient), runtime.WithLogger(nil))
		if err != nil || w == nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		cfg, _ := mgr.Config("Get")
		if !cfg.RateLimit.Disabled {
			t.Errorf("%s: the client-side rate limit is on; the scenarios want it off", p.Name)
		}
		mgr.Close()
	}
}

func TestRecoveryTime(t *testing.T) {
	const w = 100 * time.Millisecond
	for _, tc := range []struct {
		name      string
		calls, ok []int
		want      time.Duration
		recovered bool
	}{
		{"at once", []int{10, 10, 10}, []int{10, 10, 10}, 0, true},
		{"after two buckets", []int{10, 10, 10, 10}, []int{0, 5, 10, 10}, 200 * time.Millisecond, true},
		{"a relapse counts", []int{10, 10, 10, 10}, []int{10, 10, 0, 10}, 300 * time.Millisecond, true},
		{"exactly 95% is enough", []int{20, 20}, []int{19, 19}, 0, true},
		{"just under 95% is not", []int{20, 20, 20}, []int{20, 18, 20}, 200 * time.Millisecond, true},
		{"empty buckets do not count", []int{10, 0, 10, 0}, []int{0, 0, 10, 0}, 100 * time.Millisecond, true},
		{"never, when the last bucket fails", []int{10, 10}, []int{10, 0}, 0, false},
		{"never, without buckets", nil, nil, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := RecoveryTime(tc.calls, tc.ok, w, RecoveryShare)
			if got != tc.want || ok != tc.recovered {
				t.Fatalf("RecoveryTime = %v, %v; want %v, %v", got, ok, tc.want, tc.recovered)
			}
		})
	}
}

// syntheticResult is a run of 10 calls/s offered for 1s per phase:
// before, all succeed with one attempt; during, three in ten succeed,
// each call made two attempts, and the breaker opened twice; after, the
// first 300ms fail and the rest succeed, and the breaker closes at 2.2s.
func syntheticResult(subject string) *Result {
	cfg := LoadConfig{Rate: 10, Deadline: time.Second, Phases: []Phase{
		{Name: "before", Duration: time.Second},
		{Name: "during", Duration: time.Second, Degraded: true},
		{Name: "after", Duration: time.Second, Returned: true},
	}}
	r := &Result{Subject: subject, Config: cfg, Breaker: true, Changes: []StateChange{
		{1200 * time.Millisecond, runtime.StateOpen},
		{1500 * time.Millisecond, runtime.StateHalfOpen},
		{1700 * time.Millisecond, runtime.StateOpen},
		{2100 * time.Millisecond, runtime.StateHalfOpen},
		{2200 * time.Millisecond, runtime.StateClosed},
	}}
	for i := range 30 {
		at := time.Duration(i) * 100 * time.Millisecond
		c := Call{At: at, Latency: time.Duration(i+1) * time.Millisecond, Attempts: 1}
		switch {
		case i >= 10 && i < 20:
			c.Attempts = 2
			if i%10 >= 3 {
				c.Kind = Unavailable
			}
		case i >= 20 && i < 23:
			c.Kind = Deadline
		}
		r.Calls = append(r.Calls, c)
	}
	return r
}

func TestAnalyzeArithmetic(t *testing.T) {
	s := Analyze(syntheticResult("api"), 100*time.Millisecond)
	if len(s) != 3 {
		t.Fatalf("%d phases", len(s))
	}
	for _, tc := range []struct {
		phase                 int
		calls, ok             int
		goodput, attempts     float64
		p99                   time.Duration
		openings              int
		recovery              time.Duration
		recovered, returned   bool
		deadline, unavailable int
		wasOpen               bool
		end                   runtime.State
	}{
		{0, 10, 10, 1, 1, 10 * time.Millisecond, 0, 0, false, false, 0, 0, false, runtime.StateClosed},
		{1, 10, 3, 0.3, 2, 13 * time.Millisecond, 2, 0, false, false, 0, 7, true, runtime.StateOpen},
		{2, 10, 7, 0.7, 1, 30 * time.Millisecond, 0, 300 * time.Millisecond, true, true, 3, 0, true, runtime.StateClosed},
	} {
		p := s[tc.phase]
		if p.Calls != tc.calls || p.OK != tc.ok || p.Goodput() != tc.goodput || p.AttemptsPerCall() != tc.attempts ||
			p.P99 != tc.p99 || p.Openings != tc.openings || p.Returned != tc.returned ||
			p.WasOpen != tc.wasOpen || p.End != tc.end ||
			p.Recovered != tc.recovered || p.Recovery != tc.recovery ||
			p.Errors[Deadline] != tc.deadline || p.Errors[Unavailable] != tc.unavailable {
			t.Errorf("phase %s: %+v (goodput %v, attempts/call %v); want %+v", p.Name, p, p.Goodput(), p.AttemptsPerCall(), tc)
		}
	}
	if r := s[1].SuccessRate(); r != 3 {
		t.Errorf("success rate %v/s, want 3/s", r)
	}
}

func TestTargetsJudgeAgainstTheBareClient(t *testing.T) {
	bare := Analyze(syntheticResult("bare"), 100*time.Millisecond)
	half := syntheticResult("api")
	for i := 10; i < 20; i++ {
		half.Calls[i].Kind = Unavailable
	}
	for i := 10; i < 13; i++ {
		half.Calls[i].Kind = OK // 3 of 10 as the bare client
	}
	s := Analyze(half, 100*time.Millisecond)
	if v, ok := goodputVsBare(0.95).Judge(s, bare); !ok || v != "1.00x" {
		t.Errorf("same goodput as bare: %s, %v", v, ok)
	}
	half.Calls[12].Kind = Unavailable // 2 of 10: 0.67x
	s = Analyze(half, 100*time.Millisecond)
	if v, ok := goodputVsBare(0.95).Judge(s, bare); ok || v != "0.67x" {
		t.Errorf("two thirds of bare's goodput: %s, %v", v, ok)
	}
	if v, ok := attemptsPerCall(1.3).Judge(s, bare); ok || v != "2.00" {
		t.Errorf("2 attempts per call: %s, %v", v, ok)
	}
	if v, ok := recoveredWithin(time.Second).Judge(s, bare); !ok || v != "0.3s" {
		t.Errorf("recovery in 0.3s: %s, %v", v, ok)
	}
	if v, ok := recoveredWithin(200*time.Millisecond).Judge(s, bare); ok || v != "0.3s" {
		t.Errorf("recovery in 0.3s against 200ms: %s, %v", v, ok)
	}
	if v, ok := breakerStaysClosed().Judge(s, bare); ok || v != "2 openings" {
		t.Errorf("two openings: %s, %v", v, ok)
	}
	if v, ok := opensDuringOutage().Judge(s, bare); !ok || v != "opened 2 times" {
		t.Errorf("opened during the degraded phase: %s, %v", v, ok)
	}
	half.Changes = []StateChange{{500 * time.Millisecond, runtime.StateOpen}}
	s = Analyze(half, 100*time.Millisecond)
	if v, ok := opensDuringOutage().Judge(s, bare); !ok || v != "open before it began" {
		t.Errorf("open since the phase before: %s, %v", v, ok)
	}
	half.Changes = nil
	s = Analyze(half, 100*time.Millisecond)
	if v, ok := opensDuringOutage().Judge(s, bare); ok || v != "never open" {
		t.Errorf("never open: %s, %v", v, ok)
	}
}

func TestSVGIsWellFormed(t *testing.T) {
	sc := &Scenario{Name: "brownout", About: `capacity <drops> & "returns"`}
	rep := NewReport(sc, []*Result{syntheticResult("bare"), syntheticResult("api <&>")}, 100*time.Millisecond)
	var b bytes.Buffer
	if err := WriteSVG(&b, rep, 250*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	checkSVG(t, b.Bytes(), []string{"bare", "api <&>"})
}

// checkSVG decodes an SVG document and checks its shape: an svg root, a
// panel per client with its line (and the bare client's for reference
// in the others), each named.
func checkSVG(t *testing.T, data []byte, clients []string) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(data))
	var root string
	polylines := 0
	var texts []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
			if tok.Name.Local == "polyline" {
				polylines++
			}
		case xml.CharData:
			texts = append(texts, string(tok))
		}
	}
	if want := 2*len(clients) - 1; root != "svg" || polylines != want {
		t.Fatalf("root %q with %d polylines; want svg with %d", root, polylines, want)
	}
	for _, c := range clients {
		if !slices.Contains(texts, c) {
			t.Errorf("no panel names %q", c)
		}
	}
}

// TestBareClientBrownout runs a short real brownout, scaled down (300
// calls/s against 2 workers of 5ms, then 1), with the bare client, and
// checks only what holds on a busy machine: the goodput drops while the
// pool is halved, and each call is exactly one request.
func TestBareClientBrownout(t *testing.T) {
	if testing.Short() {
		t.Skip("runs load for seconds")
	}
	p := DefaultParams()
	p.Rate, p.Workers, p.ReducedWorkers, p.ServiceTime, p.Queue = 300, 2, 1, 5*time.Millisecond, 16
	p.Before, p.During, p.After = time.Second, 2*time.Second, time.Second
	scs, err := Scenarios(p, []string{"brownout"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), scs[0].Load, Subject{Name: "bare"})
	if err != nil {
		t.Fatal(err)
	}
	s := Analyze(res, 100*time.Millisecond)
	during := s[degraded(s)]
	if during.Calls < 300 || during.Goodput() > 0.85 {
		t.Errorf("while the pool is halved (200/s for 300/s offered): %d calls, goodput %.3f; want it well below 1", during.Calls, during.Goodput())
	}
	noAnswer := 0
	for _, c := range res.Calls {
		// A call that got an answer made exactly one request; one that did
		// not (its deadline passed first, on a busy machine) none.
		if c.Attempts > 1 || c.Attempts == 0 && (c.Kind == OK || c.Kind == Unavailable) {
			t.Fatalf("a call of the bare client made %d requests and ended %v: want exactly one", c.Attempts, c.Kind)
		}
		if c.Attempts == 0 {
			noAnswer++
		}
	}
	if noAnswer == 0 {
		for _, ph := range s {
			if ph.AttemptsPerCall() != 1 {
				t.Errorf("%s: %.4f attempts per call for the bare client, want exactly 1", ph.Name, ph.AttemptsPerCall())
			}
		}
	}
}

// TestCommandRunsEveryPart runs the command briefly with one profile: the
// table, the targets' verdicts and the plot, in plain lines.
func TestCommandRunsEveryPart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs load for seconds")
	}
	svg := filepath.Join(t.TempDir(), "plot-{scenario}.svg")
	var out, errs bytes.Buffer
	code := run(context.Background(), []string{
		"-scenario", "brownout", "-profiles", "api", "-rate", "200", "-workers", "2", "-reduced-workers", "1",
		"-service-time", "5ms", "-queue", "16", "-before", "300ms", "-during", "600ms", "-after", "600ms",
		"-set", "retry.initial_delay=10ms", "-svg", svg,
	}, &out, &errs)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	text := out.String()
	for _, want := range []string{"== brownout", "bare", "api", "attempts/call", "targets:", "at most 1.3 attempts per call", "targets met:", "retry.initial_delay=10ms"} {
		if !strings.Contains(text, want) {
			t.Errorf("the output lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(text, "PASS") && !strings.Contains(text, "FAIL") {
		t.Errorf("no verdict in the output:\n%s", text)
	}
	if strings.Contains(text, "\r") {
		t.Error("the output has carriage returns: plain lines only")
	}
	data, err := os.ReadFile(strings.ReplaceAll(svg, "{scenario}", "brownout"))
	if err != nil {
		t.Fatal(err)
	}
	checkSVG(t, data, []string{"bare", "api"})

	if code := run(context.Background(), []string{"-scenario", "nosuch"}, &out, &errs); code != 2 {
		t.Errorf("an unknown scenario: exit %d, want 2", code)
	}
	if code := run(context.Background(), []string{"-set", "retry.max_attempt=3", "-scenario", "random", "-profiles", "api", "-before", "10ms", "-during", "10ms", "-after", "10ms"}, &out, &errs); code != 1 ||
		!strings.Contains(errs.String(), "max_attempt") {
		t.Errorf("a misspelled -set key: exit %d, %s", code, errs.String())
	}
}

func TestH2CServesHTTP2WithoutTLS(t *testing.T) {
	s, outcomes := testServer(t, ServerConfig{Workers: 1, ServiceTime: time.Millisecond, HTTP2: true})
	hc := NewHTTPClient(true)
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(s.URL() + "/get?key=k")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK || <-outcomes != Queued {
		t.Fatalf("%s %d, want HTTP/2.0 200", resp.Proto, resp.StatusCode)
	}
	v, err := NewClient(s.URL(), hc).Get(context.Background(), "x")
	if err != nil || v != "value of x" {
		t.Fatalf("Get over h2c: %q, %v", v, err)
	}
}

// TestServerKeepsItsCapacity serves 400 requests of 5ms with 2 workers:
// 1s at the nominal capacity. Late wake-ups on a busy machine must not
// make it much slower, and catching up after them must not make it
// faster than the schedule.
func TestServerKeepsItsCapacity(t *testing.T) {
	s, _ := testServer(t, ServerConfig{Workers: 2, Queue: 1000, ServiceTime: 5 * time.Millisecond})
	jobs := make([]*job, 400)
	start := time.Now()
	for i := range jobs {
		jobs[i] = &job{done: make(chan struct{})}
		s.queue <- jobs[i]
	}
	for _, j := range jobs {
		<-j.done
	}
	d := time.Since(start)
	if d < time.Second-maxLag || d > 3*time.Second {
		t.Fatalf("400 requests of 5ms on 2 workers took %v, want about 1s", d)
	}
}

// TestRetriesCarry: random's target asks 99.5% of calls of a client whose
// retries can get there, and of one of fewer attempts what they allow,
// less half a point.
func TestRetriesCarry(t *testing.T) {
	for _, tt := range []struct {
		attempts, ok, calls int
		pass                bool
	}{
		{5, 9960, 10000, true},  // 99.6% >= 99.5%
		{5, 9940, 10000, false}, // 99.4% < 99.5%
		{3, 9880, 10000, true},  // 98.8% >= 99.2% - 0.5
		{3, 9860, 10000, false}, // 98.6% < 98.7%
		{1, 7960, 10000, true},  // one attempt: 80% - 0.5
		{1, 7900, 10000, false},
	} {
		s := []PhaseStats{{MaxAttempts: tt.attempts, OK: tt.ok, Calls: tt.calls}}
		if v, ok := retriesCarry(0.2, 0.995).Judge(s, nil); ok != tt.pass {
			t.Errorf("%d attempts, %d of %d calls succeeding: %s, pass %v, want %v", tt.attempts, tt.ok, tt.calls, v, ok, tt.pass)
		}
	}
}
