package runtime

import (
	"time"
)

// Latency is a snapshot of a method's attempt-latency histogram.
type Latency struct {
	// Bounds are the buckets' upper bounds, from 1ms to 10s; Counts[i] counts the attempts that took at
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
