package main

import (
	"os"
	"runtime/debug"
)

func main() {
	// resgen is short-lived and allocates what it renders: trading memory
	// for fewer collections halves the time spent in the collector on
	// interfaces of hundreds of methods.
	debug.SetGCPercent(400)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
