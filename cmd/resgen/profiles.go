package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/resgen-dev/resgen/templates"
)

func runProfiles(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("resgen profiles", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	for i, name := range templates.Names() {
		src, _ := templates.Source(name)
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "# %s\n%s", name, src)
	}
	return exitOK
}

func runInit(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "resgen init: not supported yet")
	return exitError
}
