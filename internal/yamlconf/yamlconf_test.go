package yamlconf

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/resgen-dev/resgen/runtime"
)

func node(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

// TestPolicyForms covers each way of writing a policy block.
func TestPolicyForms(t *testing.T) {
	tests := []struct {
		policy, src string
		want        []string // Policy.Key=Value@Line:Col
	}{
		{"retry", "off", []string{"retry.=off@1:1"}},
		{"retry", "false", []string{"retry.=off@1:1"}},
		{"retry", "False", []string{"retry.=off@1:1"}},
		{"retry", `"off"`, []string{"retry.=off@1:1"}},
		{"rate_limit", "on", []string{"rate_limit.=on@1:1"}},
		{"rate_limit", "TRUE", []string{"rate_limit.=on@1:1"}},
		{"timeout", "off", []string{"timeout.=off@1:1"}},
		{"timeout", "5s", []string{"timeout.duration=5s@1:1"}},
		{"retry", "", nil},   // an empty block: every key commented out
		{"retry", "~", nil},  // null
		{"retry", "{}", nil}, // an empty mapping
		{"retry", "{max_attempts: 5, retry_on: [timeout, auth]}", []string{
			"retry.max_attempts=5@1:16", "retry.retry_on=timeout,auth@1:29",
		}},
		{"retry", "retry_on: transient,auth", []string{"retry.retry_on=transient,auth@1:11"}},
		{"rate_limit", "per_host: True", []string{"rate_limit.per_host=true@1:11"}},
		{"recovery", "enable_schema_adaptation: no", nil}, // an error, below
	}
	for _, tt := range tests {
		t.Run(tt.policy+" "+tt.src, func(t *testing.T) {
			n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: 1, Column: 1}
			if tt.src != "" {
				n = node(t, tt.src)
			}
			settings, errs := Policy(tt.policy, n)
			var got []string
			for _, s := range settings {
				got = append(got, fmt.Sprintf("%s.%s=%s@%d:%d", s.Policy, s.Key, s.Value, s.Line, s.Col))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("settings %q, want %q", got, tt.want)
			}
			if strings.Contains(tt.src, ": no") {
				if len(errs) != 1 {
					t.Errorf("errors %v, want one", errs)
				}
				return
			}
			if len(errs) > 0 {
				t.Errorf("errors: %v", errs)
			}
		})
	}
}

// TestParseFile reads a complete resgen.yaml.
func TestParseFile(t *testing.T) {
	src := dedent(`
		version: 1
		profiles:
		  fast:
		    description: quick
		    extends: api
		    retry: {max_attempts: 2}
		wrappers:
		  - source: github.com/jackc/pgx/v5
		    type: Tx
		    name: ResilientTx
		    output: tx_resilient.go
		    profile: fast
		    timeout: 5s
		    methods:
		      Commit:
		        retry: off
		      "Query*":
		        profile: database
		        rate_limit: {burst_size: 3}
		  - type: Store
		`)
	f, errs := Parse([]byte(src), Generation)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	p := f.Profiles["fast"]
	if p == nil || p.Extends != "api" || len(p.Settings) != 1 || p.Node.Line != 3 {
		t.Fatalf("profile fast: %+v", p)
	}
	if len(f.Wrappers) != 2 {
		t.Fatalf("%d wrappers, want 2", len(f.Wrappers))
	}
	w := f.Wrappers[0]
	if w.Source != "github.com/jackc/pgx/v5" || w.Type != "Tx" || w.Name != "ResilientTx" || w.Output != "tx_resilient.go" ||
		w.Profile != "fast" || w.ProfileN.Line != 12 || w.ProfileN.Column != 14 {
		t.Errorf("wrapper: %+v", w)
	}
	if len(w.Settings) != 1 || w.Settings[0].Setting != (runtime.Setting{Policy: "timeout", Key: "duration", Value: "5s"}) ||
		w.Settings[0].Line != 13 || w.Settings[0].Col != 14 {
		t.Errorf("wrapper settings: %+v", w.Settings)
	}
	if len(w.Methods) != 2 || w.Methods[0].Pattern != "Commit" || w.Methods[1].Pattern != "Query*" ||
		w.Methods[1].Profile != "database" || len(w.Methods[1].Settings) != 1 || w.Methods[1].Node.Line != 17 {
		t.Errorf("methods: %+v", w.Methods)
	}
	if f.Wrappers[1].Type != "Store" || f.Wrappers[1].Source != "" {
		t.Errorf("second wrapper: %+v", f.Wrappers[1])
	}

	// The run-time form: wrappers keyed by type name.
	rt, errs := Parse([]byte(dedent(`
		version: 1
		wrappers:
		  ResilientStore:
		    profile: fast
		    methods:
		      Get: {retry: {max_attempts: 7}}
		profiles:
		  fast: {extends: api}
		`)), Runtime)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(rt.Wrappers) != 1 || rt.Wrappers[0].Key != "ResilientStore" || rt.Wrappers[0].Profile != "fast" {
		t.Errorf("run-time wrappers: %+v", rt.Wrappers)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, src := range []string{"", "# nothing\n", "---\n"} {
		f, errs := Parse([]byte(src), Runtime)
		if f == nil || len(errs) > 0 {
			t.Errorf("Parse(%q) = %v, %v; want an empty file", src, f, errs)
		}
	}
}

// TestProfileSettings checks that extended profiles apply first.
func TestProfileSettings(t *testing.T) {
	f, errs := Parse([]byte(dedent(`
		version: 1
		profiles:
		  base: {extends: file, retry: {max_attempts: 6}}
		  top:
		    extends: base
		    retry: {max_attempts: 8, jitter: none}
		`)), Generation)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	settings, ok := f.ProfileSettings("top")
	if !ok {
		t.Fatal("top not found")
	}
	file, _ := Builtin("file")
	want := append(append([]runtime.Setting{}, file...),
		runtime.Setting{Policy: "retry", Key: "max_attempts", Value: "6"},
		runtime.Setting{Policy: "retry", Key: "max_attempts", Value: "8"},
		runtime.Setting{Policy: "retry", Key: "jitter", Value: "none"})
	if !reflect.DeepEqual(settings, want) {
		t.Errorf("settings\n%v\nwant\n%v", settings, want)
	}
	var c runtime.Config
	for _, s := range settings {
		if err := c.Apply(s); err != nil {
			t.Fatal(err)
		}
	}
	if c.Retry.MaxAttempts != 8 || c.Retry.InitialDelay.String() != "500ms" || c.Retry.Jitter != runtime.JitterNone {
		t.Errorf("resolved %+v", c.Retry)
	}

	if _, ok := f.ProfileSettings("nope"); ok {
		t.Error("an unknown profile was found")
	}
	if s, ok := (*File)(nil).ProfileSettings("api"); !ok || len(s) == 0 {
		t.Error("a nil File does not find the built-in profiles")
	}
	// A cycle, which Parse reports, ends.
	cyclic, errs := Parse([]byte("version: 1\nprofiles:\n  a: {extends: b}\n  b: {extends: a}\n"), Generation)
	if len(errs) != 2 {
		t.Fatalf("errors %v, want two", errs)
	}
	if _, ok := cyclic.ProfileSettings("a"); ok {
		t.Error("a cyclic profile resolved")
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		match, glob   bool
	}{
		{"Get", "Get", true, false},
		{"Get", "GetAll", false, false},
		{"Get*", "GetAll", true, true},
		{"Get*", "Get", true, true},
		{"*", "Anything", true, true},
		{"Get?", "Gets", true, true},
		{"[QE]*", "Query", true, true},
		{"[QE]*", "Begin", false, true},
		{"Query[", "Query", false, true},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.name); got != tt.match {
			t.Errorf("Match(%q, %q) = %v", tt.pattern, tt.name, got)
		}
		if got := IsGlob(tt.pattern); got != tt.glob {
			t.Errorf("IsGlob(%q) = %v", tt.pattern, got)
		}
	}
}

func TestPrefix(t *testing.T) {
	err := Prefix("resgen.yaml", []error{Error{Line: 2, Col: 3, Msg: "bad"}, Error{Line: 4, Col: 1, Msg: "worse"}})
	if got, want := err.Error(), "resgen.yaml:2:3: bad\nresgen.yaml:4:1: worse"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// positioned is the form of every error of Parse: LINE:COL: message.
var positioned = regexp.MustCompile(`^[1-9][0-9]*:[1-9][0-9]*: \S`)

// FuzzParseGeneration checks that no resgen.yaml makes Parse panic, and
// that it returns a file or positioned errors.
func FuzzParseGeneration(f *testing.F) {
	for _, seed := range fuzzSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, data, Generation)
	})
}

// FuzzParseRuntimeFile is FuzzParseGeneration for run-time files (see
// also runtime/config's FuzzParseRuntime).
func FuzzParseRuntimeFile(f *testing.F) {
	for _, seed := range fuzzSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, data, Runtime)
	})
}

func checkParse(t *testing.T, data []byte, kind Kind) {
	file, errs := Parse(data, kind)
	if len(errs) == 0 {
		if file == nil {
			t.Fatal("no file and no errors")
		}
		// Every profile that the file names resolves.
		for name := range file.Profiles {
			if _, ok := file.ProfileSettings(name); !ok {
				t.Fatalf("profile %s does not resolve", name)
			}
		}
		for _, w := range file.Wrappers {
			if w.Profile != "" {
				if _, ok := file.ProfileSettings(w.Profile); !ok {
					t.Fatalf("profile %s of a wrapper does not resolve", w.Profile)
				}
			}
		}
		return
	}
	for _, e := range errs {
		if !positioned.MatchString(e.Error()) {
			t.Fatalf("error %q is not LINE:COL: message", e)
		}
	}
}

var fuzzSeeds = []string{
	"",
	"version: 1\n",
	"version: 2\n",
	"[1, 2]\n",
	"version: 1\nprofiles:\n  p: {extends: p}\n",
	"version: 1\nprofiles:\n  a: {extends: b}\n  b: {extends: a}\n",
	"version: 1\nprofiles:\n  p:\n    extends: api\n    retry: {max_attempts: 5, initial_delay: 2s, retry_on: [transient, auth]}\n    timeout: 5s\n    rate_limit: off\n",
	"version: 1\nwrappers:\n  - source: github.com/jackc/pgx/v5\n    type: Tx\n    profile: database\n    methods:\n      \"Query*\": {retry: {max_attempts: 2}}\n",
	"version: 1\nwrappers:\n  ResilientStore:\n    profile: api\n    timeout: 5s\n    methods:\n      ListOrders:\n        retry: {max_attempts: 7}\n      \"Create*\":\n        rate_limit: off\n",
	"version: 1\nprofiles:\n  a: &x {retry: off}\n  b: *x\n",
	"version: 1\nprofiles: *y\n",
	"version: 1\nprofiles:\n  p: {retry: {max_attempts: &n 3, burst_size: *n}}\n",
	"version: 1\nprofiles:\n  p: {circuit_breaker: {group: a, excluded_errors: [permanent, auth]}}\n",
	"version: 1\n\tprofiles: {}\n",
	"version: 1\nprofiles: {p: {retry: {max_attempts: [1, [2]]}}}\n",
	"version: 1\nwrappers:\n  - type: Tx\n    methods:\n      \"[\": {}\n",
	"%YAML 1.1\n---\nversion: 1\n",
	"version: 1\n? [a, b]\n: c\n",
	"version: !!binary aGVsbG8=\n",
	"version: 1\nwrappers:\n  ResilientStore: {timeout: 5s}\n---\nversion: 1\nwrappers:\n  ResilientStore: {rate_limit: off}\n",
	"---\nversion: 1\n...\n---\n",
	"version: 1\n--- [\n",
	"version: 1\nprofiles:\n  p: {retry: {jitter: \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\\\"\", yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy: 1}}\n",
}
