// Command files shows resgen on a file-store connector: FileStore is the
// connector's interface, Dir its implementation over a local directory,
// and ResilientFileStore (file_store_resilient.go, generated) wraps a Dir
// with the file profile: retry of temporary failures, a circuit breaker,
// per-attempt timeouts and partial-failure recovery.
//
// Files are locked the way cooperating processes lock them: with advisory
// flock(2) locks, shared to read and exclusive to write, taken without
// waiting. A file that another process holds locked fails the attempt
// with EWOULDBLOCK (EAGAIN), which the wrapper retries with backoff. A
// batch read that gets some files and not others returns what it got with
// a *runtime.PartialError, at once: a retry would read again what was
// read.
//
// Run it with nothing to install:
//
//	go run ./examples/files
//
// It fills a temporary directory, lets a simulated second process lock
// files for a few tens of milliseconds at a time, reads batches of files
// (some of them missing) from several goroutines, reads again the files
// that a batch found locked, and prints what the wrapper did, its metrics
// and the heap its resilience state takes. Flags:
//
//	-batches N   batch reads to make (default 400)
//	-workers N   goroutines making them (default 4)
//	-files N     files in the directory (default 20)
//	-v           log every resilience action to stderr
//
// The file profile's delays are made for remote stores (initial_delay
// 500ms); the demo scales them down with runtime.WithConfig, and says so.
package main

import (
	"context"
	"fmt"
	"io/fs"
)

//go:generate go run github.com/resgen-dev/resgen/cmd/resgen -type FileStore

// FileStore is a store of named files, the connector that resgen wraps.
//
// A local directory has no server to protect from its clients: the file
// profile's rate limit (1000 requests a minute, for S3 and other remote
// stores) is off. Invalid names are the caller's mistake, not the store's
// failure: the breaker does not count them.
//
//resgen:profile file
//resgen:rate_limit off
//resgen:circuit_breaker excluded_errors=ErrInvalidName
type FileStore interface {
	// Read returns the content of the file called name.
	Read(ctx context.Context, name string) ([]byte, error)

	// ReadBatch returns the contents of the files called names, by name.
	// When some are read and others are not (locked, missing), it returns
	// those it read and a *runtime.PartialError that names the others,
	// with their errors joined. When none is read, it returns their
	// errors joined, a locked file's first: the whole batch may be tried
	// again, since no work would be redone.
	ReadBatch(ctx context.Context, names []string) (map[string][]byte, error)

	// Write replaces the content of the file called name, creating it.
	// Writing the same content twice does what writing it once does, so a
	// retry is safe.
	Write(ctx context.Context, name string, data []byte) error

	// List returns the names of the files, sorted.
	List(ctx context.Context) ([]string, error)

	// Close closes the store's directory.
	//
	//resgen:skip
	Close() error
}

// ErrInvalidName is the error of a name that is not that of a file directly
// in the directory: empty, ".", "..", or with a slash. It is an
// fs.ErrInvalid (errors.Is).
var ErrInvalidName = fmt.Errorf("%w: not the name of a file of the directory", fs.ErrInvalid)
