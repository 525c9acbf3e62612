//go:build !linux

package redisstore_test

import "os/exec"

// dieWithTest does nothing here: the cleanups kill the servers.
func dieWithTest(*exec.Cmd) {}
