package statusz_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/resgen-dev/resgen/examples/statuspage/inventory"
	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/fakeclock"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
	"github.com/resgen-dev/resgen/runtime/statusz"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const breaker = "ResilientInventory"

// fixture is a wrapped warehouse on a fake clock, registered with a
// handler served by an httptest server.
type fixture struct {
	clock     *fakeclock.Clock
	warehouse *inventory.Warehouse
	client    *inventory.ResilientInventory
	handler   *statusz.Handler
	server    *httptest.Server
}

func newFixture(t *testing.T, opts ...statusz.Option) *fixture {
	t.Helper()
	f := &fixture{clock: fakeclock.New(epoch), warehouse: &inventory.Warehouse{}}
	var err error
	f.client, err = inventory.NewResilientInventory(f.warehouse,
		runtime.WithClock(f.clock), runtime.WithLogger(nil), runtime.WithInstance("eu"),
		// One attempt a call: no backoff to drive on the fake clock.
		runtime.WithConfig(runtime.Settings{{Policy: "retry", Key: "max_attempts", Value: "1"}}))
	require.NoError(t, err)
	t.Cleanup(f.client.Resilience().Close)
	f.handler = statusz.New(append([]statusz.Option{statusz.WithClock(f.clock)}, opts...)...)
	require.NoError(t, f.handler.Register(f.client.Resilience()))
	f.server = httptest.NewServer(f.handler)
	t.Cleanup(f.server.Close)
	return f
}

// openBreaker makes the warehouse fail until the breaker opens.
func (f *fixture) openBreaker(t *testing.T) {
	t.Helper()
	f.warehouse.SetDown(true)
	for range 3 {
		_, err := f.client.Stock(context.Background(), "a")
		require.Error(t, err)
	}
	s, _ := f.client.Resilience().BreakerState(breaker)
	require.Equal(t, runtime.StateOpen, s)
}

func (f *fixture) get(t *testing.T, query string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.server.URL+"/"+query, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := f.server.Client().Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func (f *fixture) status(t *testing.T) statusz.Status {
	t.Helper()
	res := f.get(t, "?format=json")
	require.Equal(t, http.StatusOK, res.StatusCode)
	var st statusz.Status
	require.NoError(t, json.NewDecoder(res.Body).Decode(&st))
	return st
}

func method(t *testing.T, w statusz.Wrapper, name string) statusz.Method {
	t.Helper()
	for _, m := range w.Methods {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("no method %s", name)
	return statusz.Method{}
}

// TestJSONShowsBreakersLimitersCountsAndErrors: the JSON names each
// wrapper with its instance, each breaker with its state, settings and
// transitions, each method with its limiter's tokens, its counts by class
// and its last errors; under the field names machines read.
func TestJSONShowsBreakersLimitersCountsAndErrors(t *testing.T) {
	f := newFixture(t)
	_, err := f.client.Stock(context.Background(), "?nope") // a 404: permanent
	require.Error(t, err)
	f.clock.Advance(time.Second)
	f.openBreaker(t)

	st := f.status(t)
	assert.Equal(t, f.clock.Now(), st.Time.UTC())
	assert.False(t, st.Actions)
	require.Len(t, st.Wrappers, 1)
	w := st.Wrappers[0]
	assert.Equal(t, "ResilientInventory", w.Wrapper)
	assert.Equal(t, "eu", w.Instance)
	assert.Equal(t, 1.0, w.WindowSeconds)

	require.Len(t, w.Breakers, 1)
	b := w.Breakers[0]
	assert.Equal(t, breaker, b.Name)
	assert.Equal(t, "OPEN", b.State)
	assert.Equal(t, "normal", b.Forced)
	assert.True(t, b.Forceable)
	assert.Equal(t, []string{"Reserve", "Stock"}, b.Methods)
	assert.Equal(t, 3, b.FailureThreshold)
	assert.Equal(t, 2.0, b.RecoveryTimeoutSeconds)
	require.Len(t, b.Transitions, 1)
	assert.Equal(t, statusz.Transition{At: epoch.Add(time.Second), From: "CLOSED", To: "OPEN", Failures: 3},
		withUTC(b.Transitions[0]))

	stock := method(t, w, "Stock")
	assert.Equal(t, "OPEN", stock.BreakerState)
	require.NotNil(t, stock.Limiter)
	assert.Equal(t, 6000, stock.Limiter.MaxRequestsPerMinute)
	assert.Equal(t, 50, stock.Limiter.BurstSize)
	require.NotNil(t, stock.Limiter.Tokens)
	assert.InDelta(t, 47, *stock.Limiter.Tokens, 1e-9, "a bucket of 50 refilled after one attempt, then 3 attempts")
	assert.Nil(t, stock.Limiter.AdaptiveRate, "a fixed rate")
	require.NotNil(t, stock.Concurrency)
	assert.Equal(t, statusz.Concurrency{Limit: 50}, *stock.Concurrency,
		"an adaptive limit starts at min_in_flight; nothing in flight after the calls")
	assert.Equal(t, int64(4), stock.LastMinute.Calls)
	assert.Equal(t, int64(4), stock.LastMinute.Failures)
	assert.Equal(t, map[string]int64{"permanent": 1, "server": 3}, stock.LastMinute.FailedByClass)
	require.Len(t, stock.RecentErrors, 4)
	assert.Equal(t, statusz.Error{At: epoch, Attempt: 1, Class: "permanent", Error: "unknown sku"}, withUTCErr(stock.RecentErrors[0]))
	assert.Equal(t, "warehouse down (500)", stock.RecentErrors[3].Error)

	// The field names, as machines read them.
	var raw map[string]any
	require.NoError(t, json.NewDecoder(f.get(t, "?format=json").Body).Decode(&raw))
	rw := raw["wrappers"].([]any)[0].(map[string]any)
	assert.ElementsMatch(t, []string{"wrapper", "instance", "window_seconds", "breakers", "methods"}, keys(rw))
	assert.ElementsMatch(t, []string{"name", "state", "forced", "forceable", "methods", "failure_threshold",
		"success_threshold", "recovery_timeout_seconds", "last_outage_seconds", "transitions"},
		keys(rw["breakers"].([]any)[0].(map[string]any)))
	assert.ElementsMatch(t, []string{"name", "breaker", "breaker_state", "limiter", "concurrency", "throttle", "last_minute", "total", "recent_errors"},
		keys(rw["methods"].([]any)[1].(map[string]any)))
	assert.ElementsMatch(t, []string{"calls", "successes", "failures", "attempts", "failed_attempts", "failed_by_class",
		"retries", "rejected", "dropped", "throttled", "budget_denied"},
		keys(rw["methods"].([]any)[1].(map[string]any)["last_minute"].(map[string]any)))
}

// TestJSONShowsTheAdaptiveRate: a method whose rate limit is adaptive
// shows its rate now.
func TestJSONShowsTheAdaptiveRate(t *testing.T) {
	clock := fakeclock.New(epoch)
	client, err := inventory.NewResilientInventory(&inventory.Warehouse{},
		runtime.WithClock(clock), runtime.WithLogger(nil),
		runtime.WithConfig(runtime.Settings{{Policy: "rate_limit", Key: "adaptive", Value: "true"}}))
	require.NoError(t, err)
	t.Cleanup(client.Resilience().Close)
	h := statusz.New(statusz.WithClock(clock))
	require.NoError(t, h.Register(client.Resilience()))
	_, err = client.Stock(context.Background(), "a")
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/?format=json", nil))
	var st statusz.Status
	require.NoError(t, json.NewDecoder(rec.Body).Decode(&st))
	stock := method(t, st.Wrappers[0], "Stock")
	require.NotNil(t, stock.Limiter)
	require.NotNil(t, stock.Limiter.AdaptiveRate)
	assert.Equal(t, 6000.0, *stock.Limiter.AdaptiveRate, "no 429 yet: the rate is max_requests_per_minute")
}

func withUTC(t statusz.Transition) statusz.Transition { t.At = t.At.UTC(); return t }
func withUTCErr(e statusz.Error) statusz.Error        { e.At = e.At.UTC(); return e }

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestLastMinuteCountsOnlyTheLastMinute: the last minute's counts leave
// out what happened before it, and the window says how far back they go.
func TestLastMinuteCountsOnlyTheLastMinute(t *testing.T) {
	f := newFixture(t)
	call := func(n int) {
		for range n {
			_, err := f.client.Stock(context.Background(), "a")
			require.NoError(t, err)
		}
	}
	call(5)
	f.clock.Advance(30 * time.Second)
	st := f.status(t) // a sample at 30s
	assert.Equal(t, 30.0, st.Wrappers[0].WindowSeconds)
	assert.Equal(t, int64(5), method(t, st.Wrappers[0], "Stock").LastMinute.Calls)

	call(2)
	f.clock.Advance(60 * time.Second)
	st = f.status(t)
	w := st.Wrappers[0]
	assert.Equal(t, 60.0, w.WindowSeconds)
	assert.Equal(t, int64(2), method(t, w, "Stock").LastMinute.Calls, "counted calls older than a minute")
	assert.Equal(t, int64(7), method(t, w, "Stock").Total.Calls)
}

// TestNegotiatesTheFormat: the page for browsers, JSON for ?format=json or
// Accept: application/json, an error for an unknown format.
func TestNegotiatesTheFormat(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name, query, accept, wantType string
		wantCode                      int
	}{
		{"browser", "", "text/html,application/xhtml+xml,*/*;q=0.8", "text/html; charset=utf-8", 200},
		{"no accept", "", "", "text/html; charset=utf-8", 200},
		{"json query", "?format=json", "text/html", "application/json; charset=utf-8", 200},
		{"json accept", "", "application/json", "application/json; charset=utf-8", 200},
		{"html query", "?format=html", "application/json", "text/html; charset=utf-8", 200},
		{"unknown format", "?format=xml", "", "text/plain; charset=utf-8", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := f.get(t, tc.query, "Accept", tc.accept)
			assert.Equal(t, tc.wantCode, res.StatusCode)
			assert.Equal(t, tc.wantType, res.Header.Get("Content-Type"))
		})
	}
}

// TestPageLoadsNothingFromElsewhere: the page's script and style are
// inline, allowed by a nonce that changes with every response, and its
// Content-Security-Policy lets it connect to nothing but its own origin.
func TestPageLoadsNothingFromElsewhere(t *testing.T) {
	f := newFixture(t)
	a, b := f.get(t, ""), f.get(t, "")
	body, err := io.ReadAll(a.Body)
	require.NoError(t, err)
	page := string(body)
	for _, s := range []string{"src=", "href=\"http", "@import", "url("} {
		assert.NotContains(t, page, s)
	}
	csp := a.Header.Get("Content-Security-Policy")
	assert.Contains(t, csp, "default-src 'none'")
	assert.Contains(t, csp, "connect-src 'self'")
	assert.NotEqual(t, csp, b.Header.Get("Content-Security-Policy"), "the nonce did not change")
	nonce := strings.TrimPrefix(strings.Fields(csp)[3], "'nonce-")
	nonce = strings.TrimSuffix(nonce, "';")
	assert.Contains(t, page, `<script nonce="`+nonce+`">`)
	assert.Contains(t, page, `new EventSource(base + "?format=sse")`)
}

// TestEventStreamSendsSnapshots: ?format=sse streams a snapshot at once
// and then every interval, until the handler is closed.
func TestEventStreamSendsSnapshots(t *testing.T) {
	f := newFixture(t, statusz.WithInterval(5*time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.server.URL+"/?format=sse", nil)
	require.NoError(t, err)
	res, err := f.server.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	assert.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	r := bufio.NewReader(res.Body)
	next := func() statusz.Status {
		t.Helper()
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, "event: status\n", line)
		line, err = r.ReadString('\n')
		require.NoError(t, err)
		data, ok := strings.CutPrefix(line, "data: ")
		require.True(t, ok, "not a data line: %q", line)
		var st statusz.Status
		require.NoError(t, json.Unmarshal([]byte(data), &st))
		blank, err := r.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, "\n", blank)
		return st
	}
	st := next()
	assert.Equal(t, "CLOSED", st.Wrappers[0].Breakers[0].State)
	f.openBreaker(t)
	f.clock.BlockUntil(2) // the stream's interval and the breaker's recovery_timeout
	f.warehouse.SetDown(false)
	f.clock.Advance(2 * time.Second)
	_, err = f.client.Stock(context.Background(), "a") // the probe that closes it
	require.NoError(t, err)
	f.clock.Advance(3 * time.Second)
	st = next()
	assert.Equal(t, epoch.Add(5*time.Second), st.Time.UTC())
	b := st.Wrappers[0].Breakers[0]
	assert.Equal(t, "CLOSED", b.State)
	var got []string
	for _, tr := range b.Transitions {
		got = append(got, tr.From+"→"+tr.To)
	}
	assert.Equal(t, []string{"CLOSED→OPEN", "OPEN→HALF_OPEN", "HALF_OPEN→CLOSED"}, got)

	// Close ends the stream, so that a server's Shutdown need not wait
	// for the browser to go.
	f.handler.Close()
	_, err = r.ReadString('\n')
	assert.ErrorIs(t, err, io.EOF)
}

func (f *fixture) post(t *testing.T, body string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.server.URL+"/", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	res, err := f.server.Client().Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { res.Body.Close() })
	return res
}

const forceOpen = `{"wrapper":"ResilientInventory","instance":"eu","breaker":"ResilientInventory","mode":"open"}`

func (f *fixture) state(t *testing.T) runtime.State {
	t.Helper()
	s, ok := f.client.Resilience().BreakerState(breaker)
	require.True(t, ok)
	return s
}

// TestActionsAreOffByDefault: without WithActions, a well-formed action is
// refused and the breaker does not move.
func TestActionsAreOffByDefault(t *testing.T) {
	f := newFixture(t)
	res := f.post(t, forceOpen, statusz.ActionHeader, "force")
	assert.Equal(t, http.StatusForbidden, res.StatusCode)
	body, _ := io.ReadAll(res.Body)
	assert.Contains(t, string(body), "WithActions")
	assert.Equal(t, runtime.StateClosed, f.state(t))
}

// TestActionsAreGuarded: with WithActions, only a same-origin POST with
// the action header and a JSON body forces the breaker; every other
// request is refused and changes nothing.
func TestActionsAreGuarded(t *testing.T) {
	f := newFixture(t, statusz.WithActions())
	for _, tc := range []struct {
		name   string
		method string
		body   string
		header []string
		want   int
	}{
		{"GET", http.MethodGet, "", nil, http.StatusOK},
		{"PUT", http.MethodPut, forceOpen, []string{statusz.ActionHeader, "force"}, http.StatusMethodNotAllowed},
		{"DELETE", http.MethodDelete, "", nil, http.StatusMethodNotAllowed},
		{"no action header", http.MethodPost, forceOpen, nil, http.StatusForbidden},
		{"cross-site", http.MethodPost, forceOpen, []string{statusz.ActionHeader, "force", "Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"other origin", http.MethodPost, forceOpen, []string{statusz.ActionHeader, "force", "Origin", "https://evil.example"}, http.StatusForbidden},
		{"form body", http.MethodPost, "mode=open", []string{statusz.ActionHeader, "force", "Content-Type", "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
		{"bad JSON", http.MethodPost, `{"mode":`, []string{statusz.ActionHeader, "force"}, http.StatusBadRequest},
		{"two values", http.MethodPost, forceOpen + forceOpen, []string{statusz.ActionHeader, "force"}, http.StatusBadRequest},
		{"unknown field", http.MethodPost, `{"wrapper":"ResilientInventory","instance":"eu","breaker":"ResilientInventory","mode":"open","x":1}`, []string{statusz.ActionHeader, "force"}, http.StatusBadRequest},
		{"no mode", http.MethodPost, `{"wrapper":"ResilientInventory","instance":"eu","breaker":"ResilientInventory"}`, []string{statusz.ActionHeader, "force"}, http.StatusBadRequest},
		{"bad mode", http.MethodPost, strings.Replace(forceOpen, `"open"`, `"ajar"`, 1), []string{statusz.ActionHeader, "force"}, http.StatusBadRequest},
		{"unknown instance", http.MethodPost, strings.Replace(forceOpen, `"eu"`, `"us"`, 1), []string{statusz.ActionHeader, "force"}, http.StatusNotFound},
		{"unknown breaker", http.MethodPost, strings.Replace(forceOpen, `"breaker":"ResilientInventory"`, `"breaker":"Other"`, 1), []string{statusz.ActionHeader, "force"}, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, f.server.URL+"/?mode=open", strings.NewReader(tc.body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Set(tc.header[i], tc.header[i+1])
			}
			res, err := f.server.Client().Do(req)
			require.NoError(t, err)
			defer res.Body.Close()
			assert.Equal(t, tc.want, res.StatusCode)
			assert.Equal(t, runtime.StateClosed, f.state(t), "a refused request moved the breaker")
		})
	}

	// The page's own request: same origin, the header, JSON.
	res := f.post(t, forceOpen, statusz.ActionHeader, "force", "Sec-Fetch-Site", "same-origin")
	require.Equal(t, http.StatusOK, res.StatusCode)
	var st statusz.Status
	require.NoError(t, json.NewDecoder(res.Body).Decode(&st))
	assert.True(t, st.Actions)
	assert.Equal(t, "OPEN", st.Wrappers[0].Breakers[0].State)
	assert.Equal(t, "open", st.Wrappers[0].Breakers[0].Forced)
	assert.Equal(t, runtime.StateOpen, f.state(t))

	res = f.post(t, strings.Replace(forceOpen, `"open"`, `"closed"`, 1), statusz.ActionHeader, "force")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, runtime.StateClosed, f.state(t))
	res = f.post(t, strings.Replace(forceOpen, `"open"`, `"normal"`, 1), statusz.ActionHeader, "force")
	require.Equal(t, http.StatusOK, res.StatusCode)
	snap := f.client.Resilience().Breakers()
	assert.Equal(t, runtime.ForceNone, snap[0].Forced)
}

// TestActionOnAStoredBreakerIsAConflict: a breaker kept in a Store cannot
// be forced, and the page says so.
func TestActionOnAStoredBreakerIsAConflict(t *testing.T) {
	clock := fakeclock.New(epoch)
	client, err := inventory.NewResilientInventory(&inventory.Warehouse{}, runtime.WithClock(clock), runtime.WithLogger(nil),
		runtime.WithInstance("eu"), runtime.WithStore(resgenimpl.NewLocalStore(clock)))
	require.NoError(t, err)
	h := statusz.New(statusz.WithActions(), statusz.WithClock(clock))
	require.NoError(t, h.Register(client.Resilience()))
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(forceOpen))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(statusz.ActionHeader, "force")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusConflict, rec.Code)
	assert.Contains(t, rec.Body.String(), "cannot be forced")
	assert.False(t, h.Snapshot().Wrappers[0].Breakers[0].Forceable)
	assert.Nil(t, h.Snapshot().Wrappers[0].Methods[0].Limiter.Tokens, "a stored bucket's tokens are unknown")
}

// TestRegisterAndUnregister: wrappers show in the order they were
// registered; a second registration of one type and instance is an error;
// Unregister removes a wrapper.
func TestRegisterAndUnregister(t *testing.T) {
	h := statusz.New()
	assert.Empty(t, h.Snapshot().Wrappers)
	build := func(instance string) *runtime.Manager {
		c, err := inventory.NewResilientInventory(&inventory.Warehouse{}, runtime.WithInstance(instance), runtime.WithLogger(nil))
		require.NoError(t, err)
		t.Cleanup(c.Resilience().Close)
		return c.Resilience()
	}
	a, b := build("a"), build("b")
	require.NoError(t, h.Register(b))
	require.NoError(t, h.Register(a))
	require.ErrorContains(t, h.Register(build("a")), `instance "a" is registered already`)
	require.Error(t, h.Register(nil))
	var got []string
	for _, w := range h.Snapshot().Wrappers {
		got = append(got, w.Instance)
	}
	assert.Equal(t, []string{"b", "a"}, got)
	assert.True(t, h.Unregister(b))
	assert.False(t, h.Unregister(b))
	require.Len(t, h.Snapshot().Wrappers, 1)
	assert.Equal(t, "a", h.Snapshot().Wrappers[0].Instance)
}

// TestImportsOnlyTheStandardLibrary: statusz, like runtime, pulls in
// nothing beyond the standard library.
func TestImportsOnlyTheStandardLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	require.NoError(t, err)
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/resgen-dev/resgen/runtime" && p != "github.com/resgen-dev/resgen/runtime/statusz" &&
			p != "github.com/resgen-dev/resgen/runtime/internal/link" && p != "github.com/resgen-dev/resgen/internal/tooling" &&
			p != "github.com/resgen-dev/resgen/runtime/store" {
			t.Errorf("statusz depends on %s", p)
		}
	}
}
