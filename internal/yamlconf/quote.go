package yamlconf

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/resgen-dev/resgen/runtime"
)

// MaxQuoted is how many bytes of a value error messages quote: a longer
// value is cut there, so that a 1 MB value makes a one-line message.
const MaxQuoted = 64

// Quote returns s quoted as %q does, cut after MaxQuoted bytes (at a
// character boundary) with its length said: "abc"... (1048576 bytes).
func Quote(s string) string {
	if len(s) <= MaxQuoted {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(cut(s)), len(s))
}

// Clip returns s cut after MaxQuoted bytes, with "..." when it is cut: a
// name written as is in a message.
func Clip(s string) string {
	if len(s) <= MaxQuoted {
		return s
	}
	return cut(s) + "..."
}

func cut(s string) string {
	n := MaxQuoted
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// maxSuggested bounds the length of a word that Suggest looks up: the edit
// distance costs the product of the lengths, and no name that long is a
// misspelling of a key or a profile.
const maxSuggested = 128

// Suggest is runtime.Suggest for a word of the user's input: a word too
// long to be a misspelling gets no suggestion, at no cost.
func Suggest(word string, candidates []string) string {
	if len(word) > maxSuggested {
		return ""
	}
	return runtime.Suggest(word, candidates)
}

// BoundQuotes returns msg with each quotation of value in it (as %q writes
// it) replaced by Quote(value): runtime's messages quote values whole.
func BoundQuotes(msg, value string) string {
	if len(value) <= MaxQuoted {
		return msg
	}
	return strings.ReplaceAll(msg, strconv.Quote(value), Quote(value))
}
