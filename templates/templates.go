// Package templates holds resgen's built-in profiles, as YAML files
// embedded in the binary. Each file is a profile: its name is the file's
// base name, its content the policy blocks of resgen.yaml (retry,
// circuit_breaker, rate_limit, timeout, recovery) over resgen's defaults,
// plus a description.
package templates

import (
	"embed"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed *.yaml
var files embed.FS

// Names returns the names of the built-in profiles, sorted.
func Names() []string {
	entries, _ := fs.ReadDir(files, ".")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}

// Source returns the YAML of the built-in profile name.
func Source(name string) ([]byte, bool) {
	b, err := files.ReadFile(path.Clean(name) + ".yaml")
	return b, err == nil
}
