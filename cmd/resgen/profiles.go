package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/resgen-dev/resgen/generator"
)

// runProfiles prints the built-in profiles, every value resolved over the
// defaults, as YAML.
func runProfiles(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("resgen profiles", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprintf(stderr, "usage: resgen profiles [name ...]\n\nPrints the built-in profiles, or those named, with every value.\n")
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	out, errs := generator.Profiles(flags.Args())
	if len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintf(stderr, "resgen profiles: %v\n", err)
		}
		return exitError
	}
	io.WriteString(stdout, out)
	return exitOK
}

// runInit writes a commented resgen.yaml to start from, refusing to
// overwrite one.
func runInit(args []string, stdout, stderr io.Writer) int {
	const name = generator.InitFileName
	flags := flag.NewFlagSet("resgen init", flag.ContinueOnError)
	flags.SetOutput(stderr)
	profile := flags.String("profile", "default", "the built-in `profile` that the custom profile of the file extends")
	flags.Usage = func() {
		fmt.Fprintf(stderr, "usage: resgen init [-profile P]\n\nWrites a commented %s to start from in the current directory.\n\nflags:\n", name)
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "resgen init: unexpected argument %q\n", flags.Arg(0))
		flags.Usage()
		return exitUsage
	}
	content, custom, err := generator.InitFile(*profile)
	if err != nil {
		fmt.Fprintf(stderr, "resgen init: %v\n", err)
		return exitError
	}
	if _, err := os.Lstat(name); err == nil {
		fmt.Fprintf(stderr, "resgen init: %s already exists: not overwriting it\n", name)
		return exitError
	}
	if err := generator.WriteNew(name, content); err != nil {
		if errors.Is(err, fs.ErrExist) {
			fmt.Fprintf(stderr, "resgen init: %s already exists: not overwriting it\n", name)
		} else {
			fmt.Fprintf(stderr, "resgen init: %v\n", err)
		}
		return exitError
	}
	fmt.Fprintf(stdout, "wrote %s: profile %s extends %s\n", name, custom, *profile)
	return exitOK
}
