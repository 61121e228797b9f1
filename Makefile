# The single entry point for every check. `make` builds pex, `make test` is
# what CI runs, `make check` adds vet, formatting and import boundaries.

GO      ?= go
BIN     ?= bin/pex
PKGS    := ./...

.PHONY: all build test check vet fmt-check boundaries tidy-check example bench bench-quick reliability install clean

all: build

# pex needs no cgo; without it the binary is static and starts about 3 ms
# sooner (no dynamic loader, no libc: pflag imports net, whose resolver
# would otherwise link them). Tests keep cgo: -race needs it.
build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/pex

install:
	CGO_ENABLED=0 $(GO) install ./cmd/pex

# Builds pex, then builds the bundled example workspace with it.
example: build
	./$(BIN) -C testdata/example build //...

test:
	$(GO) test -race -count=1 $(PKGS)

check: vet fmt-check boundaries tidy-check test

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

boundaries:
	$(GO) run ./internal/tools/boundaries

tidy-check:
	$(GO) mod tidy -diff

# The long form of the reliability suite (make test runs a short one):
# 200 SIGKILLs at random moments of builds, 30 rounds each of concurrent
# builds and of saves during runs, then SIGKILL of pex build and watch.
reliability:
	$(GO) test -count=1 -v -timeout 90m ./reliability -kills 200 -rounds 30

bench:
	./bench/run.sh

bench-quick:
	./bench/run.sh --quick

clean:
	rm -rf bin
