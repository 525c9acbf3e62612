// Package statusz serves a live status page of resgen wrappers: an
// http.Handler that lists every wrapper registered with it and, for each
// breaker and method, the breaker's state and recent transitions, the rate
// limit's tokens, the calls and failures by error class over the last
// minute, and the last errors.
//
//	status := statusz.New()
//	status.Register(store.Resilience())
//	mux.Handle("/debug/resgen/", status)
//
// The page is HTML for people, updated live with server-sent events by a
// small inline script (no external assets); the same data is JSON for
// machines, with ?format=json or an Accept header of application/json,
// and a stream of JSON events with ?format=sse (or Accept:
// text/event-stream).
//
// Actions that force a breaker open, closed or back to normal
// (Manager.ForceBreaker) are off unless the handler is built WithActions.
// They are POST requests only, with a JSON body, that must carry the
// X-Resgen-Action header, which a cross-site form cannot send and a
// cross-site script cannot send without a preflight the handler never
// grants, and that net/http's CrossOriginProtection lets through.
// Mount the handler behind whatever authenticates your operators: it
// authenticates no one itself.
//
// The package imports only the standard library.
package statusz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/resgen-dev/resgen/runtime"
)

// ActionHeader is the request header that every action must carry (any
// non-empty value): browsers send no custom header cross-origin without a
// CORS preflight, which the handler never grants.
const ActionHeader = "X-Resgen-Action"

// Handler is the status page of the wrappers registered with it. It is
// safe for concurrent use; build it with New.
type Handler struct {
	actions  bool
	clock    runtime.Clock
	interval time.Duration
	window   time.Duration
	origin   *http.CrossOriginProtection

	mu       sync.Mutex
	wrappers []*wrapper

	closeOnce sync.Once
	closed    chan struct{} // closed by Close: event streams end
}

// Option configures a Handler.
type Option func(*Handler)

// WithActions turns on the actions that force a breaker open, closed or
// back to normal. Off by default: a status page shows, it does not act,
// unless its owner says so.
func WithActions() Option { return func(h *Handler) { h.actions = true } }

// WithClock sets the clock that dates snapshots, measures the last
// minute and paces the event stream (runtime/fakeclock in tests); the
// system clock by default.
func WithClock(c runtime.Clock) Option {
	return func(h *Handler) {
		if c != nil {
			h.clock = c
		}
	}
}

// WithInterval sets how often the event stream sends a snapshot: every
// second by default.
func WithInterval(d time.Duration) Option {
	return func(h *Handler) {
		if d > 0 {
			h.interval = d
		}
	}
}

// New returns a Handler with no wrappers: Register adds them.
func New(opts ...Option) *Handler {
	h := &Handler{
		clock:    systemClock{},
		interval: time.Second,
		window:   time.Minute,
		origin:   http.NewCrossOriginProtection(),
		closed:   make(chan struct{}),
	}
	for _, o := range opts {
		o(h)
	}
	return h
}

// wrapper is one registered Manager, with the samples of its counters
// that measure the last minute.
type wrapper struct {
	m  *runtime.Manager
	id string // Wrapper/Instance

	mu      sync.Mutex
	samples []sample // oldest first: at most one at or before the window's start
}

// sample is a wrapper's counters at one time, by method.
type sample struct {
	at     time.Time
	counts []Counts
}

// Register adds m, a wrapper's Manager (its Resilience method returns
// it), to the page. Its counters over the last minute start from now. It
// is an error to register two wrappers with the same type and instance
// name (runtime.WithInstance), or the same one twice.
func (h *Handler) Register(m *runtime.Manager) error {
	if m == nil {
		return errors.New("statusz: Register(nil)")
	}
	w := &wrapper{m: m, id: m.Wrapper() + "/" + m.Instance()}
	w.samples = []sample{{at: h.clock.Now(), counts: countsOf(m.Metrics())}}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range h.wrappers {
		if o.id == w.id {
			return fmt.Errorf("statusz: a wrapper %s instance %q is registered already", m.Wrapper(), m.Instance())
		}
	}
	h.wrappers = append(h.wrappers, w)
	return nil
}

// Unregister removes m from the page, and reports whether it was there.
func (h *Handler) Unregister(m *runtime.Manager) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := slices.IndexFunc(h.wrappers, func(w *wrapper) bool { return w.m == m })
	if i < 0 {
		return false
	}
	h.wrappers = slices.Delete(h.wrappers, i, i+1)
	return true
}

func (h *Handler) registered() []*wrapper {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.wrappers)
}

// ServeHTTP serves the page (GET, HEAD) and its actions (POST).
func (h *Handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	rw.Header().Set("X-Content-Type-Options", "nosniff")
	rw.Header().Set("Cache-Control", "no-store")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
		h.serveAction(rw, r)
		return
	default:
		rw.Header().Set("Allow", "GET, HEAD, POST")
		httpError(rw, http.StatusMethodNotAllowed, "statusz: method %s not allowed", r.Method)
		return
	}
	format, err := negotiate(r)
	if err != nil {
		httpError(rw, http.StatusBadRequest, "%v", err)
		return
	}
	switch format {
	case "json":
		rw.Header().Set("Content-Type", "application/json; charset=utf-8")
		enc := json.NewEncoder(rw)
		enc.SetIndent("", "  ")
		_ = enc.Encode(h.Snapshot())
	case "sse":
		h.serveEvents(rw, r)
	default:
		h.servePage(rw)
	}
}

// negotiate returns the format r asks for: "html", "json" or "sse".
func negotiate(r *http.Request) (string, error) {
	switch f := r.URL.Query().Get("format"); f {
	case "html", "json", "sse":
		return f, nil
	case "":
	default:
		return "", fmt.Errorf("statusz: unknown format %q (want html, json or sse)", f)
	}
	// The first media type of Accept that the handler serves.
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "text/html", "application/xhtml+xml", "*/*", "text/*":
			return "html", nil
		case "application/json":
			return "json", nil
		case "text/event-stream":
			return "sse", nil
		}
	}
	return "html", nil
}

// serveEvents streams a snapshot every interval, as server-sent events,
// until the client goes.
func (h *Handler) serveEvents(rw http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(rw)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's WriteTimeout
	rw.Header().Set("Content-Type", "text/event-stream")
	rw.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	ctx := r.Context()
	for {
		b, err := json.Marshal(h.Snapshot())
		if err != nil {
			return
		}
		if _, err := fmt.Fprintf(rw, "event: status\ndata: %s\n\n", b); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		if !h.wait(ctx) {
			return
		}
	}
}

// wait waits an interval, and reports false when ctx ends or the handler
// is closed first.
func (h *Handler) wait(ctx context.Context) bool {
	t := h.clock.NewTimer(h.interval)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	case <-h.closed:
		return false
	}
}

// Close ends the event streams the handler is serving, and those it will
// be asked for: an http.Server's Shutdown waits for every request to end,
// and a stream ends only when its browser goes. Register it with the
// server's RegisterOnShutdown. The page and its JSON are still served.
func (h *Handler) Close() {
	h.closeOnce.Do(func() { close(h.closed) })
}

// Action is the body of a POST request to the handler: force the breaker
// called Breaker of the wrapper Wrapper (its type name), instance
// Instance, to Mode: "open", "closed" or "normal".
type Action struct {
	Wrapper  string `json:"wrapper"`
	Instance string `json:"instance"`
	Breaker  string `json:"breaker"`
	Mode     string `json:"mode"`
}

// maxActionBody bounds an action's body.
const maxActionBody = 4 << 10

func (h *Handler) serveAction(rw http.ResponseWriter, r *http.Request) {
	if !h.actions {
		httpError(rw, http.StatusForbidden, "statusz: actions are off (statusz.WithActions turns them on)")
		return
	}
	if r.Header.Get(ActionHeader) == "" {
		httpError(rw, http.StatusForbidden, "statusz: an action must carry the %s header", ActionHeader)
		return
	}
	if err := h.origin.Check(r); err != nil {
		httpError(rw, http.StatusForbidden, "statusz: %v", err)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		httpError(rw, http.StatusUnsupportedMediaType, "statusz: an action's body must be application/json")
		return
	}
	var a Action
	dec := json.NewDecoder(http.MaxBytesReader(rw, r.Body, maxActionBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		httpError(rw, http.StatusBadRequest, "statusz: bad action: %v", err)
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		httpError(rw, http.StatusBadRequest, "statusz: bad action: more than one JSON value")
		return
	}
	var mode runtime.ForceMode
	if err := mode.UnmarshalText([]byte(a.Mode)); err != nil || a.Mode == "" {
		httpError(rw, http.StatusBadRequest, "statusz: bad action: mode %q (want open, closed or normal)", a.Mode)
		return
	}
	var m *runtime.Manager
	for _, w := range h.registered() {
		if w.m.Wrapper() == a.Wrapper && w.m.Instance() == a.Instance {
			m = w.m
		}
	}
	if m == nil {
		httpError(rw, http.StatusNotFound, "statusz: no wrapper %s instance %q", a.Wrapper, a.Instance)
		return
	}
	if _, ok := m.BreakerState(a.Breaker); !ok {
		httpError(rw, http.StatusNotFound, "statusz: wrapper %s has no breaker %q", a.Wrapper, a.Breaker)
		return
	}
	if err := m.ForceBreaker(a.Breaker, mode); err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, runtime.ErrNotForceable) {
			code = http.StatusConflict
		}
		httpError(rw, code, "statusz: %v", err)
		return
	}
	rw.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(rw).Encode(h.Snapshot())
}

func httpError(rw http.ResponseWriter, code int, format string, args ...any) {
	http.Error(rw, fmt.Sprintf(format, args...), code)
}

// systemClock is runtime.Clock on the time package.
type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) NewTimer(d time.Duration) runtime.Timer { return sysTimer{time.NewTimer(d)} }
func (systemClock) AfterFunc(d time.Duration, f func()) runtime.Timer {
	return sysTimer{time.AfterFunc(d, f)}
}

type sysTimer struct{ t *time.Timer }

func (t sysTimer) C() <-chan time.Time { return t.t.C }
func (t sysTimer) Stop() bool          { return t.t.Stop() }
