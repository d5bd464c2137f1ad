# The two commands a newcomer needs: `make up` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up test demo install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start the whole system in the foreground: embedded Temporal + PostgreSQL, worker, API.
up: install
	$(BIN)/claimflow up

## Set up and run the test suite against real Temporal and PostgreSQL servers.
test: install
	$(BIN)/ruff check --select F,E9 .
	$(BIN)/python -m pytest

## Drive Mr. Wang's case through the HTTP API of a running `make up`.
demo: install
	$(BIN)/claimflow demo

clean:
	rm -rf $(VENV) .data
