package generator

// This file reads a method's shape from its signature: its context, its
// error, results that report progress or outlive the call, streams.

import (
	"go/types"
	"strings"
	"unicode"
	"unicode/utf8"
)

// buildMethod reads a method's signature.
func (g *gen) buildMethod(w *wrapper, f *types.Func) *method {
	sig := f.Type().(*types.Signature)
	m := &method{
		name:     f.Name(),
		sig:      sig,
		pos:      g.l.fset.Position(f.Pos()),
		variadic: sig.Variadic(),
		ctxIndex: -1,
		errIndex: -1,
	}
	for i := 0; i < sig.Params().Len(); i++ {
		p := sig.Params().At(i)
		m.params = append(m.params, param{name: p.Name(), typ: p.Type()})
		if m.ctxIndex < 0 && isContext(p.Type()) {
			m.ctxIndex = i
		}
	}
	for i := 0; i < sig.Results().Len(); i++ {
		r := sig.Results().At(i)
		m.results = append(m.results, r)
		if i == sig.Results().Len()-1 && isError(r.Type()) {
			m.errIndex = i
		}
	}
	if m.errIndex < 0 && len(m.results) == 1 {
		m.errInRes, m.setErr, m.newRes = errMethods(m.results[0].Type(), g.outputPkgPath(w))
	}
	for _, r := range m.results {
		if outlives(r.Type(), nil) {
			m.keep = true
		}
	}
	m.progress, m.dataIdx = progressOf(m)
	m.stream = m.errIndex >= 0 && streamShaped(m.name)
	return m
}

// streamPrefixes start the names of the methods that read a stream and
// report its end as a bare io.EOF: io.Reader's Read and its kin (ReadAt,
// ReadByte, ReadString...), gRPC streams' Recv and RecvMsg, Receive...,
// database/sql/driver's Rows.Next and NextResultSet, tar's Next, and
// decoders' Decode (encoding/json, encoding/gob...).
var streamPrefixes = []string{"Read", "Recv", "Receive", "Next", "Decode"}

// streamShaped reports whether a method of that name reads a stream: its
// name is one of streamPrefixes, or starts with one followed by a new word
// (ReadAt, not Ready; ReadOnly and ReadWrite, which name modes, are not
// reads). A bare io.EOF is the end of the stream of such a method when it
// returns an error (a command whose error hides in its result, as
// go-redis's, is a request), and a connection closed under the request for
// every other method.
func streamShaped(name string) bool {
	if name == "ReadOnly" || name == "ReadWrite" {
		return false
	}
	for _, p := range streamPrefixes {
		if rest, ok := strings.CutPrefix(name, p); ok {
			if r, _ := utf8.DecodeRuneInString(rest); rest == "" || !unicode.IsLower(r) {
				return true
			}
		}
	}
	return false
}

// progressOf tells whether m's results report progress, and how: its first
// result is a count (an int, int64, uint32 ..., not a named type such as
// time.Duration) alongside its error, and it moves data, taking a slice (of
// bytes or of items; not a variadic one, which holds arguments), a value with a Read or Write method (an io.Reader,
// an io.Writer), or being named Read..., Write..., Copy..., Send...,
// Recv... or Receive.... Write(p []byte) (int, error) and WriteString(s string) (int,
// error), with or without a context, are io.Writer's and io.StringWriter's:
// their count is of the bytes of p already written, and a retry resumes
// with the rest (dataIdx is p's index). A method that counts with no data
// to count (Status(ctx) (int, error)) reports no progress.
func progressOf(m *method) (progress, int) {
	if m.errIndex < 1 || !isCount(m.results[0].Type()) {
		return progressNone, -1
	}
	var data []int // the parameters other than the context
	moves := false
	for i, p := range m.params {
		if i == m.ctxIndex {
			continue
		}
		data = append(data, i)
		_, slice := p.typ.Underlying().(*types.Slice)
		if variadic := m.variadic && i == len(m.params)-1; (slice && !variadic) || hasReadOrWrite(p.typ) {
			moves = true // a variadic parameter is arguments or options, not data
		}
	}
	for _, prefix := range []string{"Read", "Write", "Copy", "Send", "Recv", "Receive"} {
		if strings.HasPrefix(m.name, prefix) {
			moves = true
		}
	}
	if !moves {
		return progressNone, -1
	}
	if len(m.results) == 2 && len(data) == 1 && !m.variadic && types.Identical(m.results[0].Type(), types.Typ[types.Int]) {
		t := m.params[data[0]].typ
		if (m.name == "Write" && types.Identical(t, types.NewSlice(types.Typ[types.Byte]))) ||
			(m.name == "WriteString" && types.Identical(t, types.Typ[types.String])) {
			return progressResume, data[0]
		}
	}
	return progressStop, -1
}

// isCount reports whether t is an integer type of its own (int, int64,
// uint32 ...), as the counts of bytes and items are: a named integer type
// (time.Duration, a status code) is a value, not a count.
func isCount(t types.Type) bool {
	b, ok := t.(*types.Basic)
	return ok && b.Info()&types.IsInteger != 0 && b.Kind() != types.Uintptr
}

// hasReadOrWrite reports whether values of t have io.Reader's Read or
// io.Writer's Write method: readers and writers (io.Reader, io.Writer,
// net.Conn, *os.File), whose data a method that takes one moves.
// (*http.Request's Write(io.Writer) error is not io.Writer's.)
func hasReadOrWrite(t types.Type) bool {
	ms := types.NewMethodSet(t)
	if _, isPtr := t.Underlying().(*types.Pointer); !isPtr && !types.IsInterface(t) {
		ms = types.NewMethodSet(types.NewPointer(t))
	}
	for _, name := range []string{"Read", "Write"} {
		sel := ms.Lookup(nil, name)
		if sel == nil {
			continue
		}
		sig, ok := sel.Obj().Type().(*types.Signature)
		if ok && sig.Params().Len() == 1 && sig.Results().Len() == 2 &&
			types.Identical(sig.Params().At(0).Type(), types.NewSlice(types.Typ[types.Byte])) &&
			types.Identical(sig.Results().At(0).Type(), types.Typ[types.Int]) && isError(sig.Results().At(1).Type()) {
			return true
		}
	}
	return false
}

func isContext(t types.Type) bool {
	n, ok := types.Unalias(t).(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "context" && n.Obj().Name() == "Context"
}

func isError(t types.Type) bool {
	return types.Identical(t, types.Universe.Lookup("error").Type())
}

// errMethods reports whether t has Err() error (the result carries the
// call's error, as go-redis commands and *sql.Row do), whether it has
// SetErr(error) to carry a rejection, and whether the wrapper, in package
// outPath, may allocate a new one (a pointer to a struct it can name).
func errMethods(t types.Type, outPath string) (hasErr, hasSetErr, canNew bool) {
	ms := types.NewMethodSet(t)
	if sel := ms.Lookup(nil, "Err"); sel != nil {
		sig := sel.Obj().Type().(*types.Signature)
		hasErr = sig.Params().Len() == 0 && sig.Results().Len() == 1 && isError(sig.Results().At(0).Type())
	}
	if !hasErr {
		return false, false, false
	}
	if sel := ms.Lookup(nil, "SetErr"); sel != nil {
		sig := sel.Obj().Type().(*types.Signature)
		hasSetErr = sig.Params().Len() == 1 && isError(sig.Params().At(0).Type()) && sig.Results().Len() == 0
	}
	if p, ok := types.Unalias(t).(*types.Pointer); ok {
		if n, ok := types.Unalias(p.Elem()).(*types.Named); ok {
			_, isStruct := n.Underlying().(*types.Struct)
			canNew = isStruct && (n.Obj().Exported() || n.Obj().Pkg().Path() == outPath)
		}
	}
	return hasErr, hasSetErr, canNew
}

// outlives reports whether a result of type t may use the attempt's
// context after the method returns: it holds, directly or through
// pointers, structs, arrays, slices or maps, an interface other than error,
// a channel or a func (an *http.Response's Body, pgx.Rows, an io.Reader).
// Results of plain values let the timeout cancel on return.
func outlives(t types.Type, seen map[types.Type]bool) bool {
	if seen[t] {
		return false
	}
	if seen == nil {
		seen = make(map[types.Type]bool)
	}
	seen[t] = true
	switch u := types.Unalias(t).(type) {
	case *types.Named:
		if isError(u) {
			return false
		}
		if u.Obj().Pkg() != nil && u.Obj().Pkg().Path() == "time" {
			return false // time.Time, time.Duration: plain values
		}
		return outlives(u.Underlying(), seen)
	case *types.TypeParam:
		return true // could be anything
	case *types.Basic:
		return u.Kind() == types.UnsafePointer
	case *types.Pointer:
		return outlives(u.Elem(), seen)
	case *types.Slice:
		return outlives(u.Elem(), seen)
	case *types.Array:
		return outlives(u.Elem(), seen)
	case *types.Map:
		return outlives(u.Key(), seen) || outlives(u.Elem(), seen)
	case *types.Struct:
		for i := 0; i < u.NumFields(); i++ {
			if outlives(u.Field(i).Type(), seen) {
				return true
			}
		}
		return false
	case *types.Interface:
		return !types.Identical(u, types.Universe.Lookup("error").Type().Underlying())
	}
	return true // chan, func, signature
}
