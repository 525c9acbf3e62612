package yamlconf

import (
	"strings"
	"testing"
)

// TestQuoteBounded: Quote and Clip keep short values whole and cut long
// ones at a character boundary, saying so.
func TestQuoteBounded(t *testing.T) {
	long := strings.Repeat("a", 63) + "é" + strings.Repeat("b", 100)
	tests := []struct{ got, want string }{
		{Quote("retyr"), `"retyr"`},
		{Quote(strings.Repeat("x", 64)), `"` + strings.Repeat("x", 64) + `"`},
		{Quote(strings.Repeat("x", 1<<20)), `"` + strings.Repeat("x", 64) + `"... (1048576 bytes)`},
		{Quote(long), `"` + strings.Repeat("a", 63) + `"... (165 bytes)`},
		{Clip("short"), "short"},
		{Clip(long), strings.Repeat("a", 63) + "..."},
		{BoundQuoted(`unknown jitter "` + strings.Repeat("y", 1000) + `" (want none)`), `unknown jitter "` + strings.Repeat("y", 64) + `"... (1000 bytes) (want none)`},
		{BoundQuoted(`a "b" and an unbalanced " quote` + strings.Repeat(".", 100)), `a "b" and an unbalanced " quote` + strings.Repeat(".", 100)},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%d: got %.120q, want %.120q", i, tt.got, tt.want)
		}
	}
}

// TestHugeValueNotQuotedWhole: an error about a megabyte value (a key, a
// value of every kind, a profile name) quotes its first bytes only, where
// the whole value used to be in the message.
func TestHugeValueNotQuotedWhole(t *testing.T) {
	huge := strings.Repeat("z", 1<<20)
	for _, src := range []string{
		"version: " + huge + "\n",
		huge + ": 1\nversion: 1\n",
		"version: 1\nprofiles:\n  p: {retry: {" + huge + ": 1}}\n",
		"version: 1\nprofiles:\n  p: {retry: {jitter: " + huge + "}}\n",
		"version: 1\nprofiles:\n  p: {retry: {max_attempts: " + huge + "}}\n",
		"version: 1\nprofiles:\n  p: {retry: {retry_on: " + huge + "}}\n",
		"version: 1\nprofiles:\n  p: {timeout: " + huge + "}\n",
		"version: 1\nprofiles:\n  p: {retry: " + huge + "}\n",
		"version: 1\nprofiles:\n  p: {extends: " + huge + "}\n",
		"version: 1\nprofiles:\n  " + huge + ": {extends: " + huge + "}\n",
		"version: 1\nprofiles:\n  " + huge + ": {extends: " + huge + "}\n",
		"version: 1\nwrappers:\n  - type: T\n    profile: " + huge + "\n",
		"version: 1\nwrappers:\n  - type: T\n    methods:\n      \"[" + huge + "\": {}\n",
	} {
		_, errs := Parse([]byte(src), Generation)
		if len(errs) == 0 {
			t.Fatalf("%.60q: no error", src)
		}
		for _, e := range errs {
			if msg := e.Error(); len(msg) > 400 {
				t.Errorf("%.60q: a %d-byte message: %.200s", src, len(msg), msg)
			}
		}
	}
}
