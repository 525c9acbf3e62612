package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/resgen-dev/resgen/runtime"
)

// Client is the Shop API's client over net/http: the connector itself,
// with no resilience of its own. One attempt is one HTTP request; errors
// are *APIError values whose StatusCode and RetryAfter tell the wrapper
// what to do.
//
// It obtains a bearer token from the server's token endpoint before its
// first request, and keeps it until RefreshCredentials replaces it: the
// wrapper calls RefreshCredentials when a request gets 401, then tries the
// request once more. The wrapper calls Ping to probe the API while its
// breaker is open. Host returns the server's host, so that every wrapper
// of the process that talks to it shares one rate limit.
//
// A Client is safe for concurrent use.
type Client struct {
	base       *url.URL
	hc         *http.Client
	id, secret string
	mu         sync.Mutex             // serializes token requests
	token      atomic.Pointer[string] // the bearer token; nil before the first request
}

var _ Shop = (*Client)(nil)

// NewClient returns a Client of the API at baseURL, which authenticates
// with the client credentials id and secret. hc nil means a client of its
// own, with its own connection pool.
func NewClient(baseURL, id, secret string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("base URL %q: want http://host or https://host", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		}}
	}
	return &Client{base: u, hc: hc, id: id, secret: secret}, nil
}

// Host returns the API's host:port: the key of the per-host rate limit.
func (c *Client) Host() string { return c.base.Host }

// Close closes the client's idle connections. The client still works
// after Close, opening new ones.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// ListOrders returns the orders created after since, oldest first, at most
// 50 of them.
func (c *Client) ListOrders(ctx context.Context, since time.Time) ([]Order, error) {
	var out []Order
	q := url.Values{"since": {since.UTC().Format(time.RFC3339Nano)}}
	err := c.do(ctx, http.MethodGet, "/orders?"+q.Encode(), nil, nil, &out)
	return out, err
}

// GetOrder returns the order with the given id.
func (c *Client) GetOrder(ctx context.Context, id int64) (Order, error) {
	var out Order
	err := c.do(ctx, http.MethodGet, "/orders/"+strconv.FormatInt(id, 10), nil, nil, &out)
	return out, err
}

// CreateOrder creates an order, at most once per o.IdempotencyKey.
func (c *Client) CreateOrder(ctx context.Context, o NewOrder) (Order, error) {
	if o.IdempotencyKey == "" {
		return Order{}, fmt.Errorf("create order: no idempotency key")
	}
	body, err := json.Marshal(o)
	if err != nil {
		return Order{}, err
	}
	var out Order
	h := http.Header{"Idempotency-Key": {o.IdempotencyKey}, "Content-Type": {"application/json"}}
	err = c.do(ctx, http.MethodPost, "/orders", h, body, &out)
	return out, err
}

// Ping checks that the API is up (GET /health). The wrapper calls it every
// recovery_check_interval while its breaker is open, and lets probes
// through as soon as it succeeds.
func (c *Client) Ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base.JoinPath("/health").String(), nil)
	if err != nil {
		return err
	}
	var status struct {
		Status string `json:"status"`
	}
	return c.send(req, &status)
}

// RefreshCredentials obtains a new bearer token from the token endpoint,
// in place of the one in use. The wrapper calls it after a 401.
func (c *Client) RefreshCredentials(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fetchTokenLocked(ctx)
}

// bearer returns the token to send, obtaining one first if there is none.
func (c *Client) bearer(ctx context.Context) (string, error) {
	if tok := c.token.Load(); tok != nil {
		return *tok, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if tok := c.token.Load(); tok != nil {
		return *tok, nil // another goroutine got one while this one waited
	}
	if err := c.fetchTokenLocked(ctx); err != nil {
		return "", err
	}
	return *c.token.Load(), nil
}

// fetchTokenLocked asks the token endpoint for a token (the client
// credentials grant of RFC 6749 section 4.4). c.mu is held.
func (c *Client) fetchTokenLocked(ctx context.Context) error {
	form := url.Values{"grant_type": {"client_credentials"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.JoinPath("/oauth/token").String(),
		strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.id, c.secret)
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := c.send(req, &tok); err != nil {
		return fmt.Errorf("token: %w", err)
	}
	if tok.AccessToken == "" || !strings.EqualFold(tok.TokenType, "bearer") {
		return fmt.Errorf("token: no bearer token in the answer")
	}
	c.token.Store(&tok.AccessToken)
	return nil
}

// do makes one API request with the bearer token and decodes the JSON
// answer into out.
func (c *Client) do(ctx context.Context, method, path string, h http.Header, body []byte, out any) error {
	tok, err := c.bearer(ctx)
	if err != nil {
		return err
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	u := c.base.String() + path
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	return c.send(req, out)
}

// send makes req and decodes its JSON answer into out, or returns an
// *APIError for a status other than 2xx. It always reads the body to its
// end, so that the connection goes back to the pool.
func (c *Client) send(req *http.Request, out any) error {
	resp, err := c.hc.Do(req)
	if err != nil {
		return err // *url.Error: classified by what it wraps (timeout, connection)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &APIError{Method: req.Method, Path: req.URL.Path, Status: resp.StatusCode}
		var msg struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &msg) == nil {
			e.Message = msg.Error
		}
		if v := resp.Header.Get("Retry-After"); v != "" {
			e.Wait, _ = runtime.ParseRetryAfter(v, time.Now())
		}
		return e
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// APIError is an answer of the API other than 2xx. Its StatusCode and
// RetryAfter methods are what runtime.Classify reads: 429 and 5xx are
// retried, 401 refreshes the credentials once, other 4xx fail at once.
type APIError struct {
	Method, Path string
	Status       int           // the HTTP status code
	Message      string        // the API's error message, if it gave one
	Wait         time.Duration // the Retry-After header, 0 without one
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Wait > 0 {
		s += fmt.Sprintf(" (retry after %v)", e.Wait)
	}
	return s
}

// StatusCode returns the HTTP status code.
func (e *APIError) StatusCode() int { return e.Status }

// RetryAfter returns how long the server asked to wait (Retry-After), or 0.
func (e *APIError) RetryAfter() time.Duration { return e.Wait }
