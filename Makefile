# Pipeline CRM: `make run` serves the demo, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python

.DEFAULT_GOAL := help
.PHONY: help install run test bench lint format migrations clean

help: ## Show the available targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

static/vendor/.built: node_modules/.installed scripts/copy-vendor.mjs
	npm run --silent build
	touch $@

install: $(VENV)/.installed static/vendor/.built ## Create the virtualenv, install Python and npm dependencies

run: install ## Migrate, load demo data and serve on http://127.0.0.1:8000 (SQLite, eager Celery)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py runserver 127.0.0.1:8000

test: install lint ## Run ruff, the migrations check and the whole pytest suite
	$(PY) manage.py makemigrations --check --dry-run
	$(BIN)/pytest

# The benchmarks' own PostgreSQL database (created when missing); never the app's or the tests'.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/pipeline_crm_bench

bench: install ## Benchmark on PostgreSQL (BENCH_DATABASE_URL); results in docs/benchmarks.md
	BENCH_DATABASE_URL='$(BENCH_DATABASE_URL)' $(PY) -m bench.database
	DATABASE_URL='$(BENCH_DATABASE_URL)' $(PY) manage.py migrate --noinput
	BENCH_DATABASE_URL='$(BENCH_DATABASE_URL)' $(PY) -m bench

lint: $(VENV)/.installed ## Check style with ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed ## Fix style with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrations: $(VENV)/.installed ## Create migrations for model changes
	$(PY) manage.py makemigrations

clean: ## Remove the virtualenv, npm packages, built assets and the SQLite database
	rm -rf $(VENV) node_modules static/vendor staticfiles db.sqlite3
