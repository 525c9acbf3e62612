package generator

import (
	"fmt"
	"go/ast"
	"go/types"
	"path/filepath"
	"strings"
)

// Which types the wrapper's file can spell. A method whose signature
// mentions a type that code in the output's package cannot name (an
// unexported type of another package, a type of an internal package that
// the output may not import, an unnamed struct or interface with unexported
// fields or methods of another package) cannot be written out; nor can an
// unexported method of another package. The wrapper forwards those methods
// through the wrapped value, which it then embeds, instead of wrapping them.

// importable reports whether code in package from may import path, by the
// go command's rule for internal packages: a package whose path has an
// internal element may be imported only from within the tree rooted at the
// element's parent. An unknown from ("") may import no internal package.
func importable(path, from string) bool {
	parent, ok := internalParent(path)
	if !ok {
		return true
	}
	if from == "" {
		return false
	}
	if parent == "" {
		// The standard library's internal packages, for the standard
		// library only.
		return !strings.Contains(strings.Split(from, "/")[0], ".")
	}
	return from == parent || strings.HasPrefix(from, parent+"/")
}

// internalParent returns the parent of path's last internal element, and
// whether it has one.
func internalParent(path string) (string, bool) {
	switch {
	case path == "internal" || strings.HasPrefix(path, "internal/"):
		return "", true
	}
	if i := strings.LastIndex(path, "/internal/"); i >= 0 {
		return path[:i], true
	}
	if strings.HasSuffix(path, "/internal") {
		return strings.TrimSuffix(path, "/internal"), true
	}
	return "", false
}

// outputImportPath returns the import path of w's output package: the
// interface's package when the file goes next to it, otherwise the path
// of its directory within the interface's module, or "" when it is
// outside that module.
func (g *gen) outputImportPath(w *wrapper) string {
	if p := g.outputPkgPath(w); p != "" {
		return p
	}
	mod := g.l.pkg.Module
	if mod == nil || mod.Dir == "" {
		return ""
	}
	dir := filepath.Dir(g.outputPath(w))
	rel, err := filepath.Rel(mod.Dir, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return ""
	}
	if rel == "." {
		return mod.Path
	}
	return mod.Path + "/" + filepath.ToSlash(rel)
}

// speller tells whether code in one package can spell a type.
type speller struct {
	out  string // the output package's import path, or "" when unknown
	same string // the path of a package the output is, when known to be one ("" otherwise)
	seen map[types.Type]bool
}

// canName reports whether the output can refer to obj, a named type or
// an alias, by its name.
func (s *speller) canName(obj *types.TypeName) bool {
	if obj.Pkg() == nil {
		return true
	}
	if s.same != "" && obj.Pkg().Path() == s.same {
		return true
	}
	return obj.Exported() && importable(obj.Pkg().Path(), s.out)
}

func (s *speller) local(pkg *types.Package) bool {
	return pkg != nil && s.same != "" && pkg.Path() == s.same
}

// why returns why the output cannot spell t, or "" when it can.
func (s *speller) why(t types.Type) string {
	if s.seen == nil {
		s.seen = make(map[types.Type]bool)
	}
	if s.seen[t] {
		return ""
	}
	s.seen[t] = true
	switch t := t.(type) {
	case *types.Alias:
		if s.canName(t.Obj()) {
			if args := t.TypeArgs(); args != nil {
				return s.list(args)
			}
			return ""
		}
		return s.why(types.Unalias(t))
	case *types.Named:
		obj := t.Obj()
		if !s.canName(obj) {
			if !obj.Exported() {
				return fmt.Sprintf("the unexported type %s of package %s", obj.Name(), obj.Pkg().Path())
			}
			parent, _ := internalParent(obj.Pkg().Path())
			if parent == "" {
				parent = "the standard library"
			}
			return fmt.Sprintf("the type %s.%s of internal package %s, which only %s may import", obj.Pkg().Name(), obj.Name(), obj.Pkg().Path(), parent)
		}
		if args := t.TypeArgs(); args != nil {
			return s.list(args)
		}
	case *types.Pointer:
		return s.why(t.Elem())
	case *types.Slice:
		return s.why(t.Elem())
	case *types.Array:
		return s.why(t.Elem())
	case *types.Map:
		if w := s.why(t.Key()); w != "" {
			return w
		}
		return s.why(t.Elem())
	case *types.Chan:
		return s.why(t.Elem())
	case *types.Signature:
		for _, tup := range []*types.Tuple{t.Params(), t.Results()} {
			for i := 0; i < tup.Len(); i++ {
				if w := s.why(tup.At(i).Type()); w != "" {
					return w
				}
			}
		}
	case *types.Struct:
		for i := 0; i < t.NumFields(); i++ {
			f := t.Field(i)
			if !f.Exported() && !s.local(f.Pkg()) {
				return fmt.Sprintf("a struct with the unexported field %s of package %s", f.Name(), f.Pkg().Path())
			}
			if w := s.why(f.Type()); w != "" {
				return w
			}
		}
	case *types.Interface:
		for i := 0; i < t.NumEmbeddeds(); i++ {
			if w := s.why(t.EmbeddedType(i)); w != "" {
				return w
			}
		}
		for i := 0; i < t.NumExplicitMethods(); i++ {
			m := t.ExplicitMethod(i)
			if !m.Exported() && !s.local(m.Pkg()) {
				return fmt.Sprintf("an interface with the unexported method %s of package %s", m.Name(), m.Pkg().Path())
			}
			if w := s.why(m.Type()); w != "" {
				return w
			}
		}
	case *types.Union:
		for i := 0; i < t.Len(); i++ {
			if w := s.why(t.Term(i).Type()); w != "" {
				return w
			}
		}
	}
	return ""
}

func (s *speller) list(l *types.TypeList) string {
	for i := 0; i < l.Len(); i++ {
		if w := s.why(l.At(i)); w != "" {
			return w
		}
	}
	return ""
}

// unwrappable returns why the wrapper cannot write out method f, or "".
func (g *gen) unwrappable(w *wrapper, f *types.Func) string {
	same := g.outputPkgPath(w)
	if !f.Exported() && f.Pkg() != nil && f.Pkg().Path() != same {
		return fmt.Sprintf("it is unexported, of package %s", f.Pkg().Path())
	}
	s := &speller{out: g.outputImportPath(w), same: same}
	if why := s.why(f.Type()); why != "" {
		return "its signature uses " + why
	}
	return ""
}

// forward records that w forwards f through the wrapped value, which
// w then embeds. Directives and resgen.yaml settings for f cannot apply:
// they are reported, as is a generic interface, whose wrapper cannot
// embed it under a local name.
func (g *gen) forward(w *wrapper, f *types.Func, why string, doc *ast.CommentGroup, yaml []*layer) {
	if len(w.typeParams) > 0 {
		g.errorf(w.pos, "%s: the wrapper cannot write out method %s (%s), and cannot forward it: a generic interface cannot be embedded under a local name",
			w.ifaceName, f.Name(), why)
		return
	}
	if hasDirective(doc) {
		g.consume(doc)
		for _, c := range doc.List {
			if strings.HasPrefix(c.Text, directivePrefix) {
				g.errorf(g.l.fset.Position(c.Slash), "%s: directives do not apply to method %s, which the wrapper calls without resilience: %s",
					w.ifaceName, f.Name(), why)
				break
			}
		}
	}
	for _, l := range yaml {
		if len(l.pos) > 0 {
			g.errorf(l.pos[0], "methods: %s's method %s is called without resilience, so its settings do not apply: %s", w.ifaceName, f.Name(), why)
		}
	}
	w.forwarded = append(w.forwarded, forwarded{name: f.Name(), why: why})
}

// outImport returns the import path of the output's package, or "" when
// it is not known.
func (r *renderer) outImport() string {
	if r.g == nil {
		return r.outPath
	}
	return r.g.outputImportPath(r.w)
}

// forwardedDoc says, in the wrapper's doc, which methods it calls
// without resilience, and why.
func forwardedDoc(w *wrapper) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s embeds the wrapped %s, and these of its methods are promoted from it: they call "+
		"the wrapped value directly, without retry, breaker, rate limit, timeout or recovery, since the "+
		"wrapper cannot write them out:\n\n", w.name, w.ifaceName)
	for i, f := range w.forwarded {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "  - %s: %s", f.name, f.why)
	}
	return b.String()
}

// instantiated reports whether n is an instantiation of a generic type
// (grpc.ServerStreamingClient[Msg]), not the generic type itself.
func instantiated(n *types.Named) bool {
	return n.TypeArgs().Len() > 0 && n.Origin() != n
}

// isStream reports whether iface has the shape of a gRPC stream
// (grpc.ClientStream, and so every generated stream client): SendMsg(m
// any) error and RecvMsg(m any) error.
func isStream(iface *types.Interface) bool {
	n := 0
	for i := 0; i < iface.NumMethods(); i++ {
		f := iface.Method(i)
		if f.Name() != "SendMsg" && f.Name() != "RecvMsg" {
			continue
		}
		sig := f.Type().(*types.Signature)
		if sig.Params().Len() == 1 && sig.Results().Len() == 1 && isError(sig.Results().At(0).Type()) {
			if it, ok := sig.Params().At(0).Type().Underlying().(*types.Interface); ok && it.Empty() {
				n++
			}
		}
	}
	return n == 2
}

// streamMethod turns retry, the circuit breaker, adaptive throttling, the
// concurrency limit and the rate limit off for a method of a gRPC stream,
// for good (MethodSpec.InStream keeps them off under run-time overrides):
// a stream ends at its first error, which every later call on it returns
// again, and a message sent again could be received twice; a breaker
// opened by other calls, a concurrency limit that a blocked Recv holds, or
// a rate limit, would fail or stall a stream that is working. They belong
// to the call that opens the stream. What is left is the classification
// of its errors, its metrics and events.
func streamMethod(m *method) {
	m.inStream = true
	m.cfg.Retry.Disabled = true
	m.cfg.CircuitBreaker.Disabled = true
	m.cfg.Throttle.Disabled = true
	m.cfg.Concurrency.Disabled = true
	m.cfg.RateLimit.Disabled = true
}

// streamDoc says, in a stream wrapper's doc, why its methods run without
// most policies.
func streamDoc(w *wrapper) string {
	return w.ifaceName + " is a gRPC stream: it ends at its first error, which every later call on it " +
		"returns again, and a message sent again could be received twice, so its methods are not retried; " +
		"nor do a circuit breaker, adaptive throttling, a concurrency limit or a rate limit apply, which " +
		"would fail or stall a stream that works, whatever run-time overrides (WithConfig) say. They apply " +
		"to the call that opens the stream. Its errors are classified, counted in its metrics and observed."
}
