package runtime

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"reflect"
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
	// ClassUnknown is an error that no rule recognizes, such as an
	// errors.New of the wrapped implementation. Nothing shows that the
	// service failed, so it is passed through as it is: not retried and not
	// counted against the breaker, unless RetryOn names it, which makes it
	// both. Mark such errors with Transient or Permanent, or classify them
	// with WithClassifier.
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

	// The class sets that RetryOn and Excluded name with one word.

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

// parseClass returns the class set of one name: "transient" is
// ClassesTransient, "any" ClassesAll, "none" the empty set.
func parseClass(name string) (Class, bool) {
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
// writes them, joined by commas, so that UnmarshalText reads it back:
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

// MarshalText returns c.String(), so that a Class reads and writes as
// text in flags and encodings. Every class reads back as itself but
// ClassTransient alone (an error that says only that it is transient),
// whose name is the set's: it reads back as ClassesTransient, which
// holds it.
func (c Class) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText sets c to the class set of a comma-separated list of
// class names, as retry_on and excluded_errors take them (transient,
// timeout, connection, rate_limited, server, auth, schema, permanent,
// unknown, any or none), or as MarshalText writes them, which adds
// canceled, the class of a call its caller cancelled (never retried nor
// excluded: no setting takes it); spaces around a name are ignored.
func (c *Class) UnmarshalText(text []byte) error {
	set, err := parseClassList(string(text), true)
	if err != nil {
		return err
	}
	*c = set
	return nil
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
// order through every wrapped error (as errors.Is and errors.As look):
//
//   - Transient(err) and Permanent(err): transient and permanent, whatever
//     they wrap
//   - context.Canceled: ClassCanceled; context.DeadlineExceeded: ClassTimeout;
//     CanceledError() bool true (the AWS SDK's canceled requests): canceled
//   - ErrorCode() string (the AWS SDK's API errors): the throttling codes
//     (Throttling, ThrottlingException, RequestLimitExceeded,
//     TooManyRequestsException, ProvisionedThroughputExceededException,
//     SlowDown, ...) rate_limited, TransactionInProgressException transient,
//     RequestTimeout and RequestTimeoutException timeout, whatever the HTTP
//     status; other codes are left to the rules below
//   - StatusCode() int, or HTTPStatusCode() int (the AWS SDK's response
//     errors): 408 and 504 timeout, 429 rate_limited, 500, 502 and 503
//     server, 401 auth, other 4xx permanent, other 5xx server
//   - SQLState() string: class 08 and 57P01–57P03 connection, 40001, 40P01
//     and 53300 transient, class 28 auth, class 42 schema, 22 and 23
//     permanent
//   - SafeToRetry() bool true (pgconn's errors before the request was sent)
//     or ConnectionError() bool true (the AWS SDK's failed sends): connection
//   - RetryableError() bool: true transient, false permanent
//   - syscall.Errno: ECONNRESET, ECONNREFUSED, ECONNABORTED, EPIPE,
//     ENETUNREACH, EHOSTUNREACH, ENETDOWN, ENOTCONN connection; ETIMEDOUT
//     timeout; EAGAIN, EBUSY, EINTR (temporary file locks) transient
//   - net.Error with Timeout() true: timeout
//   - io.ErrUnexpectedEOF, driver.ErrBadConn, net.ErrClosed, and any other
//     failed network operation (*net.OpError, io.EOF from a connection
//     included): connection
//   - os.ErrNotExist, os.ErrPermission, os.ErrExist: permanent
//   - io.EOF: permanent, the end of a stream, so that it is neither retried
//     nor counted against the service. A generated wrapper reads it by the
//     method's shape: the end of a stream for a method that reads one (Read...,
//     Recv..., Receive..., Next..., Decode...), a connection closed under the
//     request, connection, for every other method (go-redis reports a closed
//     connection so)
//   - gRPC status errors, by their message ("rpc error: code = ..."), by
//     GRPCStatus() or by a Code() method returning a gRPC code (etcd's
//     errors, ErrNoLeader included): Unavailable connection,
//     DeadlineExceeded timeout, ResourceExhausted rate_limited, Aborted
//     transient, Internal and DataLoss server, Unauthenticated auth,
//     Canceled canceled, InvalidArgument, NotFound, AlreadyExists,
//     PermissionDenied, FailedPrecondition, OutOfRange and Unimplemented
//     permanent
//   - Status() returning a struct with a Code and a Reason (Kubernetes'
//     API errors, *apierrors.StatusError): reason TooManyRequests
//     rate_limited, ServerTimeout and Timeout timeout, ServiceUnavailable
//     and InternalError server, Unauthorized auth, otherwise the HTTP status
//     in Code as above
//   - Timeout() bool true: timeout; Temporary() bool true: transient
//   - anything else: unknown
//
// The rules up to gRPC's message are type checks that allocate nothing
// for errors that wrap their cause with Unwrap; the last ones, for the
// errors that no cheaper rule recognized, look at the methods of each
// error in the chain by reflection. Classify(nil) is 0.
func Classify(err error) Class {
	c, _ := classify(err, true)
	return c
}

// NotSent reports whether err proves that the request of the attempt that
// failed with it was never processed by the service, so that sending it
// again cannot apply it twice. A method declared not idempotent
// (idempotent=false) is retried only after such an error. The proofs,
// through every wrapped error:
//
//   - SafeToRetry() bool (pgconn's errors): what it says decides, true or
//     false, whatever else the chain holds
//   - driver.ErrBadConn, which database/sql drivers may return only when
//     the server cannot have performed the operation
//   - a refused connection (ECONNREFUSED) or a failed dial (*net.OpError
//     whose Op is "dial": refused, unreachable, a failed DNS lookup), before
//     anything was sent
//   - a rate-limit rejection whose answer says that the server turned the
//     request away: HTTP 429 (StatusCode, HTTPStatusCode, Kubernetes'
//     TooManyRequests) and the AWS SDK's throttling error codes
//   - a gRPC Unavailable status whose message shows that the connection
//     could not be made ("transport: Error while dialing"): gRPC fails such
//     a call before it opens a stream
//   - the rejections of a resgen wrapper, which never send the attempt:
//     ErrCircuitOpen, ErrRateLimited, ErrQueueFull, ErrThrottled
//
// Nothing else proves it: a timeout, a reset or closed connection (io.EOF,
// io.ErrUnexpectedEOF, ECONNRESET, EPIPE), a 5xx answer, gRPC Unavailable
// after the call was sent (gRPC already retries transparently the calls
// that never left the client or that the server refused unprocessed, and
// reports the others), RESOURCE_EXHAUSTED (a quota, but also a full disk
// or a message too large, after processing began), or the AWS SDK's
// ConnectionError() (a failed send, possibly after the request was
// written). Marks (Transient, Permanent) and a Classifier change the class
// of an error, not what it proves. NotSent(nil) is false.
func NotSent(err error) bool {
	_, unsent := classify(err, true)
	return unsent
}

// classify returns the class of err and whether err proves that its
// request was never processed (NotSent). stream says what a bare io.EOF
// is: the end of a stream, permanent, for a method that reads one; a
// connection closed under the request, connection, for the others.
func classify(err error, stream bool) (Class, bool) {
	if err == nil {
		return 0, false
	}
	var s shapes
	s.scan(err)
	unsent := s.notSent(err)
	if s.mark != nil {
		return s.mark.class, unsent
	}
	if errors.Is(err, context.Canceled) {
		return ClassCanceled, unsent
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ClassTimeout, unsent
	}
	if s.canceled != nil && s.canceled.CanceledError() {
		return ClassCanceled, unsent
	}
	// A rate-limit answer from these rules turned the request away
	// unprocessed; gRPC's RESOURCE_EXHAUSTED, below, does not say so.
	if s.errorCode != nil {
		if c := classifyErrorCode(s.errorCode.ErrorCode()); c != 0 {
			return c, unsent || c == ClassRateLimited
		}
	}
	if s.status != nil {
		if c := classifyStatus(s.status.StatusCode()); c != 0 {
			return c, unsent || c == ClassRateLimited
		}
	}
	if s.httpStatus != nil {
		if c := classifyStatus(s.httpStatus.HTTPStatusCode()); c != 0 {
			return c, unsent || c == ClassRateLimited
		}
	}
	if s.sqlState != nil {
		if c := classifySQLState(s.sqlState.SQLState()); c != 0 {
			return c, unsent
		}
	}
	if (s.safe != nil && s.safe.SafeToRetry()) || (s.conn != nil && s.conn.ConnectionError()) {
		return ClassConnection, unsent
	}
	if s.retryable != nil {
		if s.retryable.RetryableError() {
			return ClassTransient, unsent
		}
		return ClassPermanent, unsent
	}
	if s.hasErrno {
		switch s.errno {
		case syscall.ECONNRESET, syscall.ECONNREFUSED, syscall.ECONNABORTED, syscall.EPIPE,
			syscall.ENETUNREACH, syscall.EHOSTUNREACH, syscall.ENETDOWN, syscall.ENOTCONN:
			return ClassConnection, unsent
		case syscall.ETIMEDOUT:
			return ClassTimeout, unsent
		case syscall.EAGAIN, syscall.EBUSY, syscall.EINTR:
			return ClassTransient, unsent
		}
	}
	if s.netErr != nil && s.netErr.Timeout() {
		return ClassTimeout, unsent
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, net.ErrClosed) {
		return ClassConnection, unsent
	}
	if s.op != nil {
		return ClassConnection, unsent // a network operation failed: dial, read or write
	}
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) || errors.Is(err, os.ErrExist) {
		return ClassPermanent, unsent
	}
	eof := errors.Is(err, io.EOF)
	if s.url != nil && eof {
		return ClassConnection, unsent // an HTTP server closed a kept-alive connection under the request
	}
	if eof {
		if !stream {
			// No stream to end: the connection closed under the request,
			// which the service may or may not have processed.
			return ClassConnection, unsent
		}
		// The end of a stream is an answer, not a failure: a Read at the
		// end must neither be retried nor count against the service.
		return ClassPermanent, unsent
	}
	if c, dial := classifyGRPC(err.Error()); c != 0 {
		return c, unsent || dial
	}
	if c, turnedAway := classifyByReflection(err); c != 0 {
		return c, unsent || turnedAway
	}
	if s.timeout != nil && s.timeout.Timeout() {
		return ClassTimeout, unsent
	}
	if s.temporary != nil && s.temporary.Temporary() {
		return ClassTransient, unsent
	}
	return ClassUnknown, unsent
}

// notSent reports what the shapes of err's chain prove about its request
// (see NotSent), before its class is known.
func (s *shapes) notSent(err error) bool {
	if s.safe != nil {
		return s.safe.SafeToRetry() // the client knows best
	}
	return (s.hasErrno && s.errno == syscall.ECONNREFUSED) || (s.op != nil && s.op.Op == "dial") ||
		errors.Is(err, driver.ErrBadConn) || isRejection(err) || errors.Is(err, ErrQueueFull) || errors.Is(err, ErrThrottled)
}

// shapes holds, for each shape that Classify looks for, the first error of
// a chain that has it, in the order errors.As looks.
type shapes struct {
	mark       *markedError
	canceled   interface{ CanceledError() bool }
	errorCode  interface{ ErrorCode() string }
	status     interface{ StatusCode() int }
	httpStatus interface{ HTTPStatusCode() int }
	sqlState   interface{ SQLState() string }
	safe       interface{ SafeToRetry() bool }
	conn       interface{ ConnectionError() bool }
	retryable  interface{ RetryableError() bool }
	netErr     net.Error
	op         *net.OpError
	url        *url.Error
	timeout    interface{ Timeout() bool }
	temporary  interface{ Temporary() bool }
	errno      syscall.Errno
	hasErrno   bool
}

// scan fills s from err's chain, following Unwrap depth first as errors.As
// does, with type assertions that allocate nothing; an error with an As
// method is asked, as errors.As asks it, for the shapes not found yet.
func (s *shapes) scan(err error) {
	for err != nil {
		s.visit(err)
		if a, ok := err.(interface{ As(any) bool }); ok {
			s.ask(a)
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				s.scan(e)
			}
			return
		default:
			return
		}
	}
}

// visit notes the shapes of one error that no earlier error of the chain
// had.
func (s *shapes) visit(err error) {
	if v, ok := err.(*markedError); ok && s.mark == nil {
		s.mark = v
	}
	if v, ok := err.(interface{ CanceledError() bool }); ok && s.canceled == nil {
		s.canceled = v
	}
	if v, ok := err.(interface{ ErrorCode() string }); ok && s.errorCode == nil {
		s.errorCode = v
	}
	if v, ok := err.(interface{ StatusCode() int }); ok && s.status == nil {
		s.status = v
	}
	if v, ok := err.(interface{ HTTPStatusCode() int }); ok && s.httpStatus == nil {
		s.httpStatus = v
	}
	if v, ok := err.(interface{ SQLState() string }); ok && s.sqlState == nil {
		s.sqlState = v
	}
	if v, ok := err.(interface{ SafeToRetry() bool }); ok && s.safe == nil {
		s.safe = v
	}
	if v, ok := err.(interface{ ConnectionError() bool }); ok && s.conn == nil {
		s.conn = v
	}
	if v, ok := err.(interface{ RetryableError() bool }); ok && s.retryable == nil {
		s.retryable = v
	}
	if v, ok := err.(syscall.Errno); ok && !s.hasErrno {
		s.errno, s.hasErrno = v, true
	}
	if v, ok := err.(net.Error); ok && s.netErr == nil {
		s.netErr = v
	}
	if v, ok := err.(*net.OpError); ok && s.op == nil {
		s.op = v
	}
	if v, ok := err.(*url.Error); ok && s.url == nil {
		s.url = v
	}
	if v, ok := err.(interface{ Timeout() bool }); ok && s.timeout == nil {
		s.timeout = v
	}
	if v, ok := err.(interface{ Temporary() bool }); ok && s.temporary == nil {
		s.temporary = v
	}
}

// ask asks an error's As method for each shape not found yet. Its targets
// live on the heap, not in s, so that scan allocates nothing for chains
// without As methods.
func (s *shapes) ask(a interface{ As(any) bool }) {
	t := new(shapes)
	if s.mark == nil && a.As(&t.mark) {
		s.mark = t.mark
	}
	if s.canceled == nil && a.As(&t.canceled) {
		s.canceled = t.canceled
	}
	if s.errorCode == nil && a.As(&t.errorCode) {
		s.errorCode = t.errorCode
	}
	if s.status == nil && a.As(&t.status) {
		s.status = t.status
	}
	if s.httpStatus == nil && a.As(&t.httpStatus) {
		s.httpStatus = t.httpStatus
	}
	if s.sqlState == nil && a.As(&t.sqlState) {
		s.sqlState = t.sqlState
	}
	if s.safe == nil && a.As(&t.safe) {
		s.safe = t.safe
	}
	if s.conn == nil && a.As(&t.conn) {
		s.conn = t.conn
	}
	if s.retryable == nil && a.As(&t.retryable) {
		s.retryable = t.retryable
	}
	if !s.hasErrno && a.As(&t.errno) {
		s.errno, s.hasErrno = t.errno, true
	}
	if s.netErr == nil && a.As(&t.netErr) {
		s.netErr = t.netErr
	}
	if s.op == nil && a.As(&t.op) {
		s.op = t.op
	}
	if s.url == nil && a.As(&t.url) {
		s.url = t.url
	}
	if s.timeout == nil && a.As(&t.timeout) {
		s.timeout = t.timeout
	}
	if s.temporary == nil && a.As(&t.temporary) {
		s.temporary = t.temporary
	}
}

// classifyErrorCode classifies the error codes of the AWS SDK's API errors
// that say more than their HTTP status: a throttled request is often a 400,
// and S3's SlowDown a 503.
func classifyErrorCode(code string) Class {
	switch code {
	case "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
		"TooManyRequestsException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
		"BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown",
		"PriorRequestNotComplete", "EC2ThrottledException":
		return ClassRateLimited
	case "TransactionInProgressException":
		return ClassTransient
	case "RequestTimeout", "RequestTimeoutException":
		return ClassTimeout
	}
	return 0
}

// grpcPrefix starts the message of every gRPC status error
// (google.golang.org/grpc/status), wrapped or not. Matching the text keeps
// gRPC out of this package's imports.
const grpcPrefix = "rpc error: code = "

// grpcCodes are gRPC's status codes (google.golang.org/grpc/codes), by
// number, with their names and classes.
var grpcCodes = [...]struct {
	name  string
	class Class
}{
	{"OK", 0},
	{"Canceled", ClassCanceled},
	{"Unknown", ClassUnknown},
	{"InvalidArgument", ClassPermanent},
	{"DeadlineExceeded", ClassTimeout},
	{"NotFound", ClassPermanent},
	{"AlreadyExists", ClassPermanent},
	{"PermissionDenied", ClassPermanent},
	{"ResourceExhausted", ClassRateLimited},
	{"FailedPrecondition", ClassPermanent},
	{"Aborted", ClassTransient},
	{"OutOfRange", ClassPermanent},
	{"Unimplemented", ClassPermanent},
	{"Internal", ClassServer},
	{"Unavailable", ClassConnection},
	{"DataLoss", ClassServer},
	{"Unauthenticated", ClassAuth},
}

// grpcDialing is in the message of the Unavailable status with which gRPC
// fails a call that found no connection, because it could not make one:
// the call never left the client.
const grpcDialing = "transport: Error while dialing"

// classifyGRPC classifies the message of a gRPC status error by its code,
// and reports whether it is an Unavailable status of a failed dial.
func classifyGRPC(msg string) (Class, bool) {
	i := strings.Index(msg, grpcPrefix)
	if i < 0 {
		return 0, false
	}
	code, desc, _ := strings.Cut(msg[i+len(grpcPrefix):], " ")
	for _, c := range grpcCodes[1:] {
		if c.name == code {
			return c.class, code == "Unavailable" && strings.Contains(desc, grpcDialing)
		}
	}
	return ClassUnknown, false
}

// classifyGRPCCode classifies a gRPC status code by its number.
func classifyGRPCCode(code uint64) Class {
	if code < uint64(len(grpcCodes)) {
		return grpcCodes[code].class
	}
	return ClassUnknown
}

// classifyByReflection classifies the first error of err's chain whose
// methods give its class in types that this package cannot name: a gRPC
// code from GRPCStatus() or Code() (codes.Code), a Kubernetes status from
// Status() (metav1.Status). It also reports whether that status is a
// Kubernetes 429, which the API server answers before processing the
// request.
func classifyByReflection(err error) (Class, bool) {
	r := firstInChain(err, func(e error) reflected {
		c, turnedAway := reflectClass(e)
		return reflected{c, turnedAway}
	})
	return r.c, r.turnedAway
}

// reflected is what reflectClass found of one error.
type reflected struct {
	c          Class
	turnedAway bool
}

// firstInChain returns the first f(e) that is not T's zero value over the
// errors of err's chain, depth first through the errors that wrap several
// (errors.Join), or the zero value.
func firstInChain[T comparable](err error, f func(error) T) T {
	var zero T
	for err != nil {
		if v := f(err); v != zero {
			return v
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if v := firstInChain(e, f); v != zero {
					return v
				}
			}
			return zero
		default:
			return zero
		}
	}
	return zero
}

// grpcCodesPkg is the package of gRPC's codes.Code.
const grpcCodesPkg = "google.golang.org/grpc/codes"

// reflectClass classifies one error by the methods of its type. Methods
// are looked up by constant names, so that the linker keeps only the
// methods of those names; an error whose methods panic is not classified
// by them.
func reflectClass(err error) (c Class, turnedAway bool) {
	t := reflect.TypeOf(err)
	if onlyWraps(err, t) {
		return 0, false
	}
	defer func() {
		if recover() != nil {
			c, turnedAway = 0, false
		}
	}()
	v := reflect.ValueOf(err)
	if m, ok := t.MethodByName("GRPCStatus"); ok && m.Type.NumIn() == 1 && m.Type.NumOut() == 1 {
		if st := m.Func.Call([]reflect.Value{v})[0]; st.Kind() == reflect.Pointer && !st.IsNil() {
			if cm, ok := st.Type().MethodByName("Code"); ok && isGRPCCode(cm.Type) {
				if c := classifyGRPCCode(cm.Func.Call([]reflect.Value{st})[0].Uint()); c != 0 {
					return c, false
				}
			}
		}
	}
	if m, ok := t.MethodByName("Code"); ok && isGRPCCode(m.Type) {
		if c := classifyGRPCCode(m.Func.Call([]reflect.Value{v})[0].Uint()); c != 0 {
			return c, false
		}
	}
	if st, ok := kubeStatus(t, v); ok {
		code, reason := st.FieldByName("Code"), st.FieldByName("Reason")
		if isInt(code) {
			r := ""
			if reason.IsValid() && reason.Kind() == reflect.String {
				r = reason.String()
			}
			c := classifyKube(code.Int(), r)
			return c, c == ClassRateLimited
		}
	}
	return 0, false
}

// onlyWraps reports whether err's type t has no exported method but Error
// and Unwrap, as errors.New's and fmt.Errorf's, which no reflection need
// look at.
func onlyWraps(err error, t reflect.Type) bool {
	switch n := t.NumMethod(); n {
	case 0, 1:
		return true
	case 2:
		switch err.(type) {
		case interface{ Unwrap() error }, interface{ Unwrap() []error }:
			return true
		}
	}
	return false
}

// isGRPCCode reports whether f is the type of a method that returns a
// gRPC code and takes nothing but its receiver.
func isGRPCCode(f reflect.Type) bool {
	if f.NumIn() != 1 || f.NumOut() != 1 {
		return false
	}
	r := f.Out(0)
	return r.Kind() == reflect.Uint32 && r.Name() == "Code" && r.PkgPath() == grpcCodesPkg
}

// kubeStatus returns the struct that v's Status() method returns, as a
// Kubernetes API error's metav1.Status.
func kubeStatus(t reflect.Type, v reflect.Value) (reflect.Value, bool) {
	m, ok := t.MethodByName("Status")
	if !ok || m.Type.NumIn() != 1 || m.Type.NumOut() != 1 || m.Type.Out(0).Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	return m.Func.Call([]reflect.Value{v})[0], true
}

// kubeStatusOf returns err's own Kubernetes status (Status()
// metav1.Status), read by reflection; an error whose Status panics (a nil
// *StatusError) has none.
func kubeStatusOf(err error) (st reflect.Value, ok bool) {
	t := reflect.TypeOf(err)
	if onlyWraps(err, t) {
		return reflect.Value{}, false
	}
	defer func() {
		if recover() != nil {
			st, ok = reflect.Value{}, false
		}
	}()
	return kubeStatus(t, reflect.ValueOf(err))
}

func isInt(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return true
	}
	return false
}

// classifyKube classifies a Kubernetes API status by its reason, then by
// its HTTP status code.
func classifyKube(code int64, reason string) Class {
	switch reason {
	case "TooManyRequests":
		return ClassRateLimited
	case "ServerTimeout", "Timeout":
		return ClassTimeout
	case "ServiceUnavailable", "InternalError":
		return ClassServer
	case "Unauthorized":
		return ClassAuth
	}
	if code < 0 || code > 999 {
		return 0
	}
	return classifyStatus(int(code))
}

// kubeRetryAfter returns the RetryAfterSeconds of the details of the first
// Kubernetes API status in err's chain (apierrors.NewTooManyRequests and
// NewServerTimeout set it), or 0.
func kubeRetryAfter(err error) int64 { return firstInChain(err, statusRetryAfter) }

func statusRetryAfter(err error) int64 {
	st, ok := kubeStatusOf(err)
	if !ok {
		return 0
	}
	d := st.FieldByName("Details")
	if !d.IsValid() || d.Kind() != reflect.Pointer || d.IsNil() || d.Elem().Kind() != reflect.Struct {
		return 0
	}
	if ra := d.Elem().FieldByName("RetryAfterSeconds"); isInt(ra) {
		return ra.Int()
	}
	return 0
}

// Transient marks err as transient: Classify returns ClassTransient for it
// whatever it wraps, so that the default retry_on retries it and it counts
// against the breaker. errors.Is and errors.As see err through the mark.
// Transient(nil) is nil.
//
//	return nil, runtime.Transient(fmt.Errorf("inventory busy: %w", err))
func Transient(err error) error { return mark(err, ClassTransient) }

// Permanent marks err as permanent: Classify returns ClassPermanent for it
// whatever it wraps, so that it is never retried and never counts against
// the breaker. errors.Is and errors.As see err through the mark.
// Permanent(nil) is nil.
func Permanent(err error) error { return mark(err, ClassPermanent) }

func mark(err error, class Class) error {
	if err == nil {
		return nil
	}
	return &markedError{err: err, class: class}
}

// RetryAfter returns the server's Retry-After hint carried by err: the
// first error in its chain with a RetryAfter() time.Duration method that
// returns a positive duration, or else the positive RetryAfterSeconds of a
// Kubernetes API status (Status().Details, as apierrors.NewTooManyRequests
// sets it).
func RetryAfter(err error) (time.Duration, bool) {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		if d := ra.RetryAfter(); d > 0 {
			return d, true
		}
	}
	const maxSecs = int64(1<<63-1) / int64(time.Second)
	if secs := kubeRetryAfter(err); secs > 0 {
		return time.Duration(min(secs, maxSecs)) * time.Second, true
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

// markedError is an error that Transient or Permanent marked.
type markedError struct {
	err   error
	class Class
}

func (e *markedError) Error() string { return e.err.Error() }

// Unwrap returns the marked error.
func (e *markedError) Unwrap() error { return e.err }

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
