# Sluice build, test and benchmark entry points. `make test` is what CI runs.
GO        ?= go
BIN       := bin/sluice
PKGS      := ./...
STATICCHECK_VERSION := v0.8.2
TEST_TIMEOUT ?= 25m
BENCHTIME ?= 2s

.PHONY: all build test test-short bench lint fmt fuzz demo clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/sluice

# Every test the project has, integration tests included. Integration tests
# start real processes (sluice serve, PostgreSQL, Mosquitto, kcat, Python)
# on 127.0.0.1 and skip with a clear message only when a tool is missing.
test: build
	SLUICE_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

# Unit tests only: skips integration tests that start external processes.
test-short:
	$(GO) test -short -count=1 $(PKGS)

bench: build
	SLUICE_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

# Short coverage-guided fuzzing of every Fuzz target (FUZZTIME each).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# The first five minutes: the IoT example end to end on the embedded broker.
demo: build
	./$(BIN) demo iot

clean:
	rm -rf bin
