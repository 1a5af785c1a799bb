# Two commands matter: `make run` and `make test`. Everything else is a step they call.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the test suite drives for real (installed only when run as root).
DEBIAN_TEST_PACKAGES ?= pebble chromium

.PHONY: run test lint typecheck pytest debian-deps npm-deps clean schema hooks openapi release

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

# The test OpenID provider's npm packages (oidc-provider, as tests/harness/oidc/package-lock.json
# pins it), when npm is there; without node the tests that need it skip, saying so.
OIDC_HARNESS := tests/harness/oidc
npm-deps:
	@if [ ! -d $(OIDC_HARNESS)/node_modules ] && command -v npm >/dev/null; then \
		npm ci --prefix $(OIDC_HARNESS) --no-audit --no-fund; \
	fi

lint: $(VENV)/.installed-test
	$(BIN)/ruff check controlplane edge tests scripts/release
	$(BIN)/ruff format --check controlplane edge tests scripts/release
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy controlplane edge scripts/release

pytest: $(VENV)/.installed-test debian-deps npm-deps
	$(BIN)/pytest --cov --cov-report=term -n auto --dist loadfile $(PYTEST_ARGS)

test: lint typecheck pytest

# Git hooks: ruff, mypy and the import contracts before each commit; unit tests before each push.
hooks: $(VENV)/.installed-test
	$(BIN)/pre-commit install
	git config blame.ignoreRevsFile .git-blame-ignore-revs  # blame looks through mechanical moves

# Cut a release: `make release VERSION=x.y.z` (RELEASE_ARGS=--dry-run to see it first); scripts/release
# checks, bumps setup.cfg, dates CHANGELOG.md, pins the compose images, commits, tags and builds.
release: $(VENV)/.installed-test
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=x.y.z [RELEASE_ARGS=--dry-run]" >&2; exit 2; }
	$(BIN)/python scripts/release $(RELEASE_ARGS) $(VERSION)

# Regenerate the committed schema snapshot after adding a migration.
schema: $(VENV)/.installed-test
	rm -rf /tmp/wharf-schema
	env -u WHARF_DATABASE_URL $(BIN)/wharf migrate --print-schema --data-dir /tmp/wharf-schema \
		> controlplane/schema.sql.new
	mv controlplane/schema.sql.new controlplane/schema.sql
	rm -rf /tmp/wharf-schema

# Benchmarks against their targets (bench/*.py). As root, installs wrk and nginx from Debian when
# missing; every script runs even when an earlier one misses a target, and any failing fails the target.
.PHONY: bench
bench: $(VENV)/.installed-test
	@if [ "$$(id -u)" = 0 ]; then \
		wrk=$$(command -v wrk >/dev/null || echo wrk); \
		nginx=$$(PATH="$$PATH:/usr/sbin" command -v nginx >/dev/null || echo nginx); \
		if [ -n "$$wrk$$nginx" ]; then apt-get update -qq; fi; \
		if [ -n "$$wrk" ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; fi; \
		if [ -n "$$nginx" ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light \
			|| DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx; fi; \
	fi
	@status=0; $(BIN)/python bench/deploy.py || status=1; \
		$(BIN)/python bench/edge.py || status=1; \
		$(BIN)/python bench/ui.py || status=1; \
		$(BIN)/python bench/traefik_reload.py || status=1; \
		$(BIN)/python bench/checks.py || status=1; exit $$status

clean:
	rm -rf $(VENV) .coverage .mypy_cache .ruff_cache .pytest_cache

# Regenerate docs/openapi.json, the OpenAPI document as GET /api/v1/openapi.json serves it.
openapi: $(VENV)/.installed-test
	$(BIN)/python -c "import json; from controlplane.web.openapi import build_openapi; \
		from controlplane.web.routes import ENDPOINTS; \
		print(json.dumps(build_openapi(ENDPOINTS), indent=2, sort_keys=True))" > docs/openapi.json

# The edge's copies of the visitor-facing stylesheets (it serves no control-plane files).
.PHONY: edge-css
edge-css:
	cp templates/static/tokens.css templates/static/visitor.css edge/static/
