package engine

import "github.com/resgen-dev/resgen/runtime/store"

// The names of package store, under which the engine was written.
type (
	BreakerState   = store.Breaker
	BucketState    = store.Bucket
	BreakerWatcher = store.Watcher
	BreakerChange  = store.Change
	Permit         = store.Permit
	Reservation    = store.Reservation
)

// CallWeight is store.CallWeight.
const CallWeight = store.CallWeight

// NewPermit is store.NewPermit.
func NewPermit(gen uint64, s State) Permit { return store.NewPermit(gen, s) }

// The names of package store that the overload policies use.
type (
	OverloadCounts = store.OverloadCounts
	OverloadSharer = store.OverloadSharer
)
