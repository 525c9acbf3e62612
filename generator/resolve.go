package generator

import (
	"errors"
	"go/ast"
	"go/token"
	"go/types"

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
