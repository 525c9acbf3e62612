package runtime_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsOnlyTheStandardLibrary: importing runtime and resgenimpl,
// which every generated wrapper does, must pull in nothing beyond the
// standard library and the runtime's own packages. Integrations with
// dependencies (YAML, Prometheus, OpenTelemetry, Redis) are sub-packages.
func TestImportsOnlyTheStandardLibrary(t *testing.T) {
	own := map[string]bool{
		"github.com/resgen-dev/resgen/runtime":               true,
		"github.com/resgen-dev/resgen/runtime/internal/link": true,
		"github.com/resgen-dev/resgen/internal/tooling":      true,
		"github.com/resgen-dev/resgen/runtime/resgenimpl":    true,
		"github.com/resgen-dev/resgen/runtime/store":         true,
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".", "./resgenimpl").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if !own[p] {
			t.Errorf("runtime depends on %s", p)
		}
	}
}

// TestRuntimeDoesNotImportTheEngine: package runtime holds what users call
// and stays below the engine that generated code runs, which builds on it.
func TestRuntimeDoesNotImportTheEngine(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "github.com/resgen-dev/resgen/runtime/resgenimpl" {
			t.Errorf("runtime imports %s", p)
		}
	}
}
