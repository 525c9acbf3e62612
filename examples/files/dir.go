package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/resgen-dev/resgen/runtime"
)

// Dir is the FileStore over a local directory: the connector itself, with
// no resilience of its own. One attempt reads or writes each file once.
//
// It locks each file while it uses it, with an advisory lock (flock(2)):
// shared to read, exclusive to write, and never waits for one. A file
// that another process holds locked fails at once with a *fs.PathError
// whose Err is EWOULDBLOCK (EAGAIN on Linux), which runtime.Classify
// takes as transient: the wrapper retries it. A missing file is
// os.ErrNotExist, permanent: the wrapper returns it at once.
//
// OpenDir builds a Dir; its zero value is not usable. A Dir is safe for
// concurrent use.
type Dir struct {
	root  *os.Root
	opens atomic.Int64
}

var _ FileStore = (*Dir)(nil)

// OpenDir returns the FileStore of the directory path, which must exist.
func OpenDir(path string) (*Dir, error) {
	root, err := os.OpenRoot(path)
	if err != nil {
		return nil, err
	}
	return &Dir{root: root}, nil
}

// Close closes the directory.
func (d *Dir) Close() error { return d.root.Close() }

// Opens returns how many times a file was opened: the store's work,
// attempts and retries included.
func (d *Dir) Opens() int64 { return d.opens.Load() }

// checkName returns an error unless name is that of a file directly in
// the directory.
func checkName(op, name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return &fs.PathError{Op: op, Path: name, Err: ErrInvalidName}
	}
	return nil
}

// Read returns the content of the file called name, under a shared lock.
func (d *Dir) Read(ctx context.Context, name string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return d.read(name)
}

func (d *Dir) read(name string) ([]byte, error) {
	if err := checkName("read", name); err != nil {
		return nil, err
	}
	d.opens.Add(1)
	f, err := d.root.Open(name)
	if err != nil {
		return nil, err // *fs.PathError: os.ErrNotExist, os.ErrPermission...
	}
	defer f.Close() // and unlock
	if err := tryLock(f, false); err != nil {
		return nil, &fs.PathError{Op: "flock", Path: name, Err: err}
	}
	return io.ReadAll(f)
}

// ReadBatch returns the contents of the files called names, by name: see
// FileStore.
func (d *Dir) ReadBatch(ctx context.Context, names []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(names))
	var read, failed []string
	var locked, other []error
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, err // the caller gave up: what was read is dropped with the batch
		}
		if _, ok := out[name]; ok {
			continue
		}
		data, err := d.read(name)
		if err != nil {
			failed = append(failed, name)
			if isLocked(err) {
				locked = append(locked, err)
			} else {
				other = append(other, err)
			}
			continue
		}
		out[name] = data
		read = append(read, name)
	}
	if len(failed) == 0 {
		return out, nil
	}
	// A locked file's error first: runtime.Classify looks at the first
	// errno of the chain, and a batch that read nothing is worth trying
	// again while one of its files is only locked.
	errs := errors.Join(slices.Concat(locked, other)...)
	if len(read) == 0 {
		return nil, errs
	}
	return out, &runtime.PartialError{Succeeded: read, Failed: failed, Err: errs}
}

// Write replaces the content of the file called name, creating it, under
// an exclusive lock. The file is truncated only once the lock is held.
func (d *Dir) Write(ctx context.Context, name string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkName("write", name); err != nil {
		return err
	}
	d.opens.Add(1)
	f, err := d.root.OpenFile(name, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if err := tryLock(f, true); err != nil {
		f.Close()
		return &fs.PathError{Op: "flock", Path: name, Err: err}
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// List returns the names of the regular files of the directory, sorted.
func (d *Dir) List(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(d.root.FS(), ".")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return names, nil // fs.ReadDir sorts by name
}
