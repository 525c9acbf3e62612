// Command resgen writes resilient wrappers for Go interfaces.
//
// Annotate a connector interface and add a go:generate line:
//
//	package shop
//
//	//go:generate go tool resgen -type Store
//
//	// Store talks to the orders API.
//	//
//	//resgen:profile api
//	//resgen:rate_limit max_requests_per_minute=40 burst_size=10
//	type Store interface {
//		//resgen:retry max_attempts=5 initial_delay=2s
//		ListOrders(ctx context.Context, since time.Time) ([]Order, error)
//
//		//resgen:retry off
//		CreateOrder(ctx context.Context, o Order) (ID, error)
//
//		//resgen:skip
//		Close() error
//	}
//
// go generate writes store_resilient.go next to it, with ResilientStore,
// which implements Store, and NewResilientStore(inner Store, opts
// ...runtime.Option) (*ResilientStore, error). Commit it. go tool resgen
// needs the generator as a tool of the module (go get -tool
// github.com/resgen-dev/resgen/cmd/resgen, which go mod tidy keeps), and
// generated code needs the runtime (go get
// github.com/resgen-dev/resgen/runtime).
//
// # Usage
//
//	resgen [flags] [package]
//	resgen -check [-tags T] ./...
//	resgen init [-profile P]
//	resgen profiles [name ...]
//	resgen help
//
// The package is a directory or an import path; the default is the current
// directory. A directory argument works as if resgen ran in it: the output
// goes next to that package, and resgen.yaml is looked up from there. With
// a pattern of several packages (./...), -check checks every package that
// generates with resgen, each with the flags of its //go:generate lines, or
// as a plain run when it has //resgen: directives and none: for CI. Flags:
//
//	-type A,B     interfaces to wrap; default: every interface of the
//	              package that carries a //resgen: directive
//	-output F     output file; default <snake_type>_resilient.go in the
//	              package's directory when the package argument is a
//	              directory, else in the current one (one file per type)
//	-name N       wrapper type name; default Resilient<Type>
//	-package P    package clause of the output when it is not in the
//	              interface's package and its directory has no Go files
//	-config F     a resgen.yaml; default the nearest resgen.yaml from the
//	              package's directory (or the current one) up to the module
//	              root. With no -type and no package, every wrapper entry of
//	              the file is generated
//	-profile P    profile applied under the directives
//	-check        write nothing; print a diff and exit 1 when a file on disk
//	              is stale
//	-tags T       build tags used when loading, as go build -tags
//	-version      print the version
//
// resgen init writes a commented resgen.yaml to start from (it never
// overwrites one); resgen profiles prints the built-in profiles, or the
// named ones, with every value.
//
// Exit codes: 0 done; 1 bad input, with every problem found printed one a
// line as file.go:LINE:COL: message, sorted; 2 usage. On error nothing is
// written. Files are written whole, through a temporary file and a rename,
// and only when their content changed. Output is gofmt-formatted,
// deterministic and passes go vet.
//
// # Directives
//
// A directive is a line //resgen:NAME [off] [key=value ...] in the doc
// comment of an interface (defaults for all its methods) or of one method:
//
//	profile NAME        a built-in or resgen.yaml profile
//	retry               max_attempts initial_delay max_delay backoff_multiplier
//	                    jitter (none, full, equal, decorrelated) retry_on
//	                    idempotent (false: retry only what was never processed)
//	retry_budget        ratio min_retries_per_second window
//	circuit_breaker     failure_threshold initial_recovery_timeout
//	                    recovery_timeout success_threshold excluded_errors group
//	throttle            multiplier window max_rejection
//	concurrency         adaptive min_in_flight max_in_flight
//	                    backpressure_strategy (wait, drop) group
//	timeout DURATION    the limit of each attempt, or timeout off
//	rate_limit          max_requests_per_minute burst_size per_host
//	                    backpressure_strategy (wait, drop, queue) max_queue_size
//	                    adaptive
//	recovery            enable_connection_recovery enable_credential_refresh
//	                    enable_schema_adaptation enable_partial_failure_recovery
//	                    recovery_check_interval max_recovery_attempts
//	skip                the method calls through untouched
//
// retry_on and excluded_errors take error classes (transient, timeout,
// connection, rate_limited, server, auth, schema, permanent, unknown, any)
// and Go identifiers of the interface's package or its imports: a value
// (io.ErrUnexpectedEOF) is matched with errors.Is, a type (*net.OpError)
// with errors.As, in generated code. An error that no rule classifies (an
// errors.New of the implementation) is unknown: neither retried nor counted
// against the breaker unless retry_on names it, and the wrapper warns once
// per method when one meets a retry policy; mark such errors with
// runtime.Transient(err) or runtime.Permanent(err).
//
// Precedence, field by field, later wins: built-in defaults < profile <
// resgen.yaml (its entry, then its methods: blocks) < interface directive <
// method directive < run-time overrides (runtime.WithConfig).
//
// # What a wrapped call does
//
// Each method runs a loop: the circuit breaker admits the attempt, then
// the rate limit does (every attempt, retries included, takes a token);
// the attempt runs under its own timeout; on failure its error is
// classified, recorded by the breaker, may trigger a recovery (Reconnect,
// RefreshCredentials, AdaptSchema on the wrapped value), and the call backs
// off (exponential with jitter, or the server's Retry-After) before the
// next attempt. Methods without an error result only wait for a rate-limit
// token; methods without a context get no timeout. A method declared
// idempotent=false is retried only after an error that proves its request
// was never processed (runtime.NotSent: a refused connection, SafeToRetry,
// a 429...). A bare io.EOF ends the stream of a method that reads one
// (Read..., Recv..., Receive..., Next..., Decode...) and is a connection
// closed under the request for the others. A panic in the wrapped call
// reaches the caller unchanged, is not retried, and counts as a failed
// probe when it was a half-open breaker's (a deferred Method.End gives the
// slot back). See package runtime.
package main
