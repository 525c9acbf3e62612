package resgenimpl

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/quick"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/store"
)

func TestPermitRoundTrip(t *testing.T) {
	f := func(gen uint64, s uint8) bool {
		gen &= 1<<62 - 1
		st := runtime.State(s % 3)
		p := store.NewPermit(gen, st)
		return p.Generation() == gen && p.State() == st && p.State() == st
	}
	if err := quick.Check(f, nil); err != nil {
		t.Fatal(err)
	}
	// The local breaker's permits read the same way.
	b := newBreaker("b", runtime.CircuitBreakerConfig{FailureThreshold: 1, RecoveryTimeout: 1, SuccessThreshold: 1}, systemClock, nil)
	p, _ := b.Allow(systemClock)
	b.Failure(p, store.CallWeight, systemClock)
	if got := store.Permit(b.word.Load()); got.State() != runtime.StateOpen || got.Generation() != 1 {
		t.Fatalf("local breaker's word reads as %v generation %d, want OPEN generation 1", got.State(), got.Generation())
	}
}

// watchedStore is a Store whose breakers report changes made elsewhere.
type watchedStore struct {
	mu sync.Mutex
	w  []*watched
}

type watched struct {
	store.Breaker
	mu sync.Mutex
	f  map[int]func(store.Change)
	n  int
}

func (w *watched) Watch(f func(store.Change)) func() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		w.f = make(map[int]func(store.Change))
	}
	id := w.n
	w.n++
	w.f[id] = f
	return func() {
		w.mu.Lock()
		delete(w.f, id)
		w.mu.Unlock()
	}
}

func (w *watched) change(c store.Change) {
	w.mu.Lock()
	fs := make([]func(store.Change), 0, len(w.f))
	for _, f := range w.f {
		fs = append(fs, f)
	}
	w.mu.Unlock()
	for _, f := range fs {
		f(c)
	}
}

func (s *watchedStore) Breaker(name string, cfg runtime.CircuitBreakerConfig) (store.Breaker, error) {
	b, err := NewLocalStore(nil).Breaker(name, cfg)
	if err != nil {
		return nil, err
	}
	w := &watched{Breaker: b}
	s.mu.Lock()
	s.w = append(s.w, w)
	s.mu.Unlock()
	return w, nil
}

func (s *watchedStore) Bucket(key string, cfg runtime.RateLimitConfig) (store.Bucket, error) {
	return NewLocalStore(nil).Bucket(key, cfg)
}

// TestStoreChangesReachTheManager: a Store's breaker that reports a change
// made by another process gets it logged, observed and kept in the
// snapshot's transitions.
func TestStoreChangesReachTheManager(t *testing.T) {
	var st watchedStore
	var logs bytes.Buffer
	var events []runtime.Event
	spec := &Spec{Wrapper: "W", Interface: "x.I", Methods: []MethodSpec{{Name: "Get"}}}
	m, err := NewManager(struct{}{}, spec, runtime.WithStore(&st), runtime.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		runtime.WithObserver(runtime.ObserverFunc(func(e runtime.Event) { events = append(events, e) })))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if len(st.w) != 1 || len(st.w[0].f) != 1 {
		t.Fatalf("the Manager watches %d breakers, want 1", len(st.w))
	}
	st.w[0].change(store.Change{From: runtime.StateClosed, To: runtime.StateOpen, Remote: true})
	st.w[0].change(store.Change{From: runtime.StateOpen, To: runtime.StateHalfOpen, Remote: true})
	st.w[0].change(store.Change{From: runtime.StateHalfOpen, To: runtime.StateClosed})
	var got []string
	for _, e := range events {
		if e.Kind == runtime.EventStateChange && e.Breaker == "W" && e.Wrapper == "W" {
			got = append(got, e.From.String()+">"+e.To.String())
		}
	}
	if g, want := strings.Join(got, " "), "CLOSED>OPEN OPEN>HALF_OPEN HALF_OPEN>CLOSED"; g != want {
		t.Fatalf("events %s, want %s", g, want)
	}
	out := logs.String()
	for _, want := range []string{"Circuit breaker OPEN for W (shared state, opened by another process)", "level=ERROR",
		"Circuit breaker HALF_OPEN for W (shared state, by another process)", "Circuit breaker CLOSED for W after", "in this process"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	snap := m.Breakers()
	if len(snap) != 1 || len(snap[0].Transitions) != 3 || snap[0].Forceable {
		t.Fatalf("snapshot %+v, want three transitions of a breaker that cannot be forced", snap)
	}
}
