package runtime_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/resgen-dev/resgen/runtime"
)

// BenchmarkClassify measures the rules of Classify on the errors that go
// through them all: a plain error and a wrapped one end in unknown after
// every check, and a 503 stops at the first.
func BenchmarkClassify(b *testing.B) {
	plain := errors.New("boom")
	for _, bc := range []struct {
		name string
		err  error
	}{
		{"plain", plain},
		{"wrapped", fmt.Errorf("get order: %w", plain)},
		{"status", httpStatusErr{code: 503}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var c runtime.Class
			for b.Loop() {
				c = runtime.Classify(bc.err)
			}
			_ = c
		})
	}
}
