package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resgen-dev/resgen/runtime"
)

// callTrace records what one call met on the wire: the answer to each
// request that its attempts made, as the tracing transport saw them.
// Attempts of one call are sequential, but a credential refresh may run on
// the call's context too, so it is safe for concurrent use.
type callTrace struct {
	mu       sync.Mutex
	statuses []int // HTTP status of each attempt; 0: no answer
}

func (t *callTrace) record(status int) {
	t.mu.Lock()
	t.statuses = append(t.statuses, status)
	t.mu.Unlock()
}

// met reports what the call met: a transient failure (429, 5xx, no
// answer), a 429, and how many times its token expired (401 after an
// attempt that was not refused, or as its first attempt), and whether every
// 401 was followed by an attempt that got past it (the credential refresh
// worked).
func (t *callTrace) met() (attempts int, transient, throttled bool, expiries int, pastExpiry bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pastExpiry = true
	for i, st := range t.statuses {
		switch {
		case st == 0 || st >= 500:
			transient = true
		case st == http.StatusTooManyRequests:
			transient, throttled = true, true
		case st == http.StatusUnauthorized:
			if i == 0 || t.statuses[i-1] != http.StatusUnauthorized {
				expiries++
			}
			if i == len(t.statuses)-1 || t.statuses[i+1] == http.StatusUnauthorized {
				pastExpiry = false
			}
		}
	}
	return len(t.statuses), transient, throttled, expiries, pastExpiry
}

type traceKey struct{}

func withTrace(ctx context.Context, t *callTrace) context.Context {
	return context.WithValue(ctx, traceKey{}, t)
}

// tracingTransport records each API request of a traced call in its
// callTrace. The token endpoint's requests are not the call's attempts, and
// are left out.
type tracingTransport struct{ next http.RoundTripper }

func (t tracingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	tr, _ := req.Context().Value(traceKey{}).(*callTrace)
	if tr == nil || req.URL.Path == "/oauth/token" {
		return resp, err
	}
	switch {
	case err == nil:
		tr.record(resp.StatusCode)
	case req.Context().Err() == nil:
		tr.record(0) // no answer: a connection or timeout failure
	}
	return resp, err
}

// newTracedClient returns a Client of the server whose requests are traced,
// over a connection pool of its own.
func newTracedClient(s *Server) (*Client, error) {
	tr := &http.Transport{
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}
	return NewClient(s.URL(), demoClientID, demoClientSecret, &http.Client{Transport: tracingTransport{tr}})
}

// loadReport is what a load run saw, call by call.
type loadReport struct {
	Calls     int // calls made (fewer than asked when ctx ended first)
	Succeeded int
	Failed    int
	Attempts  int // API requests the calls made

	// Calls that met a transient failure (429, 5xx, no answer) on at
	// least one attempt, and how many of them succeeded all the same.
	MetTransient, RecoveredTransient int
	// Calls that met a 429.
	MetThrottle int
	// Calls that met an expired token (401) once, how many got past it
	// (the credential refresh worked: the next attempt was not refused),
	// and how many succeeded: a call that got past its expired token may
	// still fail of transient failures after it.
	MetExpired, RecoveredExpired, SucceededExpired int
	// Calls whose token expired twice, and how many got past both. The
	// wrapper refreshes credentials once per call, so that bad credentials
	// cannot loop: only a call that lasts longer than a token can meet
	// this.
	MetExpiredTwice, RecoveredExpiredTwice int

	Errors  map[string]int // the failed calls' errors, by message
	Elapsed time.Duration

	// ByAnswer counts the failed calls by the answer they ended with: an
	// HTTP status ("503"), "breaker open", "no answer".
	ByAnswer map[string]int
}

// SuccessRate returns the share of calls that succeeded, from 0 to 1.
func (r *loadReport) SuccessRate() float64 {
	if r.Calls == 0 {
		return 0
	}
	return float64(r.Succeeded) / float64(r.Calls)
}

// progress is a load run's counters while it runs.
type progress struct {
	done, failed atomic.Int64
	finished     atomic.Bool // the run is over
}

// openPause is how long a worker of runLoad waits after a call that the
// open breaker failed fast.
const openPause = 100 * time.Millisecond

// runLoad makes calls calls of shop from workers goroutines, until ctx
// ends, and reports what each met. The mix is that of a shop's back
// office: 60% GetOrder, 25% ListOrders, 15% CreateOrder (with an
// idempotency key of its own per call, the same for all its attempts).
// Call i does the same thing in every run. A worker whose call the open
// breaker failed fast pauses for openPause before its next call.
func runLoad(ctx context.Context, shop Shop, calls, workers int, p *progress) *loadReport {
	return runLoadAfter(ctx, shop, calls, workers, p, nil)
}

// runLoadAfter is runLoad, but call i waits until after has made i calls,
// so that two clients run side by side meet the same faults at the same
// time (the outage, halfway through); after nil: no wait.
func runLoadAfter(ctx context.Context, shop Shop, calls, workers int, p, after *progress) *loadReport {
	if p == nil {
		p = new(progress)
	}
	runID := time.Now().UnixNano()
	rep := &loadReport{Errors: make(map[string]int), ByAnswer: make(map[string]int)}
	var (
		mu   sync.Mutex
		next atomic.Int64
		wg   sync.WaitGroup
	)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= calls || ctx.Err() != nil {
					return
				}
				for after != nil && after.done.Load() <= int64(i) && !after.finished.Load() {
					select {
					case <-time.After(time.Millisecond):
					case <-ctx.Done():
						return
					}
				}
				var tr callTrace
				err := oneCall(withTrace(ctx, &tr), shop, i, runID)
				if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
					return // the run's time is up: this call does not count
				}
				p.done.Add(1)
				if err != nil {
					p.failed.Add(1)
				}
				mu.Lock()
				rep.add(&tr, err)
				mu.Unlock()
				if errors.Is(err, runtime.ErrCircuitOpen) {
					// The service is down: do something else for a while,
					// as a real caller would, instead of spinning through
					// the remaining calls in a few milliseconds.
					select {
					case <-time.After(openPause):
					case <-ctx.Done():
					}
				}
			}
		})
	}
	wg.Wait()
	rep.Elapsed = time.Since(start)
	p.finished.Store(true)
	return rep
}

func (r *loadReport) add(tr *callTrace, err error) {
	attempts, transient, throttled, expiries, pastExpiry := tr.met()
	r.Calls++
	r.Attempts += attempts
	ok := err == nil
	if ok {
		r.Succeeded++
	} else {
		r.Failed++
		r.Errors[err.Error()]++
		r.ByAnswer[answerOf(err)]++
	}
	if transient {
		r.MetTransient++
		if ok {
			r.RecoveredTransient++
		}
	}
	if throttled {
		r.MetThrottle++
	}
	switch {
	case expiries == 1:
		r.MetExpired++
		if pastExpiry {
			r.RecoveredExpired++
		}
		if ok {
			r.SucceededExpired++
		}
	case expiries > 1:
		r.MetExpiredTwice++
		if pastExpiry {
			r.RecoveredExpiredTwice++
		}
	}
}

// oneCall makes call i of a run.
func oneCall(ctx context.Context, shop Shop, i int, runID int64) error {
	switch k := i % 20; {
	case k < 3:
		o, err := shop.CreateOrder(ctx, NewOrder{
			IdempotencyKey: fmt.Sprintf("%d-%d", runID, i),
			Customer:       fmt.Sprintf("customer-%d", i%17+1),
			TotalCents:     int64(500 + i%1000),
		})
		if err == nil && o.ID == 0 {
			err = errors.New("CreateOrder: no order id")
		}
		return err
	case k < 8:
		_, err := shop.ListOrders(ctx, time.Now().Add(-30*time.Minute))
		return err
	default:
		id := int64(1 + i%100)
		o, err := shop.GetOrder(ctx, id)
		if err == nil && o.ID != id {
			err = fmt.Errorf("GetOrder(%d) returned order %d", id, o.ID)
		}
		return err
	}
}

// topErrors returns the n most frequent errors of r, most frequent first.
func (r *loadReport) topErrors(n int) []string {
	msgs := make([]string, 0, len(r.Errors))
	for m := range r.Errors {
		msgs = append(msgs, m)
	}
	sort.Slice(msgs, func(i, j int) bool {
		if a, b := r.Errors[msgs[i]], r.Errors[msgs[j]]; a != b {
			return a > b
		}
		return msgs[i] < msgs[j]
	})
	out := make([]string, 0, n)
	for _, m := range msgs[:min(n, len(msgs))] {
		out = append(out, fmt.Sprintf("%d× %s", r.Errors[m], m))
	}
	return out
}

// answerOf names what a failed call ended with: the wrapper's rejection
// (which may follow failed attempts), or the server's answer.
func answerOf(err error) string {
	var ae *APIError
	switch {
	case errors.Is(err, runtime.ErrCircuitOpen):
		return "breaker open"
	case errors.Is(err, runtime.ErrThrottled):
		return "throttled"
	case errors.Is(err, runtime.ErrRetryBudget):
		return "retry budget"
	case errors.Is(err, runtime.ErrRateLimited):
		return "rate limited"
	case errors.As(err, &ae) && ae.Status == http.StatusUnauthorized:
		return "401 (expired token)"
	case errors.As(err, &ae):
		return fmt.Sprint(ae.Status)
	}
	return "no answer"
}
