# Everything a developer or CI runs. `make demo` and `make test` are the README's Quickstart.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VNU_JAR := .cache/vnu/node_modules/vnu-jar/build/dist/vnu.jar

.PHONY: demo test lint fix typecheck serve vnu clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## demo: one full cycle on the sample deployment (seed documents and sample feeds to outbox/)
demo: $(STAMP)
	$(BIN)/digest run --once

## test: lint, type-check and the whole test suite
test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check digest tests benchmarks
	$(BIN)/ruff format --check digest tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

fix: $(STAMP)
	$(BIN)/ruff check --fix digest tests benchmarks
	$(BIN)/ruff format digest tests benchmarks

## serve: the local preview and preference center on http://127.0.0.1:8000/
serve: $(STAMP)
	$(BIN)/digest serve

## vnu: the Nu HTML Checker that the page tests run (npm's vnu-jar; needs Java)
vnu: $(VNU_JAR)
$(VNU_JAR):
	npm install --prefix .cache/vnu --no-audit --no-fund --silent vnu-jar

clean:
	rm -rf data outbox test-artifacts .pytest_cache .mypy_cache .ruff_cache
