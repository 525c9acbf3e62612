package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"
)

// Run `go test ./cmd/resgen -run TestCases -update` to rewrite the wanted
// output of the testdata cases from what resgen generates now; review the
// diff before committing it.
var update = flag.Bool("update", false, "rewrite the wanted output of testdata/*.txtar")

// A case is a txtar archive in testdata/:
//
//	-- args --            resgen's arguments, one line (the comment holds a description)
//	-- exit --            the wanted exit code (default 0, or 1 when stderr is given)
//	-- stderr --          the wanted standard error, exactly
//	-- stdout --          the wanted standard output, exactly (optional)
//	-- want/FILE --       a file resgen must write, exactly
//	-- FILE --            an input file of the case's package
//
// Every case runs in its own directory of one temporary module that
// requires this repository (replaced by the working tree). The packages of
// the cases that succeed are then vetted and tested together with
// `go vet` and `go test`: their _test.go files drive the generated
// wrappers.
func TestCases(t *testing.T) {
	dir, err := filepath.Abs("../../testdata")
	if err != nil {
		t.Fatal(err)
	}
	cases, err := filepath.Glob(filepath.Join(dir, "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no testdata/*.txtar cases")
	}
	sort.Strings(cases)
	root := caseModule(t)
	t.Setenv("GOFLAGS", "-mod=mod")
	t.Setenv("GOWORK", "off")

	built := make(map[string][]string) // the packages to compile, by build tags
	for _, file := range cases {
		name := strings.TrimSuffix(filepath.Base(file), ".txtar")
		t.Run(name, func(t *testing.T) {
			if tags, ok := runCase(t, file, filepath.Join(root, name)); ok {
				built[tags] = append(built[tags], "./"+name)
			}
		})
	}
	if len(built) == 0 || t.Failed() {
		return
	}
	t.Run("compile", func(t *testing.T) {
		tagSets := make([]string, 0, len(built))
		for tags := range built {
			tagSets = append(tagSets, tags)
		}
		sort.Strings(tagSets)
		for _, tags := range tagSets {
			flags := []string{"-tags=" + tags}
			goCmd(t, root, append(append([]string{"vet"}, flags...), built[tags]...)...)
		}
		if testing.Short() {
			t.Skip("-short: not running the generated wrappers' tests")
		}
		for _, tags := range tagSets {
			flags := []string{"-count=1", "-tags=" + tags}
			goCmd(t, root, append(append([]string{"test"}, flags...), built[tags]...)...)
		}
	})
}

// caseTags returns the value of a case's -tags flag: its package compiles
// with the tags it was generated with.
func caseTags(args []string) string {
	for i, a := range args {
		name, value, ok := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case !strings.HasPrefix(a, "-") || name != "tags":
		case ok:
			return value
		case i+1 < len(args):
			return args[i+1]
		}
	}
	return ""
}

// runCase runs one case and reports whether it generated code to compile,
// and with which build tags.
func runCase(t *testing.T, file, dir string) (tags string, ok bool) {
	ar, err := txtar.ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	var stderrWant, stdoutWant *string
	exitWant := -1
	want := make(map[string]string)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range ar.Files {
		data := string(f.Data)
		switch {
		case f.Name == "args":
			args = strings.Fields(strings.TrimSpace(data))
		case f.Name == "exit":
			exitWant, err = strconv.Atoi(strings.TrimSpace(data))
			if err != nil {
				t.Fatalf("bad exit section: %v", err)
			}
		case f.Name == "stderr":
			stderrWant = &data
		case f.Name == "stdout":
			stdoutWant = &data
		case strings.HasPrefix(f.Name, "want/"):
			want[strings.TrimPrefix(f.Name, "want/")] = data
		default:
			path := filepath.Join(dir, filepath.FromSlash(f.Name))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, f.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if exitWant < 0 {
		exitWant = 0
		if stderrWant != nil {
			exitWant = 1
		}
	}
	before := readFiles(t, dir)
	t.Chdir(dir)
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)

	// What resgen wrote: new files and changed ones (a stale wrapper it
	// regenerated), and the existing files that want/ names, changed or not.
	got := make(map[string]string)
	for path, data := range readFiles(t, dir) {
		old, existed := before[path]
		if _, wanted := want[path]; !existed || old != data || wanted {
			got[path] = data
		}
	}

	if *update {
		rewriteCase(t, file, ar, got, stdout.String(), stderr.String(), stderrWant != nil || code != 0)
		return caseTags(args), code == 0 && len(got) > 0
	}
	if code != exitWant {
		t.Errorf("exit code %d, want %d\nstderr:\n%s", code, exitWant, stderr.String())
	}
	if stderrWant != nil && stderr.String() != *stderrWant {
		t.Errorf("stderr (-want +got):\n%s", lineDiff(*stderrWant, stderr.String()))
	}
	if stderrWant == nil && stderr.Len() > 0 {
		t.Errorf("unexpected stderr:\n%s", stderr.String())
	}
	if stdoutWant != nil && stdout.String() != *stdoutWant {
		t.Errorf("stdout (-want +got):\n%s", lineDiff(*stdoutWant, stdout.String()))
	}
	for path, w := range want {
		g, ok := got[path]
		if !ok {
			t.Errorf("%s was not written", path)
			continue
		}
		if g != w {
			t.Errorf("%s (-want +got):\n%s", path, lineDiff(w, g))
		}
	}
	for path := range got {
		if _, ok := want[path]; !ok {
			t.Errorf("unexpected file %s written", path)
		}
	}
	return caseTags(args), code == 0 && len(got) > 0 && !t.Failed()
}

// rewriteCase rewrites a case's wanted output from what resgen did.
func rewriteCase(t *testing.T, file string, ar *txtar.Archive, got map[string]string, stdout, stderr string, keepStderr bool) {
	var files []txtar.File
	for _, f := range ar.Files {
		if strings.HasPrefix(f.Name, "want/") || f.Name == "stderr" || f.Name == "stdout" {
			continue
		}
		files = append(files, f)
	}
	if stdout != "" {
		files = append(files, txtar.File{Name: "stdout", Data: []byte(stdout)})
	}
	if keepStderr {
		files = append(files, txtar.File{Name: "stderr", Data: []byte(stderr)})
	}
	var paths []string
	for p := range got {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		files = append(files, txtar.File{Name: "want/" + p, Data: []byte(got[p])})
	}
	ar.Files = files
	data := txtar.Format(ar)
	if old, err := os.ReadFile(file); err == nil && bytes.Equal(old, data) {
		return // unchanged: leave the file alone
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// readFiles returns the content of every file under dir, by slash path.
func readFiles(t *testing.T, dir string) map[string]string {
	out := make(map[string]string)
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// caseModule creates the temporary module of the cases: it requires this
// repository, replaced by the working tree, and every module the
// repository requires, so that cases may wrap pgx or go-redis interfaces.
func caseModule(t testing.TB) string {
	t.Helper()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	gomod, err := os.ReadFile(filepath.Join(repo, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("module example.com/cases\n\ngo 1.26\n\nrequire github.com/resgen-dev/resgen v0.0.0-00010101000000-000000000000\n\n")
	b.WriteString(requireBlock(string(gomod)))
	fmt.Fprintf(&b, "\nreplace github.com/resgen-dev/resgen => %s\n", repo)
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// requireBlock returns the require lines of a go.mod file.
func requireBlock(gomod string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.Split(gomod, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "require ("):
			in = true
		case in && trimmed == ")":
			in = false
		case in && trimmed != "":
			b.WriteString("require " + strings.TrimSuffix(strings.TrimSpace(strings.Split(trimmed, "//")[0]), " ") + "\n")
		case strings.HasPrefix(trimmed, "require ") && !strings.Contains(trimmed, "("):
			b.WriteString(trimmed + "\n")
		}
	}
	return b.String()
}

func goCmd(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// lineDiff returns a line diff of want and got, (-want +got).
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	pre := 0
	for pre < len(w) && pre < len(g) && w[pre] == g[pre] {
		pre++
	}
	suf := 0
	for suf < len(w)-pre && suf < len(g)-pre && w[len(w)-1-suf] == g[len(g)-1-suf] {
		suf++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "@@ line %d @@\n", pre+1)
	for _, l := range w[pre : len(w)-suf] {
		b.WriteString("-" + l + "\n")
	}
	for _, l := range g[pre : len(g)-suf] {
		b.WriteString("+" + l + "\n")
	}
	return b.String()
}
