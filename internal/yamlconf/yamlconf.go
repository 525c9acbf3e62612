// Package yamlconf reads the policy blocks that resgen.yaml, the built-in
// profiles and run-time override files share, from yaml.v3 nodes, keeping
// every value's line and column for error messages.
package yamlconf

import (
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/resgen-dev/resgen/internal/tooling"
	"github.com/resgen-dev/resgen/runtime"
)

// Setting is a runtime.Setting with the position of its value.
type Setting struct {
	runtime.Setting
	Line, Col int
	// Idents are the Go identifiers of a retry_on or excluded_errors list
	// (io.ErrUnexpectedEOF, *net.OpError, redis.Nil): resgen resolves them
	// when it generates code; Value keeps the list's error classes.
	Idents []string
}

// IsMatcherKey reports whether key takes error classes and Go identifiers.
func IsMatcherKey(key string) bool {
	for _, p := range tooling.Policies {
		for _, k := range p.Keys {
			if k.Name == key && k.List {
				return true
			}
		}
	}
	return false
}

// identRE is a Go identifier, qualified by a package name or import path,
// with an optional *.
var identRE = regexp.MustCompile(`^\*?([A-Za-z0-9_.\-/]+\.)?[A-Za-z_][A-Za-z0-9_]*$`)

// Error is a problem at a position of a YAML file.
type Error struct {
	Line, Col int
	Msg       string
}

func (e Error) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg) }

// Errorf returns an Error at n. Quoted values in its message are cut
// after MaxQuoted bytes (BoundQuoted).
func Errorf(n *yaml.Node, format string, args ...any) Error {
	return Error{Line: n.Line, Col: n.Column, Msg: BoundQuoted(fmt.Sprintf(format, args...))}
}

// IsPolicy reports whether key names a policy block.
func IsPolicy(key string) bool {
	for _, p := range tooling.PolicyNames() {
		if p == key {
			return true
		}
	}
	return false
}

// Policy reads the block of policy from value: "off", "on", a mapping of
// keys, or for timeout a duration. Every setting is checked with
// runtime.Config.Apply, so that values are reported with their position.
func Policy(policy string, value *yaml.Node) ([]Setting, []error) {
	var out []Setting
	var errs []error
	add := func(key string, n *yaml.Node, v string) {
		s := Setting{Setting: runtime.Setting{Policy: policy, Key: key, Value: v}, Line: n.Line, Col: n.Column}
		if IsMatcherKey(key) {
			// Error classes, and Go identifiers for resgen to resolve.
			var classes []string
			for _, item := range strings.Split(v, ",") {
				item = strings.TrimSpace(item)
				var c runtime.Class
				if c.UnmarshalText([]byte(item)) == nil {
					classes = append(classes, item)
				} else if strings.Contains(item, ".") && identRE.MatchString(item) {
					s.Idents = append(s.Idents, item)
				} else {
					errs = append(errs, Errorf(n, "%s.%s: unknown error class %q%s", policy, key, item,
						Suggest(item, tooling.ClassNames())))
					return
				}
			}
			s.Value = strings.Join(classes, ",")
			if s.Value == "" {
				out = append(out, s)
				return
			}
		}
		var scratch runtime.Config
		if err := scratch.Apply(s.Setting); err != nil {
			errs = append(errs, Errorf(n, "%v", err))
			return
		}
		out = append(out, s)
	}
	switch value.Kind {
	case yaml.ScalarNode:
		switch v := scalar(value); {
		case value.ShortTag() == "!!null":
			// An empty block (every key of it commented out, as resgen
			// init writes them) changes nothing, as {} does.
		case v == "off" || v == "false":
			add("", value, "off")
		case v == "on" || v == "true":
			add("", value, "on")
		case policy == "timeout":
			add("duration", value, v)
		default:
			errs = append(errs, Errorf(value, "%s: want off, on or a mapping of keys, not %q", policy, v))
		}
	case yaml.MappingNode:
		if policy == "timeout" {
			errs = append(errs, Errorf(value, "timeout: want a duration such as 5s, or off"))
			break
		}
		seen := make(map[string]bool)
		for i := 0; i+1 < len(value.Content); i += 2 {
			k, v := value.Content[i], value.Content[i+1]
			if seen[k.Value] {
				errs = append(errs, Errorf(k, "duplicate key %q", k.Value))
				continue
			}
			seen[k.Value] = true
			keys := tooling.Keys(policy)
			found := false
			for _, key := range keys {
				found = found || key == k.Value
			}
			if !found {
				errs = append(errs, Errorf(k, "unknown key %q for %s%s", k.Value, policy, Suggest(k.Value, keys)))
				continue
			}
			text, err := scalarOrList(v)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			add(k.Value, v, text)
		}
	default:
		errs = append(errs, Errorf(value, "%s: want off, on or a mapping of keys", policy))
	}
	return out, errs
}

// scalarOrList returns a scalar's text, or a sequence of scalars joined by
// commas (retry_on: [transient, auth]).
func scalarOrList(n *yaml.Node) (string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		return scalar(n), nil
	case yaml.SequenceNode:
		parts := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return "", Errorf(c, "want a list of words")
			}
			parts = append(parts, scalar(c))
		}
		return strings.Join(parts, ","), nil
	case yaml.AliasNode:
		if n.Alias != nil {
			return scalarOrList(n.Alias)
		}
	}
	return "", Errorf(n, "want a value, not a mapping")
}

// scalar returns a scalar's text; YAML's other spellings of booleans (True,
// FALSE) come back as true and false.
func scalar(n *yaml.Node) string {
	if n.ShortTag() == "!!bool" {
		return strings.ToLower(n.Value)
	}
	return n.Value
}
