package runtime

import (
	"errors"
	"fmt"
)

// ForceMode is what an operator forces a circuit breaker to
// (Manager.ForceBreaker), during an incident or a test of it.
type ForceMode uint8

// The force modes.
const (
	// ForceNone is normal operation: the breaker follows the calls.
	ForceNone ForceMode = iota
	// ForceOpen holds the breaker open: every attempt fails fast with
	// ErrCircuitOpen, for as long as it is forced, with no probes and no
	// Ping.
	ForceOpen
	// ForceClosed holds the breaker closed: every attempt passes, and
	// failures are not counted against the service.
	ForceClosed
)

// String returns "normal", "open" or "closed".
func (f ForceMode) String() string {
	switch f {
	case ForceNone:
		return "normal"
	case ForceOpen:
		return "open"
	case ForceClosed:
		return "closed"
	}
	return fmt.Sprintf("ForceMode(%d)", uint8(f))
}

// ParseForceMode returns the ForceMode that String names: "normal" (or
// ""), "open" or "closed".
func ParseForceMode(s string) (ForceMode, error) {
	switch s {
	case "normal", "":
		return ForceNone, nil
	case "open":
		return ForceOpen, nil
	case "closed":
		return ForceClosed, nil
	}
	return 0, fmt.Errorf("resgen: unknown force mode %q (want open, closed or normal)", s)
}

// ErrNotForceable is returned by ForceBreaker for a breaker that keeps its
// state in a Store (WithStore): only breakers that live in the process can
// be forced.
var ErrNotForceable = errors.New("resgen: breaker lives in a store and cannot be forced")
