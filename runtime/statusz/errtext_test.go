package statusz

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestLongErrorsAreCut: an error's text on the page is at most 500 bytes
// and an ellipsis, cut on a rune boundary.
func TestLongErrorsAreCut(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"short", errors.New("boom"), "boom"},
		{"exactly 500", errors.New(strings.Repeat("a", 500)), strings.Repeat("a", 500)},
		{"ascii", errors.New(strings.Repeat("a", 501)), strings.Repeat("a", 500) + "…"},
		{"runes", errors.New("a" + strings.Repeat("é", 400)), "a" + strings.Repeat("é", 249) + "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := errorText(tc.err)
			if got != tc.want {
				t.Errorf("errorText = %q (%d bytes), want %q", got, len(got), tc.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("errorText cut a rune: %q", got)
			}
		})
	}
}
