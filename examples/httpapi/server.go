package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ServerConfig configures a Server's faults. Its zero value is a server
// without faults: no failures, no rate limit, tokens that never expire.
type ServerConfig struct {
	// FailRate is the share of API requests, from 0 to 1, answered with
	// 503 Service Unavailable, independently of each other.
	FailRate float64
	// RateLimit is how many API requests per second the server admits, in
	// a token bucket of Burst tokens; beyond it, it answers 429 Too Many
	// Requests with a Retry-After header. Zero means no limit.
	RateLimit float64
	// Burst is the capacity of the rate limit's bucket. Zero means 1.
	Burst int
	// TokenLifetime is how long a bearer token is accepted after it was
	// issued; after that, requests carrying it get 401 Unauthorized. Zero
	// means tokens never expire.
	TokenLifetime time.Duration
	// Orders is the number of orders the shop starts with. Zero means 100.
	Orders int
}

// ServerStats counts what a Server received and answered. The token
// endpoint's requests are counted apart from the API's: only the API is
// rate limited and fails.
type ServerStats struct {
	Requests     int64 // API requests, whatever their answer
	OK           int64 // API requests answered 2xx
	Throttled    int64 // 429 Too Many Requests sent
	Unauthorized int64 // 401 Unauthorized sent: missing, unknown or expired token
	Unavailable  int64 // 503 Service Unavailable sent (FailRate, or down)
	NotFound     int64 // 404 Not Found sent
	Tokens       int64 // bearer tokens issued
	Health       int64 // health checks (GET /health)
}

// Server is a fault-injecting orders API, served on 127.0.0.1 only:
//
//	POST /oauth/token          client credentials → bearer token (never fails)
//	GET  /health               200, or 503 while the server is down (Down)
//	GET  /orders?since=RFC3339 orders created after since, oldest first, at most 50
//	GET  /orders/{id}          one order, or 404
//	POST /orders               creates an order; a repeated Idempotency-Key
//	                           returns the order it created the first time
//
// Every API request first passes the rate limit (429), then the bearer
// token check (401), then the fault injection (503). A Server is safe for
// concurrent use; Close stops it.
type Server struct {
	cfg      ServerConfig
	clientID string
	secret   string
	srv      *http.Server
	url      string
	done     chan struct{} // closed when Serve returns

	requests, ok, throttled, unauthorized, unavailable, notFound, issued, health atomic.Int64

	downUntil atomic.Int64 // unix nanoseconds: every API request fails with 503 until then
	failNext  atomic.Int64 // API requests still to fail with 503 (FailNext)

	limitMu sync.Mutex
	tokens  float64   // in the rate limit's bucket
	last    time.Time // when tokens was computed

	authMu sync.Mutex
	bearer map[string]time.Time // token → expiry (zero: never)

	shopMu sync.Mutex
	orders []Order           // by ID - 1
	byKey  map[string]*Order // Idempotency-Key → order
}

// The client credentials the server accepts.
const (
	demoClientID     = "resgen-demo"
	demoClientSecret = "s3cret"
)

// StartServer starts a Server on a free port of 127.0.0.1.
func StartServer(cfg ServerConfig) (*Server, error) {
	if cfg.FailRate < 0 || cfg.FailRate > 1 || math.IsNaN(cfg.FailRate) {
		return nil, fmt.Errorf("fail rate %v: want a share from 0 to 1", cfg.FailRate)
	}
	if cfg.RateLimit < 0 || cfg.Burst < 0 || cfg.TokenLifetime < 0 || cfg.Orders < 0 {
		return nil, errors.New("server: negative limit, burst, token lifetime or orders")
	}
	if cfg.Burst == 0 {
		cfg.Burst = 1
	}
	if cfg.Orders == 0 {
		cfg.Orders = 100
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		clientID: demoClientID,
		secret:   demoClientSecret,
		url:      "http://" + ln.Addr().String(),
		done:     make(chan struct{}),
		tokens:   float64(cfg.Burst),
		last:     time.Now(),
		bearer:   make(map[string]time.Time),
		byKey:    make(map[string]*Order),
	}
	start := time.Now().Add(-time.Duration(cfg.Orders) * time.Minute)
	for i := range cfg.Orders {
		s.orders = append(s.orders, Order{
			ID:         int64(i + 1),
			Customer:   fmt.Sprintf("customer-%d", i%17+1),
			TotalCents: int64(1000 + 37*i),
			CreatedAt:  start.Add(time.Duration(i) * time.Minute).UTC(),
		})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", s.token)
	mux.HandleFunc("GET /health", s.healthz)
	mux.Handle("GET /orders", s.api(s.listOrders))
	mux.Handle("GET /orders/{id}", s.api(s.getOrder))
	mux.Handle("POST /orders", s.api(s.createOrder))
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       30 * time.Second,
	}
	go func() {
		defer close(s.done)
		s.srv.Serve(ln) // returns http.ErrServerClosed after Close
	}()
	return s, nil
}

// URL returns the server's base URL, http://127.0.0.1:PORT.
func (s *Server) URL() string { return s.url }

// Close stops the server: it stops accepting, lets the requests in
// progress finish for up to 200ms, then closes every connection.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if s.srv.Shutdown(ctx) != nil {
		// Requests still running, or connections a client opened but
		// never used (which Shutdown waits 5s for): cut them.
		s.srv.Close()
	}
	<-s.done
	return nil
}

// Stats returns the server's counters so far.
func (s *Server) Stats() ServerStats {
	return ServerStats{
		Requests:     s.requests.Load(),
		OK:           s.ok.Load(),
		Throttled:    s.throttled.Load(),
		Unauthorized: s.unauthorized.Load(),
		Unavailable:  s.unavailable.Load(),
		NotFound:     s.notFound.Load(),
		Tokens:       s.issued.Load(),
		Health:       s.health.Load(),
	}
}

// Down makes every API request fail with 503 for d, from now: an outage.
func (s *Server) Down(d time.Duration) {
	s.downUntil.Store(time.Now().Add(d).UnixNano())
}

// healthz answers health checks: the service is up unless it is down
// (Down). The random failures of FailRate are the API's, not the health
// check's: they are noise, not an outage.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	s.health.Add(1)
	if time.Now().UnixNano() < s.downUntil.Load() {
		writeError(w, http.StatusServiceUnavailable, "down")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Up ends an outage that Down started.
func (s *Server) Up() { s.downUntil.Store(0) }

// FailNext makes the next n API requests that pass the rate limit and the
// token check fail with 503, whatever FailRate says: a fault that tests and
// examples can count on.
func (s *Server) FailNext(n int) { s.failNext.Store(int64(n)) }

// RevokeTokens makes every bearer token issued so far invalid, as if they
// had all expired: their next request gets 401.
func (s *Server) RevokeTokens() {
	s.authMu.Lock()
	clear(s.bearer)
	s.authMu.Unlock()
}

// failing reports whether the API request now being served fails with 503.
func (s *Server) failing() bool {
	if time.Now().UnixNano() < s.downUntil.Load() {
		return true
	}
	for {
		n := s.failNext.Load()
		if n <= 0 {
			break
		}
		if s.failNext.CompareAndSwap(n, n-1) {
			return true
		}
	}
	return mrand.Float64() < s.cfg.FailRate
}

// token issues bearer tokens for the client credentials grant (RFC 6749
// section 4.4). It never fails for good credentials: faults are the API's.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	if id != s.clientID || secret != s.secret {
		writeError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	tok := rand.Text()
	now := time.Now()
	var exp time.Time
	if s.cfg.TokenLifetime > 0 {
		exp = now.Add(s.cfg.TokenLifetime)
	}
	s.authMu.Lock()
	if len(s.bearer) >= 64 {
		for t, e := range s.bearer {
			if !e.IsZero() && now.After(e) {
				delete(s.bearer, t)
			}
		}
	}
	s.bearer[tok] = exp
	s.authMu.Unlock()
	s.issued.Add(1)
	resp := map[string]any{"access_token": tok, "token_type": "Bearer"}
	if s.cfg.TokenLifetime > 0 {
		// Rounded down, as servers do: a client must not count on it.
		resp["expires_in"] = int(s.cfg.TokenLifetime.Seconds())
	}
	writeJSON(w, http.StatusOK, resp)
}

// api wraps an API handler with the server's faults, in the order a real
// API gateway applies them: rate limit, authentication, then the service.
func (s *Server) api(h func(http.ResponseWriter, *http.Request) int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if wait, ok := s.allow(); !ok {
			s.throttled.Add(1)
			// Retry-After is in whole seconds: round up.
			w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
			writeError(w, http.StatusTooManyRequests, "rate limit exceeded")
			return
		}
		if !s.authorized(r) {
			s.unauthorized.Add(1)
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "invalid or expired token")
			return
		}
		if s.failing() {
			s.unavailable.Add(1)
			writeError(w, http.StatusServiceUnavailable, "service unavailable")
			return
		}
		switch code := h(w, r); {
		case code == http.StatusNotFound:
			s.notFound.Add(1)
		case code < 300:
			s.ok.Add(1)
		}
	})
}

// allow takes a token of the rate limit, or says how long until one is
// there.
func (s *Server) allow() (wait time.Duration, ok bool) {
	if s.cfg.RateLimit <= 0 {
		return 0, true
	}
	s.limitMu.Lock()
	defer s.limitMu.Unlock()
	now := time.Now()
	s.tokens = min(float64(s.cfg.Burst), s.tokens+now.Sub(s.last).Seconds()*s.cfg.RateLimit)
	s.last = now
	if s.tokens >= 1 {
		s.tokens--
		return 0, true
	}
	return time.Duration((1 - s.tokens) / s.cfg.RateLimit * float64(time.Second)), false
}

func (s *Server) authorized(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(auth) <= len(prefix) || auth[:len(prefix)] != prefix {
		return false
	}
	s.authMu.Lock()
	exp, ok := s.bearer[auth[len(prefix):]]
	s.authMu.Unlock()
	return ok && (exp.IsZero() || time.Now().Before(exp))
}

func (s *Server) listOrders(w http.ResponseWriter, r *http.Request) int {
	var since time.Time
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return writeError(w, http.StatusBadRequest, "since: "+err.Error())
		}
		since = t
	}
	s.shopMu.Lock()
	i, _ := slices.BinarySearchFunc(s.orders, since, func(o Order, t time.Time) int {
		if o.CreatedAt.After(t) {
			return 1
		}
		return -1
	})
	out := slices.Clone(s.orders[i:min(i+50, len(s.orders))])
	s.shopMu.Unlock()
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) getOrder(w http.ResponseWriter, r *http.Request) int {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return writeError(w, http.StatusBadRequest, "bad order id")
	}
	s.shopMu.Lock()
	var o Order
	found := id >= 1 && id <= int64(len(s.orders))
	if found {
		o = s.orders[id-1]
	}
	s.shopMu.Unlock()
	if !found {
		return writeError(w, http.StatusNotFound, fmt.Sprintf("order %d not found", id))
	}
	return writeJSON(w, http.StatusOK, o)
}

func (s *Server) createOrder(w http.ResponseWriter, r *http.Request) int {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return writeError(w, http.StatusBadRequest, "Idempotency-Key header required")
	}
	var in NewOrder
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&in); err != nil {
		return writeError(w, http.StatusUnprocessableEntity, "bad order: "+err.Error())
	}
	if in.Customer == "" || in.TotalCents <= 0 {
		return writeError(w, http.StatusUnprocessableEntity, "an order needs a customer and a positive total")
	}
	s.shopMu.Lock()
	if o, ok := s.byKey[key]; ok {
		out := *o
		s.shopMu.Unlock()
		return writeJSON(w, http.StatusOK, out) // already created: the same order
	}
	created := time.Now().UTC()
	if n := len(s.orders); n > 0 && !created.After(s.orders[n-1].CreatedAt) {
		created = s.orders[n-1].CreatedAt.Add(time.Nanosecond) // keep them sorted
	}
	s.orders = append(s.orders, Order{
		ID:         int64(len(s.orders) + 1),
		Customer:   in.Customer,
		TotalCents: in.TotalCents,
		CreatedAt:  created,
	})
	out := s.orders[len(s.orders)-1]
	s.byKey[key] = &out
	s.shopMu.Unlock()
	return writeJSON(w, http.StatusCreated, out)
}

func writeJSON(w http.ResponseWriter, code int, v any) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
	return code
}

func writeError(w http.ResponseWriter, code int, msg string) int {
	return writeJSON(w, code, map[string]string{"error": msg})
}
