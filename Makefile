# The two commands a newcomer types: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# cli/pyproject.toml too: the command-line client's dependencies are installed with -e ./cli.
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt cli/pyproject.toml | cksum | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000
BENCH_SIZE ?= 100000

.PHONY: install run web worker test lint format migrate demo bench clean

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

## make bench: timed scenarios (not tests); set DATABASE_URL to PostgreSQL for real figures
bench: install
	$(BIN)/python -m bench.contacts_api $(BENCH_SIZE)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var
