# Two commands matter: `make run` and `make test`. Everything else is a step they call.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the test suite drives for real (installed only when run as root).
DEBIAN_TEST_PACKAGES ?=

.PHONY: run test lint typecheck pytest debian-deps clean schema

$(BIN)/python:
	@# Debian's python3.11 needs python3-venv for ensurepip; install it when we can.
	$(PYTHON) -m venv $(VENV) || { [ "$$(id -u)" = 0 ] && rm -rf $(VENV) && apt-get update -qq \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv \
		&& $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/wharf up

debian-deps:
	@if [ -n "$(strip $(DEBIAN_TEST_PACKAGES))" ] && [ "$$(id -u)" = 0 ]; then \
		missing=$$(for p in $(DEBIAN_TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
		if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi; \
	fi

lint: $(VENV)/.installed-test
	$(BIN)/ruff check controlplane edge tests
	$(BIN)/ruff format --check controlplane edge tests

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy controlplane edge

pytest: $(VENV)/.installed-test debian-deps
	$(BIN)/pytest --cov --cov-report=term $(PYTEST_ARGS)

test: lint typecheck pytest

# Regenerate the committed schema snapshot after adding a migration.
schema: $(VENV)/.installed-test
	rm -rf /tmp/wharf-schema
	env -u WHARF_DATABASE_URL $(BIN)/wharf migrate --print-schema --data-dir /tmp/wharf-schema \
		> controlplane/schema.sql.new
	mv controlplane/schema.sql.new controlplane/schema.sql
	rm -rf /tmp/wharf-schema

clean:
	rm -rf $(VENV) .coverage .mypy_cache .ruff_cache .pytest_cache
