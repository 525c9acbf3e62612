package generator

// This file writes each method's body: its local names, the pass-through
// of skipped methods and the guarded loop of the others.

import (
	"go/token"
	"go/types"
	"strconv"

	"github.com/dave/jennifer/jen"
)

// methodNames chooses the names of a wrapper method's parameters, results
// and locals: the user's parameter names where they are usable, and
// locals that clash with none of them.
type methodNames struct {
	params  []string
	results []string
	recv    string
	m, call string
	ctx     string // the context used for waits
	wrote   string // what an attempt of a resumed write wrote
	actx    string
	cancel  string
}

// reserved are the predeclared identifiers that a method body refers to,
// which a parameter must not shadow.
var reserved = map[string]bool{"nil": true, "error": true}

func (r *renderer) names(m *method) methodNames {
	used := make(map[string]bool)
	// The body refers to the runtime's package when it runs the resilience
	// loop, and to context's when the method takes no context to wait with:
	// parameters must not shadow them there.
	if m.guarded() {
		used[r.imports[runtimePath]] = true
		used[r.imports[implPath]] = true
	}
	if m.ctxIndex < 0 && (m.guarded() || m.throttled()) {
		used[r.imports["context"]] = true
	}
	if m.guarded() && m.progress == progressResume {
		used["len"], used["min"], used["max"] = true, true, true // the resumed write's count
	}
	// The receiver's type parameters share the scope of the parameters.
	for _, tp := range r.w.typeParams {
		used[tp.Obj().Name()] = true
	}
	var n methodNames
	for i, p := range m.params {
		name := p.name
		if name == "" || name == "_" || reserved[name] || used[name] {
			base := name
			switch {
			case i == m.ctxIndex && (base == "" || base == "_"):
				base = "ctx"
			case base == "" || base == "_":
				base = "p" + strconv.Itoa(i)
			}
			name = freshName(base, used)
		}
		used[name] = true
		n.params = append(n.params, name)
	}
	// Results keep the names the interface gives them, where they are free.
	n.results = make([]string, len(m.results))
	for i, res := range m.results {
		if name := res.Name(); name != "" && name != "_" && !used[name] && !reserved[name] && !token.IsKeyword(name) {
			used[name] = true
			n.results[i] = name
		}
	}
	n.recv = freshName("w", used)
	n.m = freshName("m", used)
	n.call = freshName("call", used)
	for i := range m.results {
		switch {
		case n.results[i] != "":
		case i == m.errIndex:
			n.results[i] = freshName("err", used)
		default:
			n.results[i] = freshName("r"+strconv.Itoa(i), used)
		}
	}
	if m.errInRes {
		n.results = append(n.results, freshName("err", used))
	}
	if m.ctxIndex >= 0 {
		n.ctx = n.params[m.ctxIndex]
	} else {
		n.ctx = freshName("ctx", used)
	}
	n.actx = freshName("actx", used)
	if m.progress == progressResume {
		n.wrote = freshName("wrote", used)
	}
	if m.keep {
		n.cancel = freshName("release", used)
	} else {
		n.cancel = freshName("cancel", used)
	}
	return n
}

func freshName(base string, used map[string]bool) string {
	name := base
	for i := 1; used[name] || reserved[name] || token.IsKeyword(name); i++ {
		name = base + strconv.Itoa(i)
	}
	used[name] = true
	return name
}

// method writes one wrapper method.
func (r *renderer) method(m *method) {
	w := r.w
	n := r.names(m)
	// Parameters and named results of one type share it, as gofmt'd code
	// writes them: (ctx context.Context, key, value string).
	var sigParams []jen.Code
	for i, p := range m.params {
		s := jen.Id(n.params[i])
		switch last := i == len(m.params)-1; {
		case m.variadic && last:
			s.Op("...").Add(r.typ(p.typ.(*types.Slice).Elem()))
		case !last && types.Identical(p.typ, m.params[i+1].typ) && !(m.variadic && i+1 == len(m.params)-1):
		default:
			s.Add(r.typ(p.typ))
		}
		sigParams = append(sigParams, s)
	}
	var sigResults []jen.Code
	for i, res := range m.results {
		switch {
		case !m.guarded():
			sigResults = append(sigResults, r.typ(res.Type()))
		case i+1 < len(m.results) && types.Identical(res.Type(), m.results[i+1].Type()):
			sigResults = append(sigResults, jen.Id(n.results[i]))
		default:
			sigResults = append(sigResults, jen.Id(n.results[i]).Add(r.typ(res.Type())))
		}
	}
	var args []jen.Code
	for i := range m.params {
		a := jen.Id(n.params[i])
		if m.variadic && i == len(m.params)-1 {
			a.Op("...")
		}
		args = append(args, a)
	}

	for _, line := range r.methodDoc(m, n) {
		r.f.Comment(line)
	}
	recv := jen.Id(n.recv).Op("*").Id(w.name).Add(r.typeArgs())
	fn := r.f.Func().Params(recv).Id(m.name).Params(sigParams...)
	if len(sigResults) == 1 && !m.guarded() {
		fn.Add(sigResults[0])
	} else if len(sigResults) > 0 {
		fn.Params(sigResults...)
	}
	inner := jen.Id(n.recv).Dot(w.fieldInner).Dot(m.name)

	switch {
	case m.index < 0:
		fn.Block(r.passThrough(m, inner.Call(args...)))
	case m.throttled():
		ctx := jen.Id(n.ctx)
		if m.ctxIndex < 0 {
			ctx = jen.Qual("context", "Background").Call()
		}
		fn.Block(
			jen.Comment("Rate limit: "+m.name+" returns no error, so it waits for its token whatever the strategy."),
			jen.Id(n.recv).Dot(w.fieldMethods).Index(jen.Lit(m.index)).Dot("Throttle").Call(ctx),
			r.passThrough(m, inner.Call(args...)),
		)
	default:
		fn.BlockFunc(func(b *jen.Group) { r.guardedBody(b, m, n, inner, args) })
	}
}

func (r *renderer) passThrough(m *method, call *jen.Statement) jen.Code {
	if len(m.results) == 0 {
		return call
	}
	return jen.Return(call)
}

// guardedBody writes the resilience loop.
func (r *renderer) guardedBody(b *jen.Group, m *method, n methodNames, inner *jen.Statement, args []jen.Code) {
	w := r.w
	errName := n.results[len(n.results)-1]
	if m.errIndex >= 0 {
		errName = n.results[m.errIndex]
	}
	errID := func() *jen.Statement { return jen.Id(errName) }
	var values []jen.Code // the results returned, error excluded
	for i := range m.results {
		if i != m.errIndex {
			values = append(values, jen.Id(n.results[i]))
		}
	}
	ret := func(err jen.Code) *jen.Statement {
		if m.errInRes {
			return jen.Return(values...)
		}
		return jen.Return(append(append([]jen.Code(nil), values...), err)...)
	}
	r0 := func() *jen.Statement { return jen.Id(n.results[0]) }

	b.Id(n.m).Op(":=").Id(n.recv).Dot(w.fieldMethods).Index(jen.Lit(m.index))
	if m.ctxIndex < 0 {
		b.Id(n.ctx).Op(":=").Qual("context", "Background").Call()
	}
	if m.errInRes {
		b.Var().Id(errName).Error()
	}
	b.Var().Id(n.call).Add(impl("Call"))
	b.Defer().Id(n.m).Dot("End").Call(jen.Op("&").Id(n.call))
	b.For().BlockFunc(func(l *jen.Group) {
		ctx := jen.Id(n.ctx)
		l.If(errID().Op("=").Id(n.m).Dot("Admit").Call(ctx.Clone(), jen.Op("&").Id(n.call)), errID().Op("!=").Nil()).BlockFunc(func(g *jen.Group) {
			if m.errInRes {
				switch {
				case m.setErr && m.newRes:
					g.Add(impl("ResultErr")).Call(jen.Op("&").Add(r0()), errID())
				case m.setErr && nillable(m.results[0].Type()):
					g.If(r0().Op("!=").Nil()).Block(r0().Dot("SetErr").Call(errID()))
				case m.setErr:
					// Before the first attempt there is no result to carry the error.
					g.If(jen.Id(n.call).Dot("Attempt").Call().Op(">").Lit(1)).Block(r0().Dot("SetErr").Call(errID()))
				}
			}
			g.Add(ret(errID()))
		})

		attemptCtx := ctx.Clone()
		if m.ctxIndex >= 0 {
			op := "AttemptContext"
			if m.keep {
				op = "AttemptContextKeep"
			}
			l.List(jen.Id(n.actx), jen.Id(n.cancel)).Op(":=").Id(n.m).Dot(op).Call(ctx.Clone(), jen.Op("&").Id(n.call))
			attemptCtx = jen.Id(n.actx)
		}
		callArgs := append([]jen.Code(nil), args...)
		if m.ctxIndex >= 0 {
			callArgs[m.ctxIndex] = attemptCtx
		}
		var lhs []jen.Code
		for i := range m.results {
			lhs = append(lhs, jen.Id(n.results[i]))
		}
		resume := m.progress == progressResume
		if resume {
			// The attempt writes what the earlier ones did not; its count
			// goes to the call's, within what was left.
			data := n.params[m.dataIdx]
			callArgs[m.dataIdx] = jen.Id(data).Index(r0(), jen.Empty())
			lhs[0] = jen.Id(n.wrote)
			l.Var().Id(n.wrote).Int()
		}
		call := inner.Clone().Call(callArgs...)
		if len(lhs) > 0 {
			l.List(lhs...).Op("=").Add(call)
		} else {
			l.Add(call)
		}
		if resume {
			left := jen.Len(jen.Id(n.params[m.dataIdx])).Op("-").Add(r0())
			l.Add(r0()).Op("+=").Min(jen.Max(jen.Id(n.wrote), jen.Lit(0)), left)
		}
		if m.errInRes {
			if nillable(m.results[0].Type()) {
				l.Id(errName).Op("=").Nil()
				l.If(r0().Op("!=").Nil()).Block(errID().Op("=").Add(r0()).Dot("Err").Call())
			} else {
				l.Id(errName).Op("=").Add(r0()).Dot("Err").Call()
			}
		}
		if m.ctxIndex >= 0 {
			if m.keep {
				l.Id(n.cancel).Call(errID())
			} else {
				l.Id(n.cancel).Call()
			}
		}
		l.If(errID().Op("==").Nil()).Block(
			jen.Id(n.m).Dot("Success").Call(jen.Op("&").Id(n.call)),
			ret(jen.Nil()),
		)
		if m.progress == progressStop {
			// Above 0: a negative count reports nothing done (Sarama's
			// SendMessage returns partition -1 with its error).
			l.If(r0().Op(">").Lit(0)).Block(
				jen.Comment("The attempt did part of the work: another would repeat it."),
				ret(jen.Id(n.m).Dot("Progress").Call(ctx.Clone(), jen.Op("&").Id(n.call), errID())),
			)
		}
		l.If(errID().Op("=").Id(n.m).Dot("Failure").Call(ctx.Clone(), jen.Op("&").Id(n.call), errID()), errID().Op("!=").Nil()).Block(ret(errID()))
		l.If(errID().Op("=").Id(n.m).Dot("Backoff").Call(ctx.Clone(), jen.Op("&").Id(n.call)), errID().Op("!=").Nil()).BlockFunc(func(g *jen.Group) {
			switch {
			case m.errInRes && m.setErr && nillable(m.results[0].Type()):
				g.If(r0().Op("!=").Nil()).Block(r0().Dot("SetErr").Call(errID()))
			case m.errInRes && m.setErr:
				g.Add(r0().Dot("SetErr").Call(errID()))
			}
			g.Add(ret(errID()))
		})
	})
}

// nillable reports whether a value of t can be nil.
func nillable(t types.Type) bool {
	switch t.Underlying().(type) {
	case *types.Pointer, *types.Interface, *types.Map, *types.Slice, *types.Chan, *types.Signature:
		return true
	}
	return false
}
