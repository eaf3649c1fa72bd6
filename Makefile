# The two commands a newcomer needs: `make demo` and `make test`. Each sets up what it uses.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
DATA_DIR ?= data
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo serve test lint browser bench clean
SIZE ?= quick

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Blotter needs Python 3.11 or newer: set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv

# uv installs what pip would (the same resolution of pyproject.toml), in parallel and from its
# own cache: 38 s where pip took 75 on a fresh clone. It reads UV_INDEX_URL, not pip.conf. Its
# files are compiled to bytecode as pip's are: where PYTHONDONTWRITEBYTECODE is set, nothing
# else would, and every process would compile what it imports (1.8 s to import the app, 3.5).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev]'
	touch $@

demo: $(VENV)/.installed ## Load the sample datasets (first run) and serve the portal
	$(BIN)/blotter demo --data-dir $(DATA_DIR) --port $(PORT)

serve: $(VENV)/.installed
	$(BIN)/blotter serve --data-dir $(DATA_DIR) --port $(PORT)

tests/clients/node_modules/.installed: tests/clients/package-lock.json ## soda-js, run by node in the tests
	@command -v npm >/dev/null || { echo "The client tests run soda-js with node: install Node.js and npm."; exit 1; }
	npm ci --prefix tests/clients --no-audit --no-fund --loglevel=error
	touch $@

browser: ## Debian's Chromium for the browser tests (Playwright cannot download its own here)
	@bash scripts/ensure-chromium

# mypy's cache lives beside pip's and uv's, outside the clone: a fresh clone re-checks only
# the modules whose text changed (mypy compares each file's hash), 1 s instead of 40.
MYPY_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/blotter/mypy

lint: $(VENV)/.installed ## Style, types, the layers (import-linter contracts in pyproject.toml), module sizes
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --cache-dir $(MYPY_CACHE)
	$(BIN)/lint-imports
	$(BIN)/python scripts/module_sizes.py

test: $(VENV)/.installed tests/clients/node_modules/.installed browser lint ## Lint, then the whole suite
	$(BIN)/python -m pytest -n 2 --dist loadfile

bench: $(VENV)/.installed ## Blotter against Datasette and the raw engines: SIZE=quick (100k rows) or full (100k, 1M, 10M)
	$(BIN)/python -m bench --size $(SIZE)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts .import_linter_cache
