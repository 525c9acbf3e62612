package resgenimpl

import (
	"context"

	"github.com/resgen-dev/resgen/runtime"
)

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
	case class == runtime.ClassCanceled:
		me.record(ctx, c, err, class)
	case me.recover&hookPartial != 0:
		me.partialDone(c, err)
	default:
		me.record(ctx, c, err, class)
	}
	me.endCall(c, err)
	return err
}
