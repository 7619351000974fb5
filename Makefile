# Two commands do all set-up on a fresh machine with Python 3.11 and make:
#   make run    install, migrate the SQLite file, load reference data, print a dev ops key, start the suite
#   make test   install, run the gates (make check), then the tests on every core (also on PostgreSQL when
#               CHIIKI_TEST_DATABASE_URL is set); `make test PYTEST_ARGS=-n0` runs them in one process
#   make check  the gates alone: ruff lint, ruff format --check, mypy strict; any finding fails
#   make format rewrite files to ruff's format and import order

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test check lint format-check typecheck format install lock clean

$(INSTALLED): requirements-dev.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "chiiki needs Python 3.11 (set PYTHON=...)"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

install: $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/chiiki db upgrade
	$(BIN)/chiiki data load
	@echo "Development ops API key (shown once; earlier dev keys are revoked):"
	@$(BIN)/chiiki keys create --role ops --label make-run-dev --replace
	exec $(BIN)/chiiki serve

# pytest-xdist: one worker per core (-n auto), each with its own databases (tests/conftest.py); worksteal hands
# a worker that runs dry tests queued on another, since a few tests (the fuzz tests) take a minute and most a
# fraction of a second. (Not loadgroup: with pytest 9.2 it ignores xdist_group marks, pytest-xdist issue 1386.)
# PYTEST_ARGS comes last, so `PYTEST_ARGS=-n0` (one process) or `-n 4` overrides the default.
PYTEST_PARALLEL := -n auto --dist worksteal
test: check
	$(BIN)/pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

# Paths default to the whole tree for ruff and to mypy's `files` in pyproject.toml (common, gateway, services).
# They can be narrowed, e.g. `make check LINT_PATHS=gateway TYPE_PATHS=gateway`; `make -k check` runs every gate.
LINT_PATHS ?= .
TYPE_PATHS ?=
check: lint format-check typecheck

lint: $(INSTALLED)
	$(BIN)/ruff check $(LINT_PATHS)

format-check: $(INSTALLED)
	$(BIN)/ruff format --check $(LINT_PATHS)

typecheck: $(INSTALLED)
	$(BIN)/mypy $(TYPE_PATHS)

format: $(INSTALLED)
	$(BIN)/ruff check --fix --select I $(LINT_PATHS)
	$(BIN)/ruff format $(LINT_PATHS)

# Re-pin dependencies after editing pyproject.toml: requirements.lock for the images (runtime only),
# requirements-dev.lock for development and tests, constrained to the same versions.
# The flags keep download addresses and local index paths out of both files.
PIP_COMPILE = $(BIN)/pip-compile --quiet --generate-hashes --no-emit-index-url --no-emit-find-links \
	--allow-unsafe --strip-extras
lock:
	$(BIN)/python -m pip install --quiet pip-tools
	$(PIP_COMPILE) --extra build -o requirements.lock pyproject.toml
	$(PIP_COMPILE) --extra build --extra dev -c requirements.lock -o requirements-dev.lock pyproject.toml

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis .mypy_cache .ruff_cache
