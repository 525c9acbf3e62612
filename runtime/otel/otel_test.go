package otel_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/resgen-dev/resgen/examples/statuspage/inventory"
	"github.com/resgen-dev/resgen/runtime"
	resgenotel "github.com/resgen-dev/resgen/runtime/otel"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// harness is an Instrumentation reporting to an in-memory span recorder and
// a manual metric reader.
type harness struct {
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	in     *resgenotel.Instrumentation
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	h.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(h.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.reader))
	in, err := resgenotel.New(resgenotel.WithTracerProvider(h.tp), resgenotel.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	h.in = in
	t.Cleanup(func() {
		_ = in.Close()
		_ = h.tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	return h
}

// wrap builds a ResilientInventory of inner reported to h, and adds its
// Manager.
func (h *harness) wrap(t *testing.T, inner inventory.Inventory, opts ...runtime.Option) *inventory.ResilientInventory {
	t.Helper()
	w, err := inventory.NewResilientInventory(inner, append([]runtime.Option{runtime.WithLogger(nil), h.in.Option()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Resilience().Close)
	if err := h.in.Add(w.Resilience()); err != nil {
		t.Fatal(err)
	}
	return w
}

func (h *harness) metrics(t *testing.T) map[string]metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := make(map[string]metricdata.Aggregation)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

// scripted is an Inventory whose calls fail with the errors of script in
// turn, then succeed; each call starts a span of its own from the context
// it receives, as an instrumented client (otelhttp) would.
type scripted struct {
	tracer trace.Tracer
	script []error
	calls  atomic.Int64
}

func (s *scripted) next(ctx context.Context) error {
	_, span := s.tracer.Start(ctx, "inner")
	defer span.End()
	if i := s.calls.Add(1) - 1; int(i) < len(s.script) {
		return s.script[i]
	}
	return nil
}

func (s *scripted) Stock(ctx context.Context, _ string) (int, error) { return 7, s.next(ctx) }
func (s *scripted) Reserve(ctx context.Context, _ string, _ int) error {
	return s.next(ctx)
}

var errDown = &inventory.StatusError{Code: 500, Msg: "warehouse down"}

func attr(kvs []attribute.KeyValue, k attribute.Key) (attribute.Value, bool) {
	for _, kv := range kvs {
		if kv.Key == k {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// TestCallSpanHasAChildSpanPerAttempt: a call that fails once and then
// succeeds is a span under the caller's, with a child span per attempt;
// what the wrapped method does is a child of its attempt.
func TestCallSpanHasAChildSpanPerAttempt(t *testing.T) {
	h := newHarness(t)
	inner := &scripted{tracer: h.tp.Tracer("client"), script: []error{errDown}}
	w := h.wrap(t, inner, runtime.WithInstance("eu"))

	ctx, root := h.tp.Tracer("app").Start(context.Background(), "handler")
	if _, err := w.Stock(ctx, "sku-1"); err != nil {
		t.Fatal(err)
	}
	root.End()

	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range h.spans.Ended() {
		byName[s.Name()] = append(byName[s.Name()], s)
	}
	calls, attempts, inners := byName["ResilientInventory.Stock"], byName["ResilientInventory.Stock attempt"], byName["inner"]
	if len(calls) != 1 || len(attempts) != 2 || len(inners) != 2 {
		t.Fatalf("spans: %d calls, %d attempts, %d inner; want 1, 2, 2", len(calls), len(attempts), len(inners))
	}
	call := calls[0]
	if call.Parent().SpanID() != root.SpanContext().SpanID() {
		t.Errorf("the call's span is not a child of the caller's")
	}
	if v, _ := attr(call.Attributes(), resgenotel.KeyOutcome); v.AsString() != "success" {
		t.Errorf("call outcome = %q, want success", v.AsString())
	}
	if v, _ := attr(call.Attributes(), resgenotel.KeyAttempts); v.AsInt64() != 2 {
		t.Errorf("call attempts = %d, want 2", v.AsInt64())
	}
	if v, _ := attr(call.Attributes(), resgenotel.KeyInstance); v.AsString() != "eu" {
		t.Errorf("call instance = %q, want eu", v.AsString())
	}
	if call.Status().Code == codes.Error {
		t.Errorf("a call that succeeded has an Error status")
	}
	slices.SortFunc(attempts, func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) })
	for i, a := range attempts {
		if a.Parent().SpanID() != call.SpanContext().SpanID() {
			t.Errorf("attempt %d is not a child of the call", i+1)
		}
		if v, _ := attr(a.Attributes(), resgenotel.KeyAttempt); v.AsInt64() != int64(i+1) {
			t.Errorf("attempt %d: resgen.attempt = %d", i+1, v.AsInt64())
		}
		if v, _ := attr(a.Attributes(), resgenotel.KeyBreakerState); v.AsString() != "closed" {
			t.Errorf("attempt %d: breaker state = %q, want closed", i+1, v.AsString())
		}
		n := 0
		for _, in := range inners {
			if in.Parent().SpanID() == a.SpanContext().SpanID() {
				n++
			}
		}
		if n != 1 {
			t.Errorf("attempt %d is the parent of %d spans of the wrapped method, want 1", i+1, n)
		}
	}
	first, second := attempts[0], attempts[1]
	if v, _ := attr(first.Attributes(), resgenotel.KeyErrorType); v.AsString() != "server" {
		t.Errorf("first attempt error.type = %q, want server", v.AsString())
	}
	if first.Status().Code != codes.Error || len(first.Events()) == 0 || first.Events()[0].Name != "exception" {
		t.Errorf("the failed attempt has status %v and events %v, want Error and its exception", first.Status(), first.Events())
	}
	if v, ok := attr(second.Attributes(), resgenotel.KeyRetryDelay); !ok || v.AsFloat64() <= 0 {
		t.Errorf("the second attempt's resgen.retry.delay = %v, want the backoff slept before it", v.AsFloat64())
	}
	if _, ok := attr(second.Attributes(), resgenotel.KeyErrorType); ok {
		t.Errorf("the attempt that succeeded has an error.type")
	}
}

// TestRejectedCallAndBreakerMetrics: failures open the breaker; the call
// it then rejects has no attempt, a resgen.rejected event and the outcome
// circuit_open; the metrics count the attempts, calls, retries,
// rejections, the breaker's state and its transitions.
func TestRejectedCallAndBreakerMetrics(t *testing.T) {
	h := newHarness(t)
	inner := &scripted{tracer: h.tp.Tracer("client"), script: slices.Repeat([]error{errDown}, 6)}
	w := h.wrap(t, inner)
	ctx := context.Background()
	for range 3 { // three failed calls of two attempts each open the breaker
		if _, err := w.Stock(ctx, "a"); err == nil {
			t.Fatal("a call succeeded while the warehouse was down")
		}
	}
	h.spans.Reset()
	_, err := w.Stock(ctx, "a")
	if !errors.Is(err, runtime.ErrCircuitOpen) {
		t.Fatalf("err = %v, want ErrCircuitOpen", err)
	}
	ended := h.spans.Ended()
	if len(ended) != 1 {
		t.Fatalf("%d spans for a rejected call, want 1 (no attempt)", len(ended))
	}
	call := ended[0]
	if v, _ := attr(call.Attributes(), resgenotel.KeyOutcome); v.AsString() != "circuit_open" {
		t.Errorf("outcome = %q, want circuit_open", v.AsString())
	}
	if evs := call.Events(); len(evs) != 1 || evs[0].Name != "resgen.rejected" {
		t.Errorf("events = %v, want one resgen.rejected", evs)
	} else if v, _ := attr(evs[0].Attributes, resgenotel.KeyReason); v.AsString() != "circuit_open" {
		t.Errorf("rejection reason = %q", v.AsString())
	}
	if call.Status().Code != codes.Error {
		t.Errorf("a rejected call's status = %v, want Error", call.Status())
	}

	breaker := w.Resilience().Breakers()[0].Name
	if err := w.Resilience().ForceBreaker(breaker, runtime.ForceClosed); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Stock(ctx, "a"); err != nil {
		t.Fatal(err)
	}

	m := h.metrics(t)
	attempts := m["resgen.client.attempt.duration"].(metricdata.Histogram[float64])
	if got := histCount(attempts.DataPoints, map[attribute.Key]string{"error.type": "server"}); got != 6 {
		t.Errorf("failed attempts counted = %d, want 6", got)
	}
	if got := histCount(attempts.DataPoints, map[attribute.Key]string{"error.type": ""}); got != 1 {
		t.Errorf("successful attempts counted = %d, want 1", got)
	}
	calls := m["resgen.client.call.duration"].(metricdata.Histogram[float64])
	for outcome, want := range map[string]uint64{"failure": 3, "circuit_open": 1, "success": 1} {
		if got := histCount(calls.DataPoints, map[attribute.Key]string{"resgen.outcome": outcome}); got != want {
			t.Errorf("calls with outcome %s = %d, want %d", outcome, got, want)
		}
	}
	if got := sum(m["resgen.client.retries"], nil); got != 3 {
		t.Errorf("retries = %d, want 3", got)
	}
	if got := sum(m["resgen.client.rejections"], map[attribute.Key]string{"resgen.reason": "circuit_open"}); got != 1 {
		t.Errorf("circuit_open rejections = %d, want 1", got)
	}
	for to, want := range map[string]int64{"open": 1, "closed": 1} {
		if got := sum(m["resgen.breaker.transitions"], map[attribute.Key]string{"resgen.breaker.state": to}); got != want {
			t.Errorf("transitions to %s = %d, want %d", to, got, want)
		}
	}
	for state, want := range map[string]int64{"closed": 1, "open": 0, "half_open": 0} {
		if got := gauge(m["resgen.breaker.state"], map[attribute.Key]string{"resgen.breaker.state": state}); got != want {
			t.Errorf("resgen.breaker.state{%s} = %d, want %d", state, got, want)
		}
	}
}

func matches(set attribute.Set, want map[attribute.Key]string) bool {
	for k, v := range want {
		got, ok := set.Value(k)
		if v == "" && ok || v != "" && got.AsString() != v {
			return false
		}
	}
	return true
}

func histCount(dps []metricdata.HistogramDataPoint[float64], want map[attribute.Key]string) uint64 {
	var n uint64
	for _, dp := range dps {
		if matches(dp.Attributes, want) {
			n += dp.Count
		}
	}
	return n
}

func sum(a metricdata.Aggregation, want map[attribute.Key]string) int64 {
	var n int64
	s, _ := a.(metricdata.Sum[int64])
	for _, dp := range s.DataPoints {
		if matches(dp.Attributes, want) {
			n += dp.Value
		}
	}
	return n
}

func gauge(a metricdata.Aggregation, want map[attribute.Key]string) int64 {
	var n int64
	g, _ := a.(metricdata.Gauge[int64])
	for _, dp := range g.DataPoints {
		if matches(dp.Attributes, want) {
			n += dp.Value
		}
	}
	return n
}

// TestMetricsHaveBoundedAttributes: whatever the calls' errors, every
// metric's attributes are the documented keys, and each value of an
// enumerated key is one of the documented values: nothing of an error's
// text or a call's arguments reaches a series.
func TestMetricsHaveBoundedAttributes(t *testing.T) {
	h := newHarness(t)
	var script []error
	for i := range 40 {
		script = append(script, &inventory.StatusError{Code: []int{400, 404, 429, 500, 503}[i%5], Msg: "failure " + strings.Repeat("x", i)},
			context.DeadlineExceeded, errors.New("unknown failure "+string(rune('a'+i%26))))
	}
	w := h.wrap(t, &scripted{tracer: h.tp.Tracer("client"), script: script})
	ctx, cancel := context.WithCancel(context.Background())
	for i := range 60 {
		_, _ = w.Stock(ctx, "sku")
		_ = w.Reserve(ctx, "sku", i)
	}
	cancel()
	_, _ = w.Stock(ctx, "sku") // the caller gave up
	classes := map[string]bool{}
	for c := runtime.ClassUnknown; c <= runtime.ClassCanceled; c <<= 1 {
		classes[c.String()] = true
	}
	outcomes := map[string]bool{"success": true, "failure": true, "canceled": true, "circuit_open": true,
		"throttled": true, "rate_limited": true, "retry_budget": true, "concurrency_limit": true}
	allowed := map[attribute.Key]func(string) bool{
		"resgen.wrapper":          func(v string) bool { return v == "ResilientInventory" },
		"resgen.instance":         func(v string) bool { return v == w.Resilience().Instance() },
		"resgen.method":           func(v string) bool { return v == "Stock" || v == "Reserve" },
		"resgen.breaker":          func(v string) bool { return v == w.Resilience().Breakers()[0].Name },
		"resgen.breaker.state":    func(v string) bool { return v == "closed" || v == "open" || v == "half_open" },
		"resgen.outcome":          func(v string) bool { return outcomes[v] },
		"resgen.reason":           func(v string) bool { return outcomes[v] && v != "success" && v != "failure" && v != "canceled" },
		"resgen.ratelimit.action": func(v string) bool { return v == "delayed" || v == "queued" },
		"error.type":              func(v string) bool { return classes[v] || outcomes[v] },
	}
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			for _, set := range attributeSets(m.Data) {
				seen++
				for _, kv := range set.ToSlice() {
					ok := allowed[kv.Key]
					if ok == nil || !ok(kv.Value.AsString()) {
						t.Errorf("%s has attribute %s=%q", m.Name, kv.Key, kv.Value.AsString())
					}
				}
			}
		}
	}
	if seen == 0 {
		t.Fatal("no series")
	}
}

func attributeSets(a metricdata.Aggregation) []attribute.Set {
	var out []attribute.Set
	switch d := a.(type) {
	case metricdata.Histogram[float64]:
		for _, dp := range d.DataPoints {
			out = append(out, dp.Attributes)
		}
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			out = append(out, dp.Attributes)
		}
	case metricdata.Sum[float64]:
		for _, dp := range d.DataPoints {
			out = append(out, dp.Attributes)
		}
	case metricdata.Gauge[int64]:
		for _, dp := range d.DataPoints {
			out = append(out, dp.Attributes)
		}
	case metricdata.Gauge[float64]:
		for _, dp := range d.DataPoints {
			out = append(out, dp.Attributes)
		}
	}
	return out
}

// TestAddRefusesTheSameSeriesTwice: two Managers of one wrapper type with
// one instance name would report the same series; Remove stops a
// Manager's.
func TestAddRefusesTheSameSeriesTwice(t *testing.T) {
	h := newHarness(t)
	a := h.wrap(t, &inventory.Warehouse{}, runtime.WithInstance("a"))
	b, err := inventory.NewResilientInventory(&inventory.Warehouse{}, runtime.WithLogger(nil), runtime.WithInstance("a"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Resilience().Close()
	if err := h.in.Add(a.Resilience()); err == nil {
		t.Error("Add took a Manager twice")
	}
	if err := h.in.Add(b.Resilience()); err == nil || !strings.Contains(err.Error(), "WithInstance") {
		t.Errorf("Add of a second instance \"a\": %v, want an error that says to name it", err)
	}
	if !h.in.Remove(a.Resilience()) || h.in.Remove(a.Resilience()) {
		t.Error("Remove does not report whether the Manager was added")
	}
	if got := sum(h.metrics(t)["resgen.client.retries"], nil); got != 0 {
		t.Errorf("a removed Manager still reports")
	}
	if _, ok := h.metrics(t)["resgen.client.retries"]; ok {
		t.Error("a removed Manager's series are still collected")
	}
	if err := h.in.Add(b.Resilience()); err != nil {
		t.Errorf("Add after Remove: %v", err)
	}
}

// TestUnsampledCallsStillCount: with a sampler that records nothing, calls
// still work and still count in the metrics.
func TestUnsampledCallsStillCount(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()), sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	in, err := resgenotel.New(resgenotel.WithTracerProvider(tp), resgenotel.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	w, err := inventory.NewResilientInventory(&inventory.Warehouse{}, runtime.WithLogger(nil), in.Option())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Resilience().Close()
	for range 5 {
		if _, err := w.Stock(context.Background(), "a"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(rec.Ended()); n != 0 {
		t.Errorf("%d spans recorded by a sampler that samples nothing", n)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == "resgen.client.call.duration" {
				if got := histCount(m.Data.(metricdata.Histogram[float64]).DataPoints, nil); got != 5 {
					t.Errorf("calls counted = %d, want 5", got)
				}
				return
			}
		}
	}
	t.Error("no resgen.client.call.duration")
}

// TestConcurrencyAndAdaptiveRateMetrics: a wrapper with a concurrency
// limit and an adaptive rate limit reports the limit, the attempts in
// flight and the rate now.
func TestConcurrencyAndAdaptiveRateMetrics(t *testing.T) {
	h := newHarness(t)
	w := h.wrap(t, &scripted{tracer: h.tp.Tracer("client")},
		runtime.WithConfig(runtime.Settings{{Policy: "rate_limit", Key: "adaptive", Value: "true"}}))
	if _, err := w.Stock(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	m := h.metrics(t)
	stock := map[attribute.Key]string{"resgen.method": "Stock"}
	if got := gauge(m["resgen.concurrency.limit"], stock); got != 50 {
		t.Errorf("resgen.concurrency.limit = %d, want the adaptive limit's start, %d", got, 50)
	}
	if got := gauge(m["resgen.concurrency.in_flight"], stock); got != 0 {
		t.Errorf("resgen.concurrency.in_flight = %d after the call returned, want 0", got)
	}
	rate, _ := m["resgen.ratelimit.adaptive_rate"].(metricdata.Gauge[float64])
	var rpm float64
	for _, dp := range rate.DataPoints {
		if matches(dp.Attributes, stock) {
			rpm = dp.Value
		}
	}
	if rpm != 6000 {
		t.Errorf("resgen.ratelimit.adaptive_rate = %v, want max_requests_per_minute, 6000", rpm)
	}
	if _, ok := m["resgen.ratelimit.adaptive_cuts"]; !ok {
		t.Error("no resgen.ratelimit.adaptive_cuts")
	}
}
