package generator

// This file writes the doc comments of the wrapper and its methods: the
// policies each method runs with, in the descriptors' text.

import (
	"fmt"
	"go/types"
	"slices"
	"strings"

	"github.com/resgen-dev/resgen/internal/tooling"
	"github.com/resgen-dev/resgen/runtime"
)

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
// the order of tooling.Policies, as a directive writes them.
func (r *renderer) policyLines(m *method) []string {
	if lines, ok := r.lines[m]; ok {
		return lines
	}
	if r.lines == nil {
		r.lines = make(map[*method][]string)
	}
	c := m.cfg.Normalize()
	var lines []string
	for _, p := range tooling.Policies {
		lines = append(lines, r.policyLine(m, c, p.Name))
	}
	r.lines[m] = lines
	return lines
}

// policyLine writes the policy called name of m, whose normalized
// configuration is c, as its directive would: "  retry: max_attempts=3
// ...", or "  retry: off".
func (r *renderer) policyLine(m *method, c runtime.Config, name string) string {
	for _, p := range tooling.Policies {
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
			if k.List {
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
