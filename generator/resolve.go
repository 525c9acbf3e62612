package generator

import (
	"errors"
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/resgen-dev/resgen/internal/yamlconf"
	"github.com/resgen-dev/resgen/runtime"
)

// layer is one level of configuration: a profile, the interface's
// directives, a method's directives.
type layer struct {
	settings []runtime.Setting
	pos      []token.Position // of each setting, for errors
	profile  *arg
	skip     bool
	retryOn  *idents // retry_on given at this level
	excluded *idents // excluded_errors given at this level
	asked    map[string]token.Position
}

// idents is a retry_on or excluded_errors list: classes and Go identifiers.
type idents struct {
	classes runtime.Class
	items   []matchItem
	pos     token.Position
}

// buildWrapper turns a target into the model, resolving every method's
// configuration.
func (g *gen) buildWrapper(t *target) *wrapper {
	iface := t.named.Underlying().(*types.Interface)
	w := &wrapper{
		name:      g.cfg.Name,
		iface:     t.named,
		ifaceName: t.named.Obj().Name(),
		ifacePkg:  t.named.Obj().Pkg(),
		ifaceRef:  t.named.Obj(),
		pos:       t.pos,
	}
	if t.alias != nil && (t.named.TypeParams().Len() == 0 || instantiated(t.named)) {
		w.ifaceName, w.ifacePkg, w.ifaceRef = t.alias.Name(), t.alias.Pkg(), t.alias
	}
	entry := t.entry
	if entry == nil {
		entry = g.entryFor(t.name)
	}
	w.origin = g.directiveOrigin(t)
	if entry != nil && g.entries {
		w.name, w.output = entry.Name, entry.Output
		n := entry.Node
		if entry.OutputN != nil {
			n = entry.OutputN
		}
		w.origin = g.yamlPos(n.Line, n.Column)
	}
	if w.name == "" {
		w.name = "Resilient" + exportedName(t.name)
	}
	for i := 0; i < t.named.TypeParams().Len() && !instantiated(t.named); i++ {
		w.typeParams = append(w.typeParams, t.named.TypeParams().At(i))
	}
	g.consume(t.doc)
	top := g.layerOf(t.doc, false, w)

	methodDocs := g.methodDocs(t)
	var names []string
	for i := 0; i < iface.NumMethods(); i++ {
		names = append(names, iface.Method(i).Name())
	}
	entryTop, entryMethods := g.entryLayers(entry, names)
	for i := 0; i < iface.NumMethods(); i++ {
		f := iface.Method(i)
		doc := methodDocs[f.Name()]
		if why := g.unwrappable(w, f); why != "" {
			g.forward(w, f, why, doc, entryMethods[f.Name()])
			continue
		}
		m := g.buildMethod(w, f)
		g.consume(doc)
		ml := g.layerOf(doc, true, w)
		var yaml []*layer
		if entryTop != nil {
			yaml = append([]*layer{entryTop}, entryMethods[m.name]...)
		}
		g.resolve(w, m, yaml, top, ml)
		if isStream(iface) {
			streamMethod(m)
		}
		w.methods = append(w.methods, m)
	}
	w.number()
	g.chooseNames(w)
	return w
}

// checkGroups reports breaker groups whose methods disagree on the
// breaker's settings: one breaker cannot have two.
func (g *gen) checkGroups(w *wrapper) {
	first := make(map[string]*method)
	for _, m := range w.methods {
		b := m.cfg.Normalize().CircuitBreaker
		if m.skip || b.Disabled || b.Group == "" {
			continue
		}
		f, ok := first[b.Group]
		if !ok {
			first[b.Group] = m
			continue
		}
		fb := f.cfg.Normalize().CircuitBreaker
		if fb.FailureThreshold != b.FailureThreshold || fb.RecoveryTimeout != b.RecoveryTimeout || fb.SuccessThreshold != b.SuccessThreshold {
			g.errorf(m.pos, "%s: circuit breaker group %q has other settings in %s: give the group's methods the same failure_threshold, recovery_timeout and success_threshold",
				m.name, b.Group, f.name)
		}
	}
	// A concurrency group is one limit: its methods must agree on it.
	firstConc := make(map[string]*method)
	for _, m := range w.methods {
		c := m.cfg.Normalize().Concurrency
		if m.skip || c.Disabled || c.Group == "" {
			continue
		}
		f, ok := firstConc[c.Group]
		if !ok {
			firstConc[c.Group] = m
			continue
		}
		if f.cfg.Normalize().Concurrency != c {
			g.errorf(m.pos, "%s: concurrency group %q has other settings in %s: give the group's methods the same max_in_flight, min_in_flight, adaptive and backpressure_strategy",
				m.name, c.Group, f.name)
		}
	}
}

// methodDocs returns the doc comments of the methods declared in t's
// interface literal, by name.
func (g *gen) methodDocs(t *target) map[string]*ast.CommentGroup {
	out := make(map[string]*ast.CommentGroup)
	if t.itype == nil {
		return out
	}
	for _, f := range t.itype.Methods.List {
		for _, n := range f.Names {
			out[n.Name] = f.Doc
		}
		if len(f.Names) == 0 && hasDirective(f.Doc) {
			g.consume(f.Doc)
			g.errorf(g.l.fset.Position(f.Doc.Pos()), "directives on an embedded interface do not apply: put them on the interface or its methods")
		}
	}
	return out
}

// layerOf turns the directives of a doc comment into a layer.
func (g *gen) layerOf(doc *ast.CommentGroup, isMethod bool, w *wrapper) *layer {
	l := &layer{asked: make(map[string]token.Position)}
	for _, d := range parseDirectives(g.l.fset, doc, &g.errs) {
		switch d.name {
		case "skip":
			if !isMethod {
				g.errorf(d.pos, "//resgen:skip applies to methods; to leave an interface alone, do not wrap it")
				continue
			}
			l.skip = true
		case "profile":
			l.profile = d.word
		default:
			l.asked[d.name] = d.pos
			if d.off {
				l.add(runtime.Setting{Policy: d.name, Value: "off"}, d.pos)
				continue
			}
			l.add(runtime.Setting{Policy: d.name, Value: "on"}, d.pos)
			if d.name == "timeout" {
				l.add(runtime.Setting{Policy: "timeout", Key: "duration", Value: d.word.value}, d.word.pos)
			}
			for _, a := range d.args {
				if a.key == "retry_on" || a.key == "excluded_errors" {
					ids := g.parseIdents(a, w)
					if a.key == "retry_on" {
						l.retryOn = ids
					} else {
						l.excluded = ids
					}
					continue
				}
				l.add(runtime.Setting{Policy: d.name, Key: a.key, Value: a.value}, a.pos)
			}
		}
	}
	return l
}

func (l *layer) add(s runtime.Setting, pos token.Position) {
	l.settings = append(l.settings, s)
	l.pos = append(l.pos, pos)
}

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
		if c, ok := runtime.ParseClass(item); ok {
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
				item, yamlconf.Clip(pkgName), relPath(g.cfg.Dir, pos.Filename), yamlconf.Suggest(item, runtime.ClassNames()))
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
			return matchItem{}, fmt.Sprintf("unknown error class or identifier %q%s", item, yamlconf.Suggest(item, runtime.ClassNames()))
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

// resolve computes m's configuration: built-in defaults < profile <
// resgen.yaml (the entry, then its method blocks) < interface directives <
// method directives.
func (g *gen) resolve(w *wrapper, m *method, yaml []*layer, top, ml *layer) {
	if ml.skip {
		m.skip = true
		m.index = -1
		for name, pos := range ml.asked {
			g.errorf(pos, "//resgen:%s on a method with //resgen:skip", name)
		}
		return
	}
	// Policies a method's own directive asks for must apply to it.
	for name, pos := range ml.asked {
		switch {
		case name == "rate_limit":
		case m.errIndex < 0 && !m.errInRes:
			g.errorf(pos, "//resgen:%s cannot apply to %s: it returns no error (only rate_limit can)", name, m.name)
		case name == "timeout" && m.ctxIndex < 0:
			g.errorf(pos, "//resgen:timeout cannot apply to %s: it takes no context.Context", m.name)
		}
	}
	profile := g.cfg.Profile
	var profilePos token.Position
	layers := append(append([]*layer(nil), yaml...), top, ml)
	for _, l := range layers {
		if l.profile != nil {
			profile, profilePos = l.profile.value, l.profile.pos
		}
	}
	var cfg runtime.Config
	if profile != "" {
		settings, ok := g.profile(profile, profilePos)
		if ok {
			for _, s := range settings {
				if err := cfg.Apply(s); err != nil {
					g.errorf(profilePos, "profile %s: %v", yamlconf.Clip(profile), err)
				}
			}
		}
	}
	var retryOn, excluded *idents
	set := make(map[string]token.Position) // where each field was last set, for Validate's errors
	for _, l := range layers {
		for i, s := range l.settings {
			if err := cfg.Apply(s); err != nil {
				g.errorf(l.pos[i], "%v", err)
				continue
			}
			key := s.Policy + "." + s.Key
			if s.Policy == "timeout" {
				key = "timeout"
			}
			set[key] = l.pos[i]
		}
		if l.retryOn != nil {
			retryOn = l.retryOn
		}
		if l.excluded != nil {
			excluded = l.excluded
		}
	}
	if retryOn != nil {
		cfg.Retry.RetryOn = runtime.Matcher{Classes: retryOn.classes}
		if len(retryOn.items) > 0 {
			m.retryOn = w.addMatcher(retryOn.items)
		}
	}
	if excluded != nil {
		cfg.CircuitBreaker.Excluded = runtime.Matcher{Classes: excluded.classes}
		if len(excluded.items) > 0 {
			m.excluded = w.addMatcher(excluded.items)
		}
	}
	if err := cfg.Validate(); err != nil {
		for _, e := range splitJoined(err) {
			// At the key that made the problem, once for every method that
			// inherits it; at the method when the values came from defaults.
			var fe *runtime.FieldError
			if errors.As(e, &fe) {
				if pos, ok := set[fe.Field]; ok {
					g.errorf(pos, "%v", e)
					continue
				}
			}
			g.errorf(m.pos, "%s: %v", m.name, e)
		}
	}
	m.cfg = cfg
}

func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// profile returns the settings of a custom or built-in profile.
func (g *gen) profile(name string, pos token.Position) ([]runtime.Setting, bool) {
	s, ok := g.file.ProfileSettings(name)
	if !ok {
		// Say where the custom profiles came from: a profile defined in a
		// resgen.yaml that was not the one found is the usual mistake.
		from := "; no resgen.yaml was found, so only built-in profiles exist"
		if g.cfg.ConfigFile != "" {
			from = "; custom profiles were read from " + g.cfg.ConfigFile
		}
		if !pos.IsValid() {
			g.errorf(pos, "resgen: -profile: unknown profile %q%s%s", name, g.file.SuggestProfile(name), from)
			return nil, false
		}
		g.errorf(pos, "unknown profile %q%s%s", name, g.file.SuggestProfile(name), from)
		return nil, false
	}
	return s, true
}

// yamlPos returns the position of a node of resgen.yaml.
func (g *gen) yamlPos(line, col int) token.Position {
	name := g.cfg.ConfigFile
	if filepath.IsAbs(name) {
		name = relPath(g.cfg.Dir, name)
	}
	return token.Position{Filename: name, Line: line, Column: col}
}

// directiveOrigin returns the position of the first //resgen: directive of
// t's doc comment, or of t's name when it has none.
func (g *gen) directiveOrigin(t *target) token.Position {
	if t.doc != nil {
		for _, c := range t.doc.List {
			if strings.HasPrefix(c.Text, directivePrefix) {
				return g.l.fset.Position(c.Slash)
			}
		}
	}
	return t.pos
}

// entryFor returns the resgen.yaml entry of the interface called name.
func (g *gen) entryFor(name string) *yamlconf.Wrapper {
	if g.file == nil {
		return nil
	}
	for _, e := range g.file.Wrappers {
		if e.Type == name && (e.Source == "" || e.Source == "." || e.Source == g.l.pkg.PkgPath) {
			return e
		}
	}
	return nil
}

// blockLayer turns a block of resgen.yaml into a layer.
func (g *gen) blockLayer(b yamlconf.Block) *layer {
	l := &layer{asked: make(map[string]token.Position)}
	if b.Profile != "" {
		l.profile = &arg{value: b.Profile, pos: g.yamlPos(b.ProfileN.Line, b.ProfileN.Column)}
	}
	for _, s := range b.Settings {
		pos := g.yamlPos(s.Line, s.Col)
		if !yamlconf.IsMatcherKey(s.Key) {
			l.add(s.Setting, pos)
			continue
		}
		// Classes and Go identifiers, resolved as a directive's are.
		list := s.Value
		for _, id := range s.Idents {
			if list != "" {
				list += ","
			}
			list += id
		}
		ids := g.parseIdents(arg{key: s.Key, value: list, pos: pos}, nil)
		if s.Key == "retry_on" {
			l.retryOn = ids
		} else {
			l.excluded = ids
		}
		l.add(runtime.Setting{Policy: s.Policy, Value: "on"}, pos)
	}
	return l
}

// entryLayers returns the layers of resgen.yaml for the methods of w: the
// entry's own block, then its method blocks that match each method, in the
// file's order. It reports method names and patterns that match nothing.
func (g *gen) entryLayers(e *yamlconf.Wrapper, methods []string) (*layer, map[string][]*layer) {
	if e == nil {
		return nil, nil
	}
	top := g.blockLayer(e.Block)
	per := make(map[string][]*layer)
	for _, mb := range e.Methods {
		matched := false
		for _, name := range methods {
			if yamlconf.Match(mb.Pattern, name) {
				matched = true
				per[name] = append(per[name], g.blockLayer(mb.Block))
			}
		}
		if !matched {
			pos := g.yamlPos(mb.Node.Line, mb.Node.Column)
			if yamlconf.IsGlob(mb.Pattern) {
				g.errorf(pos, "methods: %q matches no method of %s", mb.Pattern, e.Type)
			} else {
				g.errorf(pos, "methods: %s has no method %s%s", e.Type, yamlconf.Clip(mb.Pattern), yamlconf.Suggest(mb.Pattern, methods))
			}
		}
	}
	return top, per
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

// buildMethod reads a method's signature.
func (g *gen) buildMethod(w *wrapper, f *types.Func) *method {
	sig := f.Type().(*types.Signature)
	m := &method{
		name:     f.Name(),
		sig:      sig,
		pos:      g.l.fset.Position(f.Pos()),
		variadic: sig.Variadic(),
		ctxIndex: -1,
		errIndex: -1,
	}
	for i := 0; i < sig.Params().Len(); i++ {
		p := sig.Params().At(i)
		m.params = append(m.params, param{name: p.Name(), typ: p.Type()})
		if m.ctxIndex < 0 && isContext(p.Type()) {
			m.ctxIndex = i
		}
	}
	for i := 0; i < sig.Results().Len(); i++ {
		r := sig.Results().At(i)
		m.results = append(m.results, r)
		if i == sig.Results().Len()-1 && isError(r.Type()) {
			m.errIndex = i
		}
	}
	if m.errIndex < 0 && len(m.results) == 1 {
		m.errInRes, m.setErr, m.newRes = errMethods(m.results[0].Type(), g.outputPkgPath(w))
	}
	for _, r := range m.results {
		if outlives(r.Type(), nil) {
			m.keep = true
		}
	}
	m.progress, m.dataIdx = progressOf(m)
	m.stream = m.errIndex >= 0 && streamShaped(m.name)
	return m
}

// streamPrefixes start the names of the methods that read a stream and
// report its end as a bare io.EOF: io.Reader's Read and its kin (ReadAt,
// ReadByte, ReadString...), gRPC streams' Recv and RecvMsg, Receive...,
// database/sql/driver's Rows.Next and NextResultSet, tar's Next, and
// decoders' Decode (encoding/json, encoding/gob...).
var streamPrefixes = []string{"Read", "Recv", "Receive", "Next", "Decode"}

// streamShaped reports whether a method of that name reads a stream: its
// name is one of streamPrefixes, or starts with one followed by a new word
// (ReadAt, not Ready; ReadOnly and ReadWrite, which name modes, are not
// reads). A bare io.EOF is the end of the stream of such a method when it
// returns an error (a command whose error hides in its result, as
// go-redis's, is a request), and a connection closed under the request for
// every other method.
func streamShaped(name string) bool {
	if name == "ReadOnly" || name == "ReadWrite" {
		return false
	}
	for _, p := range streamPrefixes {
		if rest, ok := strings.CutPrefix(name, p); ok {
			if r, _ := utf8.DecodeRuneInString(rest); rest == "" || !unicode.IsLower(r) {
				return true
			}
		}
	}
	return false
}

// progressOf tells whether m's results report progress, and how: its first
// result is a count (an int, int64, uint32 ..., not a named type such as
// time.Duration) alongside its error, and it moves data, taking a slice (of
// bytes or of items; not a variadic one, which holds arguments), a value with a Read or Write method (an io.Reader,
// an io.Writer), or being named Read..., Write..., Copy..., Send...,
// Recv... or Receive.... Write(p []byte) (int, error) and WriteString(s string) (int,
// error), with or without a context, are io.Writer's and io.StringWriter's:
// their count is of the bytes of p already written, and a retry resumes
// with the rest (dataIdx is p's index). A method that counts with no data
// to count (Status(ctx) (int, error)) reports no progress.
func progressOf(m *method) (progress, int) {
	if m.errIndex < 1 || !isCount(m.results[0].Type()) {
		return progressNone, -1
	}
	var data []int // the parameters other than the context
	moves := false
	for i, p := range m.params {
		if i == m.ctxIndex {
			continue
		}
		data = append(data, i)
		_, slice := p.typ.Underlying().(*types.Slice)
		if variadic := m.variadic && i == len(m.params)-1; (slice && !variadic) || hasReadOrWrite(p.typ) {
			moves = true // a variadic parameter is arguments or options, not data
		}
	}
	for _, prefix := range []string{"Read", "Write", "Copy", "Send", "Recv", "Receive"} {
		if strings.HasPrefix(m.name, prefix) {
			moves = true
		}
	}
	if !moves {
		return progressNone, -1
	}
	if len(m.results) == 2 && len(data) == 1 && !m.variadic && types.Identical(m.results[0].Type(), types.Typ[types.Int]) {
		t := m.params[data[0]].typ
		if (m.name == "Write" && types.Identical(t, types.NewSlice(types.Typ[types.Byte]))) ||
			(m.name == "WriteString" && types.Identical(t, types.Typ[types.String])) {
			return progressResume, data[0]
		}
	}
	return progressStop, -1
}

// isCount reports whether t is an integer type of its own (int, int64,
// uint32 ...), as the counts of bytes and items are: a named integer type
// (time.Duration, a status code) is a value, not a count.
func isCount(t types.Type) bool {
	b, ok := t.(*types.Basic)
	return ok && b.Info()&types.IsInteger != 0 && b.Kind() != types.Uintptr
}

// hasReadOrWrite reports whether values of t have io.Reader's Read or
// io.Writer's Write method: readers and writers (io.Reader, io.Writer,
// net.Conn, *os.File), whose data a method that takes one moves.
// (*http.Request's Write(io.Writer) error is not io.Writer's.)
func hasReadOrWrite(t types.Type) bool {
	ms := types.NewMethodSet(t)
	if _, isPtr := t.Underlying().(*types.Pointer); !isPtr && !types.IsInterface(t) {
		ms = types.NewMethodSet(types.NewPointer(t))
	}
	for _, name := range []string{"Read", "Write"} {
		sel := ms.Lookup(nil, name)
		if sel == nil {
			continue
		}
		sig, ok := sel.Obj().Type().(*types.Signature)
		if ok && sig.Params().Len() == 1 && sig.Results().Len() == 2 &&
			types.Identical(sig.Params().At(0).Type(), types.NewSlice(types.Typ[types.Byte])) &&
			types.Identical(sig.Results().At(0).Type(), types.Typ[types.Int]) && isError(sig.Results().At(1).Type()) {
			return true
		}
	}
	return false
}

func isContext(t types.Type) bool {
	n, ok := types.Unalias(t).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "context" && n.Obj().Name() == "Context"
}

func isError(t types.Type) bool {
	return types.Identical(t, types.Universe.Lookup("error").Type())
}

// errMethods reports whether t has Err() error (the result carries the
// call's error, as go-redis commands and *sql.Row do), whether it has
// SetErr(error) to carry a rejection, and whether the wrapper, in package
// outPath, may allocate a new one (a pointer to a struct it can name).
func errMethods(t types.Type, outPath string) (hasErr, hasSetErr, canNew bool) {
	ms := types.NewMethodSet(t)
	if sel := ms.Lookup(nil, "Err"); sel != nil {
		sig := sel.Obj().Type().(*types.Signature)
		hasErr = sig.Params().Len() == 0 && sig.Results().Len() == 1 && isError(sig.Results().At(0).Type())
	}
	if !hasErr {
		return false, false, false
	}
	if sel := ms.Lookup(nil, "SetErr"); sel != nil {
		sig := sel.Obj().Type().(*types.Signature)
		hasSetErr = sig.Params().Len() == 1 && isError(sig.Params().At(0).Type()) && sig.Results().Len() == 0
	}
	if p, ok := types.Unalias(t).(*types.Pointer); ok {
		if n, ok := types.Unalias(p.Elem()).(*types.Named); ok {
			_, isStruct := n.Underlying().(*types.Struct)
			canNew = isStruct && (n.Obj().Exported() || n.Obj().Pkg().Path() == outPath)
		}
	}
	return hasErr, hasSetErr, canNew
}

// outlives reports whether a result of type t may use the attempt's
// context after the method returns: it holds, directly or through
// pointers, structs, arrays, slices or maps, an interface other than error,
// a channel or a func (an *http.Response's Body, pgx.Rows, an io.Reader).
// Results of plain values let the timeout cancel on return.
func outlives(t types.Type, seen map[types.Type]bool) bool {
	if seen[t] {
		return false
	}
	if seen == nil {
		seen = make(map[types.Type]bool)
	}
	seen[t] = true
	switch u := types.Unalias(t).(type) {
	case *types.Named:
		if isError(u) {
			return false
		}
		if u.Obj().Pkg() != nil && u.Obj().Pkg().Path() == "time" {
			return false // time.Time, time.Duration: plain values
		}
		return outlives(u.Underlying(), seen)
	case *types.TypeParam:
		return true // could be anything
	case *types.Basic:
		return u.Kind() == types.UnsafePointer
	case *types.Pointer:
		return outlives(u.Elem(), seen)
	case *types.Slice:
		return outlives(u.Elem(), seen)
	case *types.Array:
		return outlives(u.Elem(), seen)
	case *types.Map:
		return outlives(u.Key(), seen) || outlives(u.Elem(), seen)
	case *types.Struct:
		for i := 0; i < u.NumFields(); i++ {
			if outlives(u.Field(i).Type(), seen) {
				return true
			}
		}
		return false
	case *types.Interface:
		return !types.Identical(u, types.Universe.Lookup("error").Type().Underlying())
	}
	return true // chan, func, signature
}
