package generator

import (
	"fmt"
	"strings"

	"github.com/resgen-dev/resgen/internal/tooling"
	"github.com/resgen-dev/resgen/internal/yamlconf"
	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/templates"
)

// This file prints the configuration for resgen init and resgen profiles,
// from the runtime's descriptors of the policies and their keys: the same
// names, order, docs and value formatting as directives and generated doc
// comments.

// InitFileName is the file that resgen init writes.
const InitFileName = "resgen.yaml"

// profile is a built-in profile's configuration, with its defaults filled
// in, and which settings the profile makes itself.
type profile struct {
	name        string
	description string
	cfg         runtime.Config
	own         map[string]bool // "policy" (switched on or off) and "policy.key"
}

// builtinProfile applies a built-in profile's settings over the defaults.
func builtinProfile(name string) (*profile, error) {
	settings, ok := yamlconf.Builtin(name)
	if !ok {
		return nil, fmt.Errorf("unknown profile %q%s", name, yamlconf.Suggest(name, templates.Names()))
	}
	p := &profile{name: name, own: make(map[string]bool), description: yamlconf.BuiltinDescription(name)}
	for _, s := range settings {
		if err := p.cfg.Apply(s); err != nil {
			return nil, fmt.Errorf("built-in profile %s: %v", name, err)
		}
		p.own[s.Policy] = true
		if s.Key != "" {
			p.own[s.Policy+"."+s.Key] = true
		}
	}
	if err := p.cfg.Validate(); err != nil {
		return nil, fmt.Errorf("built-in profile %s: %v", name, err)
	}
	p.cfg = p.cfg.Normalize()
	return p, nil
}

// Profiles returns resgen profiles' output: the built-in profiles named,
// or all of them with the default first, every value resolved over the
// defaults, as YAML. It returns one error for each unknown name.
func Profiles(names []string) (string, []error) {
	if len(names) == 0 {
		// default first: the others are read against it.
		names = []string{"default"}
		for _, n := range templates.Names() {
			if n != "default" {
				names = append(names, n)
			}
		}
	}
	var profiles []*profile
	var errs []error
	for _, name := range names {
		p, err := builtinProfile(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		profiles = append(profiles, p)
	}
	if len(errs) > 0 {
		return "", errs
	}
	var b strings.Builder
	b.WriteString("# resgen's built-in profiles, every value resolved over resgen's defaults\n" +
		"# (the default profile); \"# default\" marks the values a profile does not set\n" +
		"# itself. Name one with //resgen:profile NAME, profile: NAME in resgen.yaml,\n" +
		"# -profile NAME, or extend it in resgen.yaml (resgen init writes an example).\n")
	for _, p := range profiles {
		b.WriteString("\n")
		writeProfile(&b, p)
	}
	return b.String(), nil
}

// yamlValue writes a key's value as YAML: a list as [a, b].
func yamlValue(text string, list bool) string {
	if list && text != "none" {
		return "[" + strings.ReplaceAll(text, ",", ", ") + "]"
	}
	return text
}

// writeProfile writes one resolved profile as a YAML mapping.
func writeProfile(b *strings.Builder, p *profile) {
	var ls yamlLines
	if p.description != "" {
		ls.comment(0, p.name+": "+p.description)
	}
	ls.add(0, p.name+":", "", false)
	mark := func(own bool) string {
		if own || p.name == "default" {
			return ""
		}
		return "default"
	}
	for _, d := range tooling.Policies {
		if d.Disabled(&p.cfg) {
			ls.add(1, d.Name+": off", "", false)
			continue
		}
		if d.Positional != "" {
			ls.add(1, d.Name+": "+d.Keys[0].Text(&p.cfg), mark(p.own[d.Name+"."+d.Positional]), false)
			continue
		}
		ls.add(1, d.Name+":", "", false)
		for i := range d.Keys {
			k := &d.Keys[i]
			v := k.Text(&p.cfg)
			if v == "" {
				ls.add(2, "# "+k.Name+": "+k.Unset, "", false)
				continue
			}
			ls.add(2, k.Name+": "+yamlValue(v, k.List), mark(p.own[d.Name+"."+k.Name]), false)
		}
	}
	ls.write(b)
}

// yamlLines is a YAML text with aligned trailing comments. A line marked
// yaml is commented-out YAML, written as "# key: value".
type yamlLines []yamlLine

type yamlLine struct {
	indent  int
	text    string
	comment string // trailing comment
	yaml    bool   // commented-out YAML
	col0    bool   // commented out at column 0 rather than at its indentation
	whole   bool   // a comment line
}

func (ls *yamlLines) add(indent int, text, comment string, yaml bool) {
	*ls = append(*ls, yamlLine{indent: indent, text: text, comment: comment, yaml: yaml})
}

func (ls *yamlLines) comment(indent int, text string) {
	*ls = append(*ls, yamlLine{indent: indent, text: text, whole: true})
}

func (ls *yamlLines) blank() { *ls = append(*ls, yamlLine{}) }

func (ls yamlLines) write(b *strings.Builder) {
	render := func(l yamlLine) string {
		s := strings.Repeat("  ", l.indent)
		switch {
		case l.yaml && l.col0:
			return "# " + s + l.text
		case l.yaml:
			s += "# "
		}
		return s + l.text
	}
	width := 0
	for _, l := range ls {
		if l.comment != "" {
			width = max(width, len(render(l)))
		}
	}
	for _, l := range ls {
		switch {
		case l.whole:
			for _, para := range strings.Split(l.text, "\n") {
				lines := wrap(para, 78-2*l.indent)
				if len(lines) == 0 {
					lines = []string{""}
				}
				for _, c := range lines {
					b.WriteString(strings.TrimRight(strings.Repeat("  ", l.indent)+"# "+c, " ") + "\n")
				}
			}
		case l.text == "":
			b.WriteString("\n")
		case l.comment != "":
			s := render(l)
			b.WriteString(s + strings.Repeat(" ", width-len(s)) + "  # " + l.comment + "\n")
		default:
			b.WriteString(render(l) + "\n")
		}
	}
}

func capitalize(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// InitFile returns the resgen.yaml that resgen init writes for the
// built-in profile base: a custom profile, named by custom, that extends
// it, with every key commented out and documented, and an example wrapper
// entry. An unknown base is an error.
func InitFile(base string) (content []byte, custom string, err error) {
	p, err := builtinProfile(base)
	if err != nil {
		return nil, "", err
	}
	custom = "my-" + base
	var ls yamlLines
	head := func(indent int, text string) { ls.comment(indent, text) }
	head(0, "resgen.yaml: the configuration of resgen, which writes resilient wrappers for Go interfaces (github.com/resgen-dev/resgen). resgen reads it from the current directory, or from -config FILE.")
	head(0, "")
	head(0, "Precedence, field by field, later wins: built-in defaults < profile < this file's wrapper entry < its methods: blocks < //resgen: directives on the interface < on the method < run-time overrides (package runtime/config, runtime.WithConfig).")
	head(0, "")
	head(0, "Durations are Go durations (500ms, 2s, 1m); lists are YAML lists or comma-separated words. A policy written as off (rate_limit: off) is disabled; on switches it back on.")
	ls.add(0, "version: 1", "", false)
	ls.blank()
	head(0, "Custom profiles. Name one with profile: NAME in a wrapper entry below, //resgen:profile NAME in a doc comment, or resgen -profile NAME. `resgen profiles` prints the built-in ones with every value.")
	ls.add(0, "profiles:", "", false)
	ls.add(1, custom+":", "", false)
	head(2, fmt.Sprintf("The built-in profile %s, changed by the keys below: uncomment a key to change it. The values shown are %s's.", base, base))
	ls.add(2, "extends: "+base, "", false)
	var def runtime.Config
	def = def.Normalize()
	for _, d := range tooling.Policies {
		if d.Positional != "" {
			k := &d.Keys[0]
			head(2, fmt.Sprintf("%s. Default: %s.", capitalize(k.Doc), k.Text(&def)))
			ls.add(2, d.Name+": "+k.Text(&p.cfg), "", true)
			continue
		}
		if d.Disabled(&p.cfg) {
			ls.add(2, d.Name+": off", "", false)
			continue
		}
		ls.add(2, d.Name+":", "", false)
		for i := range d.Keys {
			k := &d.Keys[i]
			if k.Unset != "" {
				head(3, capitalize(k.Doc)+". Default: "+k.Unset+".")
				ls.comment(3, k.Name+": "+k.Example)
				continue
			}
			head(3, capitalize(k.Doc)+". Default: "+yamlValue(k.Text(&def), k.List)+".")
			ls.add(3, k.Name+": "+yamlValue(k.Text(&p.cfg), k.List), "", true)
		}
	}
	ls.blank()
	head(0, "Wrappers of interfaces that you cannot annotate with //resgen: directives: another module's (pgx, go-redis, gRPC clients) or the standard library's. Uncomment and adapt: `resgen` (or `resgen -config resgen.yaml`) then generates every entry. The output's package clause is that of the Go files in its directory, or -package.")
	ex := func(indent int, text, comment string) {
		ls = append(ls, yamlLine{indent: indent, text: text, comment: comment, yaml: true, col0: true})
	}
	ex(0, "wrappers:", "")
	ex(1, "- source: github.com/jackc/pgx/v5", "the package; default: this one")
	ex(2, "type: Tx", "the interface")
	ex(2, "name: ResilientTx", "default: Resilient<Type>")
	ex(2, "output: tx_resilient.go", "default: <snake_type>_resilient.go")
	ex(2, "profile: "+custom, "a built-in or custom profile")
	ex(2, "timeout: 5s", "any policy block")
	ex(2, "methods:", "names or globs; later ones win")
	ex(3, "Commit:", "")
	ex(4, "retry: off", "never repeat a commit")
	ex(3, `"Query*":`, "Query and QueryRow")
	ex(4, "retry: {max_attempts: 5, initial_delay: 100ms}", "")
	var b strings.Builder
	ls.write(&b)
	return []byte(b.String()), custom, nil
}
