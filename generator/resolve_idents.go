package generator

// This file resolves the Go identifiers of retry_on and excluded_errors
// (io.EOF, redis.Nil) to their packages, and collects matchers.

import (
	"fmt"
	"go/token"
	"go/types"
	"strings"

	"github.com/resgen-dev/resgen/internal/tooling"
	"github.com/resgen-dev/resgen/internal/yamlconf"
	"github.com/resgen-dev/resgen/runtime"
)

// parseIdents reads a retry_on or excluded_errors list: error classes and
// Go identifiers, resolved with type information in the interface's
// package (a value is matched with errors.Is, a type with errors.As).
func (g *gen) parseIdents(a arg, w *wrapper) *idents {
	ids := &idents{pos: a.pos}
	for _, item := range strings.Split(a.value, ",") {
		if item == "" {
			g.errorf(a.pos, "empty item in %s", a.key)
			continue
		}
		var c runtime.Class
		if c.UnmarshalText([]byte(item)) == nil {
			// The class's checks are Apply's, as for every other key.
			var scratch runtime.Config
			if err := scratch.Apply(runtime.Setting{Policy: matcherPolicy(a.key), Key: a.key, Value: item}); err != nil {
				g.errorf(a.pos, "%v", err)
				continue
			}
			ids.classes |= c
			continue
		}
		mi, err := g.resolveIdent(item, a.pos)
		if err != "" {
			g.errorf(a.pos, "%s: %s", a.key, err)
			continue
		}
		ids.items = append(ids.items, mi)
	}
	return ids
}

// matcherPolicy returns the policy of the key retry_on or
// excluded_errors.
func matcherPolicy(key string) string {
	if key == "retry_on" {
		return "retry"
	}
	return "circuit_breaker"
}

// resolveIdent resolves a Go identifier of a retry_on or excluded_errors
// list: Name, pkg.Name or *pkg.Name, in the scope of the file at pos.
func (g *gen) resolveIdent(item string, pos token.Position) (matchItem, string) {
	ptr := strings.HasPrefix(item, "*")
	name := strings.TrimPrefix(item, "*")
	var obj types.Object
	if dot := strings.LastIndex(name, "."); dot > 0 {
		pkgName, sel := name[:dot], name[dot+1:]
		pkg := g.importedAs(pos.Filename, pkgName)
		if pkg == nil {
			// resgen.yaml, or a package the file does not import: a package
			// of the interface's import graph, by name or import path.
			pkg = g.findPackage(pkgName)
		}
		if pkg == nil {
			return matchItem{}, fmt.Sprintf("unknown error class or identifier %q: package %s is not imported by %s%s",
				item, yamlconf.Clip(pkgName), relPath(g.cfg.Dir, pos.Filename), yamlconf.Suggest(item, tooling.ClassNames()))
		}
		obj = pkg.Scope().Lookup(sel)
		if obj == nil || !obj.Exported() {
			return matchItem{}, fmt.Sprintf("%s has no exported %s", pkg.Path(), yamlconf.Clip(sel))
		}
	} else {
		obj = g.l.pkg.Types.Scope().Lookup(name)
		if obj == nil {
			obj = types.Universe.Lookup(name)
		}
		if obj == nil {
			return matchItem{}, fmt.Sprintf("unknown error class or identifier %q%s", item, yamlconf.Suggest(item, tooling.ClassNames()))
		}
	}
	errType := types.Universe.Lookup("error").Type().Underlying().(*types.Interface)
	switch o := obj.(type) {
	case *types.Var, *types.Const: // a sentinel: var ErrX = errors.New(...), or const Nil = RedisError("...")
		if ptr {
			return matchItem{}, fmt.Sprintf("%s is a value: write it without *", name)
		}
		if !types.Implements(o.Type(), errType) {
			return matchItem{}, fmt.Sprintf("%s is not an error value", name)
		}
		return matchItem{obj: o}, ""
	case *types.TypeName:
		t := o.Type()
		if ptr {
			t = types.NewPointer(t)
		}
		if !types.Implements(t, errType) {
			return matchItem{}, fmt.Sprintf("%s does not implement error", item)
		}
		if _, isIface := t.Underlying().(*types.Interface); isIface && ptr {
			return matchItem{}, fmt.Sprintf("%s: a pointer to an interface is never an error", item)
		}
		if n, ok := types.Unalias(o.Type()).(*types.Named); ok && n.TypeParams().Len() > 0 {
			return matchItem{}, fmt.Sprintf("%s is generic: errors.As needs a concrete type", name)
		}
		return matchItem{obj: o, ptr: ptr}, ""
	}
	return matchItem{}, fmt.Sprintf("%s is neither an error value nor an error type", item)
}

// findPackage returns the package called ref (its name or its import
// path) among the loaded package and everything it imports.
func (g *gen) findPackage(ref string) *types.Package {
	seen := make(map[*types.Package]bool)
	queue := []*types.Package{g.l.pkg.Types}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		if p.Path() == ref || p.Name() == ref {
			return p
		}
		queue = append(queue, p.Imports()...)
	}
	return nil
}

// importedAs returns the package that the file imports under name.
func (g *gen) importedAs(filename, name string) *types.Package {
	f := g.l.files[filename]
	if f == nil {
		return nil
	}
	for _, imp := range f.Imports {
		path := strings.Trim(imp.Path.Value, `"`)
		pkg := g.l.pkg.Imports[path]
		if pkg == nil || pkg.Types == nil {
			continue
		}
		local := pkg.Types.Name()
		if imp.Name != nil {
			local = imp.Name.Name
		}
		if local == name {
			return pkg.Types
		}
	}
	return nil
}

// addMatcher returns the wrapper's matcher for items, sharing equal ones.
func (w *wrapper) addMatcher(items []matchItem) *matcher {
	for _, m := range w.matchers {
		if sameItems(m.items, items) {
			return m
		}
	}
	m := &matcher{items: items}
	w.matchers = append(w.matchers, m)
	return m
}

func sameItems(a, b []matchItem) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
