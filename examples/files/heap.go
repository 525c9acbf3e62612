package main

import (
	"fmt"
	rt "runtime"

	"github.com/resgen-dev/resgen/runtime"
)

// heapFigures is the heap the resilience state of ResilientFileStore takes.
type heapFigures struct {
	// PerWrapper is what one NewResilientFileStore keeps on the heap: the
	// wrapper, its Manager, its methods' state, its breaker; PerMethod is
	// what each method adds, and Fixed the rest (PerWrapper = Fixed +
	// methods × PerMethod). The per-host rate-limit bucket is shared by
	// every wrapper of the host, and counts once for all of them.
	PerWrapper, PerMethod, Fixed float64
	// ProcessHeap is the process's live heap (HeapAlloc after a GC)
	// before the wrappers were built.
	ProcessHeap uint64
}

// heapPer returns the heap that n calls of build allocate and keep, per
// call: runtime.ReadMemStats's HeapAlloc after a GC, before and after.
func heapPer(n int, build func() any) (per float64, before uint64) {
	keep := make([]any, n)
	var a, b rt.MemStats
	rt.GC()
	rt.ReadMemStats(&a)
	for i := range keep {
		keep[i] = build()
	}
	rt.GC()
	rt.ReadMemStats(&b)
	rt.KeepAlive(keep)
	return (float64(b.HeapAlloc) - float64(a.HeapAlloc)) / float64(n), a.HeapAlloc
}

// measureHeap builds n wrappers of inner, and n Managers of one and of
// nine methods with ReadBatch's configuration, to tell the per-method state
// from the rest.
func measureHeap(inner FileStore, n int) heapFigures {
	var h heapFigures
	h.PerWrapper, h.ProcessHeap = heapPer(n, func() any {
		w, err := NewResilientFileStore(inner, runtime.WithLogger(nil))
		if err != nil {
			panic(err)
		}
		return w
	})
	spec := func(methods int) *runtime.Spec {
		s := resilientFileStoreSpec
		s.Methods = nil
		for i := range methods {
			s.Methods = append(s.Methods, runtime.MethodSpec{
				Name:   fmt.Sprint("M", i),
				Config: resilientFileStoreSpec.Methods[1].Config,
			})
		}
		return &s
	}
	one, nine := spec(1), spec(9)
	manager := func(s *runtime.Spec) func() any {
		return func() any {
			m, err := runtime.NewManager(inner, s, runtime.WithLogger(nil))
			if err != nil {
				panic(err)
			}
			return m
		}
	}
	m1, _ := heapPer(n, manager(one))
	m9, _ := heapPer(n, manager(nine))
	// A generated wrapper also keeps a *Method per method (8 bytes).
	h.PerMethod = (m9-m1)/8 + 8
	h.Fixed = h.PerWrapper - float64(len(resilientFileStoreSpec.Methods))*h.PerMethod
	return h
}
