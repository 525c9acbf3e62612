package yamlconf

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/resgen-dev/resgen/internal/tooling"
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

// Suggest is tooling.Suggest for a word of the user's input: a word too
// long to be a misspelling gets no suggestion, at no cost.
func Suggest(word string, candidates []string) string {
	if len(word) > maxSuggested {
		return ""
	}
	return tooling.Suggest(word, candidates)
}

// BoundQuoted returns msg with every quoted string in it (as %q writes
// them) of more than MaxQuoted bytes replaced by its Quote: messages built
// elsewhere, runtime's among them, quote values whole.
func BoundQuoted(msg string) string {
	if len(msg) <= MaxQuoted {
		return msg
	}
	var b strings.Builder
	for i := 0; i < len(msg); {
		j := strings.IndexByte(msg[i:], '"')
		if j < 0 {
			b.WriteString(msg[i:])
			break
		}
		b.WriteString(msg[i : i+j])
		i += j
		q, err := strconv.QuotedPrefix(msg[i:])
		if err != nil {
			b.WriteByte('"')
			i++
			continue
		}
		if u, err := strconv.Unquote(q); err == nil && len(u) > MaxQuoted {
			b.WriteString(Quote(u))
		} else {
			b.WriteString(q)
		}
		i += len(q)
	}
	return b.String()
}
