package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkGenerate times a whole resgen run in process — loading, with the
// build cache warm after the first iteration, then rendering and writing —
// on the two third-party interfaces of the README's figures: pgx v5's Tx
// and go-redis v9's Cmdable (619 methods). Each iteration writes the same
// file again, so later ones find it unchanged.
func BenchmarkGenerate(b *testing.B) {
	root := caseModule(b)
	b.Setenv("GOFLAGS", "-mod=mod")
	b.Setenv("GOWORK", "off")
	dir := filepath.Join(root, "gen")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "doc.go"), []byte("package gen\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Chdir(dir)
	for _, bc := range []struct{ name, typ, pkg string }{
		{"pgx.Tx", "Tx", "github.com/jackc/pgx/v5"},
		{"redis.Cmdable", "Cmdable", "github.com/redis/go-redis/v9"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			args := []string{"-type", bc.typ, "-output", bc.typ + ".go", bc.pkg}
			if code := run(args, io.Discard, os.Stderr); code != 0 { // warm the cache
				b.Fatalf("exit %d", code)
			}
			b.ReportAllocs()
			for b.Loop() {
				if code := run(args, io.Discard, os.Stderr); code != 0 {
					b.Fatalf("exit %d", code)
				}
			}
		})
	}
}
