package resgenimpl_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when any goroutine outlives them: no
// goroutine of a wrapper may outlive it (a Ping prober, a ping, a timer).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
