# resgen's build. `make test` is what CI runs (.ci/run); it needs only Go,
# and uses PostgreSQL and Redis on 127.0.0.1 and Chromium when they are
# there (set RESGEN_INTEGRATION=require to fail instead of skipping without
# them).
GO       ?= go
PKGS     ?= ./...
FUZZTIME ?= 20s

.PHONY: all build test test-otel test-browser test-short bench chaos overload fleet lint fuzz check-generated

all: build test

build:
	$(GO) build $(PKGS)

# Every test, with the race detector, after the static checks and the
# check that committed generated code is what resgen generates now; then
# the compatibility module (compat/, a module of its own so that the main
# module keeps its few dependencies), which checks resgen against the real
# errors of widely used clients.
test: lint check-generated
	$(GO) test -race -count=1 $(PKGS)
	cd bench && $(GO) vet ./...
	cd compat && $(GO) vet ./... && $(GO) test -race -count=1 ./...
	$(MAKE) test-otel
	$(MAKE) test-browser

# The OpenTelemetry integration (runtime/otel): its own module, so that
# neither runtime nor the main module depends on OpenTelemetry; tested with
# the SDK's in-memory span recorder and manual metric reader.
test-otel:
	cd runtime/otel && $(GO) vet ./... && $(GO) test -race -count=1 ./...

# The status page (runtime/statusz) in a real, headless Chromium: its own
# module, for the browser driver. It skips without Chromium (Debian's
# chromium package; .ci/run installs it), and fails then under
# RESGEN_INTEGRATION=require.
test-browser:
	cd runtime/statusz/browsertest && $(GO) vet ./... && $(GO) test -race -count=1 ./...

# Regenerate every committed wrapper (examples/, bench/, compat/wrappers/)
# and fail when that changes anything: generated code must never drift from
# the generator.
check-generated:
	@before=$$(git diff -- examples bench compat | sha256sum); \
	  $(GO) generate ./examples/... && (cd bench && $(GO) generate ./...) && \
	    (cd compat/wrappers && $(GO) generate ./...) || exit 1; \
	  after=$$(git diff -- examples bench compat | sha256sum); \
	  if [ "$$before" != "$$after" ]; then \
	    echo "generated files were stale: go generate changed them (see git diff); commit the result"; exit 1; \
	  fi

# Every benchmark: the runtime's, the examples' overhead against the bare
# clients, the comparison module (bench/, failsafe-go, gobreaker,
# x/time/rate), then generation speed. Figures vary on a noisy machine:
# compare ratios within one run.
BENCHCOUNT ?= 3
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./runtime/... ./cmd/...
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./examples/...
	cd bench && $(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./...
	./scripts/genspeed.sh

# Four real processes sharing one rate limit and one breaker through a
# redis-server of their own (started, paused with SIGSTOP, killed and
# restarted by the harness), against one loopback service: the admissions
# in every window against the documented bound, how fast a breaker opened
# by one process opens in all, how long a call waits for Redis; then a
# brownout seen by four processes, one of them too quiet to throttle by
# itself (TestFleetBrownout). 9s and 6s versions run in `make test`; this
# one takes about a minute.
fleet:
	RESGEN_FLEET_LONG=1 $(GO) test -count=1 -run '^TestFleet(Brownout)?$$' -v ./runtime/redisstore

# The longer fault runs of resgen's promises, against the loopback
# API (20% of requests failing, expiring tokens, an outage) and the real
# PostgreSQL (backends killed, a column renamed). Minutes, not seconds.
chaos:
	$(GO) run ./examples/httpapi -calls 20000 -workers 16 -fail-rate 0.2 -token-lifetime 1s -outage 0 -duration 5m
	$(GO) run ./examples/httpapi -calls 5000 -workers 16 -outage 3s -duration 5m
	$(GO) run ./examples/postgres -duration 60s -workers 12 -kill-every 200ms

# The overload scenarios (brownout, deepqueue, outage, random, slowlimit):
# the bare client and a wrapper per built-in profile as shipped, each
# against a fresh loopback server whose capacity drops, with resgen's
# targets judged PASS or FAIL, and the plot of the brownout. About ten
# minutes; OVERLOADFLAGS shortens it (-scenario brownout -profiles api).
OVERLOADFLAGS ?=
overload:
	$(GO) run ./examples/overload -svg docs/overload-brownout.svg $(OVERLOADFLAGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needs to run on:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# Each fuzz target for FUZZTIME. The YAML loaders find new inputs often, and
# minimizing each one for the default minute stalls their runs for most of
# FUZZTIME: they minimize for 100 runs instead.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzValidate$$' -fuzztime $(FUZZTIME) ./runtime/
	$(GO) test -run '^$$' -fuzz '^FuzzParseRetryAfter$$' -fuzztime $(FUZZTIME) ./runtime/
	$(GO) test -run '^$$' -fuzz '^FuzzClassText$$' -fuzztime $(FUZZTIME) ./runtime/
	$(GO) test -run '^$$' -fuzz '^FuzzApply$$' -fuzztime $(FUZZTIME) ./runtime/
	$(GO) test -run '^$$' -fuzz '^FuzzParseGeneration$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 100x ./internal/yamlconf/
	$(GO) test -run '^$$' -fuzz '^FuzzParseRuntimeFile$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 100x ./internal/yamlconf/
	$(GO) test -run '^$$' -fuzz '^FuzzParseRuntime$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 100x ./runtime/config/
	$(GO) test -run '^$$' -fuzz '^FuzzParseDirective$$' -fuzztime $(FUZZTIME) ./generator/
	$(GO) test -run '^$$' -fuzz '^FuzzCheckEncoding$$' -fuzztime $(FUZZTIME) ./generator/
