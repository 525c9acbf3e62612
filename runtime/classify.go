package runtime

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Class is an error class, or a set of them: Classify returns one class,
// and RetryOn and Excluded match sets.
type Class uint16

// The error classes. Classify returns exactly one of them.
const (
	// ClassUnknown is an error that no rule recognizes. It counts as a
	// failure of the service, and is not retried unless RetryOn says so.
	ClassUnknown Class = 1 << iota
	// ClassTimeout is a timeout: net.Error timeouts, the attempt's own
	// deadline, HTTP 408 and 504.
	ClassTimeout
	// ClassConnection is a broken or refused connection: ECONNRESET,
	// ECONNREFUSED, EPIPE, io.ErrUnexpectedEOF, driver.ErrBadConn, errors
	// with SafeToRetry() true, SQLSTATE classes 08 and 57P01–57P03.
	ClassConnection
	// ClassRateLimited is HTTP 429.
	ClassRateLimited
	// ClassServer is HTTP 500, 502 and 503.
	ClassServer
	// ClassTransient is any other temporary failure: EAGAIN and EBUSY
	// (temporary file locks), SQLSTATE 40001 and 40P01.
	ClassTransient
	// ClassAuth is HTTP 401 and SQLSTATE class 28: credentials that were
	// refused. It is permanent unless credential refresh is possible.
	ClassAuth
	// ClassSchema is SQLSTATE class 42 (an undefined column or table...):
	// the schema changed under the caller.
	ClassSchema
	// ClassPermanent is an error that no retry can fix: the other 4xx
	// statuses, os.ErrNotExist, os.ErrPermission. It does not count
	// against the service.
	ClassPermanent
	// ClassCanceled is the caller's own cancellation. It is never retried
	// and never counts against the service.
	ClassCanceled
)

// Class sets for RetryOn and Excluded.
const (
	// ClassesTransient is what "transient" names: every class that a later
	// attempt may get past.
	ClassesTransient = ClassTimeout | ClassConnection | ClassRateLimited | ClassServer | ClassTransient
	// ClassesAll is what "any" names: every class but the caller's
	// cancellation, which is never retried.
	ClassesAll = ClassUnknown | ClassesTransient | ClassAuth | ClassSchema | ClassPermanent
)

var classNames = []struct {
	class Class
	name  string
}{
	{ClassTransient, "transient"}, // the single class; "transient" parses to the set
	{ClassTimeout, "timeout"},
	{ClassConnection, "connection"},
	{ClassRateLimited, "rate_limited"},
	{ClassServer, "server"},
	{ClassAuth, "auth"},
	{ClassSchema, "schema"},
	{ClassPermanent, "permanent"},
	{ClassUnknown, "unknown"},
	{ClassCanceled, "canceled"},
}

// ParseClass returns the class set of one name: "transient" is
// ClassesTransient, "any" ClassesAll, "none" the empty set.
func ParseClass(name string) (Class, bool) {
	switch name {
	case "transient":
		return ClassesTransient, true
	case "any":
		return ClassesAll, true
	case "none":
		return 0, true
	case "canceled":
		return 0, false // never retried, never excluded: not a name users may write
	}
	for _, n := range classNames {
		if n.name == name {
			return n.class, true
		}
	}
	return 0, false
}

// String returns the class's name, or the names of a set as a directive
// writes them, joined by commas, so that ParseClasses reads it back:
// "transient,auth".
func (c Class) String() string {
	if c == 0 {
		return "none"
	}
	if c == ClassesAll {
		return "any"
	}
	var parts []string
	rest := c
	if c&ClassesTransient == ClassesTransient {
		parts = append(parts, "transient")
		rest &^= ClassesTransient
	}
	for _, n := range classNames {
		if rest&n.class != 0 {
			parts = append(parts, n.name)
			rest &^= n.class
		}
	}
	if rest != 0 {
		parts = append(parts, "Class("+strconv.Itoa(int(rest))+")")
	}
	return strings.Join(parts, ",")
}

// Matcher selects errors: by class, or by Match, which resgen generates from
// the Go identifiers of a directive as direct errors.Is and errors.As calls.
// Its zero value selects nothing; where a config field says its zero value
// means a default, a zero Matcher means that default.
type Matcher struct {
	Classes Class
	Match   func(error) bool
}

func (m Matcher) isZero() bool { return m.Classes == 0 && m.Match == nil }

// Matches reports whether err, of class c, is selected. Whatever m says,
// it never selects the caller's cancellation (ClassCanceled) nor a
// rejection (ErrCircuitOpen, ErrRateLimited, ErrQueueFull, also inside a
// RetryError), which are never retried: a wrapped value that is itself a
// resilient wrapper, or that returns one's errors, must not have its
// rejections retried by the wrapper around it.
func (m Matcher) Matches(err error, c Class) bool {
	if c == ClassCanceled {
		return false
	}
	if m.Classes&c == 0 && (m.Match == nil || !m.Match(err)) {
		return false
	}
	return !isRejection(err)
}

// isRejection reports whether err is, or wraps, a rejection by a breaker or
// a rate limit.
func isRejection(err error) bool {
	return errors.Is(err, ErrCircuitOpen) || errors.Is(err, ErrRateLimited)
}

// A Classifier classifies errors before the built-in rules: it returns the
// class of err, or 0 to leave err to Classify. Install one with
// WithClassifier.
type Classifier func(err error) Class

// Classify returns the class of err by the built-in rules, checked in this
// order through every wrapped error (errors.Is and errors.As):
//
//   - context.Canceled: ClassCanceled; context.DeadlineExceeded: ClassTimeout
//   - StatusCode() int: 408 and 504 timeout, 429 rate_limited, 500, 502 and
//     503 server, 401 auth, other 4xx permanent, other 5xx server
//   - SQLState() string: class 08 and 57P01–57P03 connection, 40001, 40P01
//     and 53300 transient, class 28 auth, class 42 schema, 22 and 23
//     permanent
//   - SafeToRetry() bool true: connection (pgconn's errors before the
//     request was sent)
//   - syscall.Errno: ECONNRESET, ECONNREFUSED, ECONNABORTED, EPIPE,
//     ENETUNREACH, EHOSTUNREACH, ENETDOWN, ENOTCONN connection; ETIMEDOUT
//     timeout; EAGAIN, EBUSY, EINTR (temporary file locks) transient
//   - net.Error with Timeout() true: timeout
//   - io.ErrUnexpectedEOF, driver.ErrBadConn, net.ErrClosed, and any other
//     failed network operation (*net.OpError, io.EOF from a connection
//     included): connection
//   - os.ErrNotExist, os.ErrPermission, os.ErrExist: permanent
//   - io.EOF (the end of a stream): permanent, so that it is neither retried
//     nor counted against the service
//   - gRPC status errors ("rpc error: code = ..."): Unavailable connection,
//     DeadlineExceeded timeout, ResourceExhausted rate_limited, Aborted
//     transient, Internal and DataLoss server, Unauthenticated auth,
//     Canceled canceled, InvalidArgument, NotFound, AlreadyExists,
//     PermissionDenied, FailedPrecondition, OutOfRange and Unimplemented
//     permanent
//   - anything else: unknown
//
// Classify(nil) is 0.
func Classify(err error) Class {
	if err == nil {
		return 0
	}
	if errors.Is(err, context.Canceled) {
		return ClassCanceled
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ClassTimeout
	}
	var sc interface{ StatusCode() int }
	if errors.As(err, &sc) {
		if c := classifyStatus(sc.StatusCode()); c != 0 {
			return c
		}
	}
	var ss interface{ SQLState() string }
	if errors.As(err, &ss) {
		if c := classifySQLState(ss.SQLState()); c != 0 {
			return c
		}
	}
	var sr interface{ SafeToRetry() bool }
	if errors.As(err, &sr) && sr.SafeToRetry() {
		return ClassConnection
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.ECONNRESET, syscall.ECONNREFUSED, syscall.ECONNABORTED, syscall.EPIPE,
			syscall.ENETUNREACH, syscall.EHOSTUNREACH, syscall.ENETDOWN, syscall.ENOTCONN:
			return ClassConnection
		case syscall.ETIMEDOUT:
			return ClassTimeout
		case syscall.EAGAIN, syscall.EBUSY, syscall.EINTR:
			return ClassTransient
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ClassTimeout
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, net.ErrClosed) {
		return ClassConnection
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return ClassConnection // a network operation failed: dial, read or write
	}
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) || errors.Is(err, os.ErrExist) {
		return ClassPermanent
	}
	var ue *url.Error
	if errors.As(err, &ue) && errors.Is(err, io.EOF) {
		return ClassConnection // an HTTP server closed a kept-alive connection under the request
	}
	if errors.Is(err, io.EOF) {
		// The end of a stream is an answer, not a failure: a Read at the
		// end must neither be retried nor count against the service. (A
		// client that reports a closed connection as a bare io.EOF, as
		// go-redis does, needs a Classifier that says so.)
		return ClassPermanent
	}
	if c := classifyGRPC(err.Error()); c != 0 {
		return c
	}
	return ClassUnknown
}

// grpcPrefix starts the message of every gRPC status error
// (google.golang.org/grpc/status), wrapped or not. Matching the text keeps
// gRPC out of this package's imports, and reflection out of the binary.
const grpcPrefix = "rpc error: code = "

// classifyGRPC classifies the message of a gRPC status error by its code.
func classifyGRPC(msg string) Class {
	i := strings.Index(msg, grpcPrefix)
	if i < 0 {
		return 0
	}
	code, _, _ := strings.Cut(msg[i+len(grpcPrefix):], " ")
	switch code {
	case "Unavailable":
		return ClassConnection
	case "DeadlineExceeded":
		return ClassTimeout
	case "ResourceExhausted":
		return ClassRateLimited
	case "Aborted":
		return ClassTransient
	case "Internal", "DataLoss":
		return ClassServer
	case "Unauthenticated":
		return ClassAuth
	case "Canceled":
		return ClassCanceled
	case "InvalidArgument", "NotFound", "AlreadyExists", "PermissionDenied", "FailedPrecondition",
		"OutOfRange", "Unimplemented":
		return ClassPermanent
	}
	return ClassUnknown
}

func classifyStatus(code int) Class {
	switch {
	case code == 408 || code == 504:
		return ClassTimeout
	case code == 429:
		return ClassRateLimited
	case code == 401:
		return ClassAuth
	case code >= 400 && code < 500:
		return ClassPermanent
	case code >= 500 && code < 600:
		return ClassServer
	}
	return 0
}

func classifySQLState(s string) Class {
	if len(s) != 5 {
		return 0
	}
	switch {
	case s == "40001" || s == "40P01":
		return ClassTransient
	case s == "57P01" || s == "57P02" || s == "57P03":
		return ClassConnection
	case strings.HasPrefix(s, "08"):
		return ClassConnection
	case strings.HasPrefix(s, "28"):
		return ClassAuth
	case strings.HasPrefix(s, "42"):
		return ClassSchema
	case strings.HasPrefix(s, "22") || strings.HasPrefix(s, "23"):
		return ClassPermanent
	case s == "53300": // too_many_connections
		return ClassTransient
	}
	return 0
}

// RetryAfter returns the server's Retry-After hint carried by err: the
// first error in its chain with a RetryAfter() time.Duration method that
// returns a positive duration.
func RetryAfter(err error) (time.Duration, bool) {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		if d := ra.RetryAfter(); d > 0 {
			return d, true
		}
	}
	return 0, false
}

// ParseRetryAfter parses the value of an HTTP Retry-After header, in either
// of its forms (RFC 9110 section 10.2.3): a number of seconds ("120") or an
// HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT", or the obsolete RFC 850 and
// ANSI C forms), which is taken relative to now. A date in the past gives
// 0, true; a number of seconds too large for a Duration gives the longest
// whole number of seconds it can hold; a malformed value gives 0, false.
func ParseRetryAfter(value string, now time.Time) (time.Duration, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if value[0] >= '0' && value[0] <= '9' {
		const maxSecs = int64(1<<63-1) / int64(time.Second)
		secs, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			// A number too large for int64 is still a number of seconds:
			// wait as long as a Duration can say.
			if !errors.Is(err, strconv.ErrRange) || strings.Trim(value, "0123456789") != "" {
				return 0, false
			}
			secs = maxSecs
		}
		if secs > maxSecs {
			secs = maxSecs
		}
		return time.Duration(secs) * time.Second, true
	}
	for _, layout := range []string{time.RFC1123, time.RFC850, time.ANSIC} {
		if t, err := time.Parse(layout, value); err == nil {
			return max(t.Sub(now), 0), true
		}
	}
	return 0, false
}
