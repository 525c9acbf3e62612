package generator

import (
	"go/scanner"
	"go/token"
	"strings"
	"testing"
)

// TestCheckEncodingFirstBadByte: checkEncoding reports the first byte that
// cannot be in Go source, once, at go/scanner's position for it.
func TestCheckEncodingFirstBadByte(t *testing.T) {
	tests := []struct{ src, want string }{
		{"package p\n", ""},
		{"\uFEFFpackage p\n", ""},
		{"package p // é ✓\n", ""},
		{"package p\n// a\x00b\n", "f.go:2:5: illegal character NUL"},
		{"package p\nvar s = \"\xff\x00\x00\"\n", "f.go:2:10: illegal UTF-8 encoding"},
		{"package p\n\n\t// \uFEFF\n", "f.go:3:5: illegal byte order mark"},
		{strings.Repeat("\x00", 1<<20), "f.go:1:1: illegal character NUL"},
		{"\xff\xfep\x00", "f.go:1:1: illegal UTF-8 encoding (got UTF-16)"},
	}
	for _, tt := range tests {
		got := ""
		if err := checkEncoding("f.go", []byte(tt.src)); err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("checkEncoding(%.20q) = %q, want %q", tt.src, got, tt.want)
		}
	}
}

// FuzzCheckEncoding checks that checkEncoding reports a file exactly when
// go/scanner finds a NUL, invalid UTF-8 or a misplaced byte order mark in
// it, at the first of them.
func FuzzCheckEncoding(f *testing.F) {
	for _, s := range []string{
		"package p\n",
		"package p\n// a\x00b\n",
		"package p\nvar s = \"\xff\"\n",
		"\uFEFFpackage p\n\uFEFF",
		"package p\nvar r = `\x00`\n",
		"package p\n/* \xc3\x28 */\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		var first *scanner.Error
		fset := token.NewFileSet()
		file := fset.AddFile("f.go", -1, len(src))
		var s scanner.Scanner
		s.Init(file, src, func(pos token.Position, msg string) {
			if first == nil && isEncodingError(msg) {
				first = &scanner.Error{Pos: pos, Msg: msg}
			}
		}, scanner.ScanComments)
		for {
			if _, tok, _ := s.Scan(); tok == token.EOF {
				break
			}
		}
		err := checkEncoding("f.go", src)
		switch {
		case first == nil && err != nil:
			t.Fatalf("checkEncoding: %v; the scanner finds no such error", err)
		case first != nil && err == nil:
			t.Fatalf("checkEncoding finds nothing; the scanner: %v", first)
		case first != nil && err.Error() != first.Error():
			t.Fatalf("checkEncoding: %v; the scanner: %v", err, first)
		}
	})
}
