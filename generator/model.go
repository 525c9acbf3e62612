package generator

import (
	"go/token"
	"go/types"

	"github.com/resgen-dev/resgen/runtime"
)

// The model: what render needs to write a wrapper, and nothing of go/ast.

// wrapper is one interface to wrap.
type wrapper struct {
	name       string       // the wrapper's type name: ResilientStore
	pkgName    string       // the package clause of its file
	output     string       // the output file, when resgen.yaml names it
	iface      *types.Named // the wrapped interface (possibly generic)
	ifaceName  string       // its name as declared
	ifacePkg   *types.Package
	ifaceRef   *types.TypeName // what the wrapper's code names it by: the interface, or an alias of it
	typeParams []*types.TypeParam
	methods    []*method
	pos        token.Position
	origin     token.Position // what asked for its output: a resgen.yaml entry or a directive
	// Field and accessor names, chosen not to clash with the interface's
	// methods.
	fieldInner, fieldManager, fieldMethods string
	unwrap, resilience                     bool // generate the accessors
	specVar                                string
	matchers                               []*matcher
	// forwarded are the methods that the wrapper cannot write out (an
	// unexported method of another package, a signature with a type that
	// the output cannot name): the wrapper embeds the wrapped value under
	// embedName, a local alias of the interface, and they are its
	// promoted methods, called without resilience.
	forwarded []forwarded
	embedName string
}

// forwarded is a method of the interface that the wrapper does not wrap.
type forwarded struct {
	name string
	why  string // what stops the wrapper from writing it out
}

// method is one method of the interface.
type method struct {
	name     string
	sig      *types.Signature
	pos      token.Position
	params   []param
	results  []*types.Var
	variadic bool
	ctxIndex int  // the context.Context parameter, or -1
	errIndex int  // the error result, or -1
	errInRes bool // the only result has Err() error
	setErr   bool // ... and SetErr(error)
	newRes   bool // ... and is a pointer to a struct that the wrapper may allocate
	keep     bool // results may use the attempt's context after it returns
	progress progress
	dataIdx  int  // the buffer that a resumed write goes on with, when progress is progressResume
	stream   bool // the method reads a stream, which a bare io.EOF ends (streamShaped)
	inStream bool // the method is one of a gRPC stream's (streamMethod)
	skip     bool
	index    int // in the Spec, or -1 when the method passes through
	cfg      runtime.Config
	retryOn  *matcher // Go identifiers of retry_on, or nil
	excluded *matcher // Go identifiers of excluded_errors, or nil
}

// progress is what a method's first result counts, and what a failed
// attempt that counted something means to the call.
type progress uint8

const (
	// progressNone: the results report no progress, and a failed attempt
	// may be tried again as it was.
	progressNone progress = iota
	// progressStop: the first result counts what the attempt read or
	// wrote (Read, ReadAt, WriteTo, ReadFrom, a batch send): an attempt
	// that fails with a count above zero ends the call, since another
	// would repeat what it did.
	progressStop
	// progressResume: an io.Writer-shaped Write or WriteString, whose
	// count n says that the first n bytes were written: the next attempt
	// writes the rest, and the counts add up.
	progressResume
)

type param struct {
	name string // in the wrapper's signature
	typ  types.Type
}

// guarded reports whether the method runs through the resilience loop.
func (m *method) guarded() bool { return m.index >= 0 && (m.errIndex >= 0 || m.errInRes) }

// throttled reports whether the method only waits for rate-limit tokens:
// it has no error to report anything with.
func (m *method) throttled() bool { return m.index >= 0 && m.errIndex < 0 && !m.errInRes }

// matcher is a set of Go identifiers from retry_on or excluded_errors,
// generated as a function of errors.Is and errors.As calls.
type matcher struct {
	name  string // the generated function's name
	items []matchItem
}

type matchItem struct {
	obj types.Object // a *types.Var (errors.Is) or *types.TypeName (errors.As)
	ptr bool         // errors.As with *T
}

// matcherFor returns the matcher of Go identifiers of the key retry_on or
// excluded_errors, or nil.
func (m *method) matcherFor(key string) *matcher {
	switch key {
	case "retry_on":
		return m.retryOn
	case "excluded_errors":
		return m.excluded
	}
	return nil
}

// matcherClasses returns the classes of the key retry_on or
// excluded_errors as resolved, or when it names neither classes nor
// identifiers, as normalized in c (retry_on's default, transient).
func (m *method) matcherClasses(key string, c runtime.Config) runtime.Class {
	switch key {
	case "retry_on":
		if m.cfg.Retry.RetryOn.Classes != 0 || m.retryOn != nil {
			return m.cfg.Retry.RetryOn.Classes
		}
		return c.Retry.RetryOn.Classes
	case "excluded_errors":
		if m.cfg.CircuitBreaker.Excluded.Classes != 0 || m.excluded != nil {
			return m.cfg.CircuitBreaker.Excluded.Classes
		}
		return c.CircuitBreaker.Excluded.Classes
	}
	return 0
}
