package resgenimpl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	rt "runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/resgen-dev/resgen/runtime"
)

// The recovery hooks, found on the inner value by type assertion when the
// wrapper is built.
type (
	reconnecter interface {
		Reconnect(ctx context.Context) error
	}
	refresher interface {
		RefreshCredentials(ctx context.Context) error
	}
	adapter interface {
		AdaptSchema(ctx context.Context, err error) error
	}
	pinger interface {
		Ping(ctx context.Context) error
	}
)

type hookSet uint8

const (
	hookReconnect hookSet = 1 << iota
	hookRefresh
	hookAdapt
	hookPartial
	hookPing

	// hookRecovery is the hooks whose runs are shared between calls.
	hookRecovery = hookReconnect | hookRefresh | hookAdapt
)

type recoveryHooks struct {
	reconnect reconnecter
	refresh   refresher
	adapt     adapter
	ping      pinger
}

func findHooks(inner any) recoveryHooks {
	var h recoveryHooks
	h.reconnect, _ = inner.(reconnecter)
	h.refresh, _ = inner.(refresher)
	h.adapt, _ = inner.(adapter)
	h.ping, _ = inner.(pinger)
	return h
}

// enabled returns the hooks that cfg lets run and that the inner value has.
func (h recoveryHooks) enabled(cfg runtime.RecoveryConfig) hookSet {
	var s hookSet
	if h.reconnect != nil && !cfg.DisableConnectionRecovery {
		s |= hookReconnect
	}
	if h.refresh != nil && !cfg.DisableCredentialRefresh {
		s |= hookRefresh
	}
	if h.adapt != nil && !cfg.DisableSchemaAdaptation {
		s |= hookAdapt
	}
	if !cfg.DisablePartialFailureRecovery {
		s |= hookPartial
	}
	if h.ping != nil {
		s |= hookPing
	}
	return s
}

func isPartial(err error) bool {
	var p interface{ Partial() bool }
	return errors.As(err, &p) && p.Partial()
}

// flight runs one recovery at a time: callers that fail while one runs wait
// for it and share its result instead of starting their own, and callers
// whose attempt started before a run that succeeded use that run.
type flight struct {
	gen     atomic.Uint64 // completed successful runs
	runs    atomic.Int32  // runs since the last successful call, in this window
	mu      sync.Mutex
	window  time.Time     // when the first of runs started
	running chan struct{} // closed when the run in progress ends
	err     error         // the last run's result
}

type recoveryState struct {
	reconnect, refresh, adapt flight
}

// succeeded ends an outage after a successful call: the budget of
// max_recovery_attempts counts recoveries without a success between them.
func (r *recoveryState) succeeded() {
	for _, f := range []*flight{&r.reconnect, &r.refresh, &r.adapt} {
		if f.runs.Load() != 0 {
			f.runs.Store(0)
		}
	}
}

// budget is max_recovery_attempts: at most max runs in any window of
// refill, so that an outage that outlasts the runs it was given (or whose
// runs callers' deadlines cut short) is tried again later instead of for
// good. A max of zero or less is no bound.
type budget struct {
	max    int
	refill time.Duration
	now    time.Time
}

// do runs fn unless a run already succeeded since seen (the generation the
// caller's attempt started in) or the budget is spent, and waits for a run
// in progress instead of starting another. It reports whether the recovery
// is in place. A panic in fn ends the run (as a failed one, in which case
// the panic goes on up to the caller): a run never stays in progress.
func (f *flight) do(ctx context.Context, seen uint64, b budget, fn func(context.Context) error) (ok, ran bool, err error) {
	f.mu.Lock()
	if f.gen.Load() > seen && f.running == nil {
		f.mu.Unlock()
		return true, false, nil
	}
	if ch := f.running; ch != nil {
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false, false, ctx.Err()
		}
		f.mu.Lock()
		err := f.err
		f.mu.Unlock()
		return err == nil, false, err
	}
	if n := f.runs.Load(); n == 0 || b.refill > 0 && (b.now.Sub(f.window) >= b.refill || b.now.Before(f.window)) {
		// A new window: the budget is whole again.
		f.runs.Store(0)
		f.window = b.now
	} else if b.max > 0 && int(n) >= b.max {
		f.mu.Unlock()
		return false, false, errRecoveryBudget
	}
	ch := make(chan struct{})
	f.running = ch
	f.runs.Add(1)
	f.mu.Unlock()

	err = errRecoveryPanicked
	defer func() {
		f.mu.Lock()
		f.err = err
		if err == nil {
			f.gen.Add(1)
		}
		f.running = nil
		close(ch)
		f.mu.Unlock()
	}()
	err = fn(ctx)
	return err == nil, true, err
}

var errRecoveryPanicked = errors.New("the recovery did not return")

// callHook calls a hook, turning a panic into a *HookPanicError.
func callHook(ctx context.Context, hook string, fn func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &runtime.HookPanicError{Hook: hook, Value: v, Stack: debug.Stack()}
		}
	}()
	return fn(ctx)
}

var errRecoveryBudget = errors.New("max_recovery_attempts reached for this outage")

// runRecovery runs one recovery procedure through its flight, and logs,
// counts and reports it.
func (m *Manager) runRecovery(ctx context.Context, me *Method, f *flight, seen uint64, action string, fn func(context.Context) error) bool {
	start := m.clock.Now()
	b := budget{max: me.cfg.Recovery.MaxAttempts, refill: me.cfg.Recovery.CheckInterval, now: start}
	ok, ran, err := f.do(ctx, seen, b, fn)
	if !ran {
		return ok
	}
	took := m.clock.Now().Sub(start)
	me.stats.recoveriesTried.Add(1)
	if ok {
		me.stats.recoveriesOK.Add(1)
		me.stats.recoveryTime.Add(int64(took))
		if m.logEnabled(slog.LevelInfo) {
			m.logger.Info(fmt.Sprintf("Recovery %s for %s succeeded in %.2f seconds", action, me.name, took.Seconds()),
				slog.String("wrapper", m.wrapper), slog.String("method", me.name), slog.String("action", action),
				slog.Duration("took", took))
		}
	} else if m.logEnabled(slog.LevelError) {
		m.logger.Error(fmt.Sprintf("Recovery %s for %s failed: %v", action, me.name, err),
			slog.String("wrapper", m.wrapper), slog.String("method", me.name), slog.String("action", action),
			slog.Any("error", err))
	}
	m.observe(runtime.Event{Kind: runtime.EventRecovery, Method: me.name, Action: action, OK: ok, Err: err, Delay: took})
	return ok
}

func (m *Manager) reconnect(ctx context.Context, me *Method, c *Call) bool {
	return m.runRecovery(ctx, me, &m.recovery.reconnect, c.rgen, "reconnect", func(ctx context.Context) error {
		return callHook(ctx, "Reconnect", m.hooks.reconnect.Reconnect)
	})
}

func (m *Manager) refresh(ctx context.Context, me *Method, c *Call) bool {
	return m.runRecovery(ctx, me, &m.recovery.refresh, c.fgen, "refresh_credentials", func(ctx context.Context) error {
		return callHook(ctx, "RefreshCredentials", m.hooks.refresh.RefreshCredentials)
	})
}

func (m *Manager) adapt(ctx context.Context, me *Method, c *Call, cause error) bool {
	return m.runRecovery(ctx, me, &m.recovery.adapt, c.agen, "adapt_schema",
		func(ctx context.Context) error {
			return callHook(ctx, "AdaptSchema", func(ctx context.Context) error { return m.hooks.adapt.AdaptSchema(ctx, cause) })
		})
}

// startProber starts probing the inner value's Ping every
// recovery_check_interval while e's breaker is open, moving it to half-open
// as soon as a probe succeeds. The prober holds the Manager weakly, so it
// stops when the wrapper is garbage collected, and at Close.
func (m *Manager) startProber(e *breakerEntry, b *breaker) {
	if m.hooks.ping == nil {
		return
	}
	select {
	case <-m.closed:
		return
	default:
	}
	if !e.probing.CompareAndSwap(false, true) {
		return // the prober that runs keeps probing while the breaker is open
	}
	var interval time.Duration
	for i := range m.methods {
		me := &m.methods[i]
		if me.breaker == e && me.recover&hookPing != 0 {
			interval = me.cfg.Recovery.CheckInterval
			break
		}
	}
	if interval <= 0 {
		e.probing.Store(false)
		return
	}
	p := &prober{
		wm:       weak.Make(m),
		entry:    e,
		b:        b,
		ping:     m.hooks.ping,
		clock:    m.clock,
		interval: interval,
		closed:   m.closed,
		gone:     make(chan struct{}),
	}
	p.cleanup = rt.AddCleanup(m, func(gone chan struct{}) { close(gone) }, p.gone)
	go p.run()
}

type prober struct {
	wm       weak.Pointer[Manager]
	entry    *breakerEntry
	b        *breaker
	ping     pinger
	clock    runtime.Clock
	interval time.Duration
	closed   <-chan struct{}
	gone     chan struct{}
	cleanup  rt.Cleanup
}

func (p *prober) run() {
	// One cleanup per prober, not one per outage for the Manager's life.
	defer p.cleanup.Stop()
	for {
		stopped := p.probe()
		p.entry.probing.Store(false)
		// The breaker may have opened again after probe saw it leave the
		// open state but before probing was cleared: startProber then left
		// the new outage to this goroutine.
		if stopped || p.b.State() != runtime.StateOpen || p.b.forceMode() == runtime.ForceOpen || !p.entry.probing.CompareAndSwap(false, true) {
			return
		}
	}
}

// probe pings every interval while the breaker stays open. It returns when
// the breaker leaves the open state or is forced open, or a ping succeeds;
// stopped reports that the wrapper was closed or collected.
func (p *prober) probe() (stopped bool) {
	for {
		left := p.b.whileOpen()
		if left == nil || p.b.forceMode() == runtime.ForceOpen {
			return false
		}
		t := p.clock.NewTimer(p.interval)
		select {
		case <-t.C():
		case <-left:
			t.Stop()
			return false
		case <-p.closed:
			t.Stop()
			return true
		case <-p.gone:
			t.Stop()
			return true
		}
		if p.b.State() != runtime.StateOpen {
			return false
		}
		start := p.clock.Now()
		err := p.pingOnce()
		if m := p.wm.Value(); m != nil {
			var pe *runtime.HookPanicError
			if errors.As(err, &pe) && m.logEnabled(slog.LevelError) {
				m.logger.Error(fmt.Sprintf("Recovery ping for %s failed: %v", p.entry.name, err),
					slog.String("wrapper", m.wrapper), slog.String("breaker", p.entry.name), slog.String("action", "ping"),
					slog.Any("error", err), slog.String("stack", string(pe.Stack)))
			}
			m.observe(runtime.Event{Kind: runtime.EventRecovery, Breaker: p.entry.name, Action: "ping", OK: err == nil, Err: err,
				Delay: p.clock.Now().Sub(start)})
		}
		if err == nil {
			p.b.probeNow(p.clock)
			return false
		}
	}
}

// pingOnce calls Ping under a deadline of one interval, and cancels it when
// the wrapper is closed or collected, so that no ping outlives it.
func (p *prober) pingOnce() error {
	ctx, cancel := context.WithTimeout(context.Background(), p.interval)
	defer cancel()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-p.closed:
			cancel()
		case <-p.gone:
			cancel()
		case <-done:
		}
	})
	err := callHook(ctx, "Ping", p.ping.Ping)
	close(done)
	wg.Wait()
	return err
}

// probeNow moves an open breaker to half-open at once: a health probe
// succeeded.
func (b *breaker) probeNow(clock runtime.Clock) {
	b.mu.Lock()
	defer b.unlock()
	if b.State() == runtime.StateOpen && b.forceMode() != runtime.ForceOpen {
		b.setLocked(runtime.StateHalfOpen, clock.Now(), 0)
	}
}
