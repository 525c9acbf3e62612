package runtime

import (
	"time"
)

// BucketState is the state of one token bucket, behind an interface so that
// it can live outside the process (WithStore). Generated code never calls
// it; a Method does.
type BucketState interface {
	// Reserve takes the next token at now. It returns how long the caller
	// must wait before using it, or ok=false, taking nothing, when that wait
	// would exceed maxWait.
	Reserve(now time.Time, maxWait time.Duration) (r Reservation, ok bool)
	// Cancel gives back the token of a reservation that will not be used,
	// when no later reservation depends on it.
	Cancel(r Reservation)
	// Pause admits nothing before until (a server's Retry-After), for
	// everyone who shares the bucket.
	Pause(until time.Time)
}

// Reservation is a token taken from a bucket.
type Reservation struct {
	Wait  time.Duration // how long to wait before the attempt
	Token int64         // the bucket's identification of the token
}
