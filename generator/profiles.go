package generator

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/resgen-dev/resgen/internal/yamlconf"
	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/templates"
)

// builtinProfile returns the settings of a built-in profile.
func builtinProfile(name string) ([]runtime.Setting, bool, error) {
	src, ok := templates.Source(name)
	if !ok {
		return nil, false, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, true, fmt.Errorf("resgen: built-in profile %s: %v", name, err)
	}
	if len(doc.Content) == 0 {
		return nil, true, nil
	}
	root := doc.Content[0]
	var out []runtime.Setting
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value == "description" {
			continue
		}
		if !yamlconf.IsPolicy(k.Value) {
			return nil, true, fmt.Errorf("resgen: built-in profile %s: unknown key %q", name, k.Value)
		}
		settings, errs := yamlconf.Policy(k.Value, v)
		if len(errs) > 0 {
			return nil, true, fmt.Errorf("resgen: built-in profile %s: %v", name, errs[0])
		}
		for _, s := range settings {
			out = append(out, s.Setting)
		}
	}
	return out, true, nil
}
