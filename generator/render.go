package generator

import (
	"bytes"
	"fmt"
	"go/token"
	"go/types"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dave/jennifer/jen"

	"github.com/resgen-dev/resgen/runtime"
)

const (
	runtimePath = "github.com/resgen-dev/resgen/runtime"
	// runtimeAlias is the name generated files import the runtime under: it
	// reads well (resgen.Call) and never clashes with the standard library's
	// runtime package.
	runtimeAlias = "resgen"
	// genVersion is the version of the generated code, checked against the
	// runtime's MinGenVersion and MaxGenVersion at compile time.
	genVersion = 1
)

// renderer writes one wrapper's file.
type renderer struct {
	g       *gen
	w       *wrapper
	f       *jen.File
	outPath string
	errs    []string
	imports map[string]string    // the names packages are imported under, by path (jennifer may still rename clashes)
	common  []string             // the policy lines most methods share, said once on the type
	errNote bool                 // the type's doc says errInResNote
	lines   map[*method][]string // each method's policy lines, made once
}

// importAs imports path under name, or, when the output's package declares
// name itself (a func time, a var errors), under another name: a file may
// not import a name that its package declares.
func (r *renderer) importAs(path, name string, alias bool) {
	if r.imports == nil {
		r.imports = make(map[string]string)
	}
	if r.outPath != "" && r.g != nil {
		scope := r.g.l.pkg.Types.Scope()
		for base, i := name, 0; scope.Lookup(name) != nil; i++ {
			name, alias = base+"pkg", true
			if i > 0 {
				name += strconv.Itoa(i)
			}
		}
	}
	r.imports[path] = name
	if alias {
		r.f.ImportAlias(path, name)
	} else {
		r.f.ImportName(path, name)
	}
}

func (g *gen) render(w *wrapper) (File, error) {
	pkgName := w.pkgName
	r := &renderer{g: g, w: w, outPath: g.outputPkgPath(w)}
	if r.outPath != "" {
		r.f = jen.NewFilePathName(r.outPath, pkgName)
	} else {
		r.f = jen.NewFile(pkgName)
	}
	r.f.HeaderComment(GeneratedHeader)
	r.imports = make(map[string]string)
	r.importAs(runtimePath, runtimeAlias, true)
	r.importAs("context", "context", false)
	r.importAs("errors", "errors", false)
	r.importAs("time", "time", false)
	r.file()
	if len(r.errs) > 0 {
		var list []string
		for _, e := range r.errs {
			list = append(list, fmt.Sprintf("%s: %s", relPos(g.cfg.Dir, w.pos), e))
		}
		return File{}, fmt.Errorf("%s", strings.Join(list, "\n"))
	}
	var buf bytes.Buffer
	if err := r.f.Render(&buf); err != nil {
		// jen's error carries the unformatted source after its first line:
		// keep the line, which says where formatting failed.
		msg, _, _ := strings.Cut(err.Error(), "\n")
		return File{}, fmt.Errorf("resgen: internal error: the wrapper %s does not format: %s", w.name, strings.TrimSuffix(msg, ":"))
	}
	// Render has gofmt'd the file; group the standard library's imports
	// apart, as goimports does, without formatting it all again.
	return File{Path: relPath(g.cfg.Dir, g.outputPath(w)), Content: groupImports(buf.Bytes())}, nil
}

// groupImports splits the import block of a gofmt'd file in two groups,
// the standard library's first, as goimports writes them. Each group stays
// sorted, so the file stays gofmt'd.
func groupImports(src []byte) []byte {
	const open, end = "\nimport (\n", "\n)\n"
	i := bytes.Index(src, []byte(open))
	if i < 0 {
		return src
	}
	start := i + len(open)
	j := bytes.Index(src[start:], []byte(end))
	if j < 0 {
		return src
	}
	var std, other []string
	for _, line := range strings.Split(string(src[start:start+j]), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		path := line[strings.Index(line, `"`)+1:]
		if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") {
			other = append(other, line)
		} else {
			std = append(std, line)
		}
	}
	block := strings.Join(std, "\n")
	if len(std) > 0 && len(other) > 0 {
		block += "\n\n"
	}
	block += strings.Join(other, "\n")
	var out bytes.Buffer
	out.Write(src[:start])
	out.WriteString(block)
	out.Write(src[start+j:])
	return out.Bytes()
}

func relPos(dir string, p token.Position) string {
	p.Filename = relPath(dir, p.Filename)
	return p.String()
}

// commentWidth is where doc comments wrap: the column of the last
// character, counting the leading "// ".
const commentWidth = 80

// policyWidth is the width of a policy's lines in a doc comment: a code
// block, which reads better wider than prose.
const policyWidth = 100

// comment writes text as a comment, wrapped at commentWidth; blank lines
// ("\n\n") separate paragraphs, and a paragraph whose lines are indented
// is a block, written as it is.
func comment(f *jen.File, text string) {
	for i, para := range strings.Split(text, "\n\n") {
		if i > 0 {
			f.Comment("")
		}
		if strings.HasPrefix(para, " ") {
			for _, line := range strings.Split(para, "\n") {
				f.Comment(line)
			}
			continue
		}
		for _, line := range wrap(para, commentWidth-3) {
			f.Comment(line)
		}
	}
}

// wrap splits text into lines of at most width bytes, at spaces; a longer
// word gets a line of its own.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		switch {
		case line == "":
			line = word
		case len(line)+1+len(word) <= width:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

func rt(name string) *jen.Statement { return jen.Qual(runtimePath, name) }

// file writes the whole file.
func (r *renderer) file() {
	w, f := r.w, r.f
	f.Comment("Fail to compile when the runtime no longer supports this generated code:")
	f.Comment("regenerate it with the resgen of the runtime in go.mod.")
	f.Const().Defs(
		jen.Id("_").Op("=").Add(rt("EnforceVersion")).Call(jen.Lit(genVersion).Op("-").Add(rt("MinGenVersion"))),
		jen.Id("_").Op("=").Add(rt("EnforceVersion")).Call(rt("MaxGenVersion").Op("-").Lit(genVersion)),
	)
	f.Line()

	ifaceRef := r.ifaceType()
	guarded := 0
	for _, m := range w.methods {
		if m.index >= 0 {
			guarded++
		}
	}
	r.commonPolicies()

	// The type.
	doc := fmt.Sprintf("%s wraps an implementation of %s with retry, a circuit breaker, a rate limit, "+
		"per-attempt timeouts and recovery, resolved from its profile, directives and resgen.yaml and written out "+
		"in each method below. Build one with New%s: its zero value is not usable. It is safe for concurrent use "+
		"when the wrapped value is. A panic in the wrapped value is not recovered: it reaches the caller unchanged, "+
		"and is not retried; its attempt is recorded as failed (End), so that a circuit breaker's half-open probe "+
		"that panics opens it again for one interval instead of holding its slot.", w.name, w.ifaceName, w.name)
	if guarded > 0 {
		doc += "\n\nEach method runs one loop: the circuit breaker, adaptive throttling, the concurrency limit and " +
			"the rate limit admit every attempt (Admit); the attempt runs under its own timeout; a success is recorded (Success); a " +
			"failure is classified, recorded and recovered from, and decides whether to retry, within the retry " +
			"budget (Failure); the call then backs off, " +
			"exponentially with jitter or for the server's Retry-After (Backoff), and tries again."
	}
	if r.common != nil {
		doc += "\n\nUnless a method's doc says otherwise, it runs with:\n\n" + strings.Join(r.common, "\n")
	}
	if r.errNote {
		doc += "\n\n" + errInResNote
	}
	if !w.unwrap {
		doc += "\n\n" + w.ifaceName + " has a method Unwrap, so the wrapper has no Unwrap accessor of its own."
	}
	if !w.resilience {
		doc += "\n\n" + w.ifaceName + " has a method Resilience, so the wrapper has no Resilience accessor of its own: " +
			w.name + "Manager returns its Manager."
	}
	if isStream(w.iface.Underlying().(*types.Interface)) {
		doc += "\n\n" + streamDoc(w)
	}
	if len(w.forwarded) > 0 {
		doc += "\n\n" + forwardedDoc(w)
	}
	comment(f, doc)
	inner := jen.Id(w.fieldInner).Add(ifaceRef)
	if w.embedName != "" {
		inner = jen.Id(w.embedName) // embedded: its methods are promoted
	}
	fields := []jen.Code{
		inner,
		jen.Id(w.fieldManager).Op("*").Add(rt("Manager")),
	}
	if guarded > 0 {
		fields = append(fields, jen.Id(w.fieldMethods).Index(jen.Lit(guarded)).Op("*").Add(rt("Method")))
	}
	f.Type().Id(w.name).Add(r.typeParamDecl()).Struct(fields...)
	f.Line()
	if w.embedName != "" {
		comment(f, fmt.Sprintf("%s is %s under a name of this file: %s embeds it in a field of that name, "+
			"which is not exported.", w.embedName, w.ifaceName, w.name))
		f.Type().Id(w.embedName).Op("=").Add(ifaceRef.Clone())
		f.Line()
	}

	// The compile-time assertion.
	if len(w.typeParams) == 0 {
		f.Var().Id("_").Add(ifaceRef).Op("=").Parens(jen.Op("*").Id(w.name)).Call(jen.Nil())
	} else {
		comment(f, fmt.Sprintf("%s implements %s for every instantiation.", w.name, w.ifaceName))
		f.Func().Id("_").Add(r.typeParamDecl()).Params().Block(
			jen.Var().Id("_").Add(ifaceRef).Op("=").Parens(jen.Op("*").Id(w.name).Add(r.typeArgs())).Call(jen.Nil()),
		)
	}
	f.Line()

	// The constructor.
	self := jen.Op("*").Id(w.name).Add(r.typeArgs())
	comment(f, fmt.Sprintf("New%s wraps inner. The options add run-time overrides (WithConfig), "+
		"a logger, observers, a clock; it returns every problem of the resulting configuration at once.", w.name))
	f.Func().Id("New"+w.name).Add(r.typeParamDecl()).
		Params(jen.Id("inner").Add(ifaceRef), jen.Id("opts").Op("...").Add(rt("Option"))).
		Params(self.Clone(), jen.Error()).
		BlockFunc(func(b *jen.Group) {
			b.List(jen.Id("mgr"), jen.Err()).Op(":=").Add(rt("NewManager")).Call(jen.Id("inner"), jen.Op("&").Id(w.specVar), jen.Id("opts").Op("..."))
			b.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Nil(), jen.Err()))
			b.Id("w").Op(":=").Op("&").Id(w.name).Add(r.typeArgs()).Values(
				jen.Id(w.fieldInner).Op(":").Id("inner"),
				jen.Id(w.fieldManager).Op(":").Id("mgr"),
			)
			if guarded > 0 {
				b.For(jen.Id("i").Op(":=").Range().Id("w").Dot(w.fieldMethods)).Block(
					jen.Id("w").Dot(w.fieldMethods).Index(jen.Id("i")).Op("=").Id("mgr").Dot("Method").Call(jen.Id("i")),
				)
			}
			b.Return(jen.Id("w"), jen.Nil())
		})
	f.Line()

	if w.unwrap {
		comment(f, "Unwrap returns the wrapped "+w.ifaceName+".")
		f.Func().Params(jen.Id("w").Add(self.Clone())).Id("Unwrap").Params().Add(ifaceRef).Block(jen.Return(jen.Id("w").Dot(w.fieldInner)))
		f.Line()
	}
	if w.resilience {
		comment(f, "Resilience returns the wrapper's resilience state: its configuration and metrics.")
		f.Func().Params(jen.Id("w").Add(self.Clone())).Id("Resilience").Params().Op("*").Add(rt("Manager")).
			Block(jen.Return(jen.Id("w").Dot(w.fieldManager)))
		f.Line()
	} else {
		comment(f, w.name+"Manager returns w's resilience state: its configuration and metrics. "+
			"It is a function, not a method, because "+w.ifaceName+" has a method Resilience of its own.")
		f.Func().Id(w.name + "Manager").Add(r.typeParamDecl()).Params(jen.Id("w").Add(self.Clone())).Op("*").Add(rt("Manager")).
			Block(jen.Return(jen.Id("w").Dot(w.fieldManager)))
		f.Line()
	}

	for _, m := range w.methods {
		r.method(m)
		f.Line()
	}

	r.spec()
	for _, m := range w.matchers {
		r.matcherFunc(m)
	}
}

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
	b.Var().Id(n.call).Add(rt("Call"))
	b.Defer().Id(n.m).Dot("End").Call(jen.Op("&").Id(n.call))
	b.For().BlockFunc(func(l *jen.Group) {
		ctx := jen.Id(n.ctx)
		l.If(errID().Op("=").Id(n.m).Dot("Admit").Call(ctx.Clone(), jen.Op("&").Id(n.call)), errID().Op("!=").Nil()).BlockFunc(func(g *jen.Group) {
			if m.errInRes {
				switch {
				case m.setErr && m.newRes:
					g.Add(rt("ResultErr")).Call(jen.Op("&").Add(r0()), errID())
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

// methodDoc says which policies apply to m, with their values: prose
// lines, wrapped, and the policies as an indented list.
func (r *renderer) methodDoc(m *method, n methodNames) []string {
	head := fmt.Sprintf("%s calls the wrapped %s", m.name, m.name)
	switch {
	case m.skip:
		return wrap(head+" directly (//resgen:skip).", commentWidth-3)
	case m.throttled():
		if m.cfg.RateLimit.Disabled {
			return wrap(head+" directly: it returns no error, so only a rate limit could apply, "+
				"and it is off (a run-time override can turn it on).", commentWidth-3)
		}
		return append(wrap(head+" once it has a token of its rate limit (it returns no error, "+
			"so no other policy applies):", commentWidth-3), strings.Split(r.policyLine(m, m.cfg.Normalize(), "rate_limit"), "\n")...)
	}
	lines := []string{head + " with the wrapper's policies."}
	if own := r.policyLines(m); !slices.Equal(own, r.common) {
		lines = []string{head + " with the wrapper's policies, except:"}
		for i, l := range own {
			if i >= len(r.common) || l != r.common[i] {
				lines = append(lines, strings.Split(l, "\n")...)
			}
		}
	}
	if note := progressDoc(m, n); note != "" {
		lines = append(lines, "")
		lines = append(lines, wrap(note, commentWidth-3)...)
	}
	if m.errInRes {
		if note := r.errInResDoc(m); note != "" {
			lines = append(lines, "")
			lines = append(lines, wrap(note, commentWidth-3)...)
		}
	}
	return lines
}

// progressDoc says what a method whose results report progress does with
// an attempt that fails after doing part of its work.
func progressDoc(m *method, n methodNames) string {
	count := "a count"
	if name := m.results[0].Name(); name == n.results[0] {
		count += " (" + name + ")"
	}
	switch m.progress {
	case progressResume:
		p := "its buffer"
		if name := m.params[m.dataIdx].name; name == n.params[m.dataIdx] {
			p = name
		}
		return fmt.Sprintf("An attempt that fails after writing part of %s is never replayed: a retry writes only "+
			"the rest, and the count returned adds up every attempt's.", p)
	case progressStop:
		return fmt.Sprintf("An attempt that fails with %s above 0 did part of the work: the call returns "+
			"its results and its error at once, never retried, since another attempt would repeat that part.", count)
	}
	return ""
}

// errInResNote says, once on the wrapper's type, what happens to the
// result of a method whose result carries its error and can be made anew.
const errInResNote = "Methods whose result has Err() error and SetErr(error) return their last attempt's result " +
	"when a call fails; a call that is stopped before or between attempts (an open breaker, the rate limit, " +
	"the caller's context) gets its error through SetErr."

// commonPolicies sets r.common to the policy lines that most of the
// wrapper's guarded methods share, and r.errNote when any method's result
// carries its error in the common way: the type's doc says these once.
func (r *renderer) commonPolicies() {
	count := make(map[string]int)
	best, bestN := "", 0
	for _, m := range r.w.methods {
		if m.index < 0 || m.throttled() {
			continue
		}
		if m.errInRes && m.setErr && m.newRes {
			r.errNote = true
		}
		k := strings.Join(r.policyLines(m), "\x00")
		count[k]++
		if count[k] > bestN {
			best, bestN = k, count[k]
		}
	}
	if bestN > 0 {
		r.common = strings.Split(best, "\x00")
	}
}

// errInResDoc is the doc note of a method whose only result carries its
// error, when it differs from the wrapper's errInResNote.
func (r *renderer) errInResDoc(m *method) string {
	if m.setErr && m.newRes {
		return ""
	}
	res := types.TypeString(m.results[0].Type(), func(p *types.Package) string {
		if p.Path() == r.outPath {
			return ""
		}
		return p.Name()
	})
	note := "The result's Err() is the attempt's error: a failed call returns its last attempt's result"
	if m.setErr {
		return note + fmt.Sprintf(", and a call that is stopped between attempts gets its error through SetErr. "+
			"resgen cannot make a new %s: a call that the breaker or the rate limit stops before its "+
			"first attempt returns %s.", res, zeroText(m.results[0].Type()))
	}
	return note + fmt.Sprintf(". %s has no SetErr(error): a call that the breaker or the rate limit stops "+
		"before its first attempt returns %s, and one stopped between attempts returns the last "+
		"attempt's result.", res, zeroText(m.results[0].Type()))
}

// policyLines lists the policies of a guarded method with their values,
// one indented entry each (wrapped, with its lines joined by "\n"), in
// the order of runtime.Descriptors, as a directive writes them.
func (r *renderer) policyLines(m *method) []string {
	if lines, ok := r.lines[m]; ok {
		return lines
	}
	if r.lines == nil {
		r.lines = make(map[*method][]string)
	}
	c := m.cfg.Normalize()
	var lines []string
	for _, p := range runtime.Descriptors() {
		lines = append(lines, r.policyLine(m, c, p.Name))
	}
	r.lines[m] = lines
	return lines
}

// policyLine writes the policy called name of m, whose normalized
// configuration is c, as its directive would: "  retry: max_attempts=3
// ...", or "  retry: off".
func (r *renderer) policyLine(m *method, c runtime.Config, name string) string {
	for _, p := range runtime.Descriptors() {
		if p.Name != name {
			continue
		}
		off := p.Disabled(&c)
		switch p.Name {
		case "retry_budget":
			off = off || c.Retry.Disabled // no retries to budget
		case "timeout":
			if m.ctxIndex < 0 {
				return "  timeout: none (" + m.name + " takes no context)"
			}
		}
		if off {
			return "  " + p.Name + ": off"
		}
		var parts []string
		for i := range p.Keys {
			k := &p.Keys[i]
			text := k.Text(&c)
			if k.List() {
				text = r.matcherText(m.matcherClasses(k.Name, c), m.matcherFor(k.Name))
			}
			switch {
			case text == "":
			case k.Name == p.Positional:
				parts = append(parts, text)
			default:
				parts = append(parts, k.Name+"="+text)
			}
		}
		if p.Name == "timeout" {
			how := "cancelled when the attempt returns"
			if m.keep {
				how = "lifted when the attempt succeeds, so that its results stay usable"
			}
			parts = append(parts, "per attempt, "+how)
		}
		head := "  " + p.Name + ": "
		return head + strings.Join(wrap(strings.Join(parts, " "), policyWidth-len(head)), "\n    ")
	}
	panic("resgen: no policy " + name)
}

// zeroText describes the zero value of t, for doc comments.
func zeroText(t types.Type) string {
	if nillable(t) {
		return "nil"
	}
	return "the zero value"
}

// matcherText describes a retry_on or excluded_errors list as a
// directive writes it: its classes and Go identifiers, or "" when it has
// neither.
func (r *renderer) matcherText(classes runtime.Class, m *matcher) string {
	var parts []string
	if classes != 0 {
		parts = append(parts, classes.String())
	}
	if m != nil {
		parts = append(parts, strings.ReplaceAll(r.matcherDoc(m), ", ", ","))
	}
	return strings.Join(parts, ",")
}

func (r *renderer) matcherDoc(m *matcher) string {
	var parts []string
	for _, it := range m.items {
		s := it.obj.Name()
		if it.obj.Pkg() != nil && it.obj.Pkg().Path() != r.outPath {
			s = it.obj.Pkg().Name() + "." + s
		}
		if it.ptr {
			s = "*" + s
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

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
	f.add("Methods", jen.Index().Add(rt("MethodSpec")).Custom(jen.Options{Open: "{", Close: "}", Separator: ",", Multi: true}, methods...))
	r.f.Var().Id(w.specVar).Op("=").Add(f.lit(rt("Spec")))
	r.f.Line()
}

// configLit renders a method's resolved configuration, with defaults
// written out and zero fields left out, in the order of
// runtime.Descriptors. A policy that is off keeps its resolved values next
// to Disabled, so that a run-time override that turns it on gets them.
func (r *renderer) configLit(m *method) jen.Code {
	c := m.cfg.Normalize()
	var cf fields
	for _, p := range runtime.Descriptors() {
		var f fields
		if p.Disabled(&c) || (p.Name == "timeout" && m.ctxIndex < 0) {
			f.add("Disabled", jen.True())
		}
		for i := range p.Keys {
			k := &p.Keys[i]
			if k.List() {
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
