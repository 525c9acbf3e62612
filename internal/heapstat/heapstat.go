// Package heapstat measures the heap that a generated wrapper's resilience
// state keeps, for the examples' reports of the memory promise
// (resilience state under 10% of the process's heap).
package heapstat

import (
	"fmt"
	rt "runtime"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
)

// Figures is the heap the resilience state of one wrapper takes.
type Figures struct {
	// PerWrapper is what one generated constructor keeps on the heap: the
	// wrapper, its Manager, its methods' state, its breaker; PerMethod is
	// what each method adds, and Fixed the rest (PerWrapper = Fixed +
	// methods × PerMethod). A per-host rate-limit bucket is shared by
	// every wrapper of the host, and counts once for all of them.
	PerWrapper, PerMethod, Fixed float64
	// ProcessHeap is the process's live heap (HeapAlloc after a GC)
	// before the wrappers were built.
	ProcessHeap uint64
}

// Per returns the heap that n calls of build allocate and keep, per call:
// runtime.ReadMemStats's HeapAlloc after a GC, before and after.
func Per(n int, build func() any) (per float64, before uint64) {
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

// Measure builds n wrappers with newWrapper, and n Managers of inner with
// one and with nine methods of the configuration cfg, to tell the
// per-method state from the rest. spec is the wrapper's generated Spec.
func Measure(n int, inner any, spec resgenimpl.Spec, cfg runtime.Config, newWrapper func() (any, error)) Figures {
	var h Figures
	h.PerWrapper, h.ProcessHeap = Per(n, func() any {
		w, err := newWrapper()
		if err != nil {
			panic(err)
		}
		return w
	})
	specOf := func(methods int) *resgenimpl.Spec {
		s := spec
		s.Methods = nil
		for i := range methods {
			s.Methods = append(s.Methods, resgenimpl.MethodSpec{Name: fmt.Sprint("M", i), Config: cfg})
		}
		return &s
	}
	manager := func(s *resgenimpl.Spec) func() any {
		return func() any {
			m, err := resgenimpl.NewManager(inner, s, runtime.WithLogger(nil))
			if err != nil {
				panic(err)
			}
			return m
		}
	}
	m1, _ := Per(n, manager(specOf(1)))
	m9, _ := Per(n, manager(specOf(9)))
	// A generated wrapper also keeps a *Method per method (8 bytes).
	h.PerMethod = (m9-m1)/8 + 8
	h.Fixed = h.PerWrapper - float64(len(spec.Methods))*h.PerMethod
	return h
}
