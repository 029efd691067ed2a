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

# Tests on a throwaway embedded PostgreSQL unless DATABASE_URL is set.
test: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
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
