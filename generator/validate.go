package generator

import (
	"go/token"
	"go/types"
)

// validate is the stage between the model and render: it checks the
// wrappers of one package as a whole and adds every problem, positioned,
// to g.errs, so that render only formats. Each setting's type and range,
// and each Config's consistency, are checked where the layers are
// resolved (resolve), at the position of the setting that made the
// problem.
func (g *gen) validate(wrappers []*wrapper) {
	for _, w := range wrappers {
		g.checkGroups(w)
		g.checkDeclared(w)
		g.checkTypes(w)
		if pkg, err := g.outputPackage(w); err != nil {
			g.errorf(token.Position{}, "%v", err)
		} else {
			w.pkgName = pkg
		}
	}
	g.checkStrayDirectives()
}

// checkDeclared reports a wrapper type, or its constructor, whose name the
// package already declares.
func (g *gen) checkDeclared(w *wrapper) {
	if g.outputPkgPath(w) == "" {
		return
	}
	scope := g.l.pkg.Types.Scope()
	for _, name := range []string{w.name, "New" + w.name} {
		if scope.Lookup(name) != nil {
			g.errorf(w.pos, "%s is already declared in package %s: choose another name with -name", name, g.l.pkg.Name)
		}
	}
}

// checkTypes reports the types of w's methods and type parameters that
// its file cannot name: unexported types of another package, and types
// that did not type-check.
func (g *gen) checkTypes(w *wrapper) {
	out := g.outputPkgPath(w)
	for _, tp := range w.typeParams {
		g.checkType(w, w.pos, tp.Constraint(), out, make(map[types.Type]bool))
	}
	for _, m := range w.methods {
		seen := make(map[types.Type]bool)
		for _, p := range m.params {
			g.checkType(w, m.pos, p.typ, out, seen)
		}
		for _, r := range m.results {
			g.checkType(w, m.pos, r.Type(), out, seen)
		}
	}
}

// checkType walks t as render writes it: a named type by its name, an
// alias that cannot be named by what it stands for.
func (g *gen) checkType(w *wrapper, pos token.Position, t types.Type, out string, seen map[types.Type]bool) {
	if seen[t] {
		return
	}
	seen[t] = true
	walk := func(t types.Type) { g.checkType(w, pos, t, out, seen) }
	walkTuple := func(tu *types.Tuple) {
		for i := 0; i < tu.Len(); i++ {
			walk(tu.At(i).Type())
		}
	}
	walkArgs := func(l *types.TypeList) {
		for i := 0; l != nil && i < l.Len(); i++ {
			walk(l.At(i))
		}
	}
	switch t := t.(type) {
	case *types.Basic:
		if t.Kind() == types.Invalid {
			g.errorf(pos, "%s uses a type that does not type-check", w.ifaceName)
		}
	case *types.Alias:
		obj := t.Obj()
		if obj.Pkg() != nil && (obj.Exported() || obj.Pkg().Path() == out) {
			walkArgs(t.TypeArgs())
			return
		}
		if obj.Pkg() != nil {
			walk(types.Unalias(t))
		}
	case *types.Named:
		obj := t.Obj()
		if obj.Pkg() != nil && !obj.Exported() && obj.Pkg().Path() != out {
			g.errorf(pos, "%s uses the unexported type %s of package %s, which a wrapper outside it cannot name",
				w.ifaceName, obj.Name(), obj.Pkg().Path())
		}
		walkArgs(t.TypeArgs())
	case *types.Pointer:
		walk(t.Elem())
	case *types.Slice:
		walk(t.Elem())
	case *types.Array:
		walk(t.Elem())
	case *types.Map:
		walk(t.Key())
		walk(t.Elem())
	case *types.Chan:
		walk(t.Elem())
	case *types.Signature:
		walkTuple(t.Params())
		walkTuple(t.Results())
	case *types.Struct:
		for i := 0; i < t.NumFields(); i++ {
			walk(t.Field(i).Type())
		}
	case *types.Interface:
		for i := 0; i < t.NumEmbeddeds(); i++ {
			walk(t.EmbeddedType(i))
		}
		for i := 0; i < t.NumExplicitMethods(); i++ {
			walk(t.ExplicitMethod(i).Type())
		}
	case *types.Union:
		for i := 0; i < t.Len(); i++ {
			walk(t.Term(i).Type())
		}
	case *types.TypeParam:
	default:
		g.errorf(pos, "resgen cannot write the type %s", t)
	}
}

// number sorts w's methods by name and gives each guarded one its index
// in the Spec, which render writes and generated code reads.
func (w *wrapper) number() {
	sortMethods(w.methods)
	n := 0
	for _, m := range w.methods {
		if m.skip {
			m.index = -1
			continue
		}
		m.index = n
		n++
	}
}
