package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/resgen-dev/resgen/runtime"
	"github.com/resgen-dev/resgen/runtime/config"
	"github.com/resgen-dev/resgen/runtime/resgenimpl"
)

// dedent removes a leading newline and the indentation of the first line
// from every line.
func dedent(s string) string {
	s = strings.TrimPrefix(s, "\n")
	indent := s[:len(s)-len(strings.TrimLeft(s, "\t"))]
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		b.WriteString(strings.TrimPrefix(line, indent))
	}
	return b.String()
}

// manager builds the Manager of a wrapper ResilientOrders with methods Get
// and List, whose generated configuration is gen, with the overrides of src.
func manager(t *testing.T, gen runtime.Config, src string) (*runtime.Manager, error) {
	t.Helper()
	file, err := config.Parse([]byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	m, err := resgenimpl.NewManager(struct{}{}, &resgenimpl.Spec{
		Wrapper:   "ResilientOrders",
		Interface: "config_test.Orders",
		Methods:   []resgenimpl.MethodSpec{{Name: "Get", Config: gen}, {Name: "List", Config: gen}},
	}, runtime.WithConfig(file), runtime.WithLogger(nil))
	if err != nil {
		return nil, err
	}
	t.Cleanup(m.Close)
	return m.Resilience(), nil
}

// TestPrecedence checks, for every kind of field, that run-time overrides
// apply field by field over the generated configuration: generated <
// the wrapper's profile (custom ones extending built-in ones) < the
// wrapper's policies < each matching methods: entry, in the file's order,
// its profile first.
func TestPrecedence(t *testing.T) {
	gen := runtime.Config{
		Retry: runtime.RetryConfig{
			MaxAttempts:       4,
			InitialDelay:      2 * time.Second,
			BackoffMultiplier: 1.5,
			Jitter:            runtime.JitterNone,
			RetryOn:           runtime.Matcher{Classes: runtime.ClassTimeout},
		},
		RateLimit: runtime.RateLimitConfig{Global: true, Strategy: runtime.StrategyWait, Disabled: true},
		Timeout:   runtime.TimeoutConfig{Duration: 10 * time.Second},
	}
	type field struct {
		name string
		get  func(runtime.Config) any
	}
	var (
		maxAttempts  = field{"retry.max_attempts (int)", func(c runtime.Config) any { return c.Retry.MaxAttempts }}
		initialDelay = field{"retry.initial_delay (duration)", func(c runtime.Config) any { return c.Retry.InitialDelay }}
		multiplier   = field{"retry.backoff_multiplier (float)", func(c runtime.Config) any { return c.Retry.BackoffMultiplier }}
		perHost      = field{"rate_limit.per_host (bool)", func(c runtime.Config) any { return !c.RateLimit.Global }}
		credRefresh  = field{"recovery.enable_credential_refresh (bool)", func(c runtime.Config) any { return !c.Recovery.DisableCredentialRefresh }}
		jitter       = field{"retry.jitter (enum)", func(c runtime.Config) any { return c.Retry.Jitter }}
		strategy     = field{"rate_limit.backpressure_strategy (enum)", func(c runtime.Config) any {
			return string(c.RateLimit.Strategy) + "/" + strings.Repeat("q", c.RateLimit.MaxQueueSize/100)
		}}
		retryOn    = field{"retry.retry_on (list)", func(c runtime.Config) any { return c.Retry.RetryOn.Classes }}
		excluded   = field{"circuit_breaker.excluded_errors (list)", func(c runtime.Config) any { return c.CircuitBreaker.Excluded.Classes }}
		idempotent = field{"retry.idempotent (bool)", func(c runtime.Config) any { return !c.Retry.NonIdempotent }}
		retryOff   = field{"retry (off)", func(c runtime.Config) any { return c.Retry.Disabled }}
		breakerOn  = field{"circuit_breaker (off)", func(c runtime.Config) any { return c.CircuitBreaker.Disabled }}
		limitOff   = field{"rate_limit (off)", func(c runtime.Config) any { return c.RateLimit.Disabled }}
		timeout    = field{"timeout (duration, off)", func(c runtime.Config) any {
			if c.Timeout.Disabled {
				return "off"
			}
			return c.Timeout.Duration.String()
		}}
	)
	tests := []struct {
		name      string
		field     field
		yaml      string // the body of wrappers: ResilientOrders:, and more
		get, list any    // the value for Get and for List
	}{
		{"generated", maxAttempts, "{}", 4, 4},
		{"generated", initialDelay, "{}", 2 * time.Second, 2 * time.Second},
		{"generated", multiplier, "{}", 1.5, 1.5},
		{"generated", perHost, "{}", false, false},
		{"generated", jitter, "{}", runtime.JitterNone, runtime.JitterNone},
		{"generated", retryOn, "{}", runtime.ClassTimeout, runtime.ClassTimeout},
		{"generated", limitOff, "{}", true, true},
		{"generated", timeout, "{}", "10s", "10s"},

		{"built-in profile over generated", maxAttempts, "{profile: file}", 4, 4},
		{"built-in profile over generated", initialDelay, "{profile: file}", 500 * time.Millisecond, 500 * time.Millisecond},
		{"built-in profile over generated", credRefresh, "{profile: database}", false, false},
		{"custom profile over built-in profile", maxAttempts, "{profile: mine}", 9, 9},
		{"custom profile extends built-in", initialDelay, "{profile: mine}", 500 * time.Millisecond, 500 * time.Millisecond},
		{"custom profile over built-in profile", credRefresh, "{profile: mine}", true, true},
		{"custom profile over built-in profile", jitter, "{profile: mine}", runtime.JitterEqual, runtime.JitterEqual},

		{"wrapper over profile", maxAttempts, "{profile: mine, retry: {max_attempts: 6}}", 6, 6},
		{"wrapper over generated", initialDelay, "{retry: {initial_delay: 3s}}", 3 * time.Second, 3 * time.Second},
		{"wrapper over generated", multiplier, "{retry: {backoff_multiplier: 2.5}}", 2.5, 2.5},
		{"wrapper over generated", perHost, "{rate_limit: {per_host: true}}", true, true},
		{"wrapper over generated", jitter, "{retry: {jitter: decorrelated}}", runtime.JitterDecorrelated, runtime.JitterDecorrelated},
		{"wrapper over generated", strategy, "{rate_limit: {backpressure_strategy: queue}}", "queue/q", "queue/q"},
		{"wrapper over generated", retryOn, "{retry: {retry_on: [server, auth]}}", runtime.ClassServer | runtime.ClassAuth, runtime.ClassServer | runtime.ClassAuth},
		{"wrapper over generated", excluded, "{circuit_breaker: {excluded_errors: permanent}}", runtime.ClassPermanent, runtime.ClassPermanent},
		{"wrapper switches off", retryOff, "{retry: off}", true, true},
		{"wrapper switches off", breakerOn, "{circuit_breaker: off}", true, true},
		{"wrapper switches on", limitOff, "{rate_limit: on}", false, false},
		{"a key switches on", limitOff, "{rate_limit: {burst_size: 3}}", false, false},
		{"wrapper over generated", timeout, "{timeout: 5s}", "5s", "5s"},
		{"wrapper switches off", timeout, "{timeout: off}", "off", "off"},

		{"method over wrapper", maxAttempts, `
			retry: {max_attempts: 6}
			methods: {Get: {retry: {max_attempts: 8}}}`, 8, 6},
		{"method over wrapper", initialDelay, `
			retry: {initial_delay: 3s}
			methods: {Get: {retry: {initial_delay: 4s}}}`, 4 * time.Second, 3 * time.Second},
		{"method over wrapper", multiplier, `
			retry: {backoff_multiplier: 2.5}
			methods: {Get: {retry: {backoff_multiplier: 3}}}`, 3.0, 2.5},
		{"method over wrapper", perHost, `
			rate_limit: {per_host: true}
			methods: {Get: {rate_limit: {per_host: false}}}`, false, true},
		{"method over wrapper", jitter, `
			retry: {jitter: equal}
			methods: {Get: {retry: {jitter: full}}}`, runtime.JitterFull, runtime.JitterEqual},
		{"method over wrapper", strategy, `
			rate_limit: {backpressure_strategy: queue}
			methods: {Get: {rate_limit: {backpressure_strategy: drop}}}`, "drop/", "queue/q"},
		{"method over wrapper", retryOn, `
			retry: {retry_on: [server]}
			methods: {Get: {retry: {retry_on: any}}}`, runtime.ClassesAll, runtime.ClassServer},
		{"generated", idempotent, "{}", true, true},
		{"method over wrapper", idempotent, `
			methods: {Get: {retry: {idempotent: false}}}`, false, true},
		{"method over wrapper", idempotent, `
			retry: {idempotent: false}
			methods: {List: {retry: {idempotent: true}}}`, false, true},
		{"method switches on", retryOff, `
			retry: off
			methods: {Get: {retry: on}}`, false, true},
		{"method switches off", breakerOn, `
			methods: {Get: {circuit_breaker: off}}`, true, false},
		{"method switches off", timeout, `
			timeout: 5s
			methods: {List: {timeout: off}}`, "5s", "off"},
		{"method profile over wrapper", maxAttempts, `
			retry: {max_attempts: 6}
			methods: {Get: {profile: api}}`, 5, 6},
		{"method policies over method profile", maxAttempts, `
			methods: {Get: {profile: api, retry: {max_attempts: 2}}}`, 2, 4},
		{"later glob over earlier name", maxAttempts, `
			methods:
			  Get: {retry: {max_attempts: 8}}
			  "*": {retry: {max_attempts: 2}}`, 2, 2},
		{"later name over earlier glob", maxAttempts, `
			methods:
			  "*": {retry: {max_attempts: 2}}
			  Get: {retry: {max_attempts: 8}}`, 8, 2},
		{"a key in a later entry switches on", retryOff, `
			methods:
			  "*": {retry: off}
			  "G*": {retry: {max_attempts: 2}}`, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.field.name+"/"+tt.name, func(t *testing.T) {
			body := dedent(tt.yaml)
			src := "version: 1\nprofiles:\n  mine:\n    extends: file\n    retry: {max_attempts: 9, jitter: equal}\n" +
				"    recovery: {enable_credential_refresh: true}\n" +
				"wrappers:\n  ResilientOrders:" + indentBody(body)
			m, err := manager(t, gen, src)
			if err != nil {
				t.Fatalf("NewManager: %v\n%s", err, src)
			}
			for method, want := range map[string]any{"Get": tt.get, "List": tt.list} {
				c, ok := m.Config(method)
				if !ok {
					t.Fatalf("no method %s", method)
				}
				if got := tt.field.get(c); got != want {
					t.Errorf("%s: %s = %v, want %v\n%s", method, tt.field.name, got, want, src)
				}
			}
		})
	}
}

// indentBody indents a YAML mapping as the value of a key: a flow mapping
// on the key's line, a block mapping on the next lines.
func indentBody(body string) string {
	if strings.HasPrefix(body, "{") {
		return " " + body + "\n"
	}
	var b strings.Builder
	b.WriteString("\n")
	for _, line := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		b.WriteString("    " + line + "\n")
	}
	return b.String()
}

// TestOverridesOrder checks the settings Overrides returns, in order.
func TestOverridesOrder(t *testing.T) {
	file, err := config.Parse([]byte(dedent(`
		version: 1
		wrappers:
		  ResilientOrders:
		    profile: production-shopify
		    timeout: 5s
		    methods:
		      "*": {retry: off}
		      Get: {profile: development, retry: {max_attempts: 2}}
		      Other: {retry: on}
		  ResilientUsers:
		    retry: off
		`)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := file.Overrides("ResilientOrders", "Get", []string{"Get", "List", "Other"})
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, s := range got {
		texts = append(texts, s.Policy+"."+s.Key+"="+s.Value)
	}
	want := []string{
		// production-shopify
		"retry.max_attempts=5", "retry.initial_delay=2s", "circuit_breaker.failure_threshold=3",
		"rate_limit.max_requests_per_minute=40", "rate_limit.adaptive=true", "recovery.enable_credential_refresh=true",
		"recovery.enable_schema_adaptation=true",
		// the wrapper's policies
		"timeout.duration=5s",
		// "*"
		"retry.=off",
		// Get: development, then its own
		"retry.max_attempts=5", "retry.initial_delay=500ms", "circuit_breaker.failure_threshold=10",
		"circuit_breaker.recovery_timeout=30s", "rate_limit.max_requests_per_minute=30", "rate_limit.burst_size=5",
		"rate_limit.adaptive=true", "retry.max_attempts=2",
	}
	if strings.Join(texts, " ") != strings.Join(want, " ") {
		t.Errorf("Overrides:\n%s\nwant:\n%s", strings.Join(texts, "\n"), strings.Join(want, "\n"))
	}
	if got, err := file.Overrides("ResilientNone", "Get", []string{"Get"}); len(got) != 0 || err != nil {
		t.Errorf("a wrapper the file does not name: %v, %v", got, err)
	}
}

// TestParseErrors checks the errors of Parse and Load: every problem, one a
// line, as [name:]LINE:COL: message.
func TestParseErrors(t *testing.T) {
	src := dedent(`
		version: 1
		profiles:
		  quick: {extends: apii}
		wrappers:
		  ResilientOrders:
		    profile: quik
		    retry: {max_attempts: 0, jiter: full}
		    methods:
		      Get:
		        rate_limit: {backpressure_strategy: later}
		        profile: nope
		`)
	want := []string{
		`3:3: profile quick extends unknown profile "apii" (did you mean "api"?)`,
		`6:14: unknown profile "quik" (did you mean "quick"?)`,
		`7:27: retry.max_attempts: must be at least 1, not 0`,
		`7:30: unknown key "jiter" for retry (did you mean "jitter"?)`,
		`10:45: rate_limit.backpressure_strategy: unknown strategy "later" (want wait, drop or queue)`,
		`11:18: unknown profile "nope"`,
	}
	_, err := config.Parse([]byte(src))
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("Parse: %v (%T), want a *config.Error", err, err)
	}
	if strings.Join(ce.Problems, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(ce.Problems, "\n"), strings.Join(want, "\n"))
	}
	if err.Error() != strings.Join(want, "\n") {
		t.Errorf("Error() = %q", err.Error())
	}

	// Load names the file.
	path := filepath.Join(t.TempDir(), "overrides.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = config.Load(path)
	if !errors.As(err, &ce) || len(ce.Problems) != len(want) {
		t.Fatalf("Load: %v", err)
	}
	for i, p := range ce.Problems {
		if p != path+":"+want[i] {
			t.Errorf("Load problem %q, want %q", p, path+":"+want[i])
		}
	}

	// A file that cannot be read.
	_, err = config.Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "config: ") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

// TestSecondDocumentIsAnError: a run-time file whose second YAML document
// switches the rate limit off is refused where that document starts,
// rather than loaded with the second document silently left out.
func TestSecondDocumentIsAnError(t *testing.T) {
	src := dedent(`
		version: 1
		wrappers:
		  ResilientOrders: {timeout: 5s}
		---
		version: 1
		wrappers:
		  ResilientOrders: {rate_limit: off}
		`)
	path := filepath.Join(t.TempDir(), "overrides.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(path)
	want := path + ":4:1: a second YAML document starts here: only the first one would apply; put every setting in one document"
	if err == nil || err.Error() != want {
		t.Fatalf("Load: %v\nwant: %s", err, want)
	}
}

// TestUnknownMethods checks that methods: entries naming no method of the
// wrapper make the constructor fail, each reported once.
func TestUnknownMethods(t *testing.T) {
	src := dedent(`
		version: 1
		wrappers:
		  ResilientOrders:
		    methods:
		      Gte: {retry: off}
		      "Del*": {retry: off}
		      "L*": {retry: off}
		  ResilientOther:
		    methods:
		      Nothing: {retry: off}
		`)
	_, err := manager(t, runtime.Config{}, src)
	want := "5:7: methods: ResilientOrders has no method Gte (did you mean \"Get\"?)\n" +
		"6:7: methods: \"Del*\" matches no method of ResilientOrders"
	if err == nil || err.Error() != want {
		t.Errorf("NewManager: %v\nwant:\n%s", err, want)
	}

	// With Load, the positions name the file.
	path := filepath.Join(t.TempDir(), "overrides.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	file, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = file.Overrides("ResilientOrders", "Get", []string{"Get", "List"})
	if err == nil || !strings.HasPrefix(err.Error(), path+":5:7: methods: ResilientOrders has no method Gte") {
		t.Errorf("Overrides: %v", err)
	}
	// The other methods do not repeat it.
	if _, err := file.Overrides("ResilientOrders", "List", []string{"Get", "List"}); err != nil {
		t.Errorf("Overrides for the second method: %v", err)
	}
}

// TestHugeValueNotQuotedWhole: a megabyte value of a run-time file, or a
// methods: entry of a megabyte that names no method, makes an error that
// quotes its first bytes only.
func TestHugeValueNotQuotedWhole(t *testing.T) {
	huge := strings.Repeat("q", 1<<20)
	_, err := config.Parse([]byte("version: 1\nwrappers:\n  ResilientOrders:\n    rate_limit: {backpressure_strategy: " + huge + "}\n"))
	if err == nil || len(err.Error()) > 300 || !strings.Contains(err.Error(), "... (1048576 bytes)") {
		t.Errorf("Parse: a %d-byte error: %.300v", len(fmt.Sprint(err)), err)
	}
	for _, pattern := range []string{huge, huge + "*"} {
		_, err = manager(t, runtime.Config{}, "version: 1\nwrappers:\n  ResilientOrders:\n    methods:\n      ? "+pattern+"\n      : {retry: off}\n")
		if err == nil || len(err.Error()) > 300 {
			t.Errorf("NewManager: a %d-byte error: %.300v", len(fmt.Sprint(err)), err)
		}
	}
}

// TestValidation checks that overrides that make a configuration invalid
// as a whole fail at construction, naming the method and the field.
func TestValidation(t *testing.T) {
	_, err := manager(t, runtime.Config{}, dedent(`
		version: 1
		wrappers:
		  ResilientOrders:
		    methods:
		      Get:
		        retry: {initial_delay: 10s, max_delay: 2s}
		        rate_limit: {max_queue_size: 5}
		`))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"ResilientOrders.Get: retry.max_delay: 2s is less than retry.initial_delay 10s",
		`rate_limit.max_queue_size: is set but backpressure_strategy is "wait", not queue`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "List") {
		t.Errorf("error %q names List, which the overrides do not change", err)
	}
}

// TestConcurrentUse builds wrappers from one File in parallel (run with
// -race): nothing changes a File after Parse.
func TestConcurrentUse(t *testing.T) {
	file, err := config.Parse([]byte("version: 1\nwrappers:\n  ResilientOrders:\n    profile: api\n    methods:\n      \"*\": {timeout: 2s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := resgenimpl.NewManager(struct{}{}, &resgenimpl.Spec{
				Wrapper: "ResilientOrders",
				Methods: []resgenimpl.MethodSpec{{Name: "Get"}, {Name: "List"}},
			}, runtime.WithConfig(file), runtime.WithLogger(nil))
			if err != nil {
				t.Error(err)
				return
			}
			defer m.Close()
			if c, _ := m.Config("List"); c.Timeout.Duration != 2*time.Second || c.Retry.MaxAttempts != 5 {
				t.Errorf("config %+v", c)
			}
		}()
	}
	wg.Wait()
}

var positioned = regexp.MustCompile(`^[1-9][0-9]*:[1-9][0-9]*: \S`)

// FuzzParseRuntime checks that no override file makes Parse panic, that it
// returns a File or a *config.Error whose problems are each LINE:COL:
// message, and that a File can be applied without panicking.
func FuzzParseRuntime(f *testing.F) {
	for _, seed := range []string{
		"",
		"version: 1\nwrappers:\n  ResilientOrders:\n    profile: api\n    timeout: 5s\n    methods:\n      Get:\n        retry: {max_attempts: 7}\n      \"L*\":\n        rate_limit: off\n",
		"version: 1\nprofiles:\n  p: {extends: database, retry: {jitter: equal}}\nwrappers:\n  ResilientOrders: {profile: p}\n",
		"version: 1\nwrappers:\n  ResilientOrders:\n    methods:\n      Gte: {retry: off}\n",
		"version: 1\nwrappers:\n  ResilientOrders:\n    retry: {initial_delay: 90s}\n",
		"version: 1\nwrappers:\n  ResilientOrders:\n    rate_limit: {max_queue_size: 5, backpressure_strategy: queue}\n",
		"version: 1\nwrappers:\n  - type: Tx\n",
		"version: 1\nprofiles:\n  a: {extends: b}\n  b: {extends: a}\n",
		"version: 1\nwrappers: {ResilientOrders: {circuit_breaker: {group: g, excluded_errors: [auth]}}}\n",
		"version: 1\nwrappers:\n  ResilientOrders: &w {retry: off}\n  Other: *w\n",
		"version: 1\nwrappers:\n  ResilientOrders: {timeout: 5s}\n---\nversion: 1\nwrappers:\n  ResilientOrders: {rate_limit: off}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := config.Parse(data)
		if err != nil {
			var ce *config.Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("error %v (%T) is not a *config.Error with problems", err, err)
			}
			for _, p := range ce.Problems {
				if !positioned.MatchString(p) {
					t.Fatalf("problem %q is not LINE:COL: message", p)
				}
			}
			return
		}
		if file == nil {
			t.Fatal("no File and no error")
		}
		m, err := resgenimpl.NewManager(struct{}{}, &resgenimpl.Spec{
			Wrapper: "ResilientOrders",
			Methods: []resgenimpl.MethodSpec{{Name: "Get"}, {Name: "List"}},
		}, runtime.WithConfig(file), runtime.WithLogger(nil))
		if err == nil {
			m.Close()
		}
	})
}
