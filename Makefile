# resgen's build. `make test` is what CI runs (.ci/run); it needs only Go,
# and uses PostgreSQL and Redis on 127.0.0.1 when they are there (set
# RESGEN_INTEGRATION=require to fail instead of skipping without them).
GO       ?= go
PKGS     ?= ./...
FUZZTIME ?= 20s

.PHONY: all build test test-short bench lint fuzz generate check-generated

all: build test

build:
	$(GO) build $(PKGS)

# Every test, with the race detector, after the static checks.
test: lint
	$(GO) test -race -count=1 $(PKGS)

# The quick loop while editing: no race detector, no slow tests.
test-short:
	$(GO) test -short $(PKGS)

# Benchmarks of the runtime and of generated code, then the peer comparison
# in bench/ (its own module, so that the main module does not depend on
# failsafe-go, gobreaker or x/time/rate).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./runtime/ ./generator/...
	cd bench && $(GO) test -run '^$$' -bench . -benchmem -count 5 .

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needs to run on:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# Each fuzz target for FUZZTIME.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzValidate$$' -fuzztime $(FUZZTIME) ./runtime/
	$(GO) test -run '^$$' -fuzz '^FuzzParseRetryAfter$$' -fuzztime $(FUZZTIME) ./runtime/
