package main

import (
	"github.com/resgen-dev/resgen/internal/heapstat"
	"github.com/resgen-dev/resgen/runtime"
)

// measureHeap reports the heap that n wrappers of inner keep (see
// heapstat.Measure).
func measureHeap(inner FileStore, n int) heapstat.Figures {
	return heapstat.Measure(n, inner, resilientFileStoreSpec, resilientFileStoreSpec.Methods[1].Config, func() (any, error) {
		return NewResilientFileStore(inner, runtime.WithLogger(nil))
	})
}
