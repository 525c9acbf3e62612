package runtime

import (
	"fmt"
)

// HookPanicError is the error of a recovery hook (Reconnect,
// RefreshCredentials, AdaptSchema, Ping) that panicked: the panic is
// recovered, logged and counted as the hook's failure, so that it neither
// crashes the process nor leaves the recovery in progress for good.
type HookPanicError struct {
	// Hook is the hook's method name.
	Hook string
	// Value is what the hook panicked with.
	Value any
	// Stack is the panicking goroutine's stack.
	Stack []byte
}

func (e *HookPanicError) Error() string { return fmt.Sprintf("%s panicked: %v", e.Hook, e.Value) }

// Unwrap returns the panic's value when it is an error.
func (e *HookPanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
