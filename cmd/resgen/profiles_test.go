package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/resgen-dev/resgen/generator"
	"github.com/resgen-dev/resgen/templates"
)

// TestInit runs resgen init for every built-in profile: it writes
// generator.InitFile's content and says which profile it wrote.
func TestInit(t *testing.T) {
	for _, name := range templates.Names() {
		t.Run(name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			var stdout, stderr bytes.Buffer
			if code := run([]string{"init", "-profile", name}, &stdout, &stderr); code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			if got, want := stdout.String(), "wrote resgen.yaml: profile my-"+name+" extends "+name+"\n"; got != want {
				t.Errorf("stdout %q, want %q", got, want)
			}
			src, err := os.ReadFile("resgen.yaml")
			if err != nil {
				t.Fatal(err)
			}
			want, _, err := generator.InitFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(src, want) {
				t.Errorf("resgen.yaml:\n%s\nwant:\n%s", src, want)
			}
		})
	}
}

func TestInitErrors(t *testing.T) {
	t.Chdir(t.TempDir())
	old := []byte("version: 1\n# mine\n")
	if err := os.WriteFile("resgen.yaml", old, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"init"}, exitError, "resgen init: resgen.yaml already exists: not overwriting it\n"},
		{[]string{"init", "-profile", "api"}, exitError, "resgen init: resgen.yaml already exists: not overwriting it\n"},
		{[]string{"init", "-profile", "dev"}, exitError, "resgen init: unknown profile \"dev\"\n"},
		{[]string{"init", "-profile", "fille"}, exitError, "resgen init: unknown profile \"fille\" (did you mean \"file\"?)\n"},
		{[]string{"init", "extra"}, exitUsage, "resgen init: unexpected argument \"extra\"\n"},
		{[]string{"init", "-force"}, exitUsage, "flag provided but not defined: -force\n"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(tt.args, &stdout, &stderr)
		if code != tt.code || !strings.HasPrefix(stderr.String(), tt.stderr) {
			t.Errorf("resgen %s: exit %d, stderr %q; want %d, %q", strings.Join(tt.args, " "), code, stderr.String(), tt.code, tt.stderr)
		}
		if stdout.Len() > 0 {
			t.Errorf("resgen %s: stdout %q", strings.Join(tt.args, " "), stdout.String())
		}
	}
	if got, _ := os.ReadFile("resgen.yaml"); !bytes.Equal(got, old) {
		t.Errorf("resgen.yaml changed to %q", got)
	}
	if entries, _ := os.ReadDir("."); len(entries) != 1 {
		t.Errorf("files left behind: %v", entries)
	}
}

// TestProfilesPrints: resgen profiles prints generator.Profiles.
func TestProfilesPrints(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"profiles"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	want, errs := generator.Profiles(nil)
	if len(errs) > 0 || stdout.String() != want {
		t.Errorf("resgen profiles printed:\n%s\nwant (%v):\n%s", stdout.String(), errs, want)
	}
}

func TestProfilesArgs(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"profiles", "file", "api"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "\nfile:\n") || !strings.Contains(out, "\napi:\n") || strings.Contains(out, "\ndefault:\n") ||
		strings.Index(out, "\nfile:\n") > strings.Index(out, "\napi:\n") {
		t.Errorf("resgen profiles file api printed:\n%s", out)
	}
	stdout.Reset()
	if code := run([]string{"profiles", "ap", "nope"}, &stdout, &stderr); code != exitError {
		t.Errorf("exit %d for unknown profiles", code)
	}
	if got, want := stderr.String(), "resgen profiles: unknown profile \"ap\" (did you mean \"api\"?)\nresgen profiles: unknown profile \"nope\"\n"; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
	if stdout.Len() > 0 {
		t.Errorf("stdout %q after an error", stdout.String())
	}
}
