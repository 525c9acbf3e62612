package runtime

import (
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
