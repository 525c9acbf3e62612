package runtime

import (
	"context"
	"strconv"
	"strings"
)

// PartialError reports a batch operation that succeeded for some items and
// failed for others. A method that returns one with its results is treated
// as partly successful: the wrapper returns the results and the error at
// once, without a retry that would redo the work that succeeded, and counts
// the service as up (unless partial-failure recovery is disabled).
type PartialError struct {
	// Succeeded and Failed name the items, by index or key.
	Succeeded []string
	Failed    []string
	// Err is the per-item errors, joined (errors.Join); errors.Is and
	// errors.As see through it.
	Err error
}

// Partial reports that e is a partial failure.
func (e *PartialError) Partial() bool { return true }

func (e *PartialError) Error() string {
	var b strings.Builder
	b.WriteString("partial failure: ")
	b.WriteString(strconv.Itoa(len(e.Failed)))
	b.WriteString(" of ")
	b.WriteString(strconv.Itoa(len(e.Failed) + len(e.Succeeded)))
	b.WriteString(" items failed")
	if len(e.Failed) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(e.Failed, ", "))
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(strings.ReplaceAll(e.Err.Error(), "\n", "; "))
	}
	return b.String()
}

// Unwrap returns the per-item errors.
func (e *PartialError) Unwrap() error { return e.Err }

// Progress ends a call whose attempt failed with err after it reported
// progress: its results count bytes or items that it read or wrote (a Read
// of n > 0 bytes, a WriteTo, a batch send). Another attempt would read or
// write them again, so none follows, whatever the retry policy: Progress
// returns err unchanged, for the call to return with the attempt's
// results. As with a PartialError, the service did part of the work: the
// breaker counts a success and the metrics a partial failure (unless
// partial-failure recovery is disabled: then the attempt counts as the
// failure that err is); the caller's own cancellation counts neither way.
// Only generated code calls it.
func (me *Method) Progress(ctx context.Context, c *Call, err error) error {
	me.stats.failedAttempts.Add(1)
	if c.slot != 0 {
		me.endSlot(c)
	}
	class := me.classify(ctx, err)
	c.last = err
	me.failedAttempt(c, class)
	me.stats.failures.Add(1)
	switch {
	case class == ClassCanceled:
		me.record(ctx, c, err, class)
	case me.recover&hookPartial != 0:
		me.stats.answered.Add(1)
		me.recordSuccess(c)
		me.stats.partial.Add(1)
		me.m.observe(Event{Kind: EventRecovery, Method: me.name, Action: "partial", OK: true, Err: err, Attempt: c.attempt})
	default:
		me.record(ctx, c, err, class)
	}
	me.endCall(c, err)
	return err
}
