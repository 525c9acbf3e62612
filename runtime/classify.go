package runtime

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
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

// String returns the class's name, or the names of a set joined by "|".
func (c Class) String() string {
	if c == 0 {
		return "none"
	}
	if c == ClassesTransient {
		return "transient"
	}
	if c == ClassesAll {
		return "any"
	}
	var parts []string
	for _, n := range classNames {
		if c&n.class != 0 {
			parts = append(parts, n.name)
		}
	}
	if len(parts) == 0 {
		return "Class(" + strconv.Itoa(int(c)) + ")"
	}
	return strings.Join(parts, "|")
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

// Matches reports whether err, of class c, is selected.
func (m Matcher) Matches(err error, c Class) bool {
	return m.Classes&c != 0 || (m.Match != nil && m.Match(err))
}

// A Classifier classifies errors before the built-in rules: it returns the
// class of err, or 0 to leave err to Classify. Install one with
// WithClassifier.
type Classifier func(err error) Class

// Classify returns the class of err by the built-in rules, checked in this
// order through every wrapped error (errors.As):
//
//   - context.Canceled: ClassCanceled; context.DeadlineExceeded: ClassTimeout
//   - StatusCode() int: 408 and 504 timeout, 429 rate_limited, 500, 502 and
//     503 server, 401 auth, other 4xx permanent, other 5xx server
//   - SQLState() string: class 08 and 57P01–57P03 connection, 40001 and
//     40P01 transient, class 28 auth, class 42 schema, 22 and 23 permanent
//   - SafeToRetry() bool true: connection (pgconn's errors before the
//     request was sent)
//   - net.Error with Timeout() true: timeout
//   - ECONNRESET, ECONNREFUSED, ECONNABORTED, EPIPE, ENETUNREACH,
//     EHOSTUNREACH, io.ErrUnexpectedEOF, io.EOF from a connection
//     (*net.OpError), driver.ErrBadConn, net.ErrClosed: connection
//   - EAGAIN, EBUSY, ETIMEDOUT (temporary file locks, timeouts): transient or timeout
//   - os.ErrNotExist, os.ErrPermission, os.ErrExist: permanent
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
// HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT"), which is taken relative to
// now. A date in the past gives 0, true; a malformed value gives 0, false.
func ParseRetryAfter(value string, now time.Time) (time.Duration, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if value[0] >= '0' && value[0] <= '9' {
		secs, err := strconv.ParseInt(value, 10, 64)
		if err != nil || secs < 0 {
			return 0, false
		}
		const maxSecs = int64(1<<63-1) / int64(time.Second)
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
