package generator

import (
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
)

// exportedName returns name with its first letter upper-cased.
func exportedName(name string) string {
	r := []rune(name)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// unexportedName returns name with its leading upper-case run lowered:
// ResilientStore → resilientStore, HTTPClient → httpClient.
func unexportedName(name string) string {
	r := []rune(name)
	for i := 0; i < len(r) && unicode.IsUpper(r[i]); i++ {
		if i > 0 && i+1 < len(r) && unicode.IsLower(r[i+1]) {
			break
		}
		r[i] = unicode.ToLower(r[i])
	}
	return string(r)
}

// snakeName returns the file-name form of a type name: Store → store,
// HTTPClient → http_client, ReadWriteCloser → read_write_closer.
func snakeName(name string) string {
	r := []rune(name)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) {
			if i > 0 && (unicode.IsLower(r[i-1]) || (i+1 < len(r) && unicode.IsLower(r[i+1]) && unicode.IsUpper(r[i-1]))) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(c))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// outputPath returns where w's file goes.
func (g *gen) outputPath(w *wrapper) string {
	out := g.cfg.Output
	if w.output != "" {
		out = w.output
	}
	if out != "" {
		if filepath.IsAbs(out) {
			return out
		}
		return filepath.Join(g.cfg.Dir, out)
	}
	return filepath.Join(g.cfg.Dir, snakeName(w.ifaceName)+"_resilient.go")
}

// pkgDir returns the directory of the loaded package.
func (g *gen) pkgDir() string {
	files := g.l.pkg.GoFiles
	if len(files) == 0 {
		files = g.l.pkg.CompiledGoFiles
	}
	if len(files) == 0 {
		return ""
	}
	return filepath.Dir(files[0])
}

// outputPkgPath returns the import path of the output's package, or "" when
// the output is not in the interface's package.
func (g *gen) outputPkgPath(w *wrapper) string {
	if sameDir(filepath.Dir(g.outputPath(w)), g.pkgDir()) {
		return g.l.pkg.PkgPath
	}
	return ""
}

func sameDir(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	ea, err1 := filepath.EvalSymlinks(a)
	eb, err2 := filepath.EvalSymlinks(b)
	if err1 == nil && err2 == nil {
		return ea == eb
	}
	return filepath.Clean(a) == filepath.Clean(b)
}

// outputPackage returns the package clause of w's file: the interface's
// package when the file goes next to it; otherwise -package, or the package
// of the Go files already in the output directory.
func (g *gen) outputPackage(w *wrapper) (string, error) {
	if g.outputPkgPath(w) != "" {
		return g.l.pkg.Name, nil
	}
	if g.cfg.Package != "" {
		return g.cfg.Package, nil
	}
	dir := filepath.Dir(g.outputPath(w))
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		n := e.Name()
		if !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, n), nil, parser.PackageClauseOnly)
		if err == nil {
			return f.Name.Name, nil
		}
	}
	return "", fmt.Errorf("resgen: %s goes outside package %s, and %s has no Go files to take a package name from: use -package",
		relPath(g.cfg.Dir, g.outputPath(w)), g.l.pkg.PkgPath, relPath(g.cfg.Dir, dir))
}

// globalName returns base, or base with a number, so that it clashes with
// no name of the package. Names of a generated file are free: resgen's own
// files are left out of loading.
func (g *gen) globalName(base string) string {
	scope := g.l.pkg.Types.Scope()
	name := base
	for i := 1; scope.Lookup(name) != nil; i++ {
		name = fmt.Sprintf("%s%d", base, i)
	}
	return name
}

// chooseNames picks the wrapper's field, accessor and package-level names
// so that they clash neither with the interface's methods nor with the
// package's own names (validate reports the wrapper's own names that
// clash).
func (g *gen) chooseNames(w *wrapper) {
	methods := make(map[string]bool)
	for _, m := range w.methods {
		methods[m.name] = true
	}
	for _, f := range w.forwarded {
		methods[f.name] = true // a field would hide a promoted method
	}
	pick := func(base string) string {
		name := base
		for i := 1; methods[name]; i++ {
			name = fmt.Sprintf("%s%d", base, i)
		}
		methods[name] = true
		return name
	}
	w.fieldInner = pick("inner")
	if len(w.forwarded) > 0 {
		// The wrapped value is embedded, under a local alias of its
		// interface: the alias's name is the field's.
		w.embedName = pick(g.globalName(unexportedName(w.name) + "Inner"))
		w.fieldInner = w.embedName
	}
	w.fieldManager = pick("manager")
	w.fieldMethods = pick("methods")
	w.unwrap = !methods["Unwrap"]
	w.resilience = !methods["Resilience"]

	base := unexportedName(w.name)
	w.specVar = g.globalName(base + "Spec")
	for i, m := range w.matchers {
		m.name = g.globalName(fmt.Sprintf("%sMatch%d", base, i))
	}
}

// sortMethods sorts methods by name.
func sortMethods(methods []*method) {
	sort.SliceStable(methods, func(i, j int) bool { return methods[i].name < methods[j].name })
}
