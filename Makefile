# The two commands a newcomer needs: `make up` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up test demo bench install browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## The console's browser tests drive Debian's Chromium (with CJK fonts for the Chinese pages).
## Installed where missing when we may (root, as in CI); otherwise those tests are skipped.
CHROMIUM := /usr/bin/chromium
CJK_FONTS := /usr/share/fonts/opentype/noto
browser:
	@if { [ ! -x $(CHROMIUM) ] || [ ! -d $(CJK_FONTS) ]; } && [ "$$(id -u)" = 0 ]; then \
		echo "installing chromium and fonts-noto-cjk for the console's browser tests"; \
		apt-get update -qq >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	fi

## Start the whole system in the foreground: embedded Temporal + PostgreSQL, worker, API.
up: install
	$(BIN)/claimflow up

## Set up and run the test suite against real Temporal and PostgreSQL servers.
test: install browser
	$(BIN)/ruff check --select F,E9 .
	$(BIN)/python -m pytest

## Drive Mr. Wang's case through the HTTP API of a running `make up`.
demo: install
	$(BIN)/claimflow demo

## Benchmarks on embedded servers (about 15 minutes on 2 cores); results in BENCHMARKS.md.
## Options: make bench BENCH_ARGS="--claims 100 --parts lifecycle,baseline"
bench: install
	$(BIN)/claimflow bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .data
