// Package config reads run-time overrides of resgen wrappers from YAML, so
// that any method of any wrapper can be retuned without regenerating:
//
//	version: 1
//	wrappers:
//	  ResilientStore:              # the wrapper's type name
//	    profile: api               # optional: a built-in or custom profile
//	    timeout: 5s                # wrapper-wide
//	    methods:
//	      ListOrders:
//	        retry: {max_attempts: 7}
//	      "Create*":
//	        rate_limit: off
//
// Pass the result to the generated constructor with runtime.WithConfig. The
// overrides apply field by field over the configuration the generated code
// carries, in this order: the profile, the wrapper's policies, then each
// methods: entry that matches, in the file's order. It lives apart from
// package runtime so that runtime imports only the standard library.
package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"github.com/resgen-dev/resgen/internal/yamlconf"
	"github.com/resgen-dev/resgen/runtime"
)

// File is a parsed override file. It is a runtime.ConfigSource that warns
// (Warnings), and is safe for concurrent use: nothing changes it
// after Parse but which warnings it gave.
type File struct {
	name   string
	f      *yamlconf.File
	warned []atomic.Bool // by wrapper entry: Warnings gave its warning
}

var _ runtime.ConfigSource = (*File)(nil)

// Load reads and parses the override file at path. Its problems are
// reported together, one a line, as path:LINE:COL: message.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parse(path, data)
}

// Parse parses an override file's content. Its problems are reported
// together, one a line, as LINE:COL: message.
func Parse(data []byte) (*File, error) { return parse("", data) }

func parse(name string, data []byte) (*File, error) {
	f, errs := yamlconf.Parse(data, yamlconf.Runtime)
	if f != nil {
		errs = append(errs, noIdents(f)...)
	}
	if len(errs) > 0 {
		return nil, format(name, errs)
	}
	return &File{name: name, f: f, warned: make([]atomic.Bool, len(f.Wrappers))}, nil
}

// noIdents reports Go identifiers in retry_on and excluded_errors: only
// resgen, generating code, can resolve them; at run time there are classes.
func noIdents(f *yamlconf.File) []error {
	var errs []error
	check := func(b yamlconf.Block) {
		for _, s := range b.Settings {
			if len(s.Idents) > 0 {
				errs = append(errs, yamlconf.Error{Line: s.Line, Col: s.Col, Msg: fmt.Sprintf(
					"%s.%s: %s is a Go identifier, which only resgen resolves when it generates code: use error classes here, or put it in resgen.yaml or a directive",
					s.Policy, s.Key, yamlconf.Clip(s.Idents[0]))})
			}
		}
	}
	for _, p := range f.Profiles {
		check(p.Block)
	}
	for _, w := range f.Wrappers {
		check(w.Block)
		for _, m := range w.Methods {
			check(m.Block)
		}
	}
	return errs
}

// Error is the error of Load and Parse: every problem of the file.
type Error struct {
	// Problems are the file's problems, in order of position, each as
	// [name:]LINE:COL: message.
	Problems []string
}

func (e *Error) Error() string { return strings.Join(e.Problems, "\n") }

func format(name string, errs []error) error {
	e := &Error{}
	for _, err := range errs {
		s := err.Error()
		if name != "" {
			s = name + ":" + s
		}
		e.Problems = append(e.Problems, s)
	}
	return e
}

// Overrides returns the settings for method of wrapper: the wrapper's
// profile, its policies, then the policies of each methods: entry that
// matches method, each entry's profile first. It reports methods: entries
// that name no method of the wrapper.
func (f *File) Overrides(wrapper, method string, methods []string) ([]runtime.Setting, error) {
	var out []runtime.Setting
	var errs []error
	for _, w := range f.f.Wrappers {
		if w.Key != wrapper {
			continue
		}
		out = append(out, f.block(w.Block)...)
		for _, mb := range w.Methods {
			if !matchesAny(mb.Pattern, methods) {
				pos := fmt.Sprintf("%d:%d", mb.Node.Line, mb.Node.Column)
				if f.name != "" {
					pos = f.name + ":" + pos
				}
				if yamlconf.IsGlob(mb.Pattern) {
					errs = append(errs, fmt.Errorf("%s: methods: %s matches no method of %s", pos, yamlconf.Quote(mb.Pattern), wrapper))
				} else {
					errs = append(errs, fmt.Errorf("%s: methods: %s has no method %s%s", pos, wrapper, yamlconf.Clip(mb.Pattern),
						yamlconf.Suggest(mb.Pattern, methods)))
				}
				continue
			}
			if yamlconf.Match(mb.Pattern, method) {
				out = append(out, f.block(mb.Block)...)
			}
		}
	}
	// Every method reports the same unmatched entries: report them with the
	// first method only, so that each appears once.
	if len(errs) > 0 && (len(methods) == 0 || methods[0] == method) {
		return out, errors.Join(errs...)
	}
	return out, nil
}

// Warnings reports, when the file has no entry for wrapper, the entries
// whose key is close to wrapper's name or is the name of its interface
// iface: a misspelt key applies to no wrapper, silently otherwise. Each
// entry is reported once, by the first wrapper built from the file that
// it is close to; a key far from every wrapper's name is not reported,
// since the file may configure wrappers of other programs. The wrapper's
// constructor logs them.
func (f *File) Warnings(wrapper, iface string) []string {
	for _, w := range f.f.Wrappers {
		if w.Key == wrapper {
			return nil
		}
	}
	short := iface[strings.LastIndexByte(iface, '.')+1:]
	var out []string
	for i, w := range f.f.Wrappers {
		hint := yamlconf.Suggest(w.Key, []string{wrapper})
		if hint == "" && w.Key != "" && (w.Key == iface || w.Key == short) {
			hint = fmt.Sprintf(" (%s is the interface: key its overrides by the wrapper's type name, %s)", w.Key, wrapper)
		}
		if hint == "" || !f.warned[i].CompareAndSwap(false, true) {
			continue
		}
		pos := fmt.Sprintf("%d:%d", w.Node.Line, w.Node.Column)
		if f.name != "" {
			pos = f.name + ":" + pos
		}
		out = append(out, fmt.Sprintf("%s: wrappers: no wrapper is named %s, so its overrides apply to none%s",
			pos, yamlconf.Clip(w.Key), hint))
	}
	return out
}

var _ interface {
	runtime.ConfigSource
	Warnings(wrapper, iface string) []string
} = (*File)(nil)

func (f *File) block(b yamlconf.Block) []runtime.Setting {
	var out []runtime.Setting
	if b.Profile != "" {
		s, _ := f.f.ProfileSettings(b.Profile)
		out = append(out, s...)
	}
	for _, s := range b.Settings {
		out = append(out, s.Setting)
	}
	return out
}

func matchesAny(pattern string, methods []string) bool {
	for _, m := range methods {
		if yamlconf.Match(pattern, m) {
			return true
		}
	}
	return false
}
