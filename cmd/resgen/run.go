package main

import (
	"errors"
	"flag"
	"fmt"
	"go/scanner"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/resgen-dev/resgen/generator"
)

// version is resgen's version, printed by -version.
const version = "v0.1.0"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // bad input: every problem found, one a line
	exitUsage = 2
)

// run is the whole command, in process: tests call it directly.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "profiles":
			return runProfiles(args[1:], stdout, stderr)
		case "init":
			return runInit(args[1:], stdout, stderr)
		case "help":
			args = []string{"-help"}
			stderr = stdout // asked for: the usage is the answer, not an error
		}
	}
	return runIn("", args, stdout, stderr)
}

// runIn runs resgen as if from directory dir ("" is the current one),
// reporting positions relative to the current directory.
func runIn(dir string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("resgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		typeNames = fs.String("type", "", "comma-separated `interfaces` to wrap (default: every interface with a //resgen: directive)")
		output    = fs.String("output", "", "output `file` (default: <snake_type>_resilient.go), with one -type")
		name      = fs.String("name", "", "wrapper type `name` (default: Resilient<Type>), with one -type")
		pkgName   = fs.String("package", "", "package `name` of the output, when it is outside the interface's package")
		config    = fs.String("config", "", "a resgen.yaml `file` (default: the nearest resgen.yaml from the current directory up to the module root)")
		profile   = fs.String("profile", "", "`profile` applied under the directives")
		check     = fs.Bool("check", false, "write nothing; print a diff and exit 1 when a file on disk is stale")
		tags      = fs.String("tags", "", "build `tags` used when loading, as go build -tags")
		showVer   = fs.Bool("version", false, "print the version")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: resgen [flags] [package]\n       resgen -check [-tags T] ./...\n       resgen init [-profile P]\n       resgen profiles [name ...]\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *showVer {
		fmt.Fprintln(stdout, "resgen", version)
		return exitOK
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(stderr, "resgen: name at most one package")
		fs.Usage()
		return exitUsage
	}
	if strings.Contains(fs.Arg(0), "...") {
		if !*check || dir != "" || *typeNames != "" || *output != "" || *name != "" || *pkgName != "" || *config != "" || *profile != "" {
			fmt.Fprintln(stderr, "resgen: a pattern of several packages (...) goes with -check (and -tags) alone: each package is checked with the flags of its go:generate lines")
			return exitUsage
		}
		return checkAll(fs.Arg(0), *tags, stdout, stderr)
	}
	cfg := generator.Config{
		Pattern: fs.Arg(0),
		Output:  *output,
		Name:    *name,
		Package: *pkgName,
		Profile: *profile,
		Tags:    *tags,
	}
	if *typeNames != "" {
		cfg.Types = strings.Split(*typeNames, ",")
	}
	if (*output != "" || *name != "") && len(cfg.Types) != 1 {
		fmt.Fprintln(stderr, "resgen: -output and -name need exactly one -type")
		return exitUsage
	}
	cwd, _ := os.Getwd()
	wd := cwd
	if dir != "" {
		wd = dir
	}
	if pkgDir, ok := nextTo(wd, cfg.Pattern); ok && *output == "" && *pkgName == "" {
		// A directory argument: the wrapper goes next to its package, as
		// if resgen ran there, and finds the resgen.yaml nearest to it.
		if *config != "" && !filepath.IsAbs(*config) {
			*config = filepath.Join(wd, *config)
		}
		wd, cfg.Pattern = pkgDir, "."
	}
	cfg.Dir = wd
	cfg.ConfigFile = *config
	if cfg.ConfigFile == "" {
		cfg.ConfigFile = findConfig(wd)
	}
	rel := relDir(cwd, wd)
	files, err := generator.Generate(cfg)
	if err != nil {
		printError(stderr, err, rel)
		return exitError
	}
	if *check {
		if diff := generator.Check(wd, files); diff != "" {
			fmt.Fprint(stdout, diff)
			fmt.Fprintln(stderr, "resgen: generated files are stale: run go generate")
			return exitError
		}
		return exitOK
	}
	if _, err := generator.Write(wd, files); err != nil {
		printError(stderr, err, rel)
		return exitError
	}
	return exitOK
}

// nextTo returns the directory of a directory argument (./store), and
// whether pattern is one: its wrapper goes there. An import path names a
// package that may be another module's, in the module cache: its wrapper
// goes in the current directory.
func nextTo(wd, pattern string) (string, bool) {
	if pattern == "" || pattern == "." {
		return "", false
	}
	if !(pattern == ".." || strings.HasPrefix(pattern, "./") || strings.HasPrefix(pattern, "../") || filepath.IsAbs(pattern)) {
		return "", false
	}
	dir := pattern
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(wd, dir)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", false // let the loader say what is wrong
	}
	return filepath.Clean(dir), true
}

// relDir returns dir relative to base, "" when they are the same
// directory, or dir itself when it is not below base.
func relDir(base, dir string) string {
	if dir == base || base == "" {
		return ""
	}
	if r, err := filepath.Rel(base, dir); err == nil && r != "." {
		return r
	}
	return ""
}

// printError prints every error of a scanner.ErrorList on its own line,
// with relative file names joined to rel, the directory they are relative
// to as seen from the current one.
func printError(w io.Writer, err error, rel string) {
	var list scanner.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			if e.Pos.IsValid() {
				if rel != "" && e.Pos.Filename != "" && !filepath.IsAbs(e.Pos.Filename) {
					e.Pos.Filename = filepath.Join(rel, e.Pos.Filename)
				}
				fmt.Fprintf(w, "%s: %s\n", e.Pos, e.Msg)
			} else {
				fmt.Fprintln(w, e.Msg)
			}
		}
		return
	}
	fmt.Fprintln(w, err)
}

// findConfig returns the nearest resgen.yaml from dir up to the module
// root (the directory holding go.mod), as a path relative to dir, or ""
// when there is none. go generate runs resgen in the package's directory,
// and resgen init writes resgen.yaml at the module root: both find it.
func findConfig(dir string) string {
	rel := ""
	for {
		path := filepath.Join(dir, rel, "resgen.yaml")
		if st, err := os.Stat(path); err == nil && !st.IsDir() {
			return filepath.Clean(filepath.Join(rel, "resgen.yaml"))
		}
		if _, err := os.Stat(filepath.Join(dir, rel, "go.mod")); err == nil {
			return ""
		}
		abs, err := filepath.Abs(filepath.Join(dir, rel))
		if err != nil || filepath.Dir(abs) == abs {
			return ""
		}
		rel = filepath.Join(rel, "..")
	}
}
