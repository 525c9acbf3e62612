// Package engine runs resgen's generated wrappers: the state and the
// decisions of each policy (breaker.go, overload.go, concurrency.go,
// limiter.go, ratelimit_adaptive.go, recovery.go, timeout.go and
// attempt_deadline.go) and the stages of the loop that generated code
// writes out (method.go). Generated code reaches it through
// runtime/resgenimpl; users read it through package runtime's Manager. It
// builds on package runtime, whose names it uses as its own
// (runtime_names.go), and whose docs explain the model of each policy.
// CONTRIBUTING.md says where a new policy goes.
package engine

//go:generate go run ./internal/gennames -src ../.. -out runtime_names.go -skip Manager

// The versions of generated code this runtime supports. Generated files
// refer to them in constant expressions that overflow, and so fail to
// compile, when the generator and the runtime have drifted apart.
const (
	MinGenVersion = 2
	MaxGenVersion = 2
)

// EnforceVersion is used in generated code as
// const _ = runtime.EnforceVersion(1 - runtime.MinGenVersion), which fails
// to compile when the runtime no longer supports generated version 1.
type EnforceVersion uint
