package generator

import (
	"fmt"
	"go/ast"
	"go/scanner"
	"go/token"
	"sort"
	"strings"

	"github.com/resgen-dev/resgen/internal/tooling"
	"github.com/resgen-dev/resgen/internal/yamlconf"
)

// directivePrefix starts every resgen directive.
const directivePrefix = "//resgen:"

// directive is one //resgen: line.
type directive struct {
	name string
	pos  token.Position // of the name
	off  bool
	word *arg // the positional value of profile and timeout
	args []arg
}

// arg is one key=value of a directive, or its positional value.
type arg struct {
	key, value string
	pos        token.Position
}

// directiveNames are the directives: one per policy, and profile and
// skip, sorted.
var directiveNames = func() []string {
	names := append([]string{"profile", "skip"}, tooling.PolicyNames()...)
	sort.Strings(names)
	return names
}()

// parseDirectives reads the //resgen: lines of a doc comment. It checks
// their syntax, names and keys, and adds each problem to errs.
func parseDirectives(fset *token.FileSet, doc *ast.CommentGroup, errs *scanner.ErrorList) []directive {
	if doc == nil {
		return nil
	}
	var out []directive
	seen := make(map[string]token.Position)
	for _, c := range doc.List {
		if !strings.HasPrefix(c.Text, directivePrefix) {
			if strings.HasPrefix(c.Text, "// resgen:") {
				errs.Add(fset.Position(c.Slash), `"// resgen:" is not a directive: write "//resgen:" without a space`)
			}
			continue
		}
		pos := fset.Position(c.Slash)
		d, ok := parseDirective(c.Text, pos, errs)
		if !ok {
			continue
		}
		if prev, dup := seen[d.name]; dup {
			errs.Add(d.pos, fmt.Sprintf("duplicate //resgen:%s directive (the first is at line %d)", d.name, prev.Line))
			continue
		}
		seen[d.name] = d.pos
		out = append(out, d)
	}
	return out
}

// parseDirective parses one comment line that starts with //resgen:. pos is
// the position of its first slash.
func parseDirective(text string, pos token.Position, errs *scanner.ErrorList) (directive, bool) {
	at := func(offset int) token.Position {
		p := pos
		p.Offset += offset
		p.Column += offset
		return p
	}
	body := text[len(directivePrefix):]
	fields := splitFields(body, len(directivePrefix))
	if len(fields) == 0 {
		errs.Add(at(len(directivePrefix)), "missing directive name after //resgen:")
		return directive{}, false
	}
	d := directive{name: fields[0].text, pos: at(fields[0].offset)}
	if !known(d.name) {
		errs.Add(d.pos, fmt.Sprintf("unknown directive %q%s", d.name, yamlconf.Suggest(d.name, directiveNames)))
		return directive{}, false
	}
	ok := true
	keys := make(map[string]bool)
	for _, f := range fields[1:] {
		p := at(f.offset)
		switch {
		case d.name == "skip" && f.text != "off":
			if ok {
				errs.Add(p, "//resgen:skip takes no arguments")
			}
			ok = false
		case f.text == "off":
			if d.name == "skip" || d.name == "profile" {
				errs.Add(p, fmt.Sprintf("//resgen:%s cannot be turned off", d.name))
				ok = false
				continue
			}
			if d.off {
				errs.Add(p, "duplicate off")
				ok = false
			}
			d.off = true
		case !strings.Contains(f.text, "="):
			if (d.name == "profile" || d.name == "timeout") && d.word == nil {
				d.word = &arg{value: f.text, pos: p}
				continue
			}
			errs.Add(p, fmt.Sprintf("want key=value, not %q", f.text))
			ok = false
		default:
			k, v, _ := strings.Cut(f.text, "=")
			if k == "" || v == "" {
				errs.Add(p, fmt.Sprintf("want key=value, not %q", f.text))
				ok = false
				continue
			}
			if keys[k] {
				errs.Add(p, fmt.Sprintf("duplicate key %q", k))
				ok = false
				continue
			}
			keys[k] = true
			d.args = append(d.args, arg{key: k, value: v, pos: p})
		}
	}
	switch d.name {
	case "skip":
	case "profile":
		if d.word == nil {
			errs.Add(d.pos, "//resgen:profile needs a profile name")
			ok = false
		} else if len(d.args) > 0 {
			errs.Add(d.args[0].pos, "//resgen:profile takes only a profile name")
			ok = false
		}
	case "timeout":
		if d.off && (d.word != nil || len(d.args) > 0) {
			errs.Add(d.pos, "//resgen:timeout off takes no duration")
			ok = false
		} else if !d.off && d.word == nil {
			errs.Add(d.pos, "//resgen:timeout needs a duration, such as 5s, or off")
			ok = false
		} else if len(d.args) > 0 {
			errs.Add(d.args[0].pos, "//resgen:timeout takes only a duration")
			ok = false
		}
	default:
		if d.off && len(d.args) > 0 {
			errs.Add(d.args[0].pos, fmt.Sprintf("//resgen:%s off takes no keys", d.name))
			ok = false
		}
		valid := tooling.Keys(d.name)
		for _, a := range d.args {
			if !contains(valid, a.key) {
				errs.Add(a.pos, fmt.Sprintf("unknown key %q for //resgen:%s%s", a.key, d.name, yamlconf.Suggest(a.key, valid)))
				ok = false
			}
		}
	}
	return d, ok
}

type field struct {
	text   string
	offset int // from the start of the comment
}

// splitFields splits s at spaces and tabs, remembering where each field
// starts; base is the offset of s in its comment.
func splitFields(s string, base int) []field {
	var out []field
	start := -1
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ' ' || s[i] == '\t' {
			if start >= 0 {
				out = append(out, field{s[start:i], base + start})
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	return out
}

func known(name string) bool { return contains(directiveNames, name) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
