# Mirage — run `make help` for the list of targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

UV_VERSION := 0.13.8
UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
PYTEST_ARGS ?=

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Mirage targets:\n"} /^[a-zA-Z0-9_-]+:.*##/ { printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

.PHONY: bootstrap
bootstrap: ## Install uv (if missing) and the workspace's Python dependencies
	@command -v uv >/dev/null 2>&1 || [ -x "$(UV)" ] || python3 -m pip install --quiet --user "uv==$(UV_VERSION)" \
	  || python3 -m pip install --quiet --break-system-packages --user "uv==$(UV_VERSION)"
	@$(UV) sync --frozen --quiet --compile-bytecode
	@# Byte-compile the workspace's own code too: with PYTHONDONTWRITEBYTECODE set (common on
	@# CI and servers) every service start and test process would compile it all again (about
	@# 1.5 s of CPU per process). Up-to-date files are skipped; a stale .pyc is ignored by Python.
	@$(UV) run --frozen python -m compileall -q -j0 -x '/tests/' libs services deploy bench >/dev/null

.PHONY: up
up: ## Start Kafka 4 (KRaft), PostgreSQL and Redis natively (idempotent; restarts what died)
	@deploy/local/stack.sh up

.PHONY: down
down: ## Stop the local infrastructure
	@deploy/local/stack.sh down

.PHONY: status
status: ## Show the local infrastructure
	@deploy/local/stack.sh status

.PHONY: migrate
migrate: bootstrap up ## Apply the database migrations
	@$(UV) run mirage-migrate upgrade

.PHONY: run
run: bootstrap up ## Bring everything up and run every service plus the simulator (Ctrl+C stops)
	@$(UV) run python deploy/local/run_services.py

.PHONY: lint
lint: bootstrap ## ruff (lint + format check) and the import boundaries
	@$(UV) run ruff check .
	@$(UV) run ruff format --check --quiet .
	@$(UV) run lint-imports --no-cache

.PHONY: typecheck
typecheck: bootstrap ## mypy --strict over the whole workspace
	@$(UV) run mypy

.PHONY: deploy-tools-background
deploy-tools-background: ## (part of make test) Start building the chart tests' tools in the background
	@mkdir -p .local/logs
	@# Cached: instant. Cold (a fresh machine): Helm's Go build takes minutes, niced, while lint,
	@# types and the other tests run; the chart tests wait on tool.sh's lock for what is not done.
	@(nohup deploy/tools/tool.sh all > .local/logs/deploy-tools-background.log 2>&1 &)

.PHONY: test
test: deploy-tools-background lint typecheck up ## Everything CI runs: lint, types, unit, integration and end-to-end tests
	@$(UV) run pytest $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: bootstrap ## Only the tests that need no infrastructure
	@$(UV) run pytest -m "not integration and not e2e" $(PYTEST_ARGS)

.PHONY: bench
bench: bootstrap up ## Run the benchmarks (prints BENCH lines; see docs/benchmarks.md)
	@$(UV) run python -m bench.run

.PHONY: chaos
chaos: bootstrap up ## Chaos run: 10,000 messages while Kafka, PostgreSQL, Redis, workers and links fail (BENCH line)
	@MIRAGE_CHAOS_FULL=1 $(UV) run pytest tests/chaos -p no:cacheprovider -q -s $(PYTEST_ARGS)

.PHONY: format
format: bootstrap ## Format the code
	@$(UV) run ruff format .
	@$(UV) run ruff check --fix .

.PHONY: compose-up
compose-up: ## Where Docker exists: the same infrastructure with docker compose
	docker compose up -d --wait

.PHONY: deploy-tools
deploy-tools: bootstrap ## Build/fetch Helm 4, kubeconform, actionlint, hadolint and the schemas once (cached in .local/tools)
	@deploy/tools/tool.sh all

.PHONY: chart-test
chart-test: bootstrap ## Helm chart, image and workflow checks only (tests/deploy; part of make test)
	@$(UV) run pytest tests/deploy -m "deploy and not backup_drill" $(PYTEST_ARGS)

.PHONY: images-verify
images-verify: bootstrap ## Lint the Dockerfile and rebuild each image's virtualenv to check it (no Docker needed)
	@$(UV) run pytest tests/deploy/test_image.py $(PYTEST_ARGS)

.PHONY: k8s-e2e
k8s-e2e: bootstrap ## Throwaway control plane (etcd, kube-apiserver, kwok): install, auto-rollback, CNPG CRDs (BENCH line)
	@deploy/k8s-e2e/run.sh

.PHONY: backup-drill
backup-drill: bootstrap ## Point-in-time restore drill: barman-cloud to a local S3, restore to T, check (BENCH line)
	@deploy/backup/drill.sh

.PHONY: clean
clean: down ## Stop the stack and delete its data (.local/)
	rm -rf .local
