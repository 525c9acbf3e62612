package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/resgen-dev/resgen/runtime"
)

// callHeader carries the harness's number of the call an attempt belongs
// to, so that the server's counts are attributed to calls exactly.
const callHeader = "X-Overload-Call"

type callKey struct{}

// withCall returns ctx carrying call number id.
func withCall(ctx context.Context, id int) context.Context {
	return context.WithValue(ctx, callKey{}, id)
}

// callOf returns the call number ctx carries, or -1.
func callOf(ctx context.Context) int {
	if id, ok := ctx.Value(callKey{}).(int); ok {
		return id
	}
	return -1
}

// Client is Service over HTTP, the connector itself with no resilience of
// its own: one Get is one request. Errors are *StatusError for answers
// other than 2xx, and net/http's (*url.Error, classified by what it wraps:
// a timeout, a refused connection) when no answer came.
type Client struct {
	base string
	hc   *http.Client
	// OnSend, when set, is called before each request with its context.
	OnSend func(ctx context.Context)
}

var _ Service = (*Client)(nil)

// NewHTTPClient returns an http.Client whose transport keeps enough idle
// connections for the open-loop load (a thousand calls in flight), so
// that the load measures the service and not connection setup. With h2c,
// it speaks HTTP/2 without TLS: every call shares a few connections, and
// a call that gives up resets its stream instead of closing its
// connection (which HTTP/1.1 must do), so that a run whose calls time out
// costs no more CPU than one whose calls succeed.
func NewHTTPClient(h2c bool) *http.Client {
	t := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2048,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	if h2c {
		t.Protocols = new(http.Protocols)
		t.Protocols.SetUnencryptedHTTP2(true)
	}
	return &http.Client{Transport: t}
}

// NewClient returns a Client of the server at baseURL over hc.
func NewClient(baseURL string, hc *http.Client) *Client {
	return &Client{base: baseURL, hc: hc}
}

// Get asks the server for key's value: GET /get?key=KEY.
func (c *Client) Get(ctx context.Context, key string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/get?key="+url.QueryEscape(key), nil)
	if err != nil {
		return "", fmt.Errorf("building the request: %w", err)
	}
	if id := callOf(ctx); id >= 0 {
		req.Header.Set(callHeader, strconv.Itoa(id))
	}
	if c.OnSend != nil {
		c.OnSend(ctx)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return "", fmt.Errorf("GET /get: reading the answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &StatusError{Status: resp.StatusCode}
		if v := resp.Header.Get("Retry-After"); v != "" {
			e.Wait, _ = runtime.ParseRetryAfter(v, time.Now())
		}
		return "", e
	}
	return string(body), nil
}

// StatusError is an answer other than 2xx. StatusCode and RetryAfter are
// what runtime.Classify reads: 429 and 503 are transient, so retried by
// the profiles, and 429's Retry-After sets the wait.
type StatusError struct {
	Status int           // the HTTP status code
	Wait   time.Duration // the Retry-After header; 0 without one
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("GET /get: %d %s", e.Status, http.StatusText(e.Status))
	if e.Wait > 0 {
		s += fmt.Sprintf(" (retry after %v)", e.Wait)
	}
	return s
}

// StatusCode returns the HTTP status code.
func (e *StatusError) StatusCode() int { return e.Status }

// RetryAfter returns the server's Retry-After.
func (e *StatusError) RetryAfter() time.Duration { return e.Wait }

// warmUp opens n connections to the server at baseURL (GET /health, n at
// once) and leaves them idle in hc's pool, so that a run does not start
// with every call dialing.
func warmUp(ctx context.Context, hc *http.Client, baseURL string, n int) error {
	errs := make(chan error, n)
	for range n {
		go func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/health", nil)
			if err != nil {
				errs <- err
				return
			}
			resp, err := hc.Do(req)
			if err != nil {
				errs <- err
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			errs <- resp.Body.Close()
		}()
	}
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = fmt.Errorf("warming up the connections: %w", err)
		}
	}
	return first
}
