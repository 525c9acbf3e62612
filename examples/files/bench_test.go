package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/resgen-dev/resgen/runtime"
)

// BenchmarkRead reads a small file through the Dir directly and through
// the wrapper, fault-free: compare the ns/op.
//
//	go test -run '^$' -bench Read -count 5 ./examples/files/
func BenchmarkRead(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("the content of a.txt\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	d, err := OpenDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	wrapped, err := NewResilientFileStore(d, runtime.WithLogger(nil))
	if err != nil {
		b.Fatal(err)
	}
	noTimeout, err := NewResilientFileStore(d, runtime.WithLogger(nil),
		runtime.WithConfig(runtime.Settings{{Policy: "timeout", Value: "off"}}))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		store FileStore
	}{{"direct", d}, {"wrapped", wrapped}, {"wrapped/timeout=off", noTimeout}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.store.Read(ctx, "a.txt"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNewResilientFileStore measures building a wrapper, and reports
// the heap its resilience state keeps (see measureHeap).
//
//	go test -run '^$' -bench NewResilientFileStore ./examples/files/
func BenchmarkNewResilientFileStore(b *testing.B) {
	inner := &Dir{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewResilientFileStore(inner, runtime.WithLogger(nil)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	h := measureHeap(inner, 5000)
	b.ReportMetric(h.PerWrapper, "heap-B/wrapper")
	b.ReportMetric(h.PerMethod, "heap-B/method")
}
