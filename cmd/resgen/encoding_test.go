package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadSourceBytesReportedOnce: a NUL byte or invalid UTF-8 in a Go
// file of the package gets one file:LINE:COL error, with the path relative
// to the working directory, whether go list or the parser meets it first,
// and however many bad bytes follow: not a crash, not an absolute path,
// not one error a byte.
func TestBadSourceBytesReportedOnce(t *testing.T) {
	root := caseModule(t)
	t.Setenv("GOFLAGS", "-mod=mod")
	t.Setenv("GOWORK", "off")
	src := func(directive, method, literal string) string {
		return "package shop\n\nimport \"context\"\n\n//resgen:retry max_attempts=3" + directive +
			"\ntype Store interface {\n\tGet(ctx context.Context, id string) (string, error) //" + method +
			"\n}\n\nvar x = \"" + literal + "\"\n"
	}
	tests := []struct {
		name  string
		files map[string]string
		want  []string // from the module root; from the package's directory, without "bad/"
	}{
		{"NUL in a directive", map[string]string{"store.go": src(" a\x00b", "", "")},
			[]string{"bad/store.go:5:32: illegal character NUL"}},
		{"NUL in a method's comment", map[string]string{"store.go": src("", " \x00", "")},
			[]string{"bad/store.go:7:57: illegal character NUL"}},
		{"invalid UTF-8 in a directive", map[string]string{"store.go": src(" \xff\xfe", "", "")},
			[]string{"bad/store.go:5:31: illegal UTF-8 encoding"}},
		{"a megabyte of NUL bytes", map[string]string{"store.go": src("", "", strings.Repeat("\x00", 1<<20))},
			[]string{"bad/store.go:10:10: illegal character NUL"}},
		{"invalid UTF-8 then NUL bytes", map[string]string{"store.go": src("", "", strings.Repeat("\xff\x00", 1000))},
			[]string{"bad/store.go:10:10: illegal UTF-8 encoding"}},
		{"two bad files", map[string]string{"store.go": src("", " \x00", ""), "other.go": "package shop\n\n// \xc3\x28\n"},
			[]string{"bad/other.go:3:4: illegal UTF-8 encoding", "bad/store.go:7:57: illegal character NUL"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mod := filepath.Join(root, fmt.Sprintf("m%d", i))
			dir := filepath.Join(mod, "bad")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, content := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, from := range []string{mod, dir} {
				t.Chdir(from)
				var stdout, stderr bytes.Buffer
				args := []string{"./bad"}
				if from == dir {
					args = nil
				}
				code := run(args, &stdout, &stderr)
				want := strings.Join(tt.want, "\n") + "\n"
				if from == dir {
					want = strings.ReplaceAll(want, "bad/", "")
				}
				if code != exitError || stderr.String() != want {
					t.Errorf("in %s: exit %d, stderr:\n%s\nwant exit %d, stderr:\n%s", filepath.Base(from), code, stderr.String(), exitError, want)
				}
			}
		})
	}
}
