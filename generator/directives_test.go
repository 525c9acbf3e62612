package generator

import (
	"go/ast"
	"go/scanner"
	"go/token"
	"strings"
	"testing"
)

func parseLine(text string) ([]directive, scanner.ErrorList) {
	fset := token.NewFileSet()
	f := fset.AddFile("x.go", -1, 1000)
	f.SetLines([]int{0})
	var errs scanner.ErrorList
	doc := &ast.CommentGroup{List: []*ast.Comment{{Slash: f.Pos(0), Text: text}}}
	return parseDirectives(fset, doc, &errs), errs
}

func TestParseDirective(t *testing.T) {
	tests := []struct {
		line    string
		name    string
		off     bool
		word    string
		args    map[string]string
		wantErr string
	}{
		{line: "//resgen:retry max_attempts=5 initial_delay=2s", name: "retry", args: map[string]string{"max_attempts": "5", "initial_delay": "2s"}},
		{line: "//resgen:retry off", name: "retry", off: true},
		{line: "//resgen:timeout 5s", name: "timeout", word: "5s"},
		{line: "//resgen:timeout off", name: "timeout", off: true},
		{line: "//resgen:profile api", name: "profile", word: "api"},
		{line: "//resgen:skip", name: "skip"},
		{line: "//resgen:rate_limit\tburst_size=3", name: "rate_limit", args: map[string]string{"burst_size": "3"}},
		{line: "//resgen:retyr", wantErr: `1:10: unknown directive "retyr" (did you mean "retry"?)`},
		{line: "//resgen:retry max_attempt=5", wantErr: `1:16: unknown key "max_attempt" for //resgen:retry (did you mean "max_attempts"?)`},
		{line: "//resgen:retry max_attempts", wantErr: `1:16: want key=value, not "max_attempts"`},
		{line: "//resgen:retry max_attempts=", wantErr: `want key=value`},
		{line: "//resgen:retry a=1 a=2", wantErr: `duplicate key "a"`},
		{line: "//resgen:retry off max_attempts=2", wantErr: `//resgen:retry off takes no keys`},
		{line: "//resgen:skip now", wantErr: `//resgen:skip takes no arguments`},
		{line: "//resgen:profile", wantErr: `//resgen:profile needs a profile name`},
		{line: "//resgen:timeout", wantErr: `//resgen:timeout needs a duration`},
		{line: "//resgen:timeout off 5s", wantErr: `//resgen:timeout off takes no duration`},
		{line: "//resgen:", wantErr: `missing directive name`},
		{line: "//resgen:skip off", wantErr: `//resgen:skip cannot be turned off`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			ds, errs := parseLine(tt.line)
			if tt.wantErr != "" {
				if len(errs) == 0 || !strings.Contains(errs.Error(), tt.wantErr) {
					t.Fatalf("errors %v, want one containing %q", errs, tt.wantErr)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatalf("unexpected errors: %v", errs)
			}
			if len(ds) != 1 {
				t.Fatalf("%d directives, want 1", len(ds))
			}
			d := ds[0]
			if d.name != tt.name || d.off != tt.off {
				t.Fatalf("got %s off=%v, want %s off=%v", d.name, d.off, tt.name, tt.off)
			}
			if (d.word == nil) != (tt.word == "") || (d.word != nil && d.word.value != tt.word) {
				t.Fatalf("word %+v, want %q", d.word, tt.word)
			}
			if len(d.args) != len(tt.args) {
				t.Fatalf("args %+v, want %v", d.args, tt.args)
			}
			for _, a := range d.args {
				if tt.args[a.key] != a.value {
					t.Fatalf("arg %s=%s, want %s", a.key, a.value, tt.args[a.key])
				}
			}
		})
	}
}

// TestDirectivePositions checks that every error points at the token it is
// about, so that editors jump to it.
func TestDirectivePositions(t *testing.T) {
	_, errs := parseLine("//resgen:retry max_attempts=5 jiter=full")
	if len(errs) != 1 || errs[0].Pos.Column != 31 {
		t.Fatalf("errors %v, want one at column 31", errs)
	}
}

func TestDuplicateDirective(t *testing.T) {
	fset := token.NewFileSet()
	f := fset.AddFile("x.go", -1, 1000)
	f.SetLines([]int{0, 100})
	var errs scanner.ErrorList
	doc := &ast.CommentGroup{List: []*ast.Comment{
		{Slash: f.Pos(0), Text: "//resgen:retry off"},
		{Slash: f.Pos(100), Text: "//resgen:retry max_attempts=2"},
	}}
	parseDirectives(fset, doc, &errs)
	if len(errs) != 1 || !strings.Contains(errs[0].Msg, "duplicate //resgen:retry directive (the first is at line 1)") {
		t.Fatalf("errors %v", errs)
	}
}

// FuzzParseDirective checks that the directive parser never panics, and
// that it returns either directives or positioned errors within the line.
func FuzzParseDirective(f *testing.F) {
	for _, s := range []string{
		"//resgen:retry max_attempts=5 initial_delay=2s",
		"//resgen:timeout off",
		"//resgen:profile api",
		"//resgen:skip",
		"//resgen:circuit_breaker excluded_errors=auth,*net.OpError group=db",
		"//resgen:rate_limit backpressure_strategy=queue max_queue_size=10",
		"//resgen:   ",
		"//resgen:retry ==== = a= =b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if strings.ContainsAny(body, "\n\r") {
			return
		}
		line := "//resgen:" + body
		ds, errs := parseLine(line)
		for _, e := range errs {
			if e.Pos.Line != 1 || e.Pos.Column < 1 || e.Pos.Column > len(line)+1 {
				t.Fatalf("error %v outside the line %q", e, line)
			}
		}
		if len(errs) == 0 && len(ds) != 1 {
			t.Fatalf("no error and %d directives for %q", len(ds), line)
		}
	})
}
