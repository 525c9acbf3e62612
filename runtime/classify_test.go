package runtime_test

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/resgen-dev/resgen/internal/tooling"
	"github.com/resgen-dev/resgen/runtime"
)

// httpStatusErr is an HTTP client's error that carries the response status.
type httpStatusErr struct{ code int }

func (e httpStatusErr) Error() string   { return fmt.Sprintf("unexpected status %d", e.code) }
func (e httpStatusErr) StatusCode() int { return e.code }

// pgErr is a database error with a SQLSTATE, as *pgconn.PgError.
type pgErr struct{ code string }

func (e *pgErr) Error() string    { return "ERROR (SQLSTATE " + e.code + ")" }
func (e *pgErr) SQLState() string { return e.code }

// connectErr is pgconn's error for a failure before the request was sent.
type connectErr struct{ safe bool }

func (e *connectErr) Error() string     { return "failed to connect" }
func (e *connectErr) SafeToRetry() bool { return e.safe }

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

// closedAddr returns the address of a loopback TCP port that nothing
// listens on any more: dialing it is refused.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func realDialRefused(t *testing.T) error {
	_, err := net.Dial("tcp", closedAddr(t))
	require.Error(t, err)
	var op *net.OpError
	require.ErrorAs(t, err, &op, "dial returns a *net.OpError")
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	return err
}

func realHTTPRefused(t *testing.T) error {
	resp, err := http.Get("http://" + closedAddr(t) + "/")
	if resp != nil {
		resp.Body.Close()
	}
	require.Error(t, err)
	var ue *url.Error
	require.ErrorAs(t, err, &ue, "http.Get returns a *url.Error")
	return err
}

// realReadTimeout reads from a real TCP connection whose read deadline has
// passed.
func realReadTimeout(t *testing.T) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(-time.Second)))
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout(), "a read past its deadline is a timeout: %v", err)
	return err
}

// realDialTimeout dials with a deadline that has already passed.
func realDialTimeout(t *testing.T) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	d := net.Dialer{Deadline: time.Now().Add(-time.Second)}
	conn, err := d.Dial("tcp", ln.Addr().String())
	if conn != nil {
		conn.Close()
	}
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout(), "a dial past its deadline is a timeout: %v", err)
	return err
}

// realConnReset reads from a connection whose peer closed it with a reset.
func realConnReset(t *testing.T) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	peer, err := ln.Accept()
	require.NoError(t, err)
	require.NoError(t, peer.(*net.TCPConn).SetLinger(0)) // close sends RST
	require.NoError(t, peer.Close())
	_, err = conn.Read(make([]byte, 1))
	require.ErrorIs(t, err, syscall.ECONNRESET)
	return err
}

func realNotExist(t *testing.T) error {
	_, err := os.Open(filepath.Join(t.TempDir(), "missing"))
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe)
	require.ErrorIs(t, err, os.ErrNotExist)
	return err
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  func(t *testing.T) error
		want runtime.Class
	}{
		{"dial ECONNREFUSED", realDialRefused, runtime.ClassConnection},
		{"http.Get refused", realHTTPRefused, runtime.ClassConnection},
		{"read deadline", realReadTimeout, runtime.ClassTimeout},
		{"dial deadline", realDialTimeout, runtime.ClassTimeout},
		{"peer reset", realConnReset, runtime.ClassConnection},
		{"os.Open missing file", realNotExist, runtime.ClassPermanent},
		{"net.ErrClosed", errFn(net.ErrClosed), runtime.ClassConnection},

		{"ECONNRESET", errFn(syscall.ECONNRESET), runtime.ClassConnection},
		{"ECONNREFUSED", errFn(syscall.ECONNREFUSED), runtime.ClassConnection},
		{"EPIPE", errFn(syscall.EPIPE), runtime.ClassConnection},
		{"EAGAIN", errFn(syscall.EAGAIN), runtime.ClassTransient},
		{"EBUSY", errFn(syscall.EBUSY), runtime.ClassTransient},
		{"ETIMEDOUT", errFn(syscall.ETIMEDOUT), runtime.ClassTimeout},
		{"os.SyscallError EPIPE", errFn(os.NewSyscallError("write", syscall.EPIPE)), runtime.ClassConnection},
		{"ENOENT", errFn(syscall.ENOENT), runtime.ClassPermanent},

		{"context.Canceled", errFn(context.Canceled), runtime.ClassCanceled},
		{"context.DeadlineExceeded", errFn(context.DeadlineExceeded), runtime.ClassTimeout},
		{"io.ErrUnexpectedEOF", errFn(io.ErrUnexpectedEOF), runtime.ClassConnection},
		{"driver.ErrBadConn", errFn(driver.ErrBadConn), runtime.ClassConnection},
		{"os.ErrNotExist", errFn(os.ErrNotExist), runtime.ClassPermanent},
		{"os.ErrPermission", errFn(os.ErrPermission), runtime.ClassPermanent},
		{"EACCES PathError", errFn(&fs.PathError{Op: "open", Path: "/etc/shadow", Err: syscall.EACCES}), runtime.ClassPermanent},
		{"os.ErrExist", errFn(os.ErrExist), runtime.ClassPermanent},

		{"HTTP 408", errFn(httpStatusErr{408}), runtime.ClassTimeout},
		{"HTTP 429", errFn(httpStatusErr{429}), runtime.ClassRateLimited},
		{"HTTP 500", errFn(httpStatusErr{500}), runtime.ClassServer},
		{"HTTP 502", errFn(httpStatusErr{502}), runtime.ClassServer},
		{"HTTP 503", errFn(httpStatusErr{503}), runtime.ClassServer},
		{"HTTP 504", errFn(httpStatusErr{504}), runtime.ClassTimeout},
		{"HTTP 507", errFn(httpStatusErr{507}), runtime.ClassServer},
		{"HTTP 400", errFn(httpStatusErr{400}), runtime.ClassPermanent},
		{"HTTP 401", errFn(httpStatusErr{401}), runtime.ClassAuth},
		{"HTTP 403", errFn(httpStatusErr{403}), runtime.ClassPermanent},
		{"HTTP 404", errFn(httpStatusErr{404}), runtime.ClassPermanent},
		{"HTTP 405", errFn(httpStatusErr{405}), runtime.ClassPermanent},
		{"HTTP 422", errFn(httpStatusErr{422}), runtime.ClassPermanent},
		{"HTTP 302 is no failure class", errFn(httpStatusErr{302}), runtime.ClassUnknown},
		{"HTTP 200 falls through to the wrapped error", errFn(fmt.Errorf("%w: %w", httpStatusErr{200}, io.ErrUnexpectedEOF)), runtime.ClassConnection},

		{"SQLSTATE 08006", errFn(&pgErr{"08006"}), runtime.ClassConnection},
		{"SQLSTATE 08001", errFn(&pgErr{"08001"}), runtime.ClassConnection},
		{"SQLSTATE 57P01", errFn(&pgErr{"57P01"}), runtime.ClassConnection},
		{"SQLSTATE 57P03", errFn(&pgErr{"57P03"}), runtime.ClassConnection},
		{"SQLSTATE 40001", errFn(&pgErr{"40001"}), runtime.ClassTransient},
		{"SQLSTATE 40P01", errFn(&pgErr{"40P01"}), runtime.ClassTransient},
		{"SQLSTATE 53300", errFn(&pgErr{"53300"}), runtime.ClassTransient},
		{"SQLSTATE 42703", errFn(&pgErr{"42703"}), runtime.ClassSchema},
		{"SQLSTATE 42P01", errFn(&pgErr{"42P01"}), runtime.ClassSchema},
		{"SQLSTATE 28P01", errFn(&pgErr{"28P01"}), runtime.ClassAuth},
		{"SQLSTATE 23505", errFn(&pgErr{"23505"}), runtime.ClassPermanent},
		{"SQLSTATE 22001", errFn(&pgErr{"22001"}), runtime.ClassPermanent},
		{"SQLSTATE XX000", errFn(&pgErr{"XX000"}), runtime.ClassUnknown},
		{"SQLSTATE too short", errFn(&pgErr{"08"}), runtime.ClassUnknown},

		{"SafeToRetry true", errFn(&connectErr{safe: true}), runtime.ClassConnection},
		{"SafeToRetry false", errFn(&connectErr{safe: false}), runtime.ClassUnknown},

		{"unknown", errFn(errors.New("something odd")), runtime.ClassUnknown},
		{"cancellation wins over a status", errFn(fmt.Errorf("%w: %w", httpStatusErr{503}, context.Canceled)), runtime.ClassCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err(t)
			assert.Equal(t, tt.want, runtime.Classify(err), "Classify(%v)", err)
			// Two levels of wrapping: errors.Is and errors.As see through them.
			wrapped := fmt.Errorf("get order: %w", fmt.Errorf("query: %w", err))
			assert.Equal(t, tt.want, runtime.Classify(wrapped), "Classify(%v)", wrapped)
		})
	}
}

func errFn(err error) func(*testing.T) error {
	return func(*testing.T) error { return err }
}

func TestClassifyNil(t *testing.T) {
	assert.Equal(t, runtime.Class(0), runtime.Classify(nil))
}

func TestClassifyNeverReturnsASet(t *testing.T) {
	// Classify returns exactly one class: a single bit.
	for _, err := range []error{io.ErrUnexpectedEOF, httpStatusErr{503}, &pgErr{"40001"}, errors.New("x"), context.Canceled} {
		c := runtime.Classify(err)
		assert.True(t, c != 0 && c&(c-1) == 0, "Classify(%v) = %v is not one class", err, c)
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		want   time.Duration
		wantOK bool
	}{
		{"hint", retryAfterErr{429, 3 * time.Second}, 3 * time.Second, true},
		{"wrapped twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", retryAfterErr{503, time.Minute})), time.Minute, true},
		{"in a join", errors.Join(errors.New("x"), retryAfterErr{503, time.Second}), time.Second, true},
		{"in a RetryError", &runtime.RetryError{Method: "T.M", Attempts: 2, Err: retryAfterErr{429, 5 * time.Second}}, 5 * time.Second, true},
		{"zero hint", retryAfterErr{429, 0}, 0, false},
		{"negative hint", retryAfterErr{429, -time.Second}, 0, false},
		{"no hint", httpStatusErr{429}, 0, false},
		{"nil", nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := runtime.RetryAfter(tt.err)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.want, d)
		})
	}
}

// retryAfterNow is the fixed now of the HTTP-date cases.
var retryAfterNow = time.Date(2015, time.October, 21, 7, 0, 0, 0, time.UTC)

// maxWholeSeconds is the longest whole number of seconds a Duration holds.
const maxWholeSeconds = time.Duration(math.MaxInt64/int64(time.Second)) * time.Second

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"120", 120 * time.Second, true},
		{"0", 0, true},
		{"  7 ", 7 * time.Second, true},
		{"007", 7 * time.Second, true},
		{"Wed, 21 Oct 2015 07:28:00 GMT", 28 * time.Minute, true},             // RFC 1123
		{"Wednesday, 21-Oct-15 07:28:00 GMT", 28 * time.Minute, true},         // RFC 850
		{"Wed Oct 21 07:28:00 2015", 28 * time.Minute, true},                  // ANSI C
		{"Wed Oct  7 07:00:00 2015", 0, true},                                 // ANSI C, past
		{"Wed, 21 Oct 2015 07:00:00 GMT", 0, true},                            // now
		{"Wed, 21 Oct 2015 06:59:59 GMT", 0, true},                            // past
		{"Tue, 20 Oct 2015 07:00:00 GMT", 0, true},                            // a day ago
		{"Thu, 21 Oct 2400 07:00:00 GMT", time.Duration(math.MaxInt64), true}, // beyond a Duration
		{"9223372036", 9223372036 * time.Second, true},
		{"9223372037", maxWholeSeconds, true},
		{"9223372036854775807", maxWholeSeconds, true},
		{"99999999999999999999999999", maxWholeSeconds, true}, // overflows int64
		{"-5", 0, false},
		{"-99999999999999999999", 0, false},
		{"+5", 0, false},
		{"1.5", 0, false},
		{"12abc", 0, false},
		{"99999999999999999999x", 0, false},
		{"1 2", 0, false},
		{"", 0, false},
		{"   ", 0, false},
		{"soon", 0, false},
		{"Wed, 32 Oct 2015 07:28:00 GMT", 0, false},
		{"2015-10-21T07:28:00Z", 0, false}, // RFC 3339 is not an HTTP-date
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			d, ok := runtime.ParseRetryAfter(tt.value, retryAfterNow)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.want, d)
		})
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "0", "-1", "99999999999999999999", "Wed, 21 Oct 2015 07:28:00 GMT",
		"Wednesday, 21-Oct-15 07:28:00 GMT", "Wed Oct 21 07:28:00 2015", "", " 1 ", "1e3"} {
		f.Add(s, retryAfterNow.Unix())
	}
	f.Fuzz(func(t *testing.T, value string, now int64) {
		d, ok := runtime.ParseRetryAfter(value, time.Unix(now, 0))
		if d < 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v, negative", value, d)
		}
		if !ok && d != 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v, false: a failed parse must give 0", value, d)
		}
		// Any number of seconds is a valid value, however large.
		if v := strings.TrimSpace(value); v != "" && strings.Trim(v, "0123456789") == "" {
			if !ok || d%time.Second != 0 {
				t.Fatalf("ParseRetryAfter(%q) = %v, %v: want whole seconds, true", value, d, ok)
			}
		}
	})
}

func TestClassString(t *testing.T) {
	tests := []struct {
		c    runtime.Class
		want string
	}{
		{0, "none"},
		{runtime.ClassUnknown, "unknown"},
		{runtime.ClassTimeout, "timeout"},
		{runtime.ClassConnection, "connection"},
		{runtime.ClassRateLimited, "rate_limited"},
		{runtime.ClassServer, "server"},
		{runtime.ClassTransient, "transient"},
		{runtime.ClassAuth, "auth"},
		{runtime.ClassSchema, "schema"},
		{runtime.ClassPermanent, "permanent"},
		{runtime.ClassCanceled, "canceled"},
		{runtime.ClassesTransient, "transient"},
		{runtime.ClassesAll, "any"},
		{runtime.ClassTimeout | runtime.ClassAuth, "timeout,auth"},
		{runtime.ClassesTransient | runtime.ClassAuth, "transient,auth"},
		{runtime.ClassServer | runtime.ClassTransient, "transient,server"},
		{1 << 12, "Class(4096)"},
		{runtime.ClassTimeout | 1<<12, "timeout,Class(4096)"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.c.String(), "Class(%d).String()", uint16(tt.c))
	}
	// Sets print as directives write them: ParseClasses reads them back.
	for _, c := range []runtime.Class{
		runtime.ClassTimeout | runtime.ClassAuth, runtime.ClassesTransient | runtime.ClassSchema,
		runtime.ClassesAll, runtime.ClassPermanent | runtime.ClassUnknown,
	} {
		got, err := parseClasses(c.String())
		assert.NoError(t, err)
		assert.Equal(t, c, got, "ParseClasses(%q)", c.String())
	}
}

func TestParseClass(t *testing.T) {
	tests := []struct {
		name   string
		want   runtime.Class
		wantOK bool
	}{
		{"transient", runtime.ClassesTransient, true},
		{"any", runtime.ClassesAll, true},
		{"none", 0, true},
		{"timeout", runtime.ClassTimeout, true},
		{"connection", runtime.ClassConnection, true},
		{"rate_limited", runtime.ClassRateLimited, true},
		{"server", runtime.ClassServer, true},
		{"auth", runtime.ClassAuth, true},
		{"schema", runtime.ClassSchema, true},
		{"permanent", runtime.ClassPermanent, true},
		{"unknown", runtime.ClassUnknown, true},
		{"canceled", runtime.ClassCanceled, true}, // as reported; no setting takes it (TestNoSettingTakesCanceled)
		{"Timeout", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		c, ok := parseClass(tt.name)
		assert.Equal(t, tt.wantOK, ok, "ParseClass(%q)", tt.name)
		assert.Equal(t, tt.want, c, "ParseClass(%q)", tt.name)
	}
	assert.Zero(t, runtime.ClassesAll&runtime.ClassCanceled, "any must not include the caller's cancellation")
}

// TestNoSettingTakesCanceled: a caller's cancellation is never retried
// nor excluded, so retry_on and excluded_errors refuse the name that
// UnmarshalText reads for reported classes.
func TestNoSettingTakesCanceled(t *testing.T) {
	for _, s := range []runtime.Setting{
		{Policy: "retry", Key: "retry_on", Value: "canceled"},
		{Policy: "retry", Key: "retry_on", Value: "timeout,canceled"},
		{Policy: "circuit_breaker", Key: "excluded_errors", Value: "canceled"},
	} {
		var c runtime.Config
		err := c.Apply(s)
		require.Error(t, err, "%s=%s", s.Key, s.Value)
		assert.Contains(t, err.Error(), `unknown error class "canceled"`)
	}
}

// TestReportedClassesRoundTrip is the bug where a reported class written
// as text (an ErrorRecord in JSON) did not read back: "canceled" was
// refused.
func TestReportedClassesRoundTrip(t *testing.T) {
	for c := runtime.Class(1); c != 0 && c <= runtime.ClassesAll|runtime.ClassCanceled; c <<= 1 {
		if c&(runtime.ClassesAll|runtime.ClassCanceled) == 0 {
			continue
		}
		out, err := json.Marshal(runtime.ErrorRecord{Class: c})
		require.NoError(t, err)
		var back runtime.ErrorRecord
		require.NoError(t, json.Unmarshal(out, &back), "%s", out)
		want := c
		if c == runtime.ClassTransient {
			// Its name is the set's (MarshalText's doc): it reads back as
			// the set that holds it.
			want = runtime.ClassesTransient
		}
		assert.Equal(t, want, back.Class, "%s", out)
	}
}

func TestClassNamesAllParse(t *testing.T) {
	names := tooling.ClassNames()
	require.NotEmpty(t, names)
	for _, n := range names {
		_, ok := parseClass(n)
		assert.True(t, ok, "ClassNames lists %q, which ParseClass rejects", n)
	}
	assert.NotContains(t, names, "canceled")
}

func TestParseClasses(t *testing.T) {
	tests := []struct {
		list    string
		want    runtime.Class
		wantErr string // substring; empty for success
	}{
		{list: "transient", want: runtime.ClassesTransient},
		{list: "any", want: runtime.ClassesAll},
		{list: "none", want: 0},
		{list: "timeout,server", want: runtime.ClassTimeout | runtime.ClassServer},
		{list: "timeout, server", want: runtime.ClassTimeout | runtime.ClassServer},
		{list: "transient,auth", want: runtime.ClassesTransient | runtime.ClassAuth},
		{list: "schema,schema", want: runtime.ClassSchema},
		{list: "transint", wantErr: `unknown error class "transint" (did you mean "transient"?)`},
		{list: "timeout,conection", wantErr: `unknown error class "conection" (did you mean "connection"?)`},
		{list: "rate_limit", wantErr: `(did you mean "rate_limited"?)`},
		{list: "cancelled", wantErr: `unknown error class "cancelled"`},
		{list: "canceled", want: runtime.ClassCanceled},
		{list: "", wantErr: `unknown error class ""`},
		{list: "timeout,", wantErr: `unknown error class ""`},
		{list: "everything", wantErr: `unknown error class "everything"`},
	}
	for _, tt := range tests {
		t.Run(tt.list, func(t *testing.T) {
			c, err := parseClasses(tt.list)
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, tt.want, c)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Zero(t, c)
		})
	}
}

// TestParseClassesSuggestsOnlyAcceptedNames is the bug where a misspelt
// "cancelled" was answered with (did you mean "canceled"?), a name that is
// itself rejected.
func TestParseClassesSuggestsOnlyAcceptedNames(t *testing.T) {
	_, err := parseClasses("cancelled")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "did you mean")
}

func TestMatcher(t *testing.T) {
	errSentinel := errors.New("sentinel")
	wrappedSentinel := fmt.Errorf("get: %w", errSentinel)
	isSentinel := func(err error) bool { return errors.Is(err, errSentinel) }
	tests := []struct {
		name string
		m    runtime.Matcher
		err  error
		c    runtime.Class
		want bool
	}{
		{"zero matches nothing", runtime.Matcher{}, httpStatusErr{503}, runtime.ClassServer, false},
		{"class in set", runtime.Matcher{Classes: runtime.ClassesTransient}, httpStatusErr{503}, runtime.ClassServer, true},
		{"class not in set", runtime.Matcher{Classes: runtime.ClassesTransient}, httpStatusErr{404}, runtime.ClassPermanent, false},
		{"match func", runtime.Matcher{Match: isSentinel}, wrappedSentinel, runtime.ClassUnknown, true},
		{"match func no", runtime.Matcher{Match: isSentinel}, httpStatusErr{503}, runtime.ClassServer, false},
		{"either", runtime.Matcher{Classes: runtime.ClassServer, Match: isSentinel}, httpStatusErr{503}, runtime.ClassServer, true},
		{"canceled never", runtime.Matcher{Classes: runtime.ClassesAll | runtime.ClassCanceled, Match: func(error) bool { return true }},
			context.Canceled, runtime.ClassCanceled, false},
		{"circuit open never", runtime.Matcher{Classes: runtime.ClassesAll, Match: func(error) bool { return true }},
			runtime.ErrCircuitOpen, runtime.ClassUnknown, false},
		{"rate limited never", runtime.Matcher{Classes: runtime.ClassesAll}, fmt.Errorf("x: %w", runtime.ErrRateLimited), runtime.ClassUnknown, false},
		{"queue full never", runtime.Matcher{Classes: runtime.ClassesAll}, runtime.ErrQueueFull, runtime.ClassUnknown, false},
		{"rejection inside a RetryError never", runtime.Matcher{Classes: runtime.ClassesTransient},
			&runtime.RetryError{Method: "T.M", Attempts: 2, Err: httpStatusErr{503}, Stop: runtime.ErrCircuitOpen}, runtime.ClassServer, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.m.Matches(tt.err, tt.c))
		})
	}
}

func TestClassifyRealErrorsAreNotRetryableWhenPermanent(t *testing.T) {
	// The default retry_on is "transient": a missing file is not
	// retried, a refused connection is.
	transient := runtime.Matcher{Classes: runtime.ClassesTransient}
	notExist := realNotExist(t)
	refused := realDialRefused(t)
	assert.False(t, transient.Matches(notExist, runtime.Classify(notExist)))
	assert.True(t, transient.Matches(refused, runtime.Classify(refused)))
	assert.True(t, strings.Contains(refused.Error(), "refused"), refused.Error())
}

func TestRetryError(t *testing.T) {
	last := fmt.Errorf("get: %w", httpStatusErr{503})
	tests := []struct {
		name string
		err  *runtime.RetryError
		want string
		stop error
	}{
		{"attempts ran out", &runtime.RetryError{Method: "R.Get", Attempts: 3, Err: last},
			"R.Get: giving up after 3 attempts: get: unexpected status 503", nil},
		{"one attempt", &runtime.RetryError{Method: "R.Get", Attempts: 1, Err: last},
			"R.Get: giving up after 1 attempt: get: unexpected status 503", nil},
		{"breaker opened", &runtime.RetryError{Method: "R.Get", Attempts: 2, Err: last, Stop: runtime.ErrCircuitOpen},
			"R.Get: giving up after 2 attempts (resgen: circuit breaker is open): get: unexpected status 503", runtime.ErrCircuitOpen},
		{"queue full", &runtime.RetryError{Method: "R.Get", Attempts: 2, Err: last, Stop: runtime.ErrQueueFull},
			"R.Get: giving up after 2 attempts (resgen: rate limit queue is full): get: unexpected status 503", runtime.ErrRateLimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.err.Error())
			var se httpStatusErr
			require.ErrorAs(t, tt.err, &se, "errors.As finds the last error")
			assert.Equal(t, 503, se.StatusCode())
			assert.ErrorIs(t, tt.err, last)
			if tt.stop != nil {
				assert.ErrorIs(t, tt.err, tt.stop)
			} else {
				assert.NotErrorIs(t, tt.err, runtime.ErrCircuitOpen)
				assert.NotErrorIs(t, tt.err, runtime.ErrRateLimited)
			}
			assert.Equal(t, runtime.ClassServer, runtime.Classify(tt.err), "Classify sees the last error")
		})
	}
}

// TestRetryErrorWithoutErr is the bug where Error panicked on a RetryError
// whose Err was nil.
func TestRetryErrorWithoutErr(t *testing.T) {
	e := &runtime.RetryError{Method: "R.Get", Attempts: 2, Stop: runtime.ErrCircuitOpen}
	assert.Equal(t, "R.Get: giving up after 2 attempts (resgen: circuit breaker is open)", e.Error())
	assert.ErrorIs(t, e, runtime.ErrCircuitOpen)
}

func TestErrQueueFull(t *testing.T) {
	assert.ErrorIs(t, runtime.ErrQueueFull, runtime.ErrRateLimited)
	assert.ErrorIs(t, fmt.Errorf("x: %w", runtime.ErrQueueFull), runtime.ErrRateLimited)
	assert.NotErrorIs(t, runtime.ErrRateLimited, runtime.ErrQueueFull)
	assert.NotErrorIs(t, runtime.ErrQueueFull, runtime.ErrCircuitOpen)
}

func TestPartialError(t *testing.T) {
	itemErr := fmt.Errorf("item b: %w", httpStatusErr{503})
	e := &runtime.PartialError{
		Succeeded: []string{"a", "c"},
		Failed:    []string{"b", "d"},
		Err:       errors.Join(itemErr, fmt.Errorf("item d: %w", io.ErrUnexpectedEOF)),
	}
	assert.True(t, e.Partial())
	assert.Equal(t, "partial failure: 2 of 4 items failed (b, d): item b: unexpected status 503; item d: unexpected EOF", e.Error())
	assert.ErrorIs(t, e, itemErr)
	assert.ErrorIs(t, e, io.ErrUnexpectedEOF)
	var se httpStatusErr
	require.ErrorAs(t, fmt.Errorf("batch: %w", e), &se)
	assert.Equal(t, 503, se.code)

	var p interface{ Partial() bool }
	require.ErrorAs(t, fmt.Errorf("batch: %w", e), &p, "found by the Partial() bool interface")
	assert.True(t, p.Partial())

	empty := &runtime.PartialError{Succeeded: []string{"a"}}
	assert.Equal(t, "partial failure: 0 of 1 items failed", empty.Error())
	assert.Nil(t, empty.Unwrap())
}

// parseClasses reads a list of class names as Class.UnmarshalText does.
func parseClasses(list string) (runtime.Class, error) {
	var c runtime.Class
	err := c.UnmarshalText([]byte(list))
	return c, err
}

// parseClass reads one class name.
func parseClass(name string) (runtime.Class, bool) {
	c, err := parseClasses(name)
	return c, err == nil && name != "" && !strings.Contains(name, ",")
}

// FuzzClassText: any text either is refused or reads as a class set that
// writes back as text reading as the same set, and nothing panics.
func FuzzClassText(f *testing.F) {
	for _, seed := range []string{"transient", "timeout, auth", "any", "none", "transient,unknown", "cancelled", "", ",", " server ,permanent"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		var c runtime.Class
		if err := c.UnmarshalText([]byte(text)); err != nil {
			return
		}
		out, err := c.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText(%v): %v", c, err)
		}
		var back runtime.Class
		if err := back.UnmarshalText(out); err != nil && c != 0 {
			t.Fatalf("%q read as %v, written as %q, which does not read back: %v", text, c, out, err)
		}
		if c != 0 && back != c {
			t.Fatalf("%q read as %v, written as %q, read back as %v", text, c, out, back)
		}
	})
}
