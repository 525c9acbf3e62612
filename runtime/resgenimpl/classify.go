package resgenimpl

import (
	"fmt"
	"log/slog"

	"github.com/resgen-dev/resgen/runtime"
)

// warnUnknown says once per method, at Warn, that an unknown error met a
// retry policy that does not name it: the error is passed through, neither
// retried nor counted against the breaker, which its user may want
// otherwise.
func (me *Method) warnUnknown(err error, class runtime.Class) {
	if class != runtime.ClassUnknown || me.cfg.Retry.Disabled || me.maxAttempts <= 1 ||
		me.cfg.Retry.RetryOn.Matches(err, class) || me.stats.unknownWarned.Load() ||
		!me.stats.unknownWarned.CompareAndSwap(false, true) {
		return
	}
	m := me.m
	if m.logEnabled(slog.LevelWarn) {
		m.logger.Warn(fmt.Sprintf("Error of unknown class from %s is not retried and not counted against its circuit breaker: %v. "+
			"Wrap it in runtime.Transient or runtime.Permanent, classify it WithClassifier, or name it in retry_on; "+
			"this is said once for %s", me.name, err, me.name),
			slog.String("wrapper", m.wrapper), slog.String("method", me.name), slog.Any("error", err))
	}
}
