package main

import (
	"github.com/resgen-dev/resgen/internal/heapstat"
	"github.com/resgen-dev/resgen/runtime"
)

// measureHeap reports the heap that n wrappers of inner keep (see
// heapstat.Measure).
func measureHeap(inner Catalog, n int) heapstat.Figures {
	return heapstat.Measure(n, inner, resilientCatalogSpec, resilientCatalogSpec.Methods[0].Config, func() (any, error) {
		return NewResilientCatalog(inner, runtime.WithLogger(nil))
	})
}
