# Homeplane: `make demo` runs the whole system on this machine, `make test` runs every test.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

BIN        := bin
RUN        := .run
BUF        := go run github.com/bufbuild/buf/cmd/buf@v1.75.0
# deploy/kubernetes is a module of its own (the Kubernetes API types its
# manifest test needs stay out of central's go.mod).
GO_PKGS    := ./protocol/... ./central/... ./agent/... ./deploy/kubernetes/...
TEST_PG    := $(RUN)/pgtest
TEST_PORT  ?= 55432
GOTESTFLAGS ?= -race -count=1 -timeout 20m
# The agent speaks HTTP/1.1 only (Home Assistant, the Docker socket, one call
# to central); leaving HTTP/2 out of net/http saves it 0.5 MiB. It waits on
# the network, so it is also built for size: no inlining is 0.8 MB less
# binary, nearly all of it resident, for about 5 % more CPU (ADR 0015). The
# runtime keeps it for its hot paths, OpenTelemetry (linked by the Docker
# client) because without it its semconv tables become 200 KB of init code.
# These flags are written here only: agentbench and the end-to-end tests
# build the agent through `make agent AGENT_OUT=...`.
AGENT_TAGS    := nethttpomithttp2
AGENT_GCFLAGS := -gcflags=all=-l -gcflags=runtime/...= -gcflags=go.opentelemetry.io/...=
AGENT_OUT     ?= $(BIN)/homeplane-agent
# What `buf breaking` compares the protos with: a git ref, by default where
# this branch left main (the previous main on main itself).
BUF_AGAINST ?=

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-16s %s\n", $$1, $$2}'

.PHONY: build
build: agent ## Build homeplane-central, homeplane-agent, homectl, hasim and homeplane-load into bin/
	@mkdir -p $(BIN)
	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o $(BIN)/ \
		./central/cmd/homeplane-central ./central/cmd/homectl ./central/cmd/homeplane-load ./agent/cmd/hasim

.PHONY: agent
agent: ## Build homeplane-agent as shipped into AGENT_OUT (default bin/homeplane-agent)
	@mkdir -p $(dir $(AGENT_OUT))
	CGO_ENABLED=0 go build -tags '$(AGENT_TAGS)' $(AGENT_GCFLAGS) -trimpath -ldflags='-s -w' -o $(AGENT_OUT) ./agent/cmd/homeplane-agent

# The Mosquitto plugin that authenticates agents through central's broker
# contract (deploy/mosquitto); Debian's mosquitto-dev, libmosquitto-dev,
# libcjson-dev and libcurl4-openssl-dev provide its headers.
MOSQUITTO_PLUGIN_OUT ?= $(BIN)/homeplane_auth.so

.PHONY: mosquitto-plugin
mosquitto-plugin: ## Build the Mosquitto auth plugin into MOSQUITTO_PLUGIN_OUT (default bin/homeplane_auth.so)
	@mkdir -p $(dir $(MOSQUITTO_PLUGIN_OUT))
	$(CC) -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -O2 -fPIC -shared \
		-o $(MOSQUITTO_PLUGIN_OUT) deploy/mosquitto/homeplane_auth.c -lcurl -lcjson

.PHONY: images
images: build mosquitto-plugin ## Build the images compose.yaml runs: homeplane/* from bin/, PostgreSQL, Prometheus and Mosquitto from Debian's packages on an mmdebstrap base
	for b in homeplane-central homeplane-agent hasim; do \
		docker build -q -f deploy/docker/$$b.Dockerfile -t homeplane/$$b:dev . >/dev/null; echo "homeplane/$$b:dev"; done
	deploy/images/debian-base.sh homeplane-local/debian-base:bookworm
	docker build -q -f deploy/images/postgres.Dockerfile -t homeplane-local/postgres:15 . >/dev/null; echo homeplane-local/postgres:15
	docker build -q -f deploy/images/prometheus.Dockerfile -t homeplane-local/prometheus:2 . >/dev/null; echo homeplane-local/prometheus:2
	docker build -q -f deploy/images/mosquitto.Dockerfile -t homeplane-local/mosquitto:2 . >/dev/null; echo homeplane-local/mosquitto:2

.PHONY: compose-check
compose-check: images ## Run the Compose stack (hasim as Home Assistant) and check it end to end
	deploy/compose/check.sh

.PHONY: demo
demo: build ## Run PostgreSQL, central, hasim and an enrolled agent; then try bin/homectl say "turn on the kitchen lights"
	deploy/dev/demo.sh

.PHONY: test-services
test-services: ## Start the services the tests need (a private PostgreSQL cluster)
	@deploy/dev/postgres.sh start $(TEST_PG) $(TEST_PORT) >/dev/null

.PHONY: test
# The allocation tests run once more without the race detector, whose
# sync.Pool drops items at random.
test: test-services ## Run every test (starts the services it needs)
	HOMEPLANE_TEST_DATABASE_URL=$${HOMEPLANE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:$(TEST_PORT)/postgres?sslmode=disable} \
		go test $(GOTESTFLAGS) $(GO_PKGS)
	go test -count=1 -run 'Alloc' ./central/internal/intent/ ./central/internal/pack/

.PHONY: bench
bench: test-services ## Run the benchmarks
	HOMEPLANE_TEST_DATABASE_URL=$${HOMEPLANE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:$(TEST_PORT)/postgres?sslmode=disable} \
		go test -run '^$$' -bench . -benchmem -timeout 60m $(GO_PKGS)

.PHONY: generate
generate: ## Regenerate the protocol code from the .proto files
	cd protocol && $(BUF) lint && $(BUF) generate && $(BUF) generate --template buf.gen.connect.yaml

.PHONY: check-generate
check-generate: generate ## Fail when the committed generated code is not current
	@git diff --exit-code -- protocol/gen || { echo "protocol/gen is stale: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- protocol/gen)" || { echo "protocol/gen has untracked files: run make generate and commit"; exit 1; }

.PHONY: lint
lint: breaking ## gofmt, go vet, buf lint and buf breaking
	@test -z "$$(gofmt -l protocol central agent deploy/kubernetes | grep -v '/gen/')" || { gofmt -l protocol central agent deploy/kubernetes | grep -v '/gen/'; exit 1; }
	go vet $(GO_PKGS)
	cd protocol && $(BUF) lint

# Agents and central upgrade independently, so a .proto change must not
# break the wire (WIRE_JSON in protocol/buf.yaml). The protos of the base
# commit are taken with git archive, which works in a worktree and in a
# fresh clone alike; only main's history is needed.
.PHONY: breaking
breaking: ## Fail when the .proto files break the wire against BUF_AGAINST (default: where this branch left main)
	@base='$(BUF_AGAINST)'; \
	if [ -z "$$base" ]; then \
		for m in main origin/main; do base=$$(git merge-base HEAD $$m 2>/dev/null) && break; done; \
		[ -n "$$base" ] || { echo "buf breaking: no main branch to compare with: git fetch origin main, or set BUF_AGAINST"; exit 1; }; \
		if [ "$$base" = "$$(git rev-parse HEAD)" ]; then base=$$(git rev-parse -q --verify HEAD^ || echo HEAD); fi; \
	fi; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	git archive "$$base" protocol/buf.yaml protocol/proto | tar -x -C "$$tmp"; \
	echo "buf breaking against $$(git rev-parse --short "$$base")"; \
	cd protocol && $(BUF) breaking --against "$$tmp/protocol"

.PHONY: clean
clean: ## Remove build output and local service data
	-deploy/dev/postgres.sh stop $(TEST_PG)
	rm -rf $(BIN) $(RUN)
