package generator

import (
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"strings"
	"testing"

	"github.com/dave/jennifer/jen"
)

// TestTypeCode is the table test of renderer.typ, the one function that
// turns go/types into code: each case declares a type T in package p
// (import path example.com/p) and wants its rendering in a file of another
// package.
func TestTypeCode(t *testing.T) {
	tests := []struct {
		decl string
		want string
	}{
		{"type T = int", "int"},
		{"type T = []*string", "[]*string"},
		{"type T = map[string][]*Order", "map[string][]*p.Order"},
		{"type T = [4]byte", "[4]byte"},
		{"type T = chan int", "chan int"},
		{"type T = <-chan int", "<-chan int"},
		{"type T = chan<- int", "chan<- int"},
		{"type T = chan (<-chan int)", "chan (<-chan int)"},
		{"type T = func(int, ...string) (bool, error)", "func(int, ...string) (bool, error)"},
		{"type T = func()", "func()"},
		{"type T = struct{ A int `json:\"a\"`; Order }", "struct {\n\tA int `json:\"a\"`\n\tp.Order\n}"},
		{"type T = interface{ M(x int) string }", "interface{ M(x int) string }"},
		{"type T = interface{ M(x int) string; N() }", "interface {\n\tM(x int) string\n\tN()\n}"},
		{"type T = func(key string, n int) (ok bool, err error)", "func(key string, n int) (ok bool, err error)"},
		{"type T = chan<- <-chan int", "chan<- <-chan int"},
		{"type T = chan<- chan int", "chan<- chan int"},
		{"type T = any", "any"},
		{"type T = error", "error"},
		{"type T = time.Duration", "time.Duration"},
		{"type T = io.Reader", "io.Reader"},
		{"type T = unsafe.Pointer", "unsafe.Pointer"},
		{"type T = Box[Order]", "p.Box[p.Order]"},
		{"type T = Alias", "p.Alias"},
	}
	for _, tt := range tests {
		t.Run(tt.decl, func(t *testing.T) {
			src := fmt.Sprintf(`package p
import ("io"; "time"; "unsafe")
var _ io.Reader
var _ time.Duration
var _ unsafe.Pointer
type Order struct{}
type Box[E any] struct{ e E }
type Alias = Order
%s`, tt.decl)
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, "p.go", src, 0)
			if err != nil {
				t.Fatal(err)
			}
			conf := types.Config{Importer: importer.Default()}
			pkg, err := conf.Check("example.com/p", fset, []*ast.File{f}, nil)
			if err != nil {
				t.Fatal(err)
			}
			typ := pkg.Scope().Lookup("T").Type()
			if a, ok := typ.(*types.Alias); ok && a.Obj().Name() == "T" {
				typ = a.Rhs()
			}
			r := &renderer{w: &wrapper{ifaceName: "I"}, f: jen.NewFile("out")}
			got := strings.TrimPrefix(fmt.Sprintf("%#v", jen.Var().Id("_").Add(r.typ(typ))), "var _ ")
			if len(r.errs) > 0 {
				t.Fatalf("errors: %v", r.errs)
			}
			if strings.TrimSpace(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestInvalidTypeIsAnError renders a type that did not type-check (a
// dependency that failed to load): typ reports it instead of writing code
// that cannot format.
func TestInvalidTypeIsAnError(t *testing.T) {
	r := &renderer{w: &wrapper{ifaceName: "Store"}, f: jen.NewFile("out")}
	r.typ(types.NewSlice(types.Typ[types.Invalid]))
	if len(r.errs) != 1 || !strings.Contains(r.errs[0], "Store uses a type that does not type-check") {
		t.Errorf("errors: %q, want one that says Store uses a type that does not type-check", r.errs)
	}
}
