# Invoice Relay — local development. `make demo` and `make test` set everything up on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
# checkov lives in its own venv: its boto3/botocore pins clash with the project's.
CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0
export PYTHONDONTWRITEBYTECODE := 1

FN    ?=
EVENT ?=
LAST  ?= 3

.PHONY: help venv test lint validate checkov build unit demo chaos invoke logs api bench clean cli

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

$(STAMP): requirements-dev.txt requirements-lock.txt shared/requirements.txt
	@PY313=$$(tools/find-python313.sh) || exit 1; \
	  [ -x $(PY) ] || { echo "creating $(VENV) with $$PY313"; "$$PY313" -m venv $(VENV); }
	$(PY) -m pip install --quiet -r requirements-dev.txt -c requirements-lock.txt
	@touch $@

venv: $(STAMP) ## Create the virtualenv with the pinned dependencies

CLI_STAMP := $(VENV)/.cli-installed
$(CLI_STAMP): $(STAMP) cli/pyproject.toml
	$(VENV)/bin/pip install --quiet -e cli
	@touch $@

cli: $(CLI_STAMP) ## Install the ops command line (`relay`) into the venv

lint: $(STAMP) ## ruff (lint + format check)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

validate: $(STAMP) ## sam validate --lint and cfn-lint on template.yaml
	$(VENV)/bin/sam validate --lint --template template.yaml
	$(VENV)/bin/cfn-lint template.yaml

$(CHECKOV_STAMP): requirements-checkov.txt
	@PY313=$$(tools/find-python313.sh) || exit 1; \
	  [ -x $(CHECKOV_VENV)/bin/python ] || { echo "creating $(CHECKOV_VENV) with $$PY313"; "$$PY313" -m venv $(CHECKOV_VENV); }
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	@touch $@

# Fails on any failed check; a check that does not apply is skipped in template.yaml with its reason
# (`# checkov:skip=<id>:<reason>` in the resource). --skip-download: nothing is fetched from Prisma Cloud.
# checkov exits 0 on a template it could not parse (no checks run), so that fails here too.
checkov: $(CHECKOV_STAMP) ## checkov on template.yaml (CloudFormation checks, SAM resources included)
	@out=$$($(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --compact --quiet \
	    --skip-download 2>&1); status=$$?; echo "$$out"; \
	  if grep -q 'Parsing errors' <<<"$$out" || ! grep -q 'Passed checks' <<<"$$out"; then \
	    echo "checkov did not check template.yaml (parsing error?)" >&2; exit 1; fi; \
	  exit $$status

build: $(STAMP) ## sam build (needs python3.13 on PATH: the venv provides it)
	$(VENV)/bin/sam build --template template.yaml --cached --parallel

unit: $(STAMP) $(CLI_STAMP) ## pytest only
	$(PY) -m pytest

test: lint validate checkov build unit ## Everything CI runs: lint, template checks, checkov, sam build, all tests

demo: $(STAMP) ## Run the main job end to end on the local stack (embedded AWS + sandbox partners)
	$(PY) -m local.commands.demo

chaos: $(STAMP) ## Nothing lost, nothing twice under faults, crashes and hostile input (full run; CHAOS_ARGS="--quick --seed N")
	$(PY) -m local.commands.chaos $(CHAOS_ARGS)

invoke: $(STAMP) ## Run one function like `sam local invoke`: make invoke FN=PollFunction EVENT=events/poll_schedule.json
	@[ -n "$(FN)" ] && [ -n "$(EVENT)" ] || { echo "usage: make invoke FN=<LogicalId> EVENT=events/<file>.json" >&2; exit 2; }
	@$(PY) -m local.commands.invoke $(FN) $(EVENT)

api: $(STAMP) $(CLI_STAMP) ## Serve the template's API routes on 127.0.0.1:3000, like `sam local start-api`
	$(PY) -m local.commands.api

logs: $(STAMP) ## Show the structured logs of the last local runs: make logs [LAST=N]
	@$(PY) -m local.commands.logs --last $(LAST)

bench: $(STAMP) build ## Run the benchmarks under bench/ (prints figures; fails if a goal is missed; BENCH_ARGS=--quick)
	@failed=""; for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b $(BENCH_ARGS) || failed="$$failed $$b"; done; \
	  if [ -n "$$failed" ]; then echo "goals missed in:$$failed" >&2; exit 1; fi

clean: ## Remove build output, local state and the virtualenv
	rm -rf .aws-sam .local out $(VENV) .venv-checkov .pytest_cache .ruff_cache
