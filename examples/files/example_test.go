//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/resgen-dev/resgen/runtime"
)

// A Dir wrapped by the generated ResilientFileStore: a batch with a locked
// and a missing file returns what it read at once, with a
// *runtime.PartialError; the locked file read alone is retried until the
// other process lets it go; the missing file is not retried.
func ExampleNewResilientFileStore() {
	dir, err := os.MkdirTemp("", "resgen-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	d, err := OpenDir(dir)
	if err != nil {
		panic(err)
	}
	defer d.Close()

	// Another process holds b.txt locked; here, it lets go once the
	// wrapper has failed twice on it.
	var unlock func() error
	letGo := runtime.ObserverFunc(func(e runtime.Event) {
		if e.Kind == runtime.EventRetry && e.Attempt == 2 {
			unlock()
		}
	})
	// The file profile waits 500ms before its first retry; 1ms will do here.
	var store FileStore
	store, err = NewResilientFileStore(d,
		runtime.WithConfig(runtime.Settings{{Policy: "retry", Key: "initial_delay", Value: "1ms"}}),
		runtime.WithObserver(letGo),
		runtime.WithLogger(nil))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for _, name := range []string{"a.txt", "b.txt", "c.txt"} {
		if err := store.Write(ctx, name, []byte("content of "+name)); err != nil {
			panic(err)
		}
	}
	if unlock, err = holdLock(filepath.Join(dir, "b.txt"), true); err != nil {
		panic(err)
	}

	got, err := store.ReadBatch(ctx, []string{"a.txt", "b.txt", "c.txt", "d.txt"})
	var pe *runtime.PartialError
	fmt.Println("partial:", errors.As(err, &pe), "read:", slices.Sorted(maps.Keys(got)), "failed:", pe.Failed)
	fmt.Println("missing file among them:", errors.Is(err, os.ErrNotExist))

	data, err := store.Read(ctx, "b.txt")
	fmt.Printf("b.txt: %q, %v\n", data, err)

	_, err = store.Read(ctx, "d.txt")
	fmt.Println("d.txt missing:", errors.Is(err, os.ErrNotExist))

	m := store.(*ResilientFileStore).Resilience().Metrics()
	for _, m := range m[1:3] { // Read, ReadBatch
		fmt.Printf("%s: %d calls, %d attempts, %d retries, %d partial\n",
			m.Method, m.Calls, m.Successes+m.FailedAttempts, m.RetryAttempts, m.PartialFailures)
	}
	// Output:
	// partial: true read: [a.txt c.txt] failed: [b.txt d.txt]
	// missing file among them: true
	// b.txt: "content of b.txt", <nil>
	// d.txt missing: true
	// Read: 2 calls, 4 attempts, 2 retries, 0 partial
	// ReadBatch: 1 calls, 1 attempts, 0 retries, 1 partial
}
