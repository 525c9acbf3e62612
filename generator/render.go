package generator

import (
	"bytes"
	"fmt"
	"go/token"
	"go/types"
	"strconv"
	"strings"

	"github.com/dave/jennifer/jen"
)

const (
	runtimePath = "github.com/resgen-dev/resgen/runtime"
	// runtimeAlias is the name generated files import the runtime under: it
	// reads well (resgen.Config) and never clashes with the standard library's
	// runtime package.
	runtimeAlias = "resgen"
	// implPath is the package only generated code calls: the loop's stages
	// and the Spec.
	implPath  = "github.com/resgen-dev/resgen/runtime/resgenimpl"
	implAlias = "resgenimpl"
	// genVersion is the version of the generated code, checked against the
	// runtime's MinGenVersion and MaxGenVersion at compile time.
	genVersion = 2
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
	r.importAs(implPath, implAlias, false)
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

// impl names a name of resgenimpl, the package only generated code calls.
func impl(name string) *jen.Statement { return jen.Qual(implPath, name) }

// file writes the whole file.
func (r *renderer) file() {
	w, f := r.w, r.f
	f.Comment("Fail to compile when the runtime no longer supports this generated code:")
	f.Comment("regenerate it with the resgen of the runtime in go.mod.")
	f.Const().Defs(
		jen.Id("_").Op("=").Add(impl("EnforceVersion")).Call(jen.Lit(genVersion).Op("-").Add(impl("MinGenVersion"))),
		jen.Id("_").Op("=").Add(impl("EnforceVersion")).Call(impl("MaxGenVersion").Op("-").Lit(genVersion)),
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
		fields = append(fields, jen.Id(w.fieldMethods).Index(jen.Lit(guarded)).Op("*").Add(impl("Method")))
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
			b.List(jen.Id("mgr"), jen.Err()).Op(":=").Add(impl("NewManager")).Call(jen.Id("inner"), jen.Op("&").Id(w.specVar), jen.Id("opts").Op("..."))
			b.If(jen.Err().Op("!=").Nil()).Block(jen.Return(jen.Nil(), jen.Err()))
			b.Id("w").Op(":=").Op("&").Id(w.name).Add(r.typeArgs()).Values(
				jen.Id(w.fieldInner).Op(":").Id("inner"),
				jen.Id(w.fieldManager).Op(":").Id("mgr").Dot("Resilience").Call(),
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
