package yamlconf

import (
	"strings"
	"testing"
)

// errorStrings returns errs as strings.
func errorStrings(errs []error) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

// TestParseErrors lists every error of the parser, with its position. The
// YAML of each case is indented by a tab in the source for readability: the
// first line's tabs are stripped from every line.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		yaml string
		want []string
	}{
		// YAML syntax: yaml.v3 gives a line, no column: that of the
		// problem, or of the start of the collection where it is.
		{"syntax unclosed flow", Generation, `
			version: 1
			profiles:
			  p: {retry: off
			`, []string{"3:1: did not find expected ',' or '}'"}},
		{"second document", Runtime, `
			version: 1
			wrappers:
			  ResilientStore: {timeout: 5s}
			---
			version: 1
			wrappers:
			  ResilientStore: {rate_limit: off}
			`, []string{"4:1: a second YAML document starts here: only the first one would apply; put every setting in one document"}},
		{"second document in resgen.yaml", Generation, `
			version: 1
			---
			wrappers:
			  - type: Store
			`, []string{"2:1: a second YAML document starts here: only the first one would apply; put every setting in one document"}},
		{"second document empty", Generation, `
			version: 1
			---
			`, []string{"2:1: a second YAML document starts here: only the first one would apply; put every setting in one document"}},
		{"second document with a syntax error", Runtime, `
			version: 1
			---
			wrappers: [
			`, []string{"4:1: did not find expected node content"}},
		{"syntax bad indentation", Generation, `
			version: 1
			profiles:
			  p:
			    retry: off
			   x: 1
			`, []string{"3:1: did not find expected key"}},
		{"syntax mapping in scalar", Generation, `
			version: 1
			wrappers: a: b
			`, []string{"2:1: mapping values are not allowed in this context"}},
		{"syntax tab", Generation, "version: 1\n\tprofiles: {}\n", []string{"2:1: found a tab character that violates indentation"}},
		{"syntax unterminated string", Generation, `
			version: 1
			profiles: "p
			`, []string{"2:1: found unexpected end of stream"}},
		{"syntax unclosed flow at the end", Generation, "version: [1\n", []string{"2:1: did not find expected ',' or ']'"}},
		{"syntax sequence in a mapping", Generation, `
			version: 1
			profiles:
			- p
			`, []string{"3:1: profiles: want a mapping of profile names"}},
		{"unknown anchor", Generation, `
			version: 1
			profiles: *base
			`, []string{"2:11: unknown anchor 'base' referenced"}},

		// The document.
		{"root is a list", Generation, `
			- version: 1
			`, []string{"1:1: want a mapping with version, profiles and wrappers"}},
		{"root is a scalar", Runtime, `
			hello
			`, []string{"1:1: want a mapping with version, profiles and wrappers"}},
		{"missing version", Generation, `
			profiles: {}
			`, []string{"1:1: missing version: 1"}},
		{"unsupported version", Generation, `
			version: 2
			`, []string{`1:10: unsupported version "2": want 1`}},
		{"version as float", Runtime, `
			version: 1.0
			`, []string{`1:10: unsupported version "1.0": want 1`}},
		{"version as list", Generation, `
			version: [1]
			`, []string{"1:10: version: want 1"}},
		{"unknown top-level key", Generation, `
			version: 1
			wrapper: []
			`, []string{`2:1: unknown key "wrapper" (did you mean "wrappers"?)`}},
		{"unknown top-level key far from any", Runtime, `
			version: 1
			defaults: {}
			`, []string{`2:1: unknown key "defaults"`}},
		{"duplicate top-level key", Generation, `
			version: 1
			profiles: {}
			profiles: {}
			`, []string{`3:1: duplicate key "profiles"`}},

		// profiles:
		{"profiles is a list", Generation, `
			version: 1
			profiles: [a]
			`, []string{"2:11: profiles: want a mapping of profile names"}},
		{"profile is a scalar", Generation, `
			version: 1
			profiles:
			  p: off
			`, []string{"3:6: want a mapping of policies"}},
		{"profile named as a built-in", Generation, `
			version: 1
			profiles:
			  api: {retry: off}
			`, []string{`3:3: profile "api" is built in: give yours another name and extend it`}},
		{"duplicate profile", Runtime, `
			version: 1
			profiles:
			  p: {}
			  p: {}
			`, []string{`4:3: duplicate key "p"`}},
		{"profile extends an unknown profile", Generation, `
			version: 1
			profiles:
			  p: {extends: api2}
			`, []string{`3:3: profile p extends unknown profile "api2" (did you mean "api"?)`}},
		{"profile extends itself", Generation, `
			version: 1
			profiles:
			  p: {extends: p}
			`, []string{"3:3: profile p extends itself through p"}},
		{"profiles extend each other", Runtime, `
			version: 1
			profiles:
			  a: {extends: b}
			  b: {extends: a}
			`, []string{"3:3: profile a extends itself through a", "4:3: profile b extends itself through b"}},
		{"profile leading into a cycle", Generation, `
			version: 1
			profiles:
			  a: {extends: b}
			  b: {extends: c}
			  c: {extends: b}
			`, []string{"4:3: profile b extends itself through b", "5:3: profile c extends itself through c"}},
		{"chain on a misspelled extends", Generation, `
			version: 1
			profiles:
			  a: {extends: b}
			  b: {extends: c}
			  c: {extends: dtabase}
			`, []string{`5:3: profile c extends unknown profile "dtabase" (did you mean "database"?)`}},
		{"extends is a list", Generation, `
			version: 1
			profiles:
			  p: {extends: [api]}
			`, []string{"3:16: extends: want a profile name"}},
		{"unknown key in a profile", Generation, `
			version: 1
			profiles:
			  p:
			    extend: api
			`, []string{`4:5: unknown key "extend" (did you mean "extends"?)`}},
		{"unknown policy", Generation, `
			version: 1
			profiles:
			  p:
			    retyr: off
			`, []string{`4:5: unknown key "retyr" (did you mean "retry"?)`}},

		// Policy blocks.
		{"unknown policy key", Generation, `
			version: 1
			profiles:
			  p:
			    retry: {max_attempt: 3}
			`, []string{`4:13: unknown key "max_attempt" for retry (did you mean "max_attempts"?)`}},
		{"unknown policy key of another policy", Runtime, `
			version: 1
			profiles:
			  p:
			    circuit_breaker:
			      burst_size: 3
			`, []string{`5:7: unknown key "burst_size" for circuit_breaker`}},
		{"duplicate policy key", Generation, `
			version: 1
			profiles:
			  p:
			    retry:
			      max_attempts: 3
			      max_attempts: 4
			`, []string{`6:7: duplicate key "max_attempts"`}},
		{"duplicate policy", Generation, `
			version: 1
			profiles:
			  p:
			    retry: off
			    retry: on
			`, []string{`5:5: duplicate key "retry"`}},
		{"policy is a list", Generation, `
			version: 1
			profiles:
			  p:
			    retry: [max_attempts]
			`, []string{"4:12: retry: want off, on or a mapping of keys"}},
		{"policy is a word", Generation, `
			version: 1
			profiles:
			  p:
			    rate_limit: sometimes
			`, []string{`4:17: rate_limit: want off, on or a mapping of keys, not "sometimes"`}},
		{"timeout is a mapping", Runtime, `
			version: 1
			profiles:
			  p:
			    timeout: {duration: 5s}
			`, []string{"4:14: timeout: want a duration such as 5s, or off"}},
		{"value is a mapping", Generation, `
			version: 1
			profiles:
			  p:
			    retry:
			      max_attempts: {n: 3}
			`, []string{"5:21: want a value, not a mapping"}},
		{"list of lists", Generation, `
			version: 1
			profiles:
			  p:
			    retry:
			      retry_on: [[transient]]
			`, []string{"5:18: want a list of words"}},

		// Bad values, checked by runtime.Config.Apply.
		{"bad int", Generation, `
			version: 1
			profiles:
			  p:
			    retry: {max_attempts: three}
			`, []string{`4:27: retry.max_attempts: want a whole number, not "three"`}},
		{"int out of range", Runtime, `
			version: 1
			profiles:
			  p:
			    circuit_breaker: {failure_threshold: 0}
			`, []string{"4:42: circuit_breaker.failure_threshold: must be at least 1, not 0"}},
		{"bad duration", Generation, `
			version: 1
			profiles:
			  p:
			    retry:
			      initial_delay: 2
			`, []string{`5:22: retry.initial_delay: want a duration such as 500ms or 2s, not "2"`}},
		{"negative duration", Generation, `
			version: 1
			profiles:
			  p:
			    recovery:
			      recovery_check_interval: -1s
			`, []string{"5:32: recovery.recovery_check_interval: must be positive, not -1s"}},
		{"bad timeout", Generation, `
			version: 1
			profiles:
			  p:
			    timeout: fast
			`, []string{`4:14: timeout: want a duration such as 500ms or 2s, not "fast"`}},
		{"bad float", Generation, `
			version: 1
			profiles:
			  p:
			    retry: {backoff_multiplier: 0.5}
			`, []string{"4:33: retry.backoff_multiplier: must be at least 1, not 0.5"}},
		{"float NaN", Runtime, `
			version: 1
			profiles:
			  p:
			    retry: {backoff_multiplier: NaN}
			`, []string{`4:33: retry.backoff_multiplier: want a number, not "NaN"`}},
		{"bad bool", Generation, `
			version: 1
			profiles:
			  p:
			    rate_limit: {per_host: yes}
			`, []string{`4:28: rate_limit.per_host: want true or false, not "yes"`}},
		{"bad jitter", Generation, `
			version: 1
			profiles:
			  p:
			    retry: {jitter: ful}
			`, []string{`4:21: retry.jitter: unknown jitter "ful" (want none, full, equal or decorrelated) (did you mean "full"?)`}},
		{"bad strategy", Runtime, `
			version: 1
			profiles:
			  p:
			    rate_limit: {backpressure_strategy: dropp}
			`, []string{`4:41: rate_limit.backpressure_strategy: unknown strategy "dropp" (want wait, drop or queue) (did you mean "drop"?)`}},
		{"bad class", Generation, `
			version: 1
			profiles:
			  p:
			    retry: {retry_on: [transient, tiemout]}
			`, []string{`4:23: retry.retry_on: unknown error class "tiemout" (did you mean "timeout"?)`}},
		{"canceled is no setting's class", Generation, `
			version: 1
			profiles:
			  p:
			    retry: {retry_on: [timeout, canceled]}
			`, []string{`4:23: retry.retry_on: unknown error class "canceled"`}},
		{"retry_on none", Generation, `
			version: 1
			profiles:
			  p:
			    retry: {retry_on: none}
			`, []string{"4:23: retry.retry_on: none retries nothing; write retry off instead"}},
		{"bad group", Runtime, `
			version: 1
			profiles:
			  p:
			    circuit_breaker: {group: "a b"}
			`, []string{`4:30: circuit_breaker.group: want a single word, not "a b"`}},
		{"every bad value of a block", Generation, `
			version: 1
			profiles:
			  p:
			    retry:
			      max_attempts: -1
			      max_delay: soon
			    recovery:
			      enable_schema_adaptation: maybe
			`, []string{
			"5:21: retry.max_attempts: must be at least 1, not -1",
			`6:18: retry.max_delay: want a duration such as 500ms or 2s, not "soon"`,
			`8:33: recovery.enable_schema_adaptation: want true or false, not "maybe"`,
		}},

		// wrappers: in resgen.yaml.
		{"generation wrappers is a mapping", Generation, `
			version: 1
			wrappers:
			  ResilientStore: {}
			`, []string{"3:3: wrappers: want a list of entries (- type: ...)"}},
		{"entry without type", Generation, `
			version: 1
			wrappers:
			  - name: ResilientTx
			`, []string{"3:5: wrapper entry has no type"}},
		{"entry is a scalar", Generation, `
			version: 1
			wrappers:
			  - Tx
			`, []string{"3:5: want a mapping of policies", "3:5: wrapper entry has no type"}},
		{"entry source is a mapping", Generation, `
			version: 1
			wrappers:
			  - type: Tx
			    source: {path: x}
			`, []string{"4:13: source: want a name"}},
		{"entry with empty type", Generation, `
			version: 1
			wrappers:
			  - type: ""
			`, []string{"3:5: wrapper entry has no type", "3:11: type: want a name"}},
		{"unknown entry key", Generation, `
			version: 1
			wrappers:
			  - type: Tx
			    outptu: tx.go
			`, []string{`4:5: unknown key "outptu" (did you mean "output"?)`}},
		{"entry profile is a list", Generation, `
			version: 1
			wrappers:
			  - type: Tx
			    profile: [api]
			`, []string{"4:14: profile: want a profile name"}},
		{"unknown profile in an entry", Generation, `
			version: 1
			wrappers:
			  - type: Tx
			    profile: dtabase
			`, []string{`4:14: unknown profile "dtabase" (did you mean "database"?)`}},
		{"unknown profile in a methods block", Generation, `
			version: 1
			profiles:
			  mine: {extends: api}
			wrappers:
			  - type: Tx
			    methods:
			      Commit: {profile: mien}
			`, []string{`7:25: unknown profile "mien" (did you mean "mine"?)`}},
		{"methods is a list", Generation, `
			version: 1
			wrappers:
			  - type: Tx
			    methods: [Commit]
			`, []string{"4:14: methods: want a mapping of method names or globs"}},
		{"bad method pattern", Generation, `
			version: 1
			wrappers:
			  - type: Tx
			    methods:
			      "Query[": {retry: off}
			`, []string{`5:7: bad method pattern "Query[": syntax error in pattern`}},
		{"duplicate method", Generation, `
			version: 1
			wrappers:
			  - type: Tx
			    methods:
			      Commit: {retry: off}
			      Commit: {timeout: 1s}
			`, []string{`6:7: duplicate key "Commit"`}},
		{"method block is a scalar", Generation, `
			version: 1
			wrappers:
			  - type: Tx
			    methods:
			      Commit: off
			`, []string{"5:15: want a mapping of policies"}},
		{"methods block with entry keys", Generation, `
			version: 1
			wrappers:
			  - type: Tx
			    methods:
			      Commit: {type: Tx}
			`, []string{`5:16: unknown key "type"`}},

		// wrappers: in run-time files.
		{"runtime wrappers is a list", Runtime, `
			version: 1
			wrappers:
			  - type: Tx
			`, []string{"3:3: wrappers: want a mapping keyed by wrapper type name"}},
		{"runtime entry with generation keys", Runtime, `
			version: 1
			wrappers:
			  ResilientStore:
			    output: x.go
			`, []string{`4:5: unknown key "output"`}},
		{"runtime duplicate wrapper", Runtime, `
			version: 1
			wrappers:
			  ResilientStore: {}
			  ResilientStore: {}
			`, []string{`4:3: duplicate key "ResilientStore"`}},
		{"runtime unknown profile", Runtime, `
			version: 1
			wrappers:
			  ResilientStore:
			    profile: fast
			`, []string{`4:14: unknown profile "fast"`}},

		// Every problem at once, in order of position.
		{"several problems", Generation, `
			profiles:
			  p:
			    retry: {max_attempts: x}
			wrappers:
			  - type: Tx
			    profile: q
			verison: 1
			`, []string{
			`1:1: missing version: 1`,
			`3:27: retry.max_attempts: want a whole number, not "x"`,
			`6:14: unknown profile "q" (did you mean "p"?)`,
			`7:1: unknown key "verison" (did you mean "version"?)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := Parse([]byte(dedent(tt.yaml)), tt.kind)
			got := errorStrings(errs)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for _, e := range errs {
				if _, ok := e.(Error); !ok {
					t.Errorf("%v is a %T, not an Error", e, e)
				}
			}
		})
	}
}

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
