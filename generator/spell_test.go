package generator

import "testing"

// TestImportableInternal: the go command's rule for internal packages,
// which decides whether a wrapper may name a type or must forward the
// method that uses it.
func TestImportableInternal(t *testing.T) {
	for _, tc := range []struct {
		path, from string
		want       bool
	}{
		{"google.golang.org/protobuf/internal/pragma", "google.golang.org/protobuf/reflect/protoreflect", true},
		{"google.golang.org/protobuf/internal/pragma", "google.golang.org/protobuf", true},
		{"google.golang.org/protobuf/internal/pragma", "example.com/app", false},
		{"google.golang.org/protobuf/internal/pragma", "google.golang.org/protobufx", false},
		{"example.com/a/internal", "example.com/a/b", true},
		{"example.com/a/internal", "example.com/ab", false},
		{"example.com/a/internal/x/internal/y", "example.com/a/b", false},
		{"example.com/a/internal/x/internal/y", "example.com/a/internal/x/z", true},
		{"internal/poll", "os", true},
		{"internal/poll", "example.com/app", false},
		{"example.com/internalthing", "example.com/app", true},
		{"example.com/a/internal/b", "", false},
		{"net/http", "", true},
	} {
		if got := importable(tc.path, tc.from); got != tc.want {
			t.Errorf("importable(%q, from %q) = %v, want %v", tc.path, tc.from, got, tc.want)
		}
	}
}
