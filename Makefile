# docker vault — build, install, test.
GO        ?= go
BIN       := bin/docker-vault
# The version is the nearest version tag as git describes it
# (v0.2.0-3-g1a2b3c4-dirty), or v0.0.0-dev+<commit>[-dirty] in a clone without
# one (internal/version.DevVersion is the same form for unstamped builds).
VERSION   ?= $(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null || echo "v0.0.0-dev+$$(git describe --always --dirty 2>/dev/null || echo unknown)")
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
PKG       := github.com/docker-vault/docker-vault
LDFLAGS   := -X $(PKG)/internal/version.Version=$(VERSION) -X $(PKG)/internal/version.Commit=$(COMMIT)
PLUGINDIR := $(or $(DOCKER_CONFIG),$(HOME)/.docker)/cli-plugins
TESTFLAGS ?=

.PHONY: all build install demo testbed test test-unit test-e2e test-corpus check-shared lint bench clean

all: build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./plugin

install: build
	install -d $(PLUGINDIR)
	install -m 0755 $(BIN) $(PLUGINDIR)/docker-vault
	@echo "installed $(PLUGINDIR)/docker-vault"

# The main job on the example project, no Azure account needed: what migrate
# would change (nothing is written; run without --dry-run to apply). Images
# are not pulled (--pull=never), so the demo never reaches a registry: an
# image the engine lacks is judged by migrate's built-in table.
demo: install
	cd examples/quickstart && docker vault migrate --dry-run --pull=never

# The real-engine test bed: swarm, base image, buildx and compose (idempotent).
testbed:
	bash scripts/testbed.sh >/dev/null

# Three test targets. A build tag, never a skip, keeps a test out of a
# target; a test that runs fails when what it needs is missing.
#   test-unit    needs nothing: no engine, no test bed, no ../shared.
#   test         lint, the test bed, the unit tests and the tests that drive
#                the real engine: e2e/ and the test files tagged e2e in other
#                packages (swarm's sync against the test bed's swarm).
#   test-corpus  ../shared beside the repository (the compose corpus and the
#                Key Vault recordings) and the test bed (migrate checks its
#                results with the compose CLI): the test files tagged corpus,
#                with the other tests of their packages.
# The tag is the file's first line, exactly `//go:build corpus` or
# `//go:build e2e`; the tests that read ../shared are split into their own
# corpus_test.go files. internal/corpus, the one reader of ../shared, is
# built only with the corpus tag, so an untagged test cannot read it.
tagged = $(sort $(dir $(shell grep -rlx --include='*_test.go' '//go:build $(1)' .)))

test: lint testbed
	$(GO) test -count=1 -timeout 20m -tags e2e $(TESTFLAGS) ./...

test-unit:
	$(GO) test -count=1 $(TESTFLAGS) $$($(GO) list ./... | grep -v /e2e)

test-e2e: testbed
	$(GO) test -count=1 -timeout 20m -tags e2e $(TESTFLAGS) ./e2e/... $(call tagged,e2e)

test-corpus: check-shared testbed
	$(GO) test -count=1 -timeout 20m -tags corpus $(TESTFLAGS) $(call tagged,corpus)

SHARED := $(abspath $(CURDIR)/../shared)
check-shared:
	@for d in corpus keyvault-recordings; do \
		if [ ! -d "$(SHARED)/$$d" ]; then \
			echo "$(SHARED)/$$d is missing: the corpus tests need the shared folder beside the repository (make test needs none)" >&2; \
			exit 1; \
		fi; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags corpus,e2e ./...

# Benchmarks print ratios against a baseline measured in the same run.
bench: testbed
	$(GO) test -run '^$$' -bench . -benchtime 3x -timeout 30m -tags e2e ./...

clean:
	rm -rf bin
