//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package main

import (
	"errors"
	"os"
	"syscall"
)

// canLock reports whether this platform has the advisory locks that Dir
// takes.
const canLock = true

// tryLock takes an advisory lock of f, shared or exclusive, without
// waiting: it fails with EWOULDBLOCK when another open file holds a lock
// that conflicts. Closing f releases the lock.
func tryLock(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err != syscall.EINTR {
			return err
		}
	}
}

// isLocked reports whether err is that of a file another process held
// locked.
func isLocked(err error) bool {
	return errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EAGAIN)
}

// holdLock locks the file at path as another process would, on a file
// description of its own, and returns the func that releases the lock.
// It does not wait: it fails when the lock is taken.
func holdLock(path string, exclusive bool) (release func() error, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	if err := tryLock(f, exclusive); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "flock", Path: path, Err: err}
	}
	return f.Close, nil
}
