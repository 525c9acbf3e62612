package yamlconf

import (
	"bytes"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/resgen-dev/resgen/internal/tooling"
	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/templates"
)

// File is a parsed resgen.yaml or run-time override file.
type File struct {
	Profiles map[string]*Profile
	Wrappers []*Wrapper

	suggest struct {
		mu    sync.Mutex
		names []string          // every profile, listed once
		memo  map[string]string // SuggestProfile's answers
	}
}

// Block is a set of policy blocks and the profile under them.
type Block struct {
	Profile  string
	ProfileN *yaml.Node // the profile's value, for errors
	Settings []Setting
}

// Profile is a custom profile: a built-in or custom one it extends, and
// its own policy blocks.
type Profile struct {
	Name    string
	Extends string
	Node    *yaml.Node
	Block
}

// Wrapper is an entry of wrappers:.
type Wrapper struct {
	// Key is the entry's key in the mapping form (run-time files: the
	// wrapper's type name).
	Key                        string
	Source, Type, Name, Output string
	Node                       *yaml.Node
	// OutputN is the value of output:, for errors; nil without one.
	OutputN *yaml.Node
	Block
	Methods []*MethodBlock
}

// MethodBlock is an entry of methods:, by name or glob.
type MethodBlock struct {
	Pattern string
	Node    *yaml.Node
	Block
}

// Kind says which file is parsed, for the keys it accepts.
type Kind int

const (
	// Generation is resgen.yaml: wrappers is a list of entries with source,
	// type, name and output.
	Generation Kind = iota
	// Runtime is a run-time override file: wrappers is a mapping keyed by
	// the wrapper's type name.
	Runtime
)

var (
	lineRE   = regexp.MustCompile(`line (\d+)(?:, column (\d+))?`)
	anchorRE = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

// parserProblem reports whether msg is an error of yaml.v3's parser rather
// than of its scanner (parserc.go).
func parserProblem(msg string) bool {
	for _, p := range []string{
		"did not find expected ',' or ']'",
		"did not find expected ',' or '}'",
		"did not find expected '-' indicator",
		"did not find expected <document start>",
		"did not find expected <stream-start>",
		"did not find expected key",
		"did not find expected node content",
		"found duplicate %YAML directive",
		"found duplicate %TAG directive",
		"found incompatible YAML document",
		"found undefined tag handle",
	} {
		if msg == p {
			return true
		}
	}
	return false
}

// Parse parses a file, returning every problem found. A file holds one
// YAML document: a second one (after a --- line) is an error, not ignored.
func Parse(data []byte, kind Kind) (*File, []error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		return nil, []error{syntaxError(data, err)}
	}
	if doc.Kind != 0 {
		var next yaml.Node
		switch err := dec.Decode(&next); {
		case err == io.EOF:
		case err != nil:
			return nil, []error{syntaxError(data, err)}
		default:
			return nil, []error{Errorf(&next, "a second YAML document starts here: only the first one would apply; put every setting in one document")}
		}
	}
	f := &File{Profiles: make(map[string]*Profile)}
	if len(doc.Content) == 0 {
		return f, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return f, nil // a file of comments, or "---"
	}
	if root.Kind != yaml.MappingNode {
		return nil, []error{Errorf(root, "want a mapping with version, profiles and wrappers")}
	}
	var errs []error
	sawVersion := false
	for _, kv := range pairs(root, &errs) {
		k, v := kv[0], kv[1]
		switch k.Value {
		case "version":
			sawVersion = true
			if v.Kind != yaml.ScalarNode {
				errs = append(errs, Errorf(v, "version: want 1"))
			} else if v.Value != "1" {
				errs = append(errs, Errorf(v, "unsupported version %q: want 1", v.Value))
			}
		case "profiles":
			errs = append(errs, f.parseProfiles(v)...)
		case "wrappers":
			errs = append(errs, f.parseWrappers(v, kind)...)
		default:
			errs = append(errs, Errorf(k, "unknown key %q%s", k.Value, Suggest(k.Value, []string{"version", "profiles", "wrappers"})))
		}
	}
	if !sawVersion {
		errs = append(errs, Errorf(root, "missing version: 1"))
	}
	errs = append(errs, f.checkProfiles()...)
	errs = append(errs, f.checkProfileRefs()...)
	sortErrors(errs)
	return f, errs
}

// syntaxError turns an error of yaml.v3 into an Error at its position.
func syntaxError(data []byte, err error) Error {
	e := Error{Line: 1, Col: 1, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	if m := lineRE.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		if m[2] != "" {
			e.Col, _ = strconv.Atoi(m[2])
		}
		e.Msg = strings.TrimSpace(lineRE.ReplaceAllString(e.Msg, ""))
		e.Msg = strings.TrimPrefix(strings.TrimPrefix(e.Msg, ":"), " ")
		if parserProblem(e.Msg) {
			// yaml.v3 counts the lines of its parser's errors from 0
			// (those of its scanner from 1): the line where the
			// collection being parsed starts, or the problem's.
			e.Line++
		}
	}
	if m := anchorRE.FindStringSubmatch(e.Msg); m != nil {
		// yaml.v3 does not say where: the first use of the alias is.
		if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
			e.Line = 1 + bytes.Count(data[:i], []byte("\n"))
			e.Col = 1 + utf8.RuneCount(data[bytes.LastIndexByte(data[:i], '\n')+1:i])
		}
	}
	e.Msg = BoundQuoted(e.Msg)
	return e
}

// pairs returns the key-value pairs of a mapping, reporting duplicate keys.
func pairs(n *yaml.Node, errs *[]error) [][2]*yaml.Node {
	var out [][2]*yaml.Node
	seen := make(map[string]bool)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			*errs = append(*errs, Errorf(k, "duplicate key %q", k.Value))
			continue
		}
		seen[k.Value] = true
		out = append(out, [2]*yaml.Node{k, v})
	}
	return out
}

func (f *File) parseProfiles(n *yaml.Node) []error {
	if n.Kind != yaml.MappingNode {
		return []error{Errorf(n, "profiles: want a mapping of profile names")}
	}
	var errs []error
	for _, kv := range pairs(n, &errs) {
		k, v := kv[0], kv[1]
		p := &Profile{Name: k.Value, Node: k}
		if IsBuiltin(k.Value) {
			errs = append(errs, Errorf(k, "profile %q is built in: give yours another name and extend it", k.Value))
			continue
		}
		errs = append(errs, parseBlock(v, &p.Block, func(key, val *yaml.Node) ([]error, bool) {
			switch key.Value {
			case "extends":
				if val.Kind != yaml.ScalarNode || val.Value == "" {
					return []error{Errorf(val, "extends: want a profile name")}, true
				}
				p.Extends = val.Value
				return nil, true
			case "description":
				return nil, true
			}
			return nil, false
		}, []string{"extends", "description"})...)
		f.Profiles[k.Value] = p
	}
	return errs
}

func (f *File) parseWrappers(n *yaml.Node, kind Kind) []error {
	var errs []error
	switch {
	case kind == Generation && n.Kind == yaml.SequenceNode:
		for _, item := range n.Content {
			w := &Wrapper{Node: item}
			errs = append(errs, parseWrapper(item, w, kind)...)
			if w.Type == "" {
				errs = append(errs, Errorf(item, "wrapper entry has no type"))
			}
			f.Wrappers = append(f.Wrappers, w)
		}
	case kind == Runtime && n.Kind == yaml.MappingNode:
		for _, kv := range pairs(n, &errs) {
			w := &Wrapper{Key: kv[0].Value, Node: kv[0]}
			errs = append(errs, parseWrapper(kv[1], w, kind)...)
			f.Wrappers = append(f.Wrappers, w)
		}
	case kind == Generation:
		errs = append(errs, Errorf(n, "wrappers: want a list of entries (- type: ...)"))
	default:
		errs = append(errs, Errorf(n, "wrappers: want a mapping keyed by wrapper type name"))
	}
	return errs
}

func parseWrapper(n *yaml.Node, w *Wrapper, kind Kind) []error {
	extra := []string{"methods"}
	if kind == Generation {
		extra = append(extra, "source", "type", "name", "output")
	}
	return parseBlock(n, &w.Block, func(k, v *yaml.Node) ([]error, bool) {
		str := func(dst *string) ([]error, bool) {
			if v.Kind != yaml.ScalarNode || v.Value == "" {
				return []error{Errorf(v, "%s: want a name", k.Value)}, true
			}
			*dst = v.Value
			return nil, true
		}
		switch {
		case k.Value == "methods":
			return parseMethods(v, w), true
		case kind != Generation:
			return nil, false
		case k.Value == "source":
			return str(&w.Source)
		case k.Value == "type":
			return str(&w.Type)
		case k.Value == "name":
			return str(&w.Name)
		case k.Value == "output":
			w.OutputN = v
			return str(&w.Output)
		}
		return nil, false
	}, extra)
}

func parseMethods(n *yaml.Node, w *Wrapper) []error {
	if n.Kind != yaml.MappingNode {
		return []error{Errorf(n, "methods: want a mapping of method names or globs")}
	}
	var errs []error
	for _, kv := range pairs(n, &errs) {
		k, v := kv[0], kv[1]
		if _, err := path.Match(k.Value, ""); err != nil {
			errs = append(errs, Errorf(k, "bad method pattern %q: %v", k.Value, err))
			continue
		}
		mb := &MethodBlock{Pattern: k.Value, Node: k}
		errs = append(errs, parseBlock(v, &mb.Block, nil, nil)...)
		w.Methods = append(w.Methods, mb)
	}
	return errs
}

// parseBlock reads a mapping of policy blocks and profile; other keys go to
// extra, which reports whether it took them.
func parseBlock(n *yaml.Node, b *Block, extra func(k, v *yaml.Node) ([]error, bool), extraKeys []string) []error {
	if n.Kind != yaml.MappingNode {
		return []error{Errorf(n, "want a mapping of policies")}
	}
	var errs []error
	known := append(append([]string{"profile"}, tooling.PolicyNames()...), extraKeys...)
	for _, kv := range pairs(n, &errs) {
		k, v := kv[0], kv[1]
		switch {
		case k.Value == "profile":
			if v.Kind != yaml.ScalarNode || v.Value == "" {
				errs = append(errs, Errorf(v, "profile: want a profile name"))
				continue
			}
			b.Profile, b.ProfileN = v.Value, v
		case IsPolicy(k.Value):
			s, e := Policy(k.Value, v)
			b.Settings = append(b.Settings, s...)
			errs = append(errs, e...)
		default:
			if extra != nil {
				if e, ok := extra(k, v); ok {
					errs = append(errs, e...)
					continue
				}
			}
			errs = append(errs, Errorf(k, "unknown key %q%s", k.Value, Suggest(k.Value, known)))
		}
	}
	return errs
}

// checkProfiles reports custom profiles that extend unknown profiles or
// each other in a cycle. Each profile is walked once: a walk along extends
// stops at a profile already checked, so a chain of thousands costs as
// much as its length.
func (f *File) checkProfiles() []error {
	const (
		unchecked = iota
		walking   // on the current walk
		checked
	)
	state := make(map[string]int, len(f.Profiles))
	onWalk := make(map[string]int) // index in walk
	var errs []error
	for _, name := range f.profileNames() {
		var walk []string
		for cur := name; state[cur] != checked; {
			if state[cur] == walking {
				// A cycle: every profile on it extends itself; those that
				// lead into it are not reported again.
				for _, m := range walk[onWalk[cur]:] {
					errs = append(errs, Errorf(f.Profiles[m].Node, "profile %s extends itself through %s", Clip(m), Clip(m)))
				}
				break
			}
			state[cur], onWalk[cur] = walking, len(walk)
			walk = append(walk, cur)
			p := f.Profiles[cur]
			ext := p.Extends
			if ext == "" || IsBuiltin(ext) {
				break
			}
			if _, ok := f.Profiles[ext]; !ok {
				errs = append(errs, Errorf(p.Node, "profile %s extends unknown profile %q%s", Clip(cur), ext, f.SuggestProfile(ext)))
				break
			}
			cur = ext
		}
		for _, m := range walk {
			state[m] = checked
			delete(onWalk, m)
		}
	}
	return errs
}

// checkProfileRefs reports the profiles that wrapper entries and their
// methods: blocks name but that are neither built in nor in the file.
func (f *File) checkProfileRefs() []error {
	var errs []error
	check := func(b *Block) {
		if b.Profile == "" || IsBuiltin(b.Profile) {
			return
		}
		if _, ok := f.Profiles[b.Profile]; ok {
			return
		}
		errs = append(errs, Errorf(b.ProfileN, "unknown profile %q%s", b.Profile, f.SuggestProfile(b.Profile)))
	}
	for _, w := range f.Wrappers {
		check(&w.Block)
		for _, m := range w.Methods {
			check(&m.Block)
		}
	}
	return errs
}

func (f *File) profileNames() []string {
	names := make([]string, 0, len(f.Profiles))
	for n := range f.Profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// AllProfiles returns the names of the built-in and custom profiles.
func (f *File) AllProfiles() []string {
	names := templates.Names()
	if f != nil {
		names = append(names, f.profileNames()...)
	}
	return names
}

// maxProfileSuggestions bounds the distinct misspelled profile names that
// SuggestProfile looks up: each lookup compares the name with every
// profile, and a file of thousands of misspellings must not cost their
// product.
const maxProfileSuggestions = 10

// SuggestProfile returns " (did you mean "NAME"?)" for a built-in or custom
// profile close to name, or "". It lists the profiles once, looks each
// name up once, and stops looking after maxProfileSuggestions names. It
// is safe for concurrent use.
func (f *File) SuggestProfile(name string) string {
	if f == nil {
		return Suggest(name, templates.Names())
	}
	f.suggest.mu.Lock()
	defer f.suggest.mu.Unlock()
	sg := &f.suggest
	if s, ok := sg.memo[name]; ok {
		return s
	}
	if len(sg.memo) >= maxProfileSuggestions {
		return ""
	}
	if sg.names == nil {
		sg.names = f.AllProfiles()
		sg.memo = make(map[string]string)
	}
	s := Suggest(name, sg.names)
	sg.memo[name] = s
	return s
}

// ProfileSettings returns the settings of a custom or built-in profile,
// those of the profiles it extends first. It walks the chain of extends
// once, and reports false for an unknown profile or a cycle (which Parse
// reports).
func (f *File) ProfileSettings(name string) ([]runtime.Setting, bool) {
	var chain []*Profile
	seen := make(map[string]bool)
	base := name // the built-in profile under the chain, if any
	for f != nil && base != "" {
		p, ok := f.Profiles[base]
		if !ok {
			break
		}
		if seen[base] {
			return nil, false
		}
		seen[base] = true
		chain = append(chain, p)
		base = p.Extends
	}
	var out []runtime.Setting
	if base != "" || len(chain) == 0 {
		s, ok := Builtin(base)
		if !ok {
			return nil, false
		}
		out = s
	}
	for i := len(chain) - 1; i >= 0; i-- {
		for _, s := range chain[i].Settings {
			out = append(out, s.Setting)
		}
	}
	return out, true
}

// IsBuiltin reports whether name is a built-in profile.
func IsBuiltin(name string) bool {
	_, ok := builtins()[name]
	return ok
}

// builtin is a built-in profile, parsed.
type builtin struct {
	settings    []runtime.Setting
	description string
}

// builtins returns each built-in profile, parsed once.
var builtins = sync.OnceValue(func() map[string]builtin {
	out := make(map[string]builtin)
	for _, name := range templates.Names() {
		src, _ := templates.Source(name)
		var doc yaml.Node
		var b builtin
		if err := yaml.Unmarshal(src, &doc); err == nil && len(doc.Content) > 0 {
			var blk Block
			parseBlock(doc.Content[0], &blk, func(k, v *yaml.Node) ([]error, bool) {
				if k.Value != "description" {
					return nil, false
				}
				b.description = scalar(v)
				return nil, true
			}, nil)
			for _, s := range blk.Settings {
				b.settings = append(b.settings, s.Setting)
			}
		}
		out[name] = b
	}
	return out
})

// Builtin returns the settings of a built-in profile: a new slice, which
// the caller may change.
func Builtin(name string) ([]runtime.Setting, bool) {
	b, ok := builtins()[name]
	if !ok {
		return nil, false
	}
	return slices.Clone(b.settings), true
}

// BuiltinDescription returns the description of a built-in profile, or "".
func BuiltinDescription(name string) string { return builtins()[name].description }

// Match reports whether a methods: pattern matches a method name.
func Match(pattern, name string) bool {
	ok, _ := path.Match(pattern, name)
	return ok
}

// IsGlob reports whether a pattern has glob characters.
func IsGlob(pattern string) bool { return strings.ContainsAny(pattern, "*?[") }

func sortErrors(errs []error) {
	sort.SliceStable(errs, func(i, j int) bool {
		a, aok := errs[i].(Error)
		b, bok := errs[j].(Error)
		if !aok || !bok {
			return aok
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// Prefix formats errs as "name:LINE:COL: message", one a line.
func Prefix(name string, errs []error) error {
	var lines []string
	for _, e := range errs {
		lines = append(lines, fmt.Sprintf("%s:%v", name, e))
	}
	return fmt.Errorf("%s", strings.Join(lines, "\n"))
}
