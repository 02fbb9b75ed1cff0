# vitdmg-cds: the two set-up commands are `make run` and `make test`.
.PHONY: run test lint bench image clean

HOST ?= 127.0.0.1
PORT ?= 8080
# durable-rules 2.0.28 does not import on 3.13: take the first 3.11/3.12 interpreter found.
PYTHON ?= $(shell for p in python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p 2>/dev/null -c 'import sys; sys.exit(0 if (3,11) <= sys.version_info[:2] < (3,13) else 1)' \
	&& { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 or 3.12 is required (durable-rules does not import on 3.13)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3

# Re-install when pyproject.toml changes; the stamp names the extras installed.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

# HealthChain (a real CDS client, tests/test_healthchain_client.py) pins versions that conflict with ours:
# its own environment, pinned in tests/clients/healthchain-requirements.txt.
HC_VENV := .venv-healthchain
$(HC_VENV)/.installed: tests/clients/healthchain-requirements.txt
	@test -n "$(PYTHON)" || { echo "Python 3.11 or 3.12 is required"; exit 1; }
	$(PYTHON) -m venv $(HC_VENV)
	$(HC_VENV)/bin/python -m pip install --quiet -r tests/clients/healthchain-requirements.txt
	touch $@

run: $(VENV)/.installed  ## serve on http://$(HOST):$(PORT) with the embedded defaults
	VITDMG_AUTH=$${VITDMG_AUTH:-disabled} $(BIN)/vitdmg-cds serve --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-test $(HC_VENV)/.installed  ## run the whole test suite (the fixture scenarios through the CLI, then pytest)
	$(BIN)/vitdmg-cds evaluate fhir_fixtures --check
	$(BIN)/python -m pytest

bench: $(VENV)/.installed  ## latency/throughput against the floor on this machine (bench/README.md)
	$(BIN)/python bench/run.py --json bench/last-results.json

lint: $(VENV)/.installed-test  ## ruff + mypy --strict
	$(BIN)/ruff check cds_service tests bench fhir_fixtures/make_scenarios.py
	$(BIN)/ruff format --check cds_service tests bench fhir_fixtures/make_scenarios.py
	$(BIN)/mypy

KNOWLEDGE_VERSION = $(shell sed -n 's/^version: *//p' rules/manifest.yaml)
image:  ## the container image (needs a Docker engine; the development machines have none: README, Deploy)
	docker build -f deploy/Dockerfile --build-arg KNOWLEDGE_VERSION=$(KNOWLEDGE_VERSION) -t vitdmg-cds:$(KNOWLEDGE_VERSION) .

clean:
	rm -rf $(VENV) $(HC_VENV) .pytest_cache .mypy_cache .ruff_cache
