package runtime_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsOnlyTheStandardLibrary: importing runtime, which every
// generated wrapper does, must pull in nothing beyond the standard library.
// Integrations with dependencies (YAML, Prometheus) are sub-packages.
func TestImportsOnlyTheStandardLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/resgen-dev/resgen/runtime" {
			t.Errorf("runtime depends on %s", p)
		}
	}
}
