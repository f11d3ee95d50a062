# The two commands a newcomer types: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# cli/pyproject.toml too: the command-line client's dependencies are installed with -e ./cli.
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt cli/pyproject.toml | cksum | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000
# make bench BENCH_SCALE=small BENCH_ONLY=imports,exports: a quick run of some scenarios
BENCH_SCALE ?= full
BENCH_ONLY ?=
BENCH_SKIP ?=

.PHONY: install run web worker test lint format security migrate demo bench clean

$(STAMP): requirements.txt requirements-dev.txt cli/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py load_demo

## make run: install, migrate, load demo data, then serve the dashboard and API with a worker
run: demo
	@echo ""
	@echo "  mailcrm is starting: http://$(HOST):$(PORT)/   (admin: /admin/, API docs: /api/v1/docs/)"
	@echo "  Sign in with the demo login printed above. Ctrl-C stops the web server and the worker."
	@echo ""
	HOST=$(HOST) PORT=$(PORT) $(BIN)/honcho --procfile Procfile.dev start

web: install
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

worker: install
	$(BIN)/python manage.py qcluster

## make test: the whole suite (SQLite unless DATABASE_URL says otherwise)
test: install
	$(BIN)/pytest

## make bench: every timed scenario (not tests) against PostgreSQL and Redis; writes
## bench/results.json and bench/results.md. DATABASE_URL defaults to
## postgres://postgres@127.0.0.1:5432/mailcrm_bench, REDIS_URL to redis://127.0.0.1:6379/0.
bench: install
	$(BIN)/python -m bench.run --scale $(BENCH_SCALE) --only "$(BENCH_ONLY)" --skip "$(BENCH_SKIP)"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## make security: bandit (-ll: medium and high findings) over the project's code, and Django's
## deployment check (--fail-level WARNING) with production settings (DEBUG off, throwaway keys).
## A reviewed false positive is marked on its line: `# nosec B608 - why`.
BANDIT_EXCLUDE := ./.venv,./var,./tests,./bench,./cli/tests,*/tests/*
security: install
	$(BIN)/bandit -ll -q -r . -x '$(BANDIT_EXCLUDE)'
	env -u DATABASE_URL -u REDIS_URL DEBUG=0 ALLOWED_HOSTS=mailcrm.example.com \
	  MAILCRM_VAR_DIR="$$(mktemp -d)" \
	  SECRET_KEY="$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	  FIELD_ENCRYPTION_KEY="$$($(BIN)/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
	  $(BIN)/python manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) var
