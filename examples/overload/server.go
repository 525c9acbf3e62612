package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// ServerConfig configures a Server. Its zero value is 8 workers, a queue
// of 64 and a service time of 4ms: a capacity of 2000 requests a second.
type ServerConfig struct {
	// Workers is how many requests are served at once. Zero means 8.
	Workers int
	// Queue is how many requests wait for a worker; beyond it the server
	// answers 503 at once. Zero means 64; negative means no queue.
	Queue int
	// ServiceTime is how long a worker takes for one request. Zero means
	// 4ms.
	ServiceTime time.Duration
	// HTTP2 serves HTTP/2 without TLS (h2c) besides HTTP/1.1, with no
	// limit of its own on the streams of a connection.
	HTTP2 bool
	// Observe, when set, is called for every request as the server decides
	// what to do with it, before any wait: it must be quick.
	Observe func(r *http.Request, o Outcome)
}

// Outcome is what the server decided for a request when it arrived.
type Outcome uint8

// The outcomes of a request.
const (
	// Queued: the request waits for a worker (or got one at once).
	Queued Outcome = iota + 1
	// QueueFull: 503 at once, the queue was full.
	QueueFull
	// Failed: 503 at once, a random failure or the server is down.
	Failed
	// Limited: 429 with Retry-After, the server's own rate limit.
	Limited
)

// Fault is what a Server does besides serving: the scenario's state of the
// service, which can change at run time (SetFault).
type Fault struct {
	// FailRate is the share of requests, from 0 to 1, answered 503 at once
	// and at random.
	FailRate float64
	// Down answers every request 503 at once: a total outage.
	Down bool
	// RateLimit is how many requests a second the server admits (a token
	// bucket of a tenth of a second's worth, at least 1); beyond it, 429
	// with Retry-After: 1. Zero means no limit.
	RateLimit float64
}

// Server is a loopback HTTP service with a worker pool behind a bounded
// queue, the shape of most services under load: a request waits in the
// queue for one of the workers, which takes ServiceTime for it; when the
// queue is full the server answers 503 at once. A request whose client
// went away while it waited is still served when its turn comes, as most
// servers do: that is what makes a deep queue stay full after the load
// that filled it has gone (metastable). The pool's size can change while
// it runs (SetWorkers), which is how a scenario takes capacity away.
// GET /health answers 204 at once, outside the pool and the counts.
type Server struct {
	cfg   ServerConfig
	srv   *http.Server
	ln    net.Listener
	url   string
	queue chan *job

	mu      sync.Mutex
	quits   []chan struct{} // one per running worker
	fault   Fault
	tokens  float64
	refill  time.Time
	stopped bool

	workersWG  sync.WaitGroup
	handlersWG sync.WaitGroup
	stop       chan struct{}

	received, served, full, failed, limited atomic.Int64
	busy                                    atomic.Int32
}

type job struct{ done chan struct{} }

// StartServer starts a Server on 127.0.0.1 on a port of its own.
func StartServer(cfg ServerConfig) (*Server, error) {
	if cfg.Workers == 0 {
		cfg.Workers = 8
	}
	if cfg.Workers < 0 {
		return nil, fmt.Errorf("workers %d: want at least 1", cfg.Workers)
	}
	if cfg.Queue == 0 {
		cfg.Queue = 64
	}
	if cfg.Queue < 0 {
		cfg.Queue = 0
	}
	if cfg.ServiceTime == 0 {
		cfg.ServiceTime = 4 * time.Millisecond
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening on loopback: %w", err)
	}
	s := &Server{
		cfg:   cfg,
		ln:    ln,
		url:   "http://" + ln.Addr().String(),
		queue: make(chan *job, cfg.Queue),
		stop:  make(chan struct{}),
	}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.handle), ReadHeaderTimeout: 5 * time.Second}
	if cfg.HTTP2 {
		s.srv.Protocols = new(http.Protocols)
		s.srv.Protocols.SetHTTP1(true)
		s.srv.Protocols.SetUnencryptedHTTP2(true)
		s.srv.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: 1 << 20}
	}
	s.SetWorkers(cfg.Workers)
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL returns the server's base URL, http://127.0.0.1:PORT.
func (s *Server) URL() string { return s.url }

// Workers returns how many workers the pool has now.
func (s *Server) Workers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.quits)
}

// SetWorkers resizes the pool to n workers (at least 1). Workers that go
// finish the request they are serving first.
func (s *Server) SetWorkers(n int) {
	n = max(n, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	for len(s.quits) < n {
		q := make(chan struct{})
		s.quits = append(s.quits, q)
		s.workersWG.Add(1)
		go s.work(q)
	}
	for len(s.quits) > n {
		last := len(s.quits) - 1
		close(s.quits[last])
		s.quits = s.quits[:last]
	}
}

// SetFault sets what the server does besides serving, from now on.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.RateLimit != s.fault.RateLimit {
		s.tokens, s.refill = bucketSize(f.RateLimit), time.Now()
	}
	s.fault = f
}

func bucketSize(rate float64) float64 { return max(rate/10, 1) }

// ServerStats counts the requests a Server received and what it did with
// them.
type ServerStats struct {
	Received  int64 // every request
	Served    int64 // 200: served by a worker, whether or not its client still waited
	QueueFull int64 // 503 at once, the queue was full
	Failed    int64 // 503 at once, a random failure or the server was down
	Limited   int64 // 429, the server's own rate limit
}

// Stats returns the server's counts so far.
func (s *Server) Stats() ServerStats {
	return ServerStats{
		Received:  s.received.Load(),
		Served:    s.served.Load(),
		QueueFull: s.full.Load(),
		Failed:    s.failed.Load(),
		Limited:   s.limited.Load(),
	}
}

// Busy returns how many workers are serving a request now.
func (s *Server) Busy() int { return int(s.busy.Load()) }

// QueueLen returns how many requests wait for a worker now.
func (s *Server) QueueLen() int { return len(s.queue) }

// Close stops the server: it closes its listener and connections, stops
// its workers without serving what is still queued, and returns once
// every handler has returned.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	for _, q := range s.quits {
		close(q)
	}
	s.quits = nil
	close(s.stop)
	s.mu.Unlock()
	err := s.srv.Close()
	s.workersWG.Wait()
	s.handlersWG.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// maxLag bounds how far a busy worker catches up on its schedule.
const maxLag = 50 * time.Millisecond

// work serves queued requests until quit is closed. A busy worker keeps
// to a schedule of one request per ServiceTime: it sleeps until the end
// of the request's slot, and when the machine woke it late it serves the
// next requests without sleeping until it is back on schedule (by at most
// maxLag), so that time.Sleep's overshoot and a busy machine's late
// wake-ups do not lower the capacity. An idle worker starts a new
// schedule with its next request.
func (s *Server) work(quit chan struct{}) {
	defer s.workersWG.Done()
	due := time.Now()
	for {
		var j *job
		select {
		case <-quit:
			return
		case j = <-s.queue: // busy: the schedule goes on
			due = due.Add(s.cfg.ServiceTime)
		default:
			select { // idle: a new schedule from the next request
			case <-quit:
				return
			case j = <-s.queue:
				due = time.Now().Add(s.cfg.ServiceTime)
			}
		}
		if now := time.Now(); due.Before(now.Add(-maxLag)) {
			due = now.Add(-maxLag)
		}
		s.busy.Add(1)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		s.busy.Add(-1)
		s.served.Add(1)
		close(j.done)
	}
}

// admit decides what to do with a request that just arrived; false once
// the server is stopping. Otherwise the request's handler is counted in
// handlersWG, which Close waits for.
func (s *Server) admit() (Outcome, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return 0, false
	}
	s.handlersWG.Add(1)
	f := s.fault
	switch {
	case f.Down:
		return Failed, true
	case f.FailRate > 0 && rand.Float64() < f.FailRate:
		return Failed, true
	}
	if f.RateLimit > 0 {
		now := time.Now()
		s.tokens = min(s.tokens+now.Sub(s.refill).Seconds()*f.RateLimit, bucketSize(f.RateLimit))
		s.refill = now
		if s.tokens < 1 {
			return Limited, true
		}
		s.tokens--
	}
	return Queued, true
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/health" {
		// Outside the pool and the counts: the harness warms its
		// connections up with it.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	o, ok := s.admit()
	if !ok {
		http.Error(w, "stopping", http.StatusServiceUnavailable)
		return
	}
	defer s.handlersWG.Done()
	s.received.Add(1)
	var j *job
	if o == Queued {
		j = &job{done: make(chan struct{})}
		select {
		case s.queue <- j:
		default:
			o = QueueFull
		}
	}
	if s.cfg.Observe != nil {
		s.cfg.Observe(r, o)
	}
	switch o {
	case QueueFull:
		s.full.Add(1)
		http.Error(w, "queue full", http.StatusServiceUnavailable)
		return
	case Failed:
		s.failed.Add(1)
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	case Limited:
		s.limited.Add(1)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "rate limited", http.StatusTooManyRequests)
		return
	}
	select {
	case <-j.done:
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("value of " + r.URL.Query().Get("key")))
	case <-r.Context().Done():
		// The client went away; the job stays queued and is served anyway.
	case <-s.stop:
	}
}
