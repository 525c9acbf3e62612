package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/resgen-dev/resgen/generator"
	"github.com/resgen-dev/resgen/internal/yamlconf"
	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/templates"
)

// keyDoc documents one key of a policy block, for resgen init and resgen
// profiles. keyDocs lists every key of runtime.Keys, in the order printed.
type keyDoc struct {
	policy, key string
	meaning     string
	// commentOnly keys are written as comments by resgen init even when
	// it writes the others as YAML: group has no default value to write,
	// and max_queue_size is an error unless backpressure_strategy is queue.
	commentOnly bool
}

var keyDocs = []keyDoc{
	{policy: "retry", key: "max_attempts", meaning: "attempts per call, the first one included"},
	{policy: "retry", key: "initial_delay", meaning: "delay before the second attempt"},
	{policy: "retry", key: "max_delay", meaning: "cap of every delay"},
	{policy: "retry", key: "backoff_multiplier", meaning: "each delay is the previous one times this"},
	{policy: "retry", key: "jitter", meaning: "none, full, equal or decorrelated"},
	{policy: "retry", key: "retry_on", meaning: "error classes retried: transient, timeout, connection, rate_limited, server, auth, schema, permanent, unknown or any"},
	{policy: "circuit_breaker", key: "failure_threshold", meaning: "failed calls in a row that open the breaker (overload answers count only when nothing succeeds)"},
	{policy: "circuit_breaker", key: "initial_recovery_timeout", meaning: "how long it stays open the first time, before probes go through"},
	{policy: "circuit_breaker", key: "recovery_timeout", meaning: "the longest it stays open: each re-opening lasts 1.5 times the last"},
	{policy: "circuit_breaker", key: "success_threshold", meaning: "successful probes that close it again"},
	{policy: "circuit_breaker", key: "excluded_errors", meaning: "error classes that do not count as failures"},
	{policy: "circuit_breaker", key: "group", meaning: "methods naming the same group share a breaker", commentOnly: true},
	{policy: "rate_limit", key: "max_requests_per_minute", meaning: "tokens a minute; every attempt, retries included, takes one"},
	{policy: "rate_limit", key: "burst_size", meaning: "capacity of the bucket"},
	{policy: "rate_limit", key: "per_host", meaning: "share one bucket per host among the wrappers of the process"},
	{policy: "rate_limit", key: "backpressure_strategy", meaning: "without a token: wait, drop (fail at once) or queue"},
	{policy: "rate_limit", key: "max_queue_size", meaning: "waiters of the queue strategy", commentOnly: true},
	{policy: "rate_limit", key: "adaptive", meaning: "429, Retry-After and RESOURCE_EXHAUSTED cut the rate, which climbs back to max_requests_per_minute (CUBIC)"},
	{policy: "timeout", key: "duration", meaning: "the limit of each attempt"},
	{policy: "recovery", key: "enable_connection_recovery", meaning: "call Reconnect(ctx) on connection errors"},
	{policy: "recovery", key: "enable_credential_refresh", meaning: "call RefreshCredentials(ctx) on auth errors, then try again"},
	{policy: "recovery", key: "enable_schema_adaptation", meaning: "call AdaptSchema(ctx, err) on schema errors"},
	{policy: "recovery", key: "enable_partial_failure_recovery", meaning: "an error with Partial() bool returns its results"},
	{policy: "recovery", key: "recovery_check_interval", meaning: "how often Ping(ctx) probes an open breaker"},
	{policy: "recovery", key: "max_recovery_attempts", meaning: "recoveries tried per outage"},
	{policy: "throttle", key: "multiplier", meaning: "send up to this many times what the service accepts, throttle the rest"},
	{policy: "throttle", key: "window", meaning: "how far back attempts and accepts are counted"},
	{policy: "throttle", key: "max_rejection", meaning: "the largest share of calls throttled"},
	{policy: "retry_budget", key: "ratio", meaning: "retries allowed as a share of the window's calls"},
	{policy: "retry_budget", key: "min_retries_per_second", meaning: "retries a second allowed whatever the calls"},
	{policy: "retry_budget", key: "window", meaning: "how far back calls and retries are counted"},
	{policy: "concurrency", key: "adaptive", meaning: "the limit follows latency (Gradient2) between min_in_flight and max_in_flight"},
	{policy: "concurrency", key: "min_in_flight", meaning: "where an adaptive limit starts and the least it falls to"},
	{policy: "concurrency", key: "max_in_flight", meaning: "attempts in flight at most: the limit, or the most an adaptive one grows to"},
	{policy: "concurrency", key: "backpressure_strategy", meaning: "beyond the limit: wait (newest first, as long as the context allows) or drop (fail at once)"},
	{policy: "concurrency", key: "group", meaning: "methods naming the same group share a limit", commentOnly: true},
}

// policyOrder is the order in which policies are printed.
var policyOrder = []string{"retry", "retry_budget", "circuit_breaker", "throttle", "concurrency", "rate_limit", "timeout", "recovery"}

// resolved is a profile's configuration, with its defaults filled in, and
// which settings the profile makes itself.
type resolved struct {
	name        string
	description string
	cfg         runtime.Config
	own         map[string]bool // "policy" (switched on or off) and "policy.key"
}

// resolveBuiltin applies a built-in profile's settings over the defaults.
func resolveBuiltin(name string) (*resolved, error) {
	settings, ok := yamlconf.Builtin(name)
	if !ok {
		return nil, fmt.Errorf("unknown profile %q%s", name, runtime.Suggest(name, templates.Names()))
	}
	r := &resolved{name: name, own: make(map[string]bool)}
	for _, s := range settings {
		if err := r.cfg.Apply(s); err != nil {
			return nil, fmt.Errorf("built-in profile %s: %v", name, err)
		}
		r.own[s.Policy] = true
		if s.Key != "" {
			r.own[s.Policy+"."+s.Key] = true
		}
	}
	if err := r.cfg.Validate(); err != nil {
		return nil, fmt.Errorf("built-in profile %s: %v", name, err)
	}
	r.cfg = r.cfg.Normalize()
	r.description = builtinDescription(name)
	return r, nil
}

// builtinDescription returns the description: line of a built-in profile.
func builtinDescription(name string) string {
	src, _ := templates.Source(name)
	for _, line := range strings.Split(string(src), "\n") {
		if d, ok := strings.CutPrefix(line, "description:"); ok {
			return strings.Trim(strings.TrimSpace(d), `"'`)
		}
	}
	return ""
}

// disabled reports whether a policy is switched off in c.
func disabled(c runtime.Config, policy string) bool {
	switch policy {
	case "retry":
		return c.Retry.Disabled
	case "circuit_breaker":
		return c.CircuitBreaker.Disabled
	case "rate_limit":
		return c.RateLimit.Disabled
	case "timeout":
		return c.Timeout.Disabled
	case "recovery":
		return c.Recovery.Disabled
	case "throttle":
		return c.Throttle.Disabled
	case "retry_budget":
		return c.RetryBudget.Disabled
	case "concurrency":
		return c.Concurrency.Disabled
	}
	return false
}

// value returns the YAML text of a key of a normalized Config. The empty
// group comes back as "", and max_queue_size outside the queue strategy
// as the size the queue strategy would use.
func value(c runtime.Config, policy, key string) string {
	switch policy + "." + key {
	case "retry.max_attempts":
		return strconv.Itoa(c.Retry.MaxAttempts)
	case "retry.initial_delay":
		return formatDuration(c.Retry.InitialDelay)
	case "retry.max_delay":
		return formatDuration(c.Retry.MaxDelay)
	case "retry.backoff_multiplier":
		return formatFloat(c.Retry.BackoffMultiplier)
	case "retry.jitter":
		return string(c.Retry.Jitter)
	case "retry.retry_on":
		return formatClasses(c.Retry.RetryOn.Classes)
	case "circuit_breaker.failure_threshold":
		return strconv.Itoa(c.CircuitBreaker.FailureThreshold)
	case "circuit_breaker.initial_recovery_timeout":
		return formatDuration(c.CircuitBreaker.InitialRecoveryTimeout)
	case "circuit_breaker.recovery_timeout":
		return formatDuration(c.CircuitBreaker.RecoveryTimeout)
	case "circuit_breaker.success_threshold":
		return strconv.Itoa(c.CircuitBreaker.SuccessThreshold)
	case "circuit_breaker.excluded_errors":
		return formatClasses(c.CircuitBreaker.Excluded.Classes)
	case "circuit_breaker.group":
		return c.CircuitBreaker.Group
	case "rate_limit.max_requests_per_minute":
		return strconv.Itoa(c.RateLimit.MaxRequestsPerMinute)
	case "rate_limit.burst_size":
		return strconv.Itoa(c.RateLimit.BurstSize)
	case "rate_limit.per_host":
		return strconv.FormatBool(!c.RateLimit.Global)
	case "rate_limit.backpressure_strategy":
		return string(c.RateLimit.Strategy)
	case "rate_limit.max_queue_size":
		if c.RateLimit.MaxQueueSize == 0 {
			return strconv.Itoa(runtime.DefaultMaxQueueSize)
		}
		return strconv.Itoa(c.RateLimit.MaxQueueSize)
	case "timeout.duration":
		return formatDuration(c.Timeout.Duration)
	case "recovery.enable_connection_recovery":
		return strconv.FormatBool(!c.Recovery.DisableConnectionRecovery)
	case "recovery.enable_credential_refresh":
		return strconv.FormatBool(!c.Recovery.DisableCredentialRefresh)
	case "recovery.enable_schema_adaptation":
		return strconv.FormatBool(!c.Recovery.DisableSchemaAdaptation)
	case "recovery.enable_partial_failure_recovery":
		return strconv.FormatBool(!c.Recovery.DisablePartialFailureRecovery)
	case "recovery.recovery_check_interval":
		return formatDuration(c.Recovery.CheckInterval)
	case "recovery.max_recovery_attempts":
		return strconv.Itoa(c.Recovery.MaxAttempts)
	case "throttle.multiplier":
		return formatFloat(c.Throttle.Multiplier)
	case "throttle.window":
		return formatDuration(c.Throttle.Window)
	case "throttle.max_rejection":
		return formatFloat(c.Throttle.MaxRejection)
	case "retry_budget.ratio":
		return formatFloat(c.RetryBudget.Ratio)
	case "retry_budget.min_retries_per_second":
		return strconv.Itoa(c.RetryBudget.MinPerSecond)
	case "retry_budget.window":
		return formatDuration(c.RetryBudget.Window)
	case "rate_limit.adaptive":
		return strconv.FormatBool(c.RateLimit.Adaptive)
	case "concurrency.adaptive":
		return strconv.FormatBool(!c.Concurrency.Fixed)
	case "concurrency.min_in_flight":
		return strconv.Itoa(c.Concurrency.MinInFlight)
	case "concurrency.max_in_flight":
		return strconv.Itoa(c.Concurrency.MaxInFlight)
	case "concurrency.backpressure_strategy":
		return string(c.Concurrency.Strategy)
	case "concurrency.group":
		return c.Concurrency.Group
	}
	panic("resgen: no printer for " + policy + "." + key)
}

// formatDuration writes d as resgen's docs do: 60s rather than 1m0s.
func formatDuration(d time.Duration) string {
	switch {
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	case d%time.Millisecond == 0:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	}
	return d.String()
}

func formatFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// classOrder is the order in which error classes are listed.
var classOrder = []string{"transient", "timeout", "connection", "rate_limited", "server", "auth", "schema", "permanent", "unknown"}

// formatClasses writes a class set as a YAML list of the names that parse
// back to it: [transient, auth], [any], or none.
func formatClasses(set runtime.Class) string {
	if set == 0 {
		return "none"
	}
	if all, _ := runtime.ParseClass("any"); set == all {
		return "[any]"
	}
	var names []string
	for _, name := range classOrder {
		c, _ := runtime.ParseClass(name)
		if c != 0 && set&c == c {
			names = append(names, name)
			set &^= c
		}
	}
	return "[" + strings.Join(names, ", ") + "]"
}

// runProfiles prints the built-in profiles, every value resolved over the
// defaults, as YAML.
func runProfiles(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("resgen profiles", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprintf(stderr, "usage: resgen profiles [name ...]\n\nPrints the built-in profiles, or those named, with every value.\n")
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	names := flags.Args()
	if len(names) == 0 {
		// default first: the others are read against it.
		names = []string{"default"}
		for _, n := range templates.Names() {
			if n != "default" {
				names = append(names, n)
			}
		}
	}
	var profiles []*resolved
	bad := false
	for _, name := range names {
		r, err := resolveBuiltin(name)
		if err != nil {
			fmt.Fprintf(stderr, "resgen profiles: %v\n", err)
			bad = true
			continue
		}
		profiles = append(profiles, r)
	}
	if bad {
		return exitError
	}
	var b strings.Builder
	b.WriteString("# resgen's built-in profiles, every value resolved over resgen's defaults\n" +
		"# (the default profile); \"# default\" marks the values a profile does not set\n" +
		"# itself. Name one with //resgen:profile NAME, profile: NAME in resgen.yaml,\n" +
		"# -profile NAME, or extend it in resgen.yaml (resgen init writes an example).\n")
	for _, r := range profiles {
		b.WriteString("\n")
		writeProfile(&b, r)
	}
	io.WriteString(stdout, b.String())
	return exitOK
}

// writeProfile writes one resolved profile as a YAML mapping.
func writeProfile(b *strings.Builder, r *resolved) {
	var ls lines
	if r.description != "" {
		ls.comment(0, r.name+": "+r.description)
	}
	ls.add(0, r.name+":", "", false)
	mark := func(own bool) string {
		if own || r.name == "default" {
			return ""
		}
		return "default"
	}
	for _, policy := range policyOrder {
		if disabled(r.cfg, policy) {
			ls.add(1, policy+": off", "", false)
			continue
		}
		if policy == "timeout" {
			ls.add(1, "timeout: "+value(r.cfg, "timeout", "duration"), mark(r.own["timeout.duration"]), false)
			continue
		}
		ls.add(1, policy+":", "", false)
		for _, kd := range keyDocs {
			if kd.policy != policy {
				continue
			}
			v := value(r.cfg, policy, kd.key)
			own := r.own[policy+"."+kd.key]
			switch kd.key {
			case "group":
				if v == "" {
					ls.add(2, "# group: none, one breaker per wrapper", "", false)
					continue
				}
			case "max_queue_size":
				if r.cfg.RateLimit.Strategy != runtime.StrategyQueue {
					ls.add(2, "# max_queue_size: "+v+" with backpressure_strategy: queue", "", false)
					continue
				}
			}
			ls.add(2, kd.key+": "+v, mark(own), false)
		}
	}
	ls.write(b, false)
}

// lines is a YAML text with aligned trailing comments. A line marked yaml
// is commented-out YAML, which resgen init writes as "# key: value" and
// which its tests uncomment.
type lines []line

type line struct {
	indent  int
	text    string
	comment string // trailing comment
	yaml    bool   // commented-out YAML
	col0    bool   // commented out at column 0 rather than at its indentation
	whole   bool   // a comment line
}

func (ls *lines) add(indent int, text, comment string, yaml bool) {
	*ls = append(*ls, line{indent: indent, text: text, comment: comment, yaml: yaml})
}

func (ls *lines) comment(indent int, text string) {
	*ls = append(*ls, line{indent: indent, text: text, whole: true})
}

func (ls *lines) blank() { *ls = append(*ls, line{}) }

// write writes the lines; uncomment writes commented-out YAML as YAML.
func (ls lines) write(b *strings.Builder, uncomment bool) {
	render := func(l line) string {
		s := strings.Repeat("  ", l.indent)
		switch {
		case l.yaml && !uncomment && l.col0:
			return "# " + s + l.text
		case l.yaml && !uncomment:
			s += "# "
		}
		return s + l.text
	}
	width := 0
	for _, l := range ls {
		if l.comment != "" {
			width = max(width, len(render(l)))
		}
	}
	for _, l := range ls {
		switch {
		case l.whole:
			for _, c := range wrap(l.text, 78-2*l.indent) {
				b.WriteString(strings.TrimRight(strings.Repeat("  ", l.indent)+"# "+c, " ") + "\n")
			}
		case l.text == "":
			b.WriteString("\n")
		case l.comment != "":
			s := render(l)
			b.WriteString(s + strings.Repeat(" ", width-len(s)) + "  # " + l.comment + "\n")
		default:
			b.WriteString(render(l) + "\n")
		}
	}
}

// wrap breaks text into lines of at most width bytes, at spaces.
func wrap(text string, width int) []string {
	var out []string
	for _, para := range strings.Split(text, "\n") {
		line := ""
		for _, w := range strings.Fields(para) {
			if line != "" && len(line)+1+len(w) > width {
				out = append(out, line)
				line = ""
			}
			if line != "" {
				line += " "
			}
			line += w
		}
		out = append(out, line)
	}
	return out
}

func capitalize(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// initFile is the name resgen init writes.
const initFile = "resgen.yaml"

// runInit writes a commented resgen.yaml to start from, refusing to
// overwrite one.
func runInit(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("resgen init", flag.ContinueOnError)
	flags.SetOutput(stderr)
	profile := flags.String("profile", "default", "the built-in `profile` that the custom profile of the file extends")
	flags.Usage = func() {
		fmt.Fprintf(stderr, "usage: resgen init [-profile P]\n\nWrites a commented %s to start from in the current directory.\n\nflags:\n", initFile)
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "resgen init: unexpected argument %q\n", flags.Arg(0))
		flags.Usage()
		return exitUsage
	}
	r, err := resolveBuiltin(*profile)
	if err != nil {
		fmt.Fprintf(stderr, "resgen init: %v\n", err)
		return exitError
	}
	if _, err := os.Lstat(initFile); err == nil {
		fmt.Fprintf(stderr, "resgen init: %s already exists: not overwriting it\n", initFile)
		return exitError
	}
	if err := writeNew(initFile, []byte(initContent(r, false))); err != nil {
		if errors.Is(err, fs.ErrExist) {
			fmt.Fprintf(stderr, "resgen init: %s already exists: not overwriting it\n", initFile)
		} else {
			fmt.Fprintf(stderr, "resgen init: %v\n", err)
		}
		return exitError
	}
	fmt.Fprintf(stdout, "wrote %s: profile %s extends %s\n", initFile, customName(r.name), r.name)
	return exitOK
}

// writeNew writes a new file whole and fails with fs.ErrExist rather than
// replace one. It is generator.WriteNew: the CLI writes files in one place,
// generator/write.go.
func writeNew(path string, content []byte) error { return generator.WriteNew(path, content) }

// customName is the name of the custom profile that resgen init writes.
func customName(base string) string { return "my-" + base }

// initContent is the resgen.yaml that resgen init writes for the built-in
// profile r; uncomment writes its commented-out YAML as YAML, for tests.
func initContent(r *resolved, uncomment bool) string {
	var ls lines
	head := func(indent int, text string) { ls.comment(indent, text) }
	head(0, "resgen.yaml: the configuration of resgen, which writes resilient wrappers for Go interfaces (github.com/resgen-dev/resgen). resgen reads it from the current directory, or from -config FILE.")
	head(0, "")
	head(0, "Precedence, field by field, later wins: built-in defaults < profile < this file's wrapper entry < its methods: blocks < //resgen: directives on the interface < on the method < run-time overrides (package runtime/config, runtime.WithConfig).")
	head(0, "")
	head(0, "Durations are Go durations (500ms, 2s, 1m); lists are YAML lists or comma-separated words. A policy written as off (rate_limit: off) is disabled; on switches it back on.")
	ls.add(0, "version: 1", "", false)
	ls.blank()
	head(0, "Custom profiles. Name one with profile: NAME in a wrapper entry below, //resgen:profile NAME in a doc comment, or resgen -profile NAME. `resgen profiles` prints the built-in ones with every value.")
	ls.add(0, "profiles:", "", false)
	custom := customName(r.name)
	ls.add(1, custom+":", "", false)
	head(2, fmt.Sprintf("The built-in profile %s, changed by the keys below: uncomment a key to change it. The values shown are %s's.", r.name, r.name))
	ls.add(2, "extends: "+r.name, "", false)
	var def runtime.Config
	def = def.Normalize()
	for _, policy := range policyOrder {
		if policy == "timeout" {
			head(2, fmt.Sprintf("The limit of each attempt. Default: %s.", value(def, "timeout", "duration")))
			ls.add(2, "timeout: "+value(r.cfg, "timeout", "duration"), "", true)
			continue
		}
		if disabled(r.cfg, policy) {
			ls.add(2, policy+": off", "", false)
			continue
		}
		ls.add(2, policy+":", "", false)
		for _, kd := range keyDocs {
			if kd.policy != policy {
				continue
			}
			v, d := value(r.cfg, policy, kd.key), value(def, policy, kd.key)
			switch kd.key {
			case "group":
				head(3, capitalize(kd.meaning)+". Default: one per wrapper.")
				ls.comment(3, "group: orders")
				continue
			case "max_queue_size":
				head(3, "Waiters of backpressure_strategy: queue. Default: "+d+".")
				ls.comment(3, "max_queue_size: "+d)
				continue
			}
			head(3, capitalize(kd.meaning)+". Default: "+d+".")
			ls.add(3, kd.key+": "+v, "", true)
		}
	}
	ls.blank()
	head(0, "Wrappers of interfaces that you cannot annotate with //resgen: directives: another module's (pgx, go-redis, gRPC clients) or the standard library's. Uncomment and adapt: `resgen` (or `resgen -config resgen.yaml`) then generates every entry. The output's package clause is that of the Go files in its directory, or -package.")
	ex := func(indent int, text, comment string) {
		ls = append(ls, line{indent: indent, text: text, comment: comment, yaml: true, col0: true})
	}
	ex(0, "wrappers:", "")
	ex(1, "- source: github.com/jackc/pgx/v5", "the package; default: this one")
	ex(2, "type: Tx", "the interface")
	ex(2, "name: ResilientTx", "default: Resilient<Type>")
	ex(2, "output: tx_resilient.go", "default: <snake_type>_resilient.go")
	ex(2, "profile: "+custom, "a built-in or custom profile")
	ex(2, "timeout: 5s", "any policy block")
	ex(2, "methods:", "names or globs; later ones win")
	ex(3, "Commit:", "")
	ex(4, "retry: off", "never repeat a commit")
	ex(3, `"Query*":`, "Query and QueryRow")
	ex(4, "retry: {max_attempts: 5, initial_delay: 100ms}", "")
	var b strings.Builder
	ls.write(&b, uncomment)
	return b.String()
}
