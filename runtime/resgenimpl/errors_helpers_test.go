package resgenimpl_test

import (
	"fmt"
	"time"
)

// The shapes of real clients' errors that the engine's tests fail with;
// package runtime's classification tests have their own.

// httpStatusErr is an HTTP client's error carrying the response status.
type httpStatusErr struct{ code int }

func (e httpStatusErr) Error() string   { return fmt.Sprintf("unexpected status %d", e.code) }
func (e httpStatusErr) StatusCode() int { return e.code }

// pgErr is a database error with a SQLSTATE, as *pgconn.PgError.
type pgErr struct{ code string }

func (e *pgErr) Error() string    { return "ERROR (SQLSTATE " + e.code + ")" }
func (e *pgErr) SQLState() string { return e.code }

// retryAfterErr is a 429 or 503 with a Retry-After header.
type retryAfterErr struct {
	code  int
	after time.Duration
}

func (e retryAfterErr) Error() string {
	return fmt.Sprintf("status %d, retry after %v", e.code, e.after)
}
func (e retryAfterErr) StatusCode() int           { return e.code }
func (e retryAfterErr) RetryAfter() time.Duration { return e.after }
