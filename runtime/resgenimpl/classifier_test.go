package resgenimpl_test

import (
	"context"
	"errors"
	"testing"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
)

var errFlaky = errors.New("flaky backend")

// TestWithClassifierComesFirst: the user's classifier decides before the
// built-in rules; returning 0 leaves an error to them.
func TestWithClassifierComesFirst(t *testing.T) {
	classifier := func(err error) runtime.Class {
		switch {
		case errors.Is(err, errFlaky):
			return runtime.ClassTransient // unknown to Classify: retried only through the classifier
		case errors.Is(err, errFatal):
			return runtime.ClassPermanent // a 503 by its status: not retried, as the classifier says
		}
		return 0
	}
	tests := []struct {
		name     string
		err      error
		attempts int
	}{
		{"classifier makes it transient", errFlaky, 3},
		{"classifier makes it permanent", errFatal, 1},
		{"left to Classify", status503{}, 3},
		{"unknown to both", errors.New("boom"), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &resgenimpl.Spec{Wrapper: "W", Methods: []resgenimpl.MethodSpec{{Name: "Get", Config: runtime.Config{
				Retry:     runtime.RetryConfig{MaxAttempts: 3, InitialDelay: 1, MaxDelay: 1, Jitter: runtime.JitterNone},
				RateLimit: runtime.RateLimitConfig{Disabled: true},
			}}}}
			m, err := resgenimpl.NewManager(nil, spec, runtime.WithLogger(nil), runtime.WithClassifier(classifier))
			if err != nil {
				t.Fatal(err)
			}
			me := m.Method(0)
			ctx := context.Background()
			var c resgenimpl.Call
			attempts := 0
			for {
				if err := me.Admit(ctx, &c); err != nil {
					t.Fatal(err)
				}
				attempts++
				if me.Failure(ctx, &c, tt.err) != nil {
					break
				}
				if err := me.Backoff(ctx, &c); err != nil {
					t.Fatal(err)
				}
			}
			if attempts != tt.attempts {
				t.Fatalf("%d attempts, want %d", attempts, tt.attempts)
			}
		})
	}
}

// errFatal is a 503 by its status code, which the classifier overrules.
var errFatal error = fatal503{}

type fatal503 struct{}

func (fatal503) Error() string   { return "503, but fatal" }
func (fatal503) StatusCode() int { return 503 }
