package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHugeDirectiveValueNotQuotedWhole: errors about megabyte values in
// directives and resgen.yaml quote their first bytes only, one short line
// each, where the whole value used to be printed.
func TestHugeDirectiveValueNotQuotedWhole(t *testing.T) {
	root := caseModule(t)
	t.Setenv("GOFLAGS", "-mod=mod")
	t.Setenv("GOWORK", "off")
	huge := strings.Repeat("z", 1<<20)
	dir := filepath.Join(root, "huge")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src := "package shop\n\nimport \"context\"\n\n" +
		"//resgen:retry jitter=" + huge + "\n" +
		"type Store interface {\n" +
		"\t//resgen:" + huge + "\n" +
		"\tGet(ctx context.Context, id string) (string, error)\n" +
		"\t//resgen:retry " + huge + "=1\n" +
		"\tPut(ctx context.Context, id string) error\n" +
		"\t//resgen:profile " + huge + "\n" +
		"\tDel(ctx context.Context, id string) error\n" +
		"\t//resgen:retry retry_on=x." + huge + "\n" +
		"\tList(ctx context.Context) error\n" +
		"\t//resgen:timeout " + huge + "\n" +
		"\tCount(ctx context.Context) error\n" +
		"}\n"
	yaml := "version: 1\nwrappers:\n  - type: Store\n    methods:\n      ? " + huge + "\n      : {retry: off}\n"
	for name, content := range map[string]string{"store.go": src, "resgen.yaml": yaml} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	for _, args := range [][]string{{"-config", "resgen.yaml"}, {"-config", "resgen.yaml", "-type", "Store"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != exitError {
			t.Fatalf("%v: exit %d, want %d", args, code, exitError)
		}
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if len(lines) < 5 {
			t.Errorf("%v: %d errors, want one a directive:\n%.2000s", args, len(lines), stderr.String())
		}
		for _, l := range lines {
			if len(l) > 400 || !strings.Contains(l, "...") {
				t.Errorf("%v: a %d-byte error: %.300s", args, len(l), l)
			}
		}
	}
}
