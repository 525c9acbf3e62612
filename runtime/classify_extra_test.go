package runtime_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/resgen-dev/resgen/runtime"
)

// TestClassifyEOFIsAnAnswer: fifteen Reads at the end of a stream once
// opened the breaker of a wrapped io.Reader.
func TestClassifyEOFIsAnAnswer(t *testing.T) {
	for _, err := range []error{io.EOF, fmt.Errorf("read: %w", io.EOF)} {
		if c := runtime.Classify(err); c != runtime.ClassPermanent {
			t.Errorf("Classify(%v) = %v, want permanent", err, c)
		}
	}
	if c := runtime.Classify(io.ErrUnexpectedEOF); c != runtime.ClassConnection {
		t.Errorf("Classify(io.ErrUnexpectedEOF) = %v, want connection", c)
	}
}

func TestClassifyGRPCStatus(t *testing.T) {
	tests := map[string]runtime.Class{
		"Unavailable":       runtime.ClassConnection,
		"DeadlineExceeded":  runtime.ClassTimeout,
		"ResourceExhausted": runtime.ClassRateLimited,
		"Aborted":           runtime.ClassTransient,
		"Internal":          runtime.ClassServer,
		"Unauthenticated":   runtime.ClassAuth,
		"NotFound":          runtime.ClassPermanent,
		"InvalidArgument":   runtime.ClassPermanent,
		"Unknown":           runtime.ClassUnknown,
	}
	for code, want := range tests {
		// The text of google.golang.org/grpc/status's errors, wrapped.
		err := fmt.Errorf("health check: %w", errors.New("rpc error: code = "+code+" desc = boom"))
		if got := runtime.Classify(err); got != want {
			t.Errorf("Classify(%q) = %v, want %v", err, got, want)
		}
	}
}
