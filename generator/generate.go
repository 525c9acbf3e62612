// Package generator turns annotated Go interfaces into resilient wrappers:
// load (golang.org/x/tools/go/packages) → directives → model → validate →
// render (github.com/dave/jennifer) → format. cmd/resgen is a thin CLI
// over Generate and Write.
package generator

import (
	"errors"
	"fmt"
	"go/ast"
	"go/scanner"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/resgen-dev/resgen/internal/yamlconf"
)

// Config says what to generate: the CLI's flags.
type Config struct {
	// Dir is the working directory: output paths and error positions are
	// relative to it. Empty means the current directory.
	Dir string
	// Pattern names the package of the interfaces: a directory or an import
	// path. Empty means ".".
	Pattern string
	// Types are the interfaces to wrap. Empty means every interface of the
	// package that carries a //resgen: directive.
	Types []string
	// Output is the output file, with one type. Empty means
	// <snake_type>_resilient.go in Dir.
	Output string
	// Name is the wrapper's type name, with one type. Empty means
	// Resilient<Type>.
	Name string
	// Package is the package clause of the output when it is not in the
	// interface's package and Dir has no Go files to take it from.
	Package string
	// Profile is applied under the directives.
	Profile string
	// Tags are build tags used when loading, as go build -tags.
	Tags string
	// ConfigFile is a resgen.yaml: its custom profiles, and wrapper entries
	// for interfaces that cannot be annotated. With no Types and no
	// Pattern, every entry is generated. Empty means none.
	ConfigFile string
}

// File is a generated file.
type File struct {
	Path    string // as given or relative to Config.Dir
	Content []byte
	// origin is what asked for the file: its resgen.yaml entry (its
	// output: key) or its interface's directives, for errors.
	origin token.Position
}

// Generate loads the package, reads its directives and returns the wrapper
// files, gofmt-formatted. Problems with the user's code or resgen.yaml come
// back together as a scanner.ErrorList, positioned and sorted; nothing is
// written.
func Generate(cfg Config) ([]File, error) {
	if cfg.Dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("resgen: %v", err)
		}
		cfg.Dir = wd
	}
	if len(cfg.Types) > 1 && (cfg.Output != "" || cfg.Name != "") {
		return nil, fmt.Errorf("resgen: -output and -name need a single -type")
	}
	var file *yamlconf.File
	if cfg.ConfigFile != "" {
		var err error
		if file, err = loadConfigFile(cfg.Dir, cfg.ConfigFile); err != nil {
			return nil, err
		}
	}
	if file != nil && len(cfg.Types) == 0 && cfg.Pattern == "" && len(file.Wrappers) > 0 {
		// Every entry of resgen.yaml, one load per package.
		var files []File
		var errs scanner.ErrorList
		var sources []string
		entries := make(map[string][]*yamlconf.Wrapper)
		for _, e := range file.Wrappers {
			if _, ok := entries[e.Source]; !ok {
				sources = append(sources, e.Source)
			}
			entries[e.Source] = append(entries[e.Source], e)
		}
		for _, src := range sources {
			one := cfg
			one.Pattern, one.Types = src, nil
			for _, e := range entries[src] {
				one.Types = append(one.Types, e.Type)
			}
			out, err := generate(one, file, entries[src])
			if err != nil {
				// Every source's problems at once, the unpositioned
				// ones (a package that does not load) among them.
				var list scanner.ErrorList
				if !errors.As(err, &list) {
					list.Add(token.Position{}, err.Error())
				}
				errs = append(errs, list...)
				continue
			}
			files = append(files, out...)
		}
		if len(errs) > 0 {
			errs = dedupe(errs)
			return nil, errs
		}
		return files, checkOutputs(cfg.Dir, files)
	}
	files, err := generate(cfg, file, nil)
	if err != nil {
		return nil, err
	}
	return files, checkOutputs(cfg.Dir, files)
}

// checkOutputs reports the files that two wrappers of one run would both
// write: one would silently replace the other. Each of the two is reported
// at what asked for it, naming the other.
func checkOutputs(dir string, files []File) error {
	var errs scanner.ErrorList
	first := make(map[string]int)
	for i, f := range files {
		key := f.Path
		if !filepath.IsAbs(key) {
			key = filepath.Join(dir, key)
		}
		key = filepath.Clean(key)
		j, ok := first[key]
		if !ok {
			first[key] = i
			continue
		}
		prev := files[j]
		errs.Add(f.origin, fmt.Sprintf("output %s is also the output of the wrapper at %s: give each wrapper its own output", f.Path, prev.origin))
		errs.Add(prev.origin, fmt.Sprintf("output %s is also the output of the wrapper at %s: give each wrapper its own output", prev.Path, f.origin))
	}
	if len(errs) > 0 {
		return dedupe(errs)
	}
	return nil
}

// loadConfigFile parses a resgen.yaml, reporting its problems as
// file:LINE:COL: message.
func loadConfigFile(dir, path string) (*yamlconf.File, error) {
	full := path
	if !filepath.IsAbs(full) {
		full = filepath.Join(dir, path)
	}
	data, err := os.ReadFile(full)
	if err != nil {
		return nil, fmt.Errorf("resgen: %v", err)
	}
	f, errs := yamlconf.Parse(data, yamlconf.Generation)
	if len(errs) > 0 {
		return nil, yamlErrors(relPath(dir, full), errs)
	}
	return f, nil
}

func yamlErrors(name string, errs []error) scanner.ErrorList {
	var list scanner.ErrorList
	for _, e := range errs {
		var ye yamlconf.Error
		if errors.As(e, &ye) {
			list.Add(token.Position{Filename: name, Line: ye.Line, Column: ye.Col}, ye.Msg)
			continue
		}
		list.Add(token.Position{Filename: name, Line: 1, Column: 1}, e.Error())
	}
	list.Sort()
	return list
}

// generate generates the wrappers of one package; entries, when not nil,
// are the resgen.yaml entries of cfg.Types, one for one, whose names and
// outputs apply.
func generate(cfg Config, file *yamlconf.File, entries []*yamlconf.Wrapper) ([]File, error) {
	if cfg.Pattern == "" {
		cfg.Pattern = "."
	}
	l, err := load(cfg.Dir, cfg.Pattern, cfg.Tags)
	if err != nil {
		return nil, err
	}
	g := &gen{cfg: cfg, l: l, consumed: make(map[token.Pos]bool), file: file, entries: entries != nil, entryList: entries}
	targets := g.findTargets()
	if len(g.errs) == 0 && len(targets) == 0 {
		if len(cfg.Types) == 0 {
			return nil, fmt.Errorf("resgen: no interface in %s carries a //resgen: directive; name one with -type", cfg.Pattern)
		}
	}
	var wrappers []*wrapper
	for _, t := range targets {
		if w := g.buildWrapper(t); w != nil {
			wrappers = append(wrappers, w)
		}
	}
	g.validate(wrappers)
	if len(g.errs) > 0 {
		g.relativize()
		return nil, dedupe(g.errs)
	}
	var files []File
	for _, w := range wrappers {
		f, err := g.render(w)
		if err != nil {
			return nil, err
		}
		f.origin = w.origin
		f.origin.Filename = relPath(g.cfg.Dir, f.origin.Filename)
		files = append(files, f)
	}
	return files, nil
}

// gen is one run of the generator.
type gen struct {
	cfg      Config
	l        *loaded
	errs     scanner.ErrorList
	consumed map[token.Pos]bool // directive comments attached to an interface or method
	file     *yamlconf.File     // resgen.yaml, or nil
	entries  bool               // generating resgen.yaml's entries: their names and outputs apply
	// entryList holds the entry of each of cfg.Types when entries is set:
	// two entries may wrap one interface under two names.
	entryList []*yamlconf.Wrapper
}

// target is an interface to wrap, as found in the package.
type target struct {
	name  string        // as named by -type, or declared
	named *types.Named  // the interface type
	spec  *ast.TypeSpec // its declaration in this package, when it is here
	doc   *ast.CommentGroup
	itype *ast.InterfaceType // nil when declared elsewhere
	alias *types.TypeName    // the alias that named it, if any
	pos   token.Position
	entry *yamlconf.Wrapper // its resgen.yaml entry, when generating entries
}

func (g *gen) errorf(pos token.Position, format string, args ...any) {
	g.errs.Add(pos, fmt.Sprintf(format, args...))
}

// findTargets returns the interfaces to wrap.
func (g *gen) findTargets() []*target {
	specs := g.typeSpecs()
	scope := g.l.pkg.Types.Scope()
	var out []*target
	if len(g.cfg.Types) > 0 {
		for i, name := range g.cfg.Types {
			obj, ok := scope.Lookup(name).(*types.TypeName)
			if !ok {
				var ifaces []string
				for _, n := range scope.Names() {
					if tn, ok := scope.Lookup(n).(*types.TypeName); ok && types.IsInterface(tn.Type()) {
						ifaces = append(ifaces, n)
					}
				}
				g.errs.Add(token.Position{}, fmt.Sprintf("resgen: no type %s in package %s%s", name, g.l.pkg.PkgPath, yamlconf.Suggest(name, ifaces)))
				continue
			}
			t := g.targetOf(obj, specs[name])
			if t != nil {
				if i < len(g.entryList) {
					t.entry = g.entryList[i]
				}
				out = append(out, t)
			}
		}
		return out
	}
	names := make([]string, 0, len(specs))
	for name := range specs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := specs[name]
		if !hasDirective(s.doc) && !methodsHaveDirective(s.spec) {
			continue
		}
		obj, ok := scope.Lookup(name).(*types.TypeName)
		if !ok || !types.IsInterface(obj.Type()) {
			continue // its directives are reported as stray
		}
		if t := g.targetOf(obj, s); t != nil {
			out = append(out, t)
		}
	}
	return out
}

type specDoc struct {
	spec *ast.TypeSpec
	doc  *ast.CommentGroup
}

// typeSpecs returns the package's type declarations by name, with their doc
// comments.
func (g *gen) typeSpecs() map[string]specDoc {
	out := make(map[string]specDoc)
	for _, f := range g.sortedFiles() {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, s := range gd.Specs {
				ts := s.(*ast.TypeSpec)
				doc := ts.Doc
				if doc == nil && len(gd.Specs) == 1 {
					doc = gd.Doc
				}
				out[ts.Name.Name] = specDoc{ts, doc}
			}
		}
	}
	return out
}

func (g *gen) sortedFiles() []*ast.File {
	names := make([]string, 0, len(g.l.files))
	for n := range g.l.files {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*ast.File, len(names))
	for i, n := range names {
		out[i] = g.l.files[n]
	}
	return out
}

func hasDirective(doc *ast.CommentGroup) bool {
	if doc == nil {
		return false
	}
	for _, c := range doc.List {
		if strings.HasPrefix(c.Text, directivePrefix) {
			return true
		}
	}
	return false
}

func methodsHaveDirective(ts *ast.TypeSpec) bool {
	it, ok := ts.Type.(*ast.InterfaceType)
	if !ok {
		return false
	}
	for _, f := range it.Methods.List {
		if hasDirective(f.Doc) {
			return true
		}
	}
	return false
}

// targetOf checks that obj is an interface that can be wrapped.
func (g *gen) targetOf(obj *types.TypeName, s specDoc) *target {
	pos := g.l.fset.Position(obj.Pos())
	t := &target{name: obj.Name(), pos: pos, spec: s.spec, doc: s.doc}
	typ := obj.Type()
	if a, ok := typ.(*types.Alias); ok {
		typ = types.Unalias(a)
	}
	named, ok := typ.(*types.Named)
	if !ok || !types.IsInterface(named) {
		g.errorf(pos, "%s is not an interface", obj.Name())
		return nil
	}
	if a, ok := obj.Type().(*types.Alias); ok && a.TypeParams().Len() > 0 {
		g.errorf(pos, "%s is a generic alias; wrap %s itself, or an alias of one of its instantiations", obj.Name(), named.Origin().Obj().Name())
		return nil
	}
	if instantiated(named) {
		if _, ok := obj.Type().(*types.Alias); !ok {
			g.errorf(pos, "%s is an instantiated generic interface; wrap %s itself", obj.Name(), named.Origin().Obj().Name())
			return nil
		}
		// type X_YClient = grpc.ServerStreamingClient[Y]: the wrapper
		// wraps that instantiation, under the alias's name.
	}
	t.named = named
	if _, isAlias := obj.Type().(*types.Alias); isAlias {
		// type Store = store: the wrapper is named after the alias, and
		// the directives of the aliased interface's methods apply when it is
		// declared in this package.
		t.alias = obj
		if named.Obj().Pkg() == g.l.pkg.Types && named.TypeParams().Len() == 0 {
			if target, ok := g.typeSpecs()[named.Obj().Name()]; ok {
				s.spec = target.spec
			}
		}
	}
	if s.spec != nil {
		if it, ok := s.spec.Type.(*ast.InterfaceType); ok {
			t.itype = it
			if errs := g.l.typeErrorsIn(s.spec.Pos(), s.spec.End()); len(errs) > 0 {
				g.errs = append(g.errs, errs...)
				return nil
			}
		}
	}
	return t
}

// checkStrayDirectives reports //resgen: lines that are not in the doc of
// an interface or of one of its methods. The directives of interfaces that
// this run does not wrap are not stray: another run wraps them.
func (g *gen) checkStrayDirectives() {
	for _, s := range g.typeSpecs() {
		if it, ok := s.spec.Type.(*ast.InterfaceType); ok {
			g.consume(s.doc)
			for _, f := range it.Methods.List {
				if len(f.Names) > 0 {
					g.consume(f.Doc)
				}
			}
		}
	}
	for _, f := range g.sortedFiles() {
		for _, cg := range f.Comments {
			for _, c := range cg.List {
				if strings.HasPrefix(c.Text, directivePrefix) && !g.consumed[c.Slash] {
					name := strings.Fields(c.Text[len(directivePrefix):] + " x")[0]
					g.errorf(g.l.fset.Position(c.Slash),
						"//resgen:%s must be in the doc comment of an interface that is wrapped or of one of its methods", name)
				}
			}
		}
	}
}

func (g *gen) consume(doc *ast.CommentGroup) {
	if doc == nil {
		return
	}
	for _, c := range doc.List {
		if strings.HasPrefix(c.Text, directivePrefix) {
			g.consumed[c.Slash] = true
		}
	}
}

// relativize makes error positions relative to the working directory.
func (g *gen) relativize() {
	for _, e := range g.errs {
		e.Pos.Filename = relPath(g.cfg.Dir, e.Pos.Filename)
	}
}

func relPath(dir, path string) string {
	if path == "" || !filepath.IsAbs(path) {
		return path
	}
	if rel, err := filepath.Rel(dir, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}

// dedupe sorts errs and drops exact duplicates (an interface's directive
// reported for each of its methods), keeping distinct errors of one line
// and errors without a position, which RemoveMultiples would drop. Quoted
// values in the messages are cut after yamlconf.MaxQuoted bytes.
func dedupe(errs scanner.ErrorList) scanner.ErrorList {
	for _, e := range errs {
		e.Msg = yamlconf.BoundQuoted(e.Msg)
	}
	errs.Sort()
	out := errs[:0]
	for _, e := range errs {
		if n := len(out); n > 0 && out[n-1].Pos == e.Pos && out[n-1].Msg == e.Msg {
			continue
		}
		out = append(out, e)
	}
	return out
}
