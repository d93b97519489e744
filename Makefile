# renvoi — `make run` serves a demo on SQLite; `make test` runs every test.
# Both set up what they need first: uv (in .tools/), then the locked venv (.venv/).

PYTHON ?= python3
UV     := .tools/bin/uv
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: setup run test test-fast lint audit format bench clean

# axe-core, which the console's browser tests run in each page (from the npm registry).
AXE_VERSION := 4.14.1
AXE := .tools/axe/axe.min.js

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv>=0.5"

$(VENV)/.synced: pyproject.toml clients/python/pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

setup: $(VENV)/.synced

$(AXE):
	@mkdir -p $(dir $(AXE))
	@if command -v npm > /dev/null; then \
	  cd $(dir $(AXE)) && npm pack --silent axe-core@$(AXE_VERSION) > /dev/null \
	  && tar -xzf axe-core-$(AXE_VERSION).tgz package/axe.min.js \
	  && mv package/axe.min.js . && rm -rf package axe-core-$(AXE_VERSION).tgz; \
	else echo "npm not found: the console's browser tests will skip (CI requires them)"; fi

## Serve on the embedded SQLite default, with a demo account and a curl to paste.
run: setup
	$(BIN)/renvoi serve --demo

## Every test (SQLite and PostgreSQL; PostgreSQL tests skip if no server answers,
## unless RENVOI_TEST_REQUIRE_POSTGRES=1), with coverage: 100 % required on renvoi.domain.
test: setup $(AXE)
	$(BIN)/pytest --cov=renvoi --cov-branch --cov-report=term:skip-covered
	$(BIN)/coverage report --include='src/renvoi/domain/*' --fail-under=100 > /dev/null \
	  || { echo "renvoi.domain must stay at 100 % branch coverage"; \
	       $(BIN)/coverage report --include='src/renvoi/domain/*' --show-missing; exit 1; }

## Without the tests that start servers.
test-fast: setup
	$(BIN)/pytest -m "not slow"

## ruff (lint and format), mypy --strict, the layers (import-linter), and the docs
## site built strictly (no broken link).
lint: setup
	$(BIN)/ruff check src tests bench proofs clients
	$(BIN)/ruff format --check src tests bench proofs clients
	$(BIN)/mypy
	$(BIN)/lint-imports
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir $(VENV)/site

## Known vulnerabilities in the locked dependencies (pip-audit, PyPI's advisory data).
## Fails on a known vulnerability; lists the packages it could not look up.
audit: setup
	$(UV) export --frozen --format requirements-txt --no-emit-workspace -q > $(VENV)/audit-requirements.txt
	$(BIN)/pip-audit -r $(VENV)/audit-requirements.txt --disable-pip --progress-spinner off

format: setup
	$(BIN)/ruff format src tests bench proofs clients
	$(BIN)/ruff check --fix src tests bench proofs clients

clean:
	rm -rf .tools $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
