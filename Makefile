# docker vault — build, install, test.
GO        ?= go
BIN       := bin/docker-vault
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
PKG       := github.com/docker-vault/docker-vault
LDFLAGS   := -X $(PKG)/internal/version.Version=$(VERSION) -X $(PKG)/internal/version.Commit=$(COMMIT)
PLUGINDIR := $(or $(DOCKER_CONFIG),$(HOME)/.docker)/cli-plugins
TESTFLAGS ?=

.PHONY: all build install demo testbed test test-unit test-e2e lint bench clean

all: build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./plugin

install: build
	install -d $(PLUGINDIR)
	install -m 0755 $(BIN) $(PLUGINDIR)/docker-vault
	@echo "installed $(PLUGINDIR)/docker-vault"

# The main job on the example project, no Azure account needed: what migrate
# would change (nothing is written; run without --dry-run to apply).
demo: install
	cd examples/quickstart && docker vault migrate --dry-run

# The real-engine test bed: swarm, base image, buildx and compose (idempotent).
testbed:
	bash scripts/testbed.sh >/dev/null

test: lint testbed
	$(GO) test -count=1 -timeout 20m $(TESTFLAGS) ./...

test-unit:
	$(GO) test -count=1 $(TESTFLAGS) $$($(GO) list ./... | grep -v /e2e)

test-e2e: testbed
	$(GO) test -count=1 -timeout 20m $(TESTFLAGS) ./e2e/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Benchmarks print ratios against a baseline measured in the same run.
bench: testbed
	$(GO) test -run '^$$' -bench . -benchtime 3x -timeout 30m ./...

clean:
	rm -rf bin
