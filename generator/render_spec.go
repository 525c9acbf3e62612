package generator

// This file writes the wrapper's Spec: each method's resolved Config as
// a Go literal, and its matchers.

import (
	"fmt"
	"go/types"
	"reflect"
	"strings"
	"time"

	"github.com/dave/jennifer/jen"

	"github.com/resgen-dev/resgen/internal/tooling"
	"github.com/resgen-dev/resgen/runtime"
)

// spec writes the wrapper's Spec: every guarded method's configuration.
func (r *renderer) spec() {
	w := r.w
	// Methods that resolve to the same configuration share one variable:
	// an interface of hundreds of methods (go-redis's Cmdable) mostly has
	// one or two, and a file of hundreds of equal literals is slow to
	// format and to read.
	keyOf := func(m *method) string {
		return fmt.Sprintf("%+v|%p|%p|%v", m.cfg.Normalize(), m.retryOn, m.excluded, m.ctxIndex < 0)
	}
	count := make(map[string]int)
	for _, m := range w.methods {
		if m.index >= 0 {
			count[keyOf(m)]++
		}
	}
	shared := make(map[string]string) // key → variable
	var sharedOrder []string
	var methods []jen.Code
	for _, m := range w.methods {
		if m.index < 0 {
			continue
		}
		var f fields
		f.add("Name", jen.Lit(m.name))
		if k := keyOf(m); count[k] > 1 {
			name, ok := shared[k]
			if !ok {
				name = r.g.globalName(fmt.Sprintf("%sConfig%d", unexportedName(w.name), len(sharedOrder)))
				shared[k] = name
				sharedOrder = append(sharedOrder, k)
				comment(r.f, fmt.Sprintf("%s is the configuration that several of %s's methods resolve to.", name, w.name))
				r.f.Var().Id(name).Op("=").Add(r.configLit(m))
				r.f.Line()
			}
			f.add("Config", jen.Id(name))
		} else {
			f.add("Config", r.configLit(m))
		}
		if !m.stream {
			f.add("Request", jen.True())
		}
		if m.inStream {
			f.add("InStream", jen.True())
		}
		if _, ok := shared[keyOf(m)]; ok {
			// One line a method: {Name: "Get", Config: resilientStoreConfig0}.
			methods = append(methods, jen.Values(f...))
		} else {
			methods = append(methods, f.lit(jen.Null()))
		}
	}
	iface := w.ifaceName
	if w.ifacePkg != nil {
		iface = w.ifacePkg.Name() + "." + iface
	}
	comment(r.f, fmt.Sprintf("%s is the configuration of %s's methods, resolved from the built-in defaults, "+
		"profiles and directives; run-time overrides (WithConfig) apply on top.", w.specVar, w.name))
	var f fields
	f.add("Wrapper", jen.Lit(w.name))
	f.add("Interface", jen.Lit(iface))
	f.add("Methods", jen.Index().Add(impl("MethodSpec")).Custom(jen.Options{Open: "{", Close: "}", Separator: ",", Multi: true}, methods...))
	r.f.Var().Id(w.specVar).Op("=").Add(f.lit(impl("Spec")))
	r.f.Line()
}

// configLit renders a method's resolved configuration, with defaults
// written out and zero fields left out, in the order of
// tooling.Policies. A policy that is off keeps its resolved values next
// to Disabled, so that a run-time override that turns it on gets them.
func (r *renderer) configLit(m *method) jen.Code {
	c := m.cfg.Normalize()
	var cf fields
	for _, p := range tooling.Policies {
		var f fields
		if p.Disabled(&c) || (p.Name == "timeout" && m.ctxIndex < 0) {
			f.add("Disabled", jen.True())
		}
		for i := range p.Keys {
			k := &p.Keys[i]
			if k.List {
				classes, mm := m.matcherClasses(k.Name, c), m.matcherFor(k.Name)
				if classes != 0 || mm != nil {
					f.add(k.Field, r.matcherLit(classes, mm))
				}
				continue
			}
			if v := k.GoValue(&c); !isZeroValue(v) {
				f.add(k.Field, goLit(v))
			}
		}
		cf.add(p.Field, f.lit(rt(p.Type)))
	}
	return cf.lit(rt("Config"))
}

// isZeroValue reports whether a field's value is its type's zero value.
func isZeroValue(v any) bool {
	switch v := v.(type) {
	case bool:
		return !v
	case string:
		return v == ""
	case int:
		return v == 0
	}
	return false // numbers, durations and enums are never zero once normalized
}

// goLit renders the value of a Config field: a number, a duration, a
// string or a constant of the runtime.
func goLit(v any) jen.Code {
	switch v := v.(type) {
	case bool:
		return jen.Lit(v)
	case time.Duration:
		return durationLit(v)
	case runtime.Class:
		return classLit(v)
	}
	if t := reflect.TypeOf(v); t.Kind() == reflect.String && t.PkgPath() == runtimePath {
		// An enum: Jitter "full" is JitterFull.
		return rt(t.Name() + exportedName(reflect.ValueOf(v).String()))
	}
	return jen.Lit(v) // int, float64, string
}

// fields is an ordered list of struct literal fields: jen.Dict sorts its
// keys, and a Config reads better in its declaration order.
type fields []jen.Code

func (f *fields) add(name string, value jen.Code) { *f = append(*f, jen.Id(name).Op(":").Add(value)) }

func (f fields) lit(typ *jen.Statement) *jen.Statement {
	if len(f) == 0 {
		return typ.Values()
	}
	return typ.Custom(jen.Options{Open: "{", Close: "}", Separator: ",", Multi: true}, f...)
}

// matcherLit renders a Matcher of classes and generated matcher function.
func (r *renderer) matcherLit(classes runtime.Class, m *matcher) jen.Code {
	var f fields
	if classes != 0 {
		f.add("Classes", classLit(classes))
	}
	if m != nil {
		f.add("Match", jen.Id(m.name))
	}
	if len(f) == 1 {
		return rt("Matcher").Values(f...)
	}
	return f.lit(rt("Matcher"))
}

// classLit renders a class set as the runtime's constants, named as
// Class.String names them: transient,auth is ClassesTransient | ClassAuth.
func classLit(c runtime.Class) jen.Code {
	var s *jen.Statement
	for _, name := range strings.Split(c.String(), ",") {
		var id string
		switch name {
		case "transient":
			id = "ClassesTransient"
		case "any":
			id = "ClassesAll"
		default:
			id = "Class"
			for _, word := range strings.Split(name, "_") {
				id += exportedName(word)
			}
		}
		if s == nil {
			s = rt(id)
		} else {
			s = s.Op("|").Add(rt(id))
		}
	}
	return s
}

// durationLit renders d in the largest unit that divides it: 2 * time.Second.
func durationLit(d time.Duration) jen.Code {
	units := []struct {
		d    time.Duration
		name string
	}{
		{time.Hour, "Hour"}, {time.Minute, "Minute"}, {time.Second, "Second"},
		{time.Millisecond, "Millisecond"}, {time.Microsecond, "Microsecond"},
	}
	for _, u := range units {
		if d%u.d == 0 {
			if d == u.d {
				return jen.Qual("time", u.name)
			}
			return jen.Lit(int(d/u.d)).Op("*").Qual("time", u.name)
		}
	}
	return jen.Qual("time", "Duration").Call(jen.Lit(int(d)))
}

// matcherFunc writes the function that matches a retry_on or
// excluded_errors list of Go identifiers: errors.Is for values,
// errors.AsType for types, written out.
func (r *renderer) matcherFunc(m *matcher) {
	r.f.Comment(fmt.Sprintf("%s matches %s.", m.name, r.matcherDoc(m)))
	var terms []jen.Code
	var asType []*jen.Statement // errors.AsType matches, which need a helper each
	for _, it := range m.items {
		switch o := it.obj.(type) {
		case *types.Var, *types.Const:
			terms = append(terms, jen.Qual("errors", "Is").Call(jen.Err(), r.qual(o.Pkg(), o.Name())))
		case *types.TypeName:
			t := r.qual(o.Pkg(), o.Name())
			if it.ptr {
				t = jen.Op("*").Add(t)
			}
			asType = append(asType, t)
		}
	}
	r.f.Func().Id(m.name).Params(jen.Id("err").Error()).Bool().BlockFunc(func(b *jen.Group) {
		if len(asType) == 0 {
			var expr *jen.Statement
			for i, t := range terms {
				if i == 0 {
					expr = jen.Add(t)
				} else {
					expr = expr.Op("||").Add(t)
				}
			}
			b.Return(expr)
			return
		}
		for _, t := range terms {
			b.If(t).Block(jen.Return(jen.True()))
		}
		for i, t := range asType {
			if i == len(asType)-1 {
				b.List(jen.Id("_"), jen.Id("ok")).Op(":=").Qual("errors", "AsType").Types(t).Call(jen.Err())
				b.Return(jen.Id("ok"))
				break
			}
			b.If(jen.List(jen.Id("_"), jen.Id("ok")).Op(":=").Qual("errors", "AsType").Types(t).Call(jen.Err()), jen.Id("ok")).
				Block(jen.Return(jen.True()))
		}
	})
	r.f.Line()
}
