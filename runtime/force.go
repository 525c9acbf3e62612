package runtime

import (
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

// MarshalText returns f.String().
func (f ForceMode) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText sets f to the mode that String names: "normal" (or ""),
// "open" or "closed".
func (f *ForceMode) UnmarshalText(text []byte) error {
	switch string(text) {
	case "normal", "":
		*f = ForceNone
	case "open":
		*f = ForceOpen
	case "closed":
		*f = ForceClosed
	default:
		return fmt.Errorf("resgen: unknown force mode %q (want open, closed or normal)", text)
	}
	return nil
}
