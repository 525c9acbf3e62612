package resgenimpl_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/fakeclock"
)

// pingable is a service with a health check: Get fails with a 503 while it
// is down; Ping fails its first failPings calls, then succeeds.
type pingable struct {
	clock     *fakeclock.Clock
	down      atomic.Bool
	calls     atomic.Int64
	failPings int
	block     bool          // Ping blocks until its context ends
	started   chan struct{} // receives when a blocking Ping starts

	mu    sync.Mutex
	pings []time.Time // when each Ping came, on the fake clock
}

func (p *pingable) Get(_ context.Context, id string) (string, error) {
	p.calls.Add(1)
	if p.down.Load() {
		return "", statusErr(500)
	}
	return "order " + id, nil
}

func (p *pingable) Ping(ctx context.Context) error {
	p.mu.Lock()
	p.pings = append(p.pings, p.clock.Now())
	n := len(p.pings)
	p.mu.Unlock()
	if p.block {
		p.started <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}
	if n <= p.failPings {
		return statusErr(503)
	}
	return nil
}

func (p *pingable) pingTimes() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.pings...)
}

// pingConfig is the api profile with single attempts, so that three failed
// calls open the breaker without the clock moving, and a Ping every 10s.
func pingConfig() runtime.Config {
	cfg := apiConfig()
	cfg.Retry.Disabled = true
	cfg.Recovery.CheckInterval = 10 * time.Second
	return cfg
}

var epoch = time.Unix(1_000_000, 0)

// openBreaker makes three calls that fail, which open w's breaker.
func openBreaker(t *testing.T, w *ResilientOrders, inner *pingable) {
	t.Helper()
	inner.down.Store(true)
	for range 3 {
		_, err := w.Get(context.Background(), "1")
		require.Equal(t, statusErr(500), err)
	}
	require.Equal(t, runtime.StateOpen, mustState(t, w.Resilience(), "ResilientOrders"))
}

// TestPingProberMovesOpenToHalfOpen: while the breaker is open, Ping is
// called every recovery_check_interval, and the first one that succeeds
// moves the breaker to half-open, long before recovery_timeout; then the
// prober goroutine is gone.
func TestPingProberMovesOpenToHalfOpen(t *testing.T) {
	defer goleak.VerifyNone(t)
	clock := fakeclock.New(epoch)
	inner := &pingable{clock: clock, failPings: 2}
	var obs recorder
	w, err := NewResilientOrders(inner, pingConfig(),
		runtime.WithClock(clock), runtime.WithLogger(nil), runtime.WithObserver(&obs))
	require.NoError(t, err)
	defer w.Resilience().Close()

	openBreaker(t, w, inner)
	// The breaker's recovery_timeout and the prober's first interval.
	clock.BlockUntil(2)
	for i := 1; i <= 2; i++ {
		clock.Advance(10*time.Second - 1)
		assert.Len(t, inner.pingTimes(), i-1, "pinged before recovery_check_interval")
		clock.Advance(1)
		clock.BlockUntil(2) // the ping failed; the prober waits again
		assert.Equal(t, runtime.StateOpen, mustState(t, w.Resilience(), "ResilientOrders"), "after failed ping %d", i)
	}
	clock.Advance(10 * time.Second)
	// The third ping succeeds: the prober moves the breaker and ends.
	goleak.VerifyNone(t)
	assert.Equal(t, runtime.StateHalfOpen, mustState(t, w.Resilience(), "ResilientOrders"))
	assert.Equal(t, []time.Time{epoch.Add(10 * time.Second), epoch.Add(20 * time.Second), epoch.Add(30 * time.Second)},
		inner.pingTimes())
	assert.Zero(t, clock.Waiters(), "the open state's timer or the prober's is still pending")

	var pings []bool
	obs.mu.Lock()
	for _, e := range obs.events {
		if e.Kind == runtime.EventRecovery && e.Action == "ping" {
			assert.Equal(t, "ResilientOrders", e.Breaker)
			pings = append(pings, e.OK)
		}
	}
	obs.mu.Unlock()
	assert.Equal(t, []bool{false, false, true}, pings)

	// The probes go through and close it.
	inner.down.Store(false)
	for range 2 {
		_, err := w.Get(context.Background(), "1")
		require.NoError(t, err)
	}
	assert.Equal(t, runtime.StateClosed, mustState(t, w.Resilience(), "ResilientOrders"))
	assert.Equal(t, []string{"CLOSED→OPEN", "OPEN→HALF_OPEN", "HALF_OPEN→CLOSED"}, obs.changes())
}

// TestPingProberExitsWhenBreakerLeavesOpen: when recovery_timeout moves the
// breaker out of the open state, the prober ends at once, without waiting
// for its next ping.
func TestPingProberExitsWhenBreakerLeavesOpen(t *testing.T) {
	defer goleak.VerifyNone(t)
	clock := fakeclock.New(epoch)
	inner := &pingable{clock: clock, failPings: 1 << 30}
	cfg := pingConfig()
	cfg.Recovery.CheckInterval = 45 * time.Second
	w, err := NewResilientOrders(inner, cfg, runtime.WithClock(clock), runtime.WithLogger(nil))
	require.NoError(t, err)
	defer w.Resilience().Close()

	openBreaker(t, w, inner)
	clock.BlockUntil(2)
	clock.Advance(45 * time.Second)
	clock.BlockUntil(2) // the ping failed; the next is due at 90s
	clock.Advance(15 * time.Second)
	inner.down.Store(false)
	_, err = w.Get(context.Background(), "1") // the first probe
	require.NoError(t, err)
	require.Equal(t, runtime.StateHalfOpen, mustState(t, w.Resilience(), "ResilientOrders"))

	goleak.VerifyNone(t) // the prober is gone, its ping at 90s never came
	assert.Len(t, inner.pingTimes(), 1)
	assert.Zero(t, clock.Waiters(), "the prober's timer is still pending")
}

// TestPingProberRestartsWhenBreakerReopens: a breaker that a ping moved to
// half-open and a failed probe opened again is probed again.
func TestPingProberRestartsWhenBreakerReopens(t *testing.T) {
	defer goleak.VerifyNone(t)
	clock := fakeclock.New(epoch)
	inner := &pingable{clock: clock}
	w, err := NewResilientOrders(inner, pingConfig(), runtime.WithClock(clock), runtime.WithLogger(nil))
	require.NoError(t, err)
	defer w.Resilience().Close()

	openBreaker(t, w, inner)
	clock.BlockUntil(2)
	clock.Advance(10 * time.Second)
	goleak.VerifyNone(t) // the ping succeeded and the prober ended
	require.Equal(t, runtime.StateHalfOpen, mustState(t, w.Resilience(), "ResilientOrders"))
	_, err = w.Get(context.Background(), "1") // the probe fails
	require.Equal(t, statusErr(500), err)
	require.Equal(t, runtime.StateOpen, mustState(t, w.Resilience(), "ResilientOrders"))
	clock.BlockUntil(2) // a new prober waits
	clock.Advance(10 * time.Second)
	goleak.VerifyNone(t)
	assert.Equal(t, runtime.StateHalfOpen, mustState(t, w.Resilience(), "ResilientOrders"))
	assert.Equal(t, []time.Time{epoch.Add(10 * time.Second), epoch.Add(20 * time.Second)}, inner.pingTimes())
}

// TestPingProberExitsOnClose: Manager.Close ends the prober of an open
// breaker, and no prober starts after it.
func TestPingProberExitsOnClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	clock := fakeclock.New(epoch)
	inner := &pingable{clock: clock, failPings: 1 << 30}
	w, err := NewResilientOrders(inner, pingConfig(), runtime.WithClock(clock), runtime.WithLogger(nil))
	require.NoError(t, err)

	openBreaker(t, w, inner)
	clock.BlockUntil(2)
	w.Resilience().Close()
	goleak.VerifyNone(t)
	assert.Equal(t, 1, clock.Waiters(), "only the open state's timer is left")

	// The wrapper keeps working, without pings.
	clock.Advance(60 * time.Second)
	_, err = w.Get(context.Background(), "1") // a probe, which fails
	require.Equal(t, statusErr(500), err)
	require.Equal(t, runtime.StateOpen, mustState(t, w.Resilience(), "ResilientOrders"))
	goleak.VerifyNone(t)
	assert.Equal(t, 1, clock.Waiters(), "a prober started after Close")
	assert.Empty(t, inner.pingTimes())
}

// TestPingProberCloseCancelsPing: Close cancels a ping in flight, so that
// the prober does not outlive the wrapper.
func TestPingProberCloseCancelsPing(t *testing.T) {
	defer goleak.VerifyNone(t)
	clock := fakeclock.New(epoch)
	inner := &pingable{clock: clock, block: true, started: make(chan struct{})}
	cfg := pingConfig()
	cfg.Recovery.CheckInterval = time.Hour // also the ping's own deadline, in real time
	w, err := NewResilientOrders(inner, cfg, runtime.WithClock(clock), runtime.WithLogger(nil))
	require.NoError(t, err)

	openBreaker(t, w, inner)
	clock.BlockUntil(2)
	clock.Advance(time.Hour)
	<-inner.started
	w.Resilience().Close()
	goleak.VerifyNone(t)
	assert.Equal(t, runtime.StateOpen, mustState(t, w.Resilience(), "ResilientOrders"))
}

// logRecords is a slog.Handler that keeps every record.
type logRecords struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *logRecords) Enabled(context.Context, slog.Level) bool { return true }

func (h *logRecords) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r.Clone())
	h.mu.Unlock()
	return nil
}

func (h *logRecords) WithAttrs([]slog.Attr) slog.Handler { panic("not used by the runtime") }
func (h *logRecords) WithGroup(string) slog.Handler      { panic("not used by the runtime") }

type logLine struct {
	Level slog.Level
	Msg   string
	Attrs map[string]string
}

// breakerLines returns the breaker's log lines.
func (h *logRecords) breakerLines() []logLine {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []logLine
	for _, r := range h.recs {
		l := logLine{Level: r.Level, Msg: r.Message, Attrs: map[string]string{}}
		r.Attrs(func(a slog.Attr) bool {
			l.Attrs[a.Key] = a.Value.String()
			return true
		})
		if _, ok := l.Attrs["breaker"]; ok {
			out = append(out, l)
		}
	}
	return out
}

// TestBreakerStateChangesLoggedAndObserved: each state change is logged
// with resgen's documented message at its level (OPEN at ERROR, the others at INFO)
// and reported to observers with From and To.
func TestBreakerStateChangesLoggedAndObserved(t *testing.T) {
	clock := fakeclock.New(epoch)
	inner := &switchable{} // no Ping: only recovery_timeout ends the open state
	var logs logRecords
	var obs recorder
	w, err := NewResilientOrders(inner, apiConfig(), runtime.WithClock(clock),
		runtime.WithLogger(slog.New(&logs)), runtime.WithObserver(&obs))
	require.NoError(t, err)
	defer w.Resilience().Close()

	// Three calls of five failed attempts each: three failures.
	inner.down.Store(true)
	stop := driveClock(clock, time.Second, openTimers(w))
	for range 3 {
		_, err := w.Get(context.Background(), "1")
		require.Error(t, err)
	}
	stop()
	require.Equal(t, runtime.StateOpen, mustState(t, w.Resilience(), "ResilientOrders"))
	opened := clock.Now()
	// recovery_timeout lets a probe through, which fails; its retry finds
	// the breaker open again.
	clock.Advance(60 * time.Second)
	stop = driveClock(clock, time.Second, openTimers(w))
	_, err = w.Get(context.Background(), "1")
	stop()
	require.ErrorIs(t, err, runtime.ErrCircuitOpen)
	clock.Advance(opened.Add(120 * time.Second).Sub(clock.Now()))
	inner.down.Store(false)
	for range 2 {
		_, err := w.Get(context.Background(), "1")
		require.NoError(t, err)
	}
	require.Equal(t, runtime.StateClosed, mustState(t, w.Resilience(), "ResilientOrders"))
	outage := clock.Now().Sub(opened)
	require.Equal(t, 120*time.Second, outage)

	lines := logs.breakerLines()
	require.Len(t, lines, 5)
	want := []struct {
		level slog.Level
		msg   string
		attrs map[string]string
	}{
		{slog.LevelError, "Circuit breaker OPEN for ResilientOrders after 3 failures. Failing fast for 60.00 seconds",
			map[string]string{"from": "CLOSED", "failures": "3", "failed_attempts": "15", "recovery_timeout": "1m0s"}},
		{slog.LevelInfo, "Circuit breaker HALF_OPEN for ResilientOrders. Letting 2 probes through", nil},
		{slog.LevelError, "Circuit breaker OPEN for ResilientOrders after 1 failures. Failing fast for 60.00 seconds",
			map[string]string{"from": "HALF_OPEN", "failures": "1"}},
		{slog.LevelInfo, "Circuit breaker HALF_OPEN for ResilientOrders. Letting 2 probes through", nil},
		{slog.LevelInfo, "Circuit breaker CLOSED for ResilientOrders after 120.00 seconds",
			map[string]string{"recovery_time": "2m0s"}},
	}
	for i, l := range lines {
		assert.Equal(t, want[i].level, l.Level, "line %d", i)
		assert.Equal(t, want[i].msg, l.Msg, "line %d", i)
		assert.Equal(t, "ResilientOrders", l.Attrs["breaker"], "line %d", i)
		assert.Equal(t, "ResilientOrders", l.Attrs["wrapper"], "line %d", i)
		for k, v := range want[i].attrs {
			assert.Equal(t, v, l.Attrs[k], "line %d: %s", i, k)
		}
	}

	var changes []runtime.Event
	obs.mu.Lock()
	for _, e := range obs.events {
		if e.Kind == runtime.EventStateChange {
			changes = append(changes, e)
		}
	}
	obs.mu.Unlock()
	want2 := [][2]runtime.State{
		{runtime.StateClosed, runtime.StateOpen}, {runtime.StateOpen, runtime.StateHalfOpen},
		{runtime.StateHalfOpen, runtime.StateOpen}, {runtime.StateOpen, runtime.StateHalfOpen},
		{runtime.StateHalfOpen, runtime.StateClosed},
	}
	require.Len(t, changes, len(want2))
	for i, e := range changes {
		assert.Equal(t, want2[i], [2]runtime.State{e.From, e.To}, "change %d", i)
		assert.Equal(t, "ResilientOrders", e.Breaker)
		assert.Equal(t, "ResilientOrders", e.Wrapper)
		assert.Empty(t, e.Method, "breaker events name no method")
	}
	m, _ := w.Resilience().MethodMetrics("Get")
	assert.Equal(t, 120*time.Second, m.RecoveryTime)
}
