// Package runtime is what users of resgen's generated wrappers call: the
// options of a wrapper's constructor (WithConfig, WithLogger,
// WithObserver, WithTracer, WithStore...), the configuration of its
// policies (Config), the errors they return, the classification of errors
// (Classify), and the Manager that a wrapper's Resilience method returns,
// with its metrics, the state of its breakers and limits, and
// ForceBreaker.
//
// A generated method runs one loop. The circuit breaker
// (CircuitBreakerConfig), adaptive throttling (ThrottleConfig), the
// concurrency limit (ConcurrencyConfig) and the rate limit
// (RateLimitConfig) admit each attempt; it runs under its own timeout
// (TimeoutConfig); a failure is classified, counted against the service
// when it is the service's fault, and may run a recovery (RecoveryConfig);
// then the call backs off and retries (RetryConfig) while the retry budget
// (RetryBudgetConfig) allows. Each of those types explains the model behind
// its policy. A call that a policy turns away is never sent: its error
// errors.Is ErrCircuitOpen, ErrThrottled, ErrConcurrencyLimit or
// ErrRateLimited. A call that gives up returns a *RetryError holding every
// attempt's error.
//
// A panic in the wrapped value is not recovered: it reaches the caller
// unchanged and is not retried; the attempt gives back what it held (a
// half-open breaker's probe counts as failed). A panic in a hook of the
// user's (a recovery procedure, a Ping, a Classifier) is that hook's error
// and never wedges the wrapper.
//
// Integrations live in sub-packages, so that this one imports only the
// standard library and resgen's own packages that import nothing else
// (runtime/store and two internal ones): runtime/config reads run-time overrides from YAML,
// runtime/prometheus and runtime/otel export metrics and traces,
// runtime/statusz serves a status page, runtime/redisstore shares breakers
// and rate limits across a fleet (Store), and runtime/fakeclock drives
// tests (WithClock). Generated code also calls runtime/resgenimpl, which
// nothing else should.
package runtime
