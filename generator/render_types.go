package generator

// This file prints the types of the wrapped interface's methods as the
// output package spells them.

import (
	"fmt"
	"go/types"

	"github.com/dave/jennifer/jen"
)

// ifaceType returns the wrapped interface, instantiated with the wrapper's
// type parameters.
func (r *renderer) ifaceType() *jen.Statement {
	obj := r.w.ifaceRef
	s := r.qual(obj.Pkg(), obj.Name())
	return s.Add(r.typeArgs())
}

func (r *renderer) typeParamDecl() *jen.Statement {
	if len(r.w.typeParams) == 0 {
		return jen.Null()
	}
	var params []jen.Code
	for _, tp := range r.w.typeParams {
		params = append(params, jen.Id(tp.Obj().Name()).Add(r.constraint(tp.Constraint())))
	}
	return jen.Types(params...)
}

func (r *renderer) typeArgs() *jen.Statement {
	if len(r.w.typeParams) == 0 {
		return jen.Null()
	}
	var args []jen.Code
	for _, tp := range r.w.typeParams {
		args = append(args, jen.Id(tp.Obj().Name()))
	}
	return jen.Types(args...)
}

// constraint renders a type parameter's constraint, unwrapping the
// implicit interface of a union (T ~int | ~string).
func (r *renderer) constraint(t types.Type) jen.Code {
	if it, ok := t.(*types.Interface); ok && it.IsImplicit() && it.NumEmbeddeds() == 1 {
		return r.typ(it.EmbeddedType(0))
	}
	return r.typ(t)
}

// qual refers to name of pkg, importing pkg under its own name.
func (r *renderer) qual(pkg *types.Package, name string) *jen.Statement {
	if pkg == nil {
		return jen.Id(name)
	}
	if _, done := r.imports[pkg.Path()]; !done && pkg.Path() != r.outPath {
		r.importAs(pkg.Path(), pkg.Name(), false)
	}
	return jen.Qual(pkg.Path(), name)
}

// typ renders a type: the one function that turns go/types into code.
func (r *renderer) typ(t types.Type) *jen.Statement {
	switch t := t.(type) {
	case *types.Basic:
		if t.Kind() == types.Invalid {
			// A type that did not type-check: load reports why, so this
			// is only a guard against writing code that cannot compile.
			r.errs = append(r.errs, fmt.Sprintf("%s uses a type that does not type-check", r.w.ifaceName))
			return jen.Id("invalid")
		}
		if t.Kind() == types.UnsafePointer {
			return jen.Qual("unsafe", "Pointer")
		}
		return jen.Id(t.Name())
	case *types.Alias:
		obj := t.Obj()
		if obj.Pkg() == nil {
			return jen.Id(obj.Name()) // any
		}
		if obj.Exported() && importable(obj.Pkg().Path(), r.outImport()) || obj.Pkg().Path() == r.outPath {
			s := r.qual(obj.Pkg(), obj.Name())
			if args := t.TypeArgs(); args != nil && args.Len() > 0 {
				s.Add(r.typeList(args))
			}
			return s
		}
		return r.typ(types.Unalias(t))
	case *types.Named:
		obj := t.Obj()
		if obj.Pkg() == nil {
			return jen.Id(obj.Name()) // error, comparable
		}
		if !obj.Exported() && obj.Pkg().Path() != r.outPath {
			r.errs = append(r.errs, fmt.Sprintf("%s uses the unexported type %s of package %s, which a wrapper outside it cannot name",
				r.w.ifaceName, obj.Name(), obj.Pkg().Path()))
		}
		s := r.qual(obj.Pkg(), obj.Name())
		if args := t.TypeArgs(); args != nil && args.Len() > 0 {
			s.Add(r.typeList(args))
		}
		return s
	case *types.TypeParam:
		return jen.Id(t.Obj().Name())
	case *types.Pointer:
		return jen.Op("*").Add(r.typ(t.Elem()))
	case *types.Slice:
		return jen.Index().Add(r.typ(t.Elem()))
	case *types.Array:
		return jen.Index(jen.Lit(int(t.Len()))).Add(r.typ(t.Elem()))
	case *types.Map:
		return jen.Map(r.typ(t.Key())).Add(r.typ(t.Elem()))
	case *types.Chan:
		elem := r.typ(t.Elem())
		if c, ok := t.Elem().(*types.Chan); ok && c.Dir() == types.RecvOnly && t.Dir() == types.SendRecv {
			elem = jen.Parens(elem) // chan (<-chan int), not chan<- chan int
		}
		switch t.Dir() {
		case types.SendOnly:
			return jen.Chan().Op("<-").Add(elem)
		case types.RecvOnly:
			return jen.Op("<-").Chan().Add(elem)
		}
		return jen.Chan().Add(elem)
	case *types.Signature:
		return jen.Func().Add(r.signature(t))
	case *types.Struct:
		var fields []jen.Code
		for i := 0; i < t.NumFields(); i++ {
			fv := t.Field(i)
			var field *jen.Statement
			if fv.Embedded() {
				field = r.typ(fv.Type())
			} else {
				field = jen.Id(fv.Name()).Add(r.typ(fv.Type()))
			}
			if tag := t.Tag(i); tag != "" {
				field.Op("`" + tag + "`")
			}
			fields = append(fields, field)
		}
		return jen.Struct(fields...)
	case *types.Interface:
		if t.Empty() && !t.IsImplicit() {
			return jen.Any()
		}
		var elems []jen.Code
		for i := 0; i < t.NumEmbeddeds(); i++ {
			elems = append(elems, r.typ(t.EmbeddedType(i)))
		}
		for i := 0; i < t.NumExplicitMethods(); i++ {
			m := t.ExplicitMethod(i)
			elems = append(elems, jen.Id(m.Name()).Add(r.signature(m.Type().(*types.Signature))))
		}
		if len(elems) == 1 {
			return jen.Id("interface").Custom(jen.Options{Open: "{ ", Close: " }"}, elems...) // as gofmt writes it
		}
		return jen.Interface(elems...)
	case *types.Union:
		var terms []jen.Code
		for i := 0; i < t.Len(); i++ {
			term := t.Term(i)
			s := r.typ(term.Type())
			if term.Tilde() {
				s = jen.Op("~").Add(s)
			}
			terms = append(terms, s)
		}
		return jen.Union(terms...)
	}
	r.errs = append(r.errs, fmt.Sprintf("cannot render type %s", t))
	return jen.Id("invalid")
}

func (r *renderer) typeList(l *types.TypeList) *jen.Statement {
	var args []jen.Code
	for i := 0; i < l.Len(); i++ {
		args = append(args, r.typ(l.At(i)))
	}
	return jen.Types(args...)
}

// signature renders the parameters and results of a func type, with their
// names when they have them.
func (r *renderer) signature(sig *types.Signature) *jen.Statement {
	names := varNames(sig.Params())
	var params []jen.Code
	for i := 0; i < sig.Params().Len(); i++ {
		p := sig.Params().At(i)
		var s *jen.Statement
		if names != nil {
			s = jen.Id(names[i])
		} else {
			s = jen.Null()
		}
		if sig.Variadic() && i == sig.Params().Len()-1 {
			s.Op("...").Add(r.typ(p.Type().(*types.Slice).Elem()))
		} else {
			s.Add(r.typ(p.Type()))
		}
		params = append(params, s)
	}
	out := jen.Params(params...)
	res := sig.Results()
	resNames := varNames(res)
	switch {
	case res.Len() == 0:
	case res.Len() == 1 && resNames == nil:
		out.Add(r.typ(res.At(0).Type()))
	default:
		var rs []jen.Code
		for i := 0; i < res.Len(); i++ {
			s := r.typ(res.At(i).Type())
			if resNames != nil {
				s = jen.Id(resNames[i]).Add(s)
			}
			rs = append(rs, s)
		}
		out.Params(rs...)
	}
	return out
}

// varNames returns the names of a func type's parameters or results, or
// nil when they have none: Go names all of them or none.
func varNames(t *types.Tuple) []string {
	if t.Len() == 0 || t.At(0).Name() == "" {
		return nil
	}
	names := make([]string, t.Len())
	for i := range names {
		names[i] = t.At(i).Name()
	}
	return names
}
