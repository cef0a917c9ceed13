# The front door. `make help` lists the targets.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export PINTEREST_HOME ?= $(CURDIR)/.pinterest
DEMO_TRIPLES ?= 20000
BENCH_ARGS ?=
CHAOS_ARGS ?=
AUDIT_ARGS ?=
# The local stack's Kafka client listener (KAFKA_SECURITY=sasl_ssl: SASL_SSL, SCRAM-SHA-512) and
# PostgreSQL (PG_TLS=on: TLS required, clients verify-full), both with certificates from the stack's
# own CA; pass the same to every make target that talks to the stack. See docs/DEPLOYMENT.md.
KAFKA_SECURITY ?=
PG_TLS ?=
LOCAL_CA = $(or $(PINTEREST_STACK_DIR),$(PINTEREST_HOME)/stack)/tls/ca.pem
ifeq ($(KAFKA_SECURITY),sasl_ssl)
export PINTEREST_KAFKA_SECURITY_PROTOCOL ?= SASL_SSL
export PINTEREST_KAFKA_SASL_MECHANISM ?= SCRAM-SHA-512
export PINTEREST_KAFKA_SSL_CAFILE ?= $(LOCAL_CA)
else ifneq ($(KAFKA_SECURITY),)
$(error KAFKA_SECURITY=$(KAFKA_SECURITY): sasl_ssl, or unset for PLAINTEXT)
endif
ifeq ($(PG_TLS),on)
export PINTEREST_PG_SSLMODE ?= verify-full
export PINTEREST_PG_SSLROOTCERT ?= $(LOCAL_CA)
else ifneq ($(PG_TLS),)
$(error PG_TLS=$(PG_TLS): on, or unset)
endif

.PHONY: help install up down status test clean-state batch requarantine ui demo audit lint bench chaos

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: ## install system packages if missing, the venv and the service jars
	@scripts/bootstrap.sh

up: install ## start Kafka, PostgreSQL, the S3 server, the API and the streaming job (idempotent; waits until healthy)
	@$(PY) -m devstack up

down: ## stop every service of the local stack
	@if [ -x $(PY) ]; then $(PY) -m devstack down; fi

status: ## what runs, where, healthy or not, and the log paths
	@$(PY) -m devstack status

batch: up ## one pass of the batch pipeline: drain sensors -> runs landing Kafka in the S3 lake (in the Dagster UI history)
	@$(PY) -m devstack.batch

requarantine: up ## re-check the quarantined events under the current rules (after PINTEREST_RELAXED_RULES), clean those that pass, answer again
	@$(PY) -m devstack.batch --requarantine

demo: up ## the main job end to end: emulator -> API -> Kafka -> batch + streaming, then a reconciled report (DEMO_TRIPLES=20000)
	@$(PY) -m devstack.demo --triples $(DEMO_TRIPLES)

ui: up ## the Dagster UI (dagster dev -w workspace.yaml) on 127.0.0.1:3000 against the local instance
	@$(PY) -m devstack.ui --host 127.0.0.1 --port 3000

test: install ## the whole suite; starts its own services on free ports and stops them after
	@$(VENV)/bin/pytest

bench: install ## benchmarks on a stack of their own (free ports); writes docs/BENCHMARKS.md (BENCH_ARGS=--quick)
	@$(PY) -m bench.run $(BENCH_ARGS)

chaos: install ## fault injection under load on a stack of its own, reconciled by client event (CHAOS_ARGS="--scenarios 1,7 --events 90")
	@$(PY) -m devstack.chaos $(CHAOS_ARGS)

lint: install ## ruff (lint and format), the type checker (basedpyright, basic) and the layering contract (import-linter)
	@$(PY) -m ruff check .
	@$(PY) -m ruff format --check .
	@$(VENV)/bin/basedpyright
	@$(VENV)/bin/lint-imports

audit: ## known vulnerabilities of the installed Python packages (pip-audit; AUDIT_ARGS=--strict also fails on a package it cannot audit)
	@set -o pipefail; report=$$(mktemp); \
	$(VENV)/bin/pip-audit --local --skip-editable --progress-spinner off --desc on $(AUDIT_ARGS) | tee "$$report"; \
	skipped=$$(grep -c "could not be audited" "$$report" || true); rm -f "$$report"; \
	if [ "$$skipped" -gt 0 ]; then echo "[audit] WARNING: pip-audit could not audit $$skipped installed packages (listed above), so 'No known vulnerabilities' covers only the others; see docs/SECURITY.md#dependency-audit"; fi

clean-state: down ## delete all local state (keeps downloaded jars and caches)
	@if [ -x $(PY) ]; then $(PY) -m devstack clean-state; fi
	rm -rf "$(PINTEREST_HOME)/stack" "$(PINTEREST_HOME)/tmp"
