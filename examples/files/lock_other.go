//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package main

import (
	"errors"
	"os"
)

// canLock reports whether this platform has the advisory locks that Dir
// takes: here it has not, and Dir reads and writes without locks.
const canLock = false

func tryLock(*os.File, bool) error { return nil }

func isLocked(error) bool { return false }

func holdLock(string, bool) (func() error, error) {
	return nil, errors.New("advisory file locks are not supported on this platform")
}
