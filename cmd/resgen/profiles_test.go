package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/resgen-dev/resgen/internal/yamlconf"
	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/templates"
)

// resolveCustom resolves a custom profile of a resgen.yaml over the
// defaults.
func resolveCustom(t *testing.T, src []byte, name string) runtime.Config {
	t.Helper()
	f, errs := yamlconf.Parse(src, yamlconf.Generation)
	if len(errs) > 0 {
		t.Fatalf("the file does not parse: %v\n%s", errs, src)
	}
	settings, ok := f.ProfileSettings(name)
	if !ok {
		t.Fatalf("no profile %s", name)
	}
	var c runtime.Config
	for _, s := range settings {
		if err := c.Apply(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c.Normalize()
}

// TestInit runs resgen init for every built-in profile and checks the file:
// it parses, its custom profile is the built-in one, every key is there,
// and once its commented-out YAML is uncommented it still parses, to the
// same values.
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
			builtin, err := resolveBuiltin(name)
			if err != nil {
				t.Fatal(err)
			}
			if got := resolveCustom(t, src, "my-"+name); !reflect.DeepEqual(got, builtin.cfg) {
				t.Errorf("my-%s resolves to %+v, want %+v", name, got, builtin.cfg)
			}
			uncommented := []byte(initContent(builtin, true))
			if got := resolveCustom(t, uncommented, "my-"+name); !reflect.DeepEqual(got, builtin.cfg) {
				t.Errorf("uncommented, my-%s resolves to %+v, want %+v", name, got, builtin.cfg)
			}
			f, _ := yamlconf.Parse(uncommented, yamlconf.Generation)
			if len(f.Wrappers) != 1 || f.Wrappers[0].Type != "Tx" || len(f.Wrappers[0].Methods) != 2 {
				t.Errorf("uncommented, the example wrapper is %+v", f.Wrappers)
			}
			for _, policy := range runtime.Policies() {
				for _, key := range runtime.Keys(policy) {
					if policy == "timeout" {
						key = "timeout"
					}
					if !strings.Contains(string(src), "# "+key+": ") {
						t.Errorf("the file does not show %s.%s", policy, key)
					}
				}
			}
			for i, line := range strings.Split(string(src), "\n") {
				if len(line) > 80 {
					t.Errorf("line %d is %d bytes long: %s", i+1, len(line), line)
				}
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

// TestWriteNew checks that writeNew never replaces a file, even one that
// appears after the check, and leaves no temporary file.
func TestWriteNew(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resgen.yaml")
	if err := writeNew(path, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := writeNew(path, []byte("b")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second write: %v, want fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "a" {
		t.Errorf("content %q, want a", got)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", info.Mode())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files left behind: %v", entries)
	}
}

// TestProfilesPrintsEveryValue checks that resgen profiles prints every
// key of every built-in profile, and that the values it prints resolve to
// the profile's configuration.
func TestProfilesPrintsEveryValue(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"profiles"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("the output is not YAML: %v\n%s", err, stdout.String())
	}
	root := doc.Content[0]
	var names []string
	for i := 0; i+1 < len(root.Content); i += 2 {
		name, block := root.Content[i].Value, root.Content[i+1]
		names = append(names, name)
		want, err := resolveBuiltin(name)
		if err != nil {
			t.Fatal(err)
		}
		var got runtime.Config
		seen := make(map[string]bool)
		for j := 0; j+1 < len(block.Content); j += 2 {
			policy := block.Content[j].Value
			settings, errs := yamlconf.Policy(policy, block.Content[j+1])
			if len(errs) > 0 {
				t.Fatalf("%s.%s: %v", name, policy, errs)
			}
			for _, s := range settings {
				seen[s.Policy+"."+s.Key] = true
				if err := got.Apply(s.Setting); err != nil {
					t.Fatal(err)
				}
			}
		}
		if got = got.Normalize(); !reflect.DeepEqual(got, want.cfg) {
			t.Errorf("%s: printed values resolve to %+v, want %+v", name, got, want.cfg)
		}
		for _, policy := range runtime.Policies() {
			for _, key := range runtime.Keys(policy) {
				if !seen[policy+"."+key] && !strings.Contains(stdout.String(), "# "+key+": ") {
					t.Errorf("%s: %s.%s is not printed", name, policy, key)
				}
			}
		}
	}
	want := append([]string{"default"}, without(templates.Names(), "default")...)
	if !reflect.DeepEqual(names, want) {
		t.Errorf("profiles %v, want %v", names, want)
	}
}

func without(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
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

func TestFormat(t *testing.T) {
	for d, want := range map[string]string{"60s": "60s", "500ms": "500ms", "1h": "3600s", "1.5ms": "1.5ms", "90s": "90s"} {
		dur, _ := time.ParseDuration(d)
		if got := formatDuration(dur); got != want {
			t.Errorf("formatDuration(%s) = %s, want %s", d, got, want)
		}
	}
	for _, tt := range []struct {
		list string
		want string
	}{
		{"transient", "[transient]"},
		{"transient,auth", "[transient, auth]"},
		{"timeout,connection", "[timeout, connection]"},
		{"any", "[any]"},
		{"none", "none"},
		{"permanent,unknown,schema", "[schema, permanent, unknown]"},
	} {
		c, err := runtime.ParseClasses(tt.list)
		if err != nil {
			t.Fatal(err)
		}
		got := formatClasses(c)
		if got != tt.want {
			t.Errorf("formatClasses(%s) = %s, want %s", tt.list, got, tt.want)
		}
		back, err := runtime.ParseClasses(strings.NewReplacer("[", "", "]", "", " ", "").Replace(got))
		if err != nil || back != c {
			t.Errorf("%s does not parse back: %v, %v", got, back, err)
		}
	}
	if got := formatFloat(2); got != "2.0" {
		t.Errorf("formatFloat(2) = %s", got)
	}
	if got := formatFloat(1.25); got != "1.25" {
		t.Errorf("formatFloat(1.25) = %s", got)
	}
}
