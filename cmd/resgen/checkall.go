package main

import (
	"bufio"
	"bytes"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/resgen-dev/resgen/generator"
)

// checkAll is resgen -check with a pattern of several packages (./...),
// for CI: it checks every package of the pattern that generates with
// resgen, each as go generate would run it, in its directory and with the
// flags of its //go:generate lines; a package with //resgen: directives and
// no such line is checked as a plain resgen would generate it. It prints
// every stale file's diff and every problem, positioned, and fails when
// there is any.
func checkAll(pattern, tags string, stdout, stderr io.Writer) int {
	args := []string{"list", "-e", "-f", "{{.Dir}}"}
	if tags != "" {
		args = append(args, "-tags="+tags)
	}
	cmd := exec.Command("go", append(args, "--", pattern)...)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	if err != nil {
		fmt.Fprintf(stderr, "resgen: go list %s: %v\n%s", pattern, err, errOut.String())
		return exitError
	}
	cwd, _ := os.Getwd()
	code, checked := exitOK, 0
	for _, dir := range strings.Fields(string(out)) {
		runs, err := generateLines(dir)
		if err != nil {
			fmt.Fprintf(stderr, "resgen: %v\n", err)
			code = exitError
			continue
		}
		for _, r := range runs {
			checked++
			args := append([]string{"-check"}, r.args...)
			if tags != "" && !hasFlag(r.args, "tags") {
				args = append([]string{"-tags", tags}, args...)
			}
			var e bytes.Buffer
			if c := runIn(dir, args, stdout, &e); c != exitOK {
				code = exitError
				if r.pos != "" {
					// Say which go:generate line this is.
					fmt.Fprintf(stderr, "%s: resgen %s:\n", relTo(cwd, r.pos), strings.Join(r.args, " "))
				} else {
					fmt.Fprintf(stderr, "%s: resgen (its //resgen: directives, no go:generate line):\n", relTo(cwd, dir))
				}
				stderr.Write(e.Bytes())
			}
		}
	}
	if checked == 0 && code == exitOK {
		fmt.Fprintf(stderr, "resgen: no package of %s generates with resgen\n", pattern)
		return exitError
	}
	return code
}

// generation is one resgen run of a package: the arguments of a
// //go:generate line, and where the line is.
type generation struct {
	pos  string // file:line of the go:generate line, or "" for a package with directives only
	args []string
}

// generateLines returns the resgen runs of the package in dir: those of
// its //go:generate lines that run resgen (go run .../cmd/resgen, go tool
// resgen, resgen), in file order, or one run without arguments when it has
// none but some file carries a //resgen: directive.
func generateLines(dir string) ([]generation, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".go") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var runs []generation
	directives := false
	for _, name := range names {
		path := filepath.Join(dir, name)
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if bytes.HasPrefix(src, []byte(generator.GeneratedHeader)) {
			continue
		}
		pkg := packageName(src)
		sc := bufio.NewScanner(bytes.NewReader(src))
		sc.Buffer(nil, 1<<20)
		for line := 1; sc.Scan(); line++ {
			text := sc.Text()
			if !strings.HasSuffix(name, "_test.go") && strings.HasPrefix(strings.TrimSpace(text), "//resgen:") && isComment(path, src, line) {
				directives = true
			}
			cmd, ok := strings.CutPrefix(text, "//go:generate ")
			if !ok {
				continue
			}
			words := splitGenerate(cmd, name, line, pkg)
			if args, ok := resgenArgs(words); ok {
				runs = append(runs, generation{pos: path + ":" + strconv.Itoa(line), args: args})
			}
		}
	}
	if len(runs) == 0 && directives {
		runs = append(runs, generation{})
	}
	return runs, nil
}

// resgenArgs returns the arguments that a go:generate command passes to
// resgen, and whether it runs resgen.
func resgenArgs(words []string) ([]string, bool) {
	isResgen := func(w string) bool {
		w, _, _ = strings.Cut(w, "@")
		return w == "resgen" || strings.HasSuffix(w, "/cmd/resgen") || w == "github.com/resgen-dev/resgen/cmd/resgen"
	}
	switch {
	case len(words) >= 1 && words[0] == "resgen":
		return words[1:], true
	case len(words) >= 3 && words[0] == "go" && words[1] == "tool" && isResgen(words[2]):
		return words[3:], true
	case len(words) >= 3 && words[0] == "go" && words[1] == "run":
		for i := 2; i < len(words); i++ {
			if strings.HasPrefix(words[i], "-") {
				continue // go run's own flags
			}
			if isResgen(words[i]) {
				return words[i+1:], true
			}
			return nil, false
		}
	}
	return nil, false
}

// splitGenerate splits a go:generate command into words as go generate
// does: at spaces, with double-quoted strings as one word, and $GOFILE,
// $GOLINE, $GOPACKAGE and $DOLLAR expanded.
func splitGenerate(cmd, file string, line int, pkg string) []string {
	expand := func(s string) string {
		return os.Expand(s, func(v string) string {
			switch v {
			case "GOFILE":
				return file
			case "GOLINE":
				return strconv.Itoa(line)
			case "GOPACKAGE":
				return pkg
			case "DOLLAR":
				return "$"
			}
			return os.Getenv(v)
		})
	}
	var words []string
	for cmd = strings.TrimSpace(cmd); cmd != ""; cmd = strings.TrimSpace(cmd) {
		if cmd[0] == '"' {
			if w, rest, err := unquotePrefix(cmd); err == nil {
				words = append(words, expand(w))
				cmd = rest
				continue
			}
		}
		i := strings.IndexAny(cmd, " \t")
		if i < 0 {
			i = len(cmd)
		}
		words = append(words, expand(cmd[:i]))
		cmd = cmd[i:]
	}
	return words
}

// unquotePrefix unquotes the Go string literal that starts s.
func unquotePrefix(s string) (string, string, error) {
	for i := 1; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == '"' {
			w, err := strconv.Unquote(s[:i+1])
			return w, s[i+1:], err
		}
	}
	return "", s, strconv.ErrSyntax
}

// isComment reports whether line of the file is a comment of its own,
// not text in a string literal.
func isComment(path string, src []byte, line int) bool {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return true // the generator will say what is wrong
	}
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			if fset.Position(c.Slash).Line == line {
				return true
			}
		}
	}
	return false
}

// packageName returns the name in src's package clause.
func packageName(src []byte) string {
	for _, line := range strings.Split(string(src), "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "package "); ok {
			return strings.Fields(name)[0]
		}
	}
	return ""
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		n, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && n == name {
			return true
		}
	}
	return false
}

// relTo returns path relative to base when it is below it.
func relTo(base, path string) string {
	if r, err := filepath.Rel(base, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}
