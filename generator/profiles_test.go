package generator

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/resgen-dev/resgen/internal/tooling"
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

// commentedYAML is a line of commented-out YAML in resgen init's file: a
// key of a policy block, a policy, or a key of the example wrapper entry.
var commentedYAML = regexp.MustCompile(`^(\s*)# ( *)([a-z_]+|- source|Commit|"Query\*"):( |$)`)

// uncomment writes the commented-out YAML of resgen init's file as YAML,
// but for the keys shown with an example rather than a value (a breaker
// group), which would change the profile.
func uncomment(src []byte) []byte {
	examples := make(map[string]bool)
	for _, p := range tooling.Policies {
		for _, k := range p.Keys {
			if k.Example != "" {
				examples[k.Name] = true
			}
		}
	}
	lines := strings.Split(string(src), "\n")
	for i, l := range lines {
		m := commentedYAML.FindStringSubmatch(l)
		if m == nil || examples[m[3]] {
			continue
		}
		lines[i] = m[1] + strings.TrimPrefix(l[len(m[1]):], "# ")
	}
	return []byte(strings.Join(lines, "\n"))
}

// TestInitFile checks resgen init's file for every built-in profile: it
// parses, its custom profile is the built-in one, every key is there, and
// once its commented-out YAML is uncommented it still parses, to the same
// values.
func TestInitFile(t *testing.T) {
	for _, name := range templates.Names() {
		t.Run(name, func(t *testing.T) {
			src, custom, err := InitFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if custom != "my-"+name {
				t.Errorf("custom profile %s, want my-%s", custom, name)
			}
			builtin, err := builtinProfile(name)
			if err != nil {
				t.Fatal(err)
			}
			if got := resolveCustom(t, src, custom); !reflect.DeepEqual(got, builtin.cfg) {
				t.Errorf("%s resolves to %+v, want %+v", custom, got, builtin.cfg)
			}
			uncommented := uncomment(src)
			if string(uncommented) == string(src) {
				t.Fatal("nothing to uncomment")
			}
			if got := resolveCustom(t, uncommented, custom); !reflect.DeepEqual(got, builtin.cfg) {
				t.Errorf("uncommented, %s resolves to %+v, want %+v", custom, got, builtin.cfg)
			}
			f, _ := yamlconf.Parse(uncommented, yamlconf.Generation)
			if len(f.Wrappers) != 1 || f.Wrappers[0].Type != "Tx" || len(f.Wrappers[0].Methods) != 2 {
				t.Errorf("uncommented, the example wrapper is %+v", f.Wrappers)
			}
			for _, p := range tooling.Policies {
				for _, k := range p.Keys {
					key := k.Name
					if key == p.Positional {
						key = p.Name
					}
					if !strings.Contains(string(src), "# "+key+": ") {
						t.Errorf("the file does not show %s.%s", p.Name, k.Name)
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
	if _, _, err := InitFile("fille"); err == nil || err.Error() != `unknown profile "fille" (did you mean "file"?)` {
		t.Errorf("InitFile(fille): %v", err)
	}
}

// TestProfilesPrintsEveryValue checks that resgen profiles prints every
// key of every built-in profile, and that the values it prints resolve to
// the profile's configuration.
func TestProfilesPrintsEveryValue(t *testing.T) {
	out, errs := Profiles(nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("the output is not YAML: %v\n%s", err, out)
	}
	root := doc.Content[0]
	var names []string
	for i := 0; i+1 < len(root.Content); i += 2 {
		name, block := root.Content[i].Value, root.Content[i+1]
		names = append(names, name)
		want, err := builtinProfile(name)
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
		for _, p := range tooling.Policies {
			for _, k := range p.Keys {
				if !seen[p.Name+"."+k.Name] && !p.Disabled(&want.cfg) && !strings.Contains(out, "# "+k.Name+": ") {
					t.Errorf("%s: %s.%s is not printed", name, p.Name, k.Name)
				}
			}
		}
	}
	want := []string{"default"}
	for _, n := range templates.Names() {
		if n != "default" {
			want = append(want, n)
		}
	}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("profiles %v, want %v", names, want)
	}
	if _, errs := Profiles([]string{"ap", "nope"}); len(errs) != 2 {
		t.Errorf("Profiles(ap, nope): %v, want two errors", errs)
	}
}

// TestYAMLValue: class sets print as YAML lists that parse back.
func TestYAMLValue(t *testing.T) {
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
		c, err := parseClasses(tt.list)
		if err != nil {
			t.Fatal(err)
		}
		got := yamlValue(c.String(), true)
		if got != tt.want {
			t.Errorf("yamlValue(%s) = %s, want %s", tt.list, got, tt.want)
		}
		back, err := parseClasses(strings.NewReplacer("[", "", "]", "", " ", "").Replace(got))
		if err != nil || back != c {
			t.Errorf("%s does not parse back: %v, %v", got, back, err)
		}
	}
}

// TestWriteNew checks that WriteNew never replaces a file and leaves no
// temporary file.
func TestWriteNew(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resgen.yaml")
	if err := WriteNew(path, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := WriteNew(path, []byte("b")); !errors.Is(err, fs.ErrExist) {
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

// TestREADMEListsEveryKey: the README's directive reference names every
// key of every policy in the policy's row, so that a key added to the
// descriptors is documented there too.
func TestREADMEListsEveryKey(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := make(map[string]string)
	for _, line := range strings.Split(string(readme), "\n") {
		if rest, ok := strings.CutPrefix(line, "| `"); ok {
			name, _, _ := strings.Cut(rest, "`")
			name, _, _ = strings.Cut(name, " ")
			rows[name] = line
		}
	}
	for _, p := range tooling.Policies {
		row, ok := rows[p.Name]
		if !ok {
			t.Errorf("README has no row for the directive %s", p.Name)
			continue
		}
		for _, k := range p.Keys {
			if k.Name != p.Positional && !strings.Contains(row, "`"+k.Name+"`") {
				t.Errorf("README's row of %s does not name the key %s", p.Name, k.Name)
			}
		}
	}
}

// parseClasses reads a list of class names as Class.UnmarshalText does.
func parseClasses(list string) (runtime.Class, error) {
	var c runtime.Class
	err := c.UnmarshalText([]byte(list))
	return c, err
}
