# Two commands do everything: `make run` (demo) and `make test` (the suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test bench stress lint format clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## Set up, migrate, seed the demo (if empty) and serve it on http://$(HOST):$(PORT)
run: $(STAMP)
	PORTAL_DEMO=1 $(BIN)/flask --app portal db upgrade
	PORTAL_DEMO=1 $(BIN)/flask --app portal demo seed
	PORTAL_DEMO=1 $(BIN)/flask --app portal demo serve --host $(HOST) --port $(PORT)

## Set up and run the whole suite (SQLite; PostgreSQL when TEST_DATABASE_URL is set)
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Measure month-end sync (1,000 invoices), payment reconciliation (500), the billing run
## (2,000 memberships) and the pages at 200 and 20,000 invoices (pages_20k); prints figures.
## One alone: make bench BENCH=pages_20k
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH)

## Race admins, members, Stripe and Xero on 300 invoices (PostgreSQL, gunicorn, 3 workers);
## prints one JSON line of counts, exits non-zero unless all are 0 (STRESS_DATABASE_URL)
stress: $(STAMP)
	$(BIN)/python -m bench.stress

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) instance .pytest_cache
