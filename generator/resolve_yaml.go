package generator

// This file turns resgen.yaml's wrapper entries and blocks into layers
// of settings, with their positions.

import (
	"go/token"
	"path/filepath"
	"strings"

	"github.com/resgen-dev/resgen/internal/yamlconf"
	"github.com/resgen-dev/resgen/runtime"
)

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
