# The front door: `make run`, `make test`, `make bench`, `make lint`.
# PYTHON may be set to any Python >= 3.12; otherwise the first suitable one on the machine is used.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
MANAGE := $(PY) manage.py
PYTHON ?= $(shell for p in python3.13 python3.12 python3 $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3 /usr/local/bin/python3.1[2-9] /usr/bin/python3.1[2-9]; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { command -v $$p; break; }; done)
# One stamp per install level, so each target installs only what it needs, on top of what is
# there (pip skips what is installed): `make run` the runtime (`.`), `make test` `.[test]`,
# `make bench` `.[bench]`. CACHE_URL=redis://... adds the `redis` extra to run and serve.
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench
REDIS_STAMP := $(VENV)/.installed-redis
CLIENT_STAMP := $(VENV)/.installed-client
PIP_INSTALL := $(PY) -m pip install --quiet
RUNTIME := $(RUN_STAMP) $(if $(filter redis://% rediss://%,$(CACHE_URL)),$(REDIS_STAMP))

.PHONY: run test bench lint format install serve stop-db clean
WEB_WORKERS ?= 4
TASK_WORKERS ?= 2
PORT ?= 8000
BIND ?= 127.0.0.1:$(PORT)

$(PY):
	@test -n "$(PYTHON)" || { echo "mleval needs Python 3.12 or newer: none found; set PYTHON=/path/to/python3.12" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip

$(RUN_STAMP): pyproject.toml | $(PY)
	$(PIP_INSTALL) -e .
	@touch $@

# An extra brings the runtime with it, hence the run stamp too.
$(TEST_STAMP) $(BENCH_STAMP) $(REDIS_STAMP): $(VENV)/.installed-%: pyproject.toml | $(PY)
	$(PIP_INSTALL) -e '.[$*]'
	@touch $@ $(RUN_STAMP)

# The Python client (client/, its own package: mleval-client); its tests run against a live server.
$(CLIENT_STAMP): client/pyproject.toml | $(PY)
	$(PIP_INSTALL) -e ./client
	@touch $@

install: $(RUNTIME)

# Development mode on the embedded PostgreSQL (or DATABASE_URL): migrate, seed once, worker + web server
# on BIND (PORT=8001 make run, or BIND=0.0.0.0:8000). The first run writes a git-ignored .env
# (DEBUG=true, a generated SECRET_KEY) so plain `manage.py` commands work in this checkout too.
run: $(RUNTIME)
	$(PY) -m mleval_site.dotenv && \
	export DEBUG=true MLEVAL_EXPECT_WORKER=$${MLEVAL_EXPECT_WORKER:-true}; \
	$(MANAGE) migrate --no-input && \
	$(MANAGE) bootstrap --url http://$(BIND)/ && \
	{ $(MANAGE) db_worker --queue-name '*' & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $(MANAGE) runserver $(BIND); }

# The production stack on one machine: gunicorn (WEB_WORKERS processes) and TASK_WORKERS task
# workers, DEBUG off, against DATABASE_URL (or the embedded PostgreSQL). Needs SECRET_KEY.
# Plain HTTP unless MLEVAL_HTTPS=true (set it when a TLS proxy is in front). Stdout carries one
# JSON line per request and per task (mleval_site/observability.py), so no access log besides.
serve: $(RUNTIME)
	@test -n "$$SECRET_KEY" || { echo "make serve needs SECRET_KEY (a long random string)" >&2; exit 1; }
	export DEBUG=false MLEVAL_EXPECT_WORKER=$${MLEVAL_EXPECT_WORKER:-true} MLEVAL_HTTPS=$${MLEVAL_HTTPS:-false} ALLOWED_HOSTS=$${ALLOWED_HOSTS:-127.0.0.1,localhost}; \
	$(MANAGE) migrate --no-input && $(MANAGE) collectstatic --no-input -v0 && \
	{ pids=""; for i in $$(seq $(TASK_WORKERS)); do $(MANAGE) db_worker --queue-name '*' & pids="$$pids $$!"; done; \
	  trap 'kill $$pids 2>/dev/null' EXIT INT TERM; \
	  $(VENV)/bin/gunicorn mleval_site.wsgi --workers $(WEB_WORKERS) --bind $(BIND); }

# Tests on a throwaway embedded PostgreSQL unless DATABASE_URL is set, in PYTEST_WORKERS processes
# (pytest-xdist; `auto`: one per core, 0: in this process), each on its own test database
# (test_<name>_gw0, _gw1, ...). Tests are handed out one at a time (xdist's default, --dist load):
# under loadscope, loadfile or loadgroup the schemathesis tests ran 1 of their 48 operations each.
PYTEST_WORKERS ?= auto
test: $(TEST_STAMP) $(CLIENT_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	export DJANGO_SETTINGS_MODULE=mleval_site.settings_test; \
	$(PY) -m mleval_site.embedded_db --throwaway -- bash -c '$(MANAGE) makemigrations --check --dry-run && $(PY) -m pytest -n $(PYTEST_WORKERS) --dist load $(PYTEST_ARGS)'

bench: $(BENCH_STAMP)
	export DJANGO_SETTINGS_MODULE=mleval_site.settings_test; \
	$(PY) -m mleval_site.embedded_db --throwaway -- bash -c '$(MANAGE) migrate --no-input -v0 && for b in $${BENCH:-benchmarks/bench_*.py}; do $(PY) $$b || exit 1; done'

lint: $(TEST_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(TEST_STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

stop-db: $(RUN_STAMP)
	$(PY) -m mleval_site.embedded_db --stop

clean:
	rm -rf $(VENV) .mleval
