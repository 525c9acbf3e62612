package runtime

import (
	"time"
)

// LatencyBounds are the upper bounds of the attempt-latency histogram's
// buckets (WithLatencyHistograms); a last bucket takes what is longer.
var LatencyBounds = [...]time.Duration{
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// Latency is a snapshot of a method's attempt-latency histogram.
type Latency struct {
	// Bounds are LatencyBounds; Counts[i] counts the attempts that took at
	// most Bounds[i] and more than Bounds[i-1], and the last Counts those
	// longer than every bound (len(Counts) == len(Bounds)+1).
	Bounds []time.Duration
	Counts []uint64
	// Count is the number of attempts timed, and Sum their total duration.
	Count uint64
	Sum   time.Duration
}

// ClassCount is the number of failed attempts of one error class.
type ClassCount struct {
	Class Class
	Count int64
}

// BreakerMetrics is a snapshot of one circuit breaker.
type BreakerMetrics struct {
	// Name is the breaker's name, and State its state.
	Name  string
	State State
	// RecoveryTime is how long its last outage lasted, from opening to
	// closing again.
	RecoveryTime time.Duration
	// Methods are the methods it guards, in the interface's order.
	Methods []string
}
