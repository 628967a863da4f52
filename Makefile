# tusd-py: `make run` serves on the embedded default; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JS_CLIENT := tests/clients/js

.PHONY: install run test lint typecheck bench services clean docs frontend

install: $(STAMP)

# setuptools prints a note on every editable install ("Editable installation... folders with the
# same name as your package"): information, not a warning; filtered by its message, nothing else.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	PYTHONWARNINGS='ignore:Editable installation' $(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/tusd-py serve

# What the tests need besides Python: a redis-server binary and the PostgreSQL server binaries
# (tests start private instances on free ports, never the machine's own services) and Node with
# tus-js-client for the real-client tests.
services:
	@command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq postgresql)  # binaries only: tests run private clusters
	@command -v node >/dev/null || (apt-get update -qq && apt-get install -y -qq nodejs npm)
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)  # the web app's browser tests
	@if [ -f $(JS_CLIENT)/package.json ]; then cd $(JS_CLIENT) && npm ci --silent --no-audit --no-fund; fi
	@cd tests/clients/uppy_s3 && npm ci --silent --no-audit --no-fund  # @uppy/aws-s3 (tests/direct)

lint: install
	$(BIN)/ruff check tusd_py pipeline tests bench

typecheck: install
	$(BIN)/mypy

test: install services lint typecheck
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: install
	$(BIN)/python bench/bench_tus.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(JS_CLIENT)/node_modules web/node_modules

# The web app's bundle (tusd_py/webapp/static/, committed: `make run` needs no Node): rebuild it
# after changing web/src or web/package.json (docs/web.md).
frontend:
	cd web && npm ci --silent --no-audit --no-fund && node build.mjs

docs: install
	$(BIN)/tusd-py config-doc > docs/configuration.md
