# The front door: `make run`, `make test`, `make bench`, `make lint`.
# PYTHON may be set to any Python >= 3.12; otherwise the first suitable one on the machine is used.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
MANAGE := $(PY) manage.py
PYTHON ?= $(shell for p in python3.13 python3.12 python3 $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3 /usr/local/bin/python3.1[2-9] /usr/bin/python3.1[2-9]; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { command -v $$p; break; }; done)
STAMP := $(VENV)/.installed

.PHONY: run test bench lint format install serve stop-db clean
WEB_WORKERS ?= 4
TASK_WORKERS ?= 2
BIND ?= 127.0.0.1:8000

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "mleval needs Python 3.12 or newer: none found; set PYTHON=/path/to/python3.12" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

# Development mode on the embedded PostgreSQL (or DATABASE_URL): migrate, seed once, worker + web server.
run: install
	export DEBUG=true; \
	$(MANAGE) migrate --no-input && \
	$(MANAGE) bootstrap && \
	{ $(MANAGE) db_worker --queue-name '*' & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $(MANAGE) runserver 127.0.0.1:8000; }

# The production stack on one machine: gunicorn (WEB_WORKERS processes) and TASK_WORKERS task
# workers, DEBUG off, against DATABASE_URL (or the embedded PostgreSQL). Needs SECRET_KEY.
# Plain HTTP unless MLEVAL_HTTPS=true (set it when a TLS proxy is in front). Stdout carries one
# JSON line per request and per task (mleval_site/observability.py), so no access log besides.
serve: install
	@test -n "$$SECRET_KEY" || { echo "make serve needs SECRET_KEY (a long random string)" >&2; exit 1; }
	export DEBUG=false MLEVAL_HTTPS=$${MLEVAL_HTTPS:-false} ALLOWED_HOSTS=$${ALLOWED_HOSTS:-127.0.0.1,localhost}; \
	$(MANAGE) migrate --no-input && $(MANAGE) collectstatic --no-input -v0 && \
	{ pids=""; for i in $$(seq $(TASK_WORKERS)); do $(MANAGE) db_worker --queue-name '*' & pids="$$pids $$!"; done; \
	  trap 'kill $$pids 2>/dev/null' EXIT INT TERM; \
	  $(VENV)/bin/gunicorn mleval_site.wsgi --workers $(WEB_WORKERS) --bind $(BIND); }

# Tests on a throwaway embedded PostgreSQL unless DATABASE_URL is set.
test: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	export DJANGO_SETTINGS_MODULE=mleval_site.settings_test; \
	$(PY) -m mleval_site.embedded_db --throwaway -- bash -c '$(MANAGE) makemigrations --check --dry-run && $(PY) -m pytest $(PYTEST_ARGS)'

bench: install
	export DJANGO_SETTINGS_MODULE=mleval_site.settings_test; \
	$(PY) -m mleval_site.embedded_db --throwaway -- bash -c '$(MANAGE) migrate --no-input -v0 && for b in $${BENCH:-benchmarks/bench_*.py}; do $(PY) $$b || exit 1; done'

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

stop-db: install
	$(PY) -m mleval_site.embedded_db --stop

clean:
	rm -rf $(VENV) .mleval
