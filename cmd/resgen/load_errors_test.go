package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDependencyMissingFromGoSum runs resgen on an interface whose package
// imports two modules that go.mod requires and go.sum lacks, as right after
// a `go get` that did not add their sums: resgen reports each import where
// go build reports it, writes nothing and exits 1. It used to panic while
// formatting a wrapper rendered from the invalid types, with the whole
// unformatted file in the message.
func TestDependencyMissingFromGoSum(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": `module example.com/nosum

go 1.26

require (
	github.com/dave/jennifer v1.7.1
	gopkg.in/yaml.v3 v3.0.1
)
`,
		"store.go": `package nosum

import (
	"context"

	"github.com/dave/jennifer/jen"
	"gopkg.in/yaml.v3"
)

//resgen:retry max_attempts=2
type Store interface {
	Get(ctx context.Context, c jen.Code) (*yaml.Node, error)
}
`,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// go.sum stays missing: -mod=mod would add it, and no proxy may.
	t.Setenv("GOFLAGS", "-mod=readonly")
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOWORK", "off")
	t.Chdir(dir)

	var stdout, stderr bytes.Buffer
	code := run([]string{"-type", "Store"}, &stdout, &stderr)
	if code != exitError {
		t.Errorf("exit code %d, want %d", code, exitError)
	}
	want := "store.go:6:2: missing go.sum entry for module providing package github.com/dave/jennifer/jen (imported by example.com/nosum); to add:\n" +
		"\tgo get example.com/nosum\n" +
		"store.go:7:2: missing go.sum entry for module providing package gopkg.in/yaml.v3 (imported by example.com/nosum); to add:\n" +
		"\tgo get example.com/nosum\n"
	if got := stderr.String(); got != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(stderr.String(), "panic") {
		t.Error("resgen panicked")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, ok := files[e.Name()]; !ok {
			t.Errorf("resgen wrote %s", e.Name())
		}
	}
}

// TestRegenerateBeforeRequiringTheRuntime runs resgen twice in a module
// that does not require resgen's runtime yet: the import of the runtime by
// resgen's own output, which no module provides, is no load error of the
// interface, and does not stop the second run.
func TestRegenerateBeforeRequiringTheRuntime(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/noruntime\n\ngo 1.26\n",
		"store.go": `package noruntime

import "context"

//resgen:retry max_attempts=2
type Store interface {
	Get(ctx context.Context, key string) (string, error)
}
`,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("GOFLAGS", "-mod=readonly")
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOWORK", "off")
	t.Chdir(dir)
	for i := range 2 {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"-type", "Store"}, &stdout, &stderr); code != exitOK {
			t.Fatalf("run %d: exit code %d, stderr:\n%s", i+1, code, stderr.String())
		}
		if _, err := os.Stat(filepath.Join(dir, "store_resilient.go")); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
	}
}
