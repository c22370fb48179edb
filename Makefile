# Two entry points on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What a deploy installs: exact versions with their hashes, resolved from pyproject.toml's
# ranges by `make lock`. `make run` takes the runtime lock, `make test` the test one.
LOCK := requirements.lock
TEST_LOCK := requirements-test.lock
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
PO := $(wildcard locales/*/LC_MESSAGES/messages.po)
MO := $(PO:.po=.mo)

.PHONY: run test lint install install-test system-deps messages lock bench clean

run: install
	$(BIN)/loyalty-bot run

test: install-test system-deps lint
	$(BIN)/python -m pytest

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/mypy

install: $(STAMP) $(MO)

install-test: $(TEST_STAMP) $(MO)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(TEST_STAMP): $(TEST_LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r $(TEST_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@ $(STAMP)

# Resolve pyproject.toml's ranges again into the lock files (the test lock keeps the runtime
# lock's versions). Pins still allowed stay; `make lock LOCK_FLAGS=--upgrade` takes the newest.
LOCK_FLAGS ?=
PIP_COMPILE = CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes \
	--strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_FLAGS)

lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet 'pip-tools>=7.5,<8'
	$(PIP_COMPILE) -o $(LOCK) pyproject.toml
	$(PIP_COMPILE) --extra test -c $(LOCK) -o $(TEST_LOCK) pyproject.toml

locales/%/LC_MESSAGES/messages.mo: locales/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile -d locales -D messages -l $*

# PostgreSQL and Chromium for the storage and browser tests (apt-get, only when missing).
system-deps:
	bash scripts/ensure-system-deps.sh

# After changing user-facing texts: re-extract them and merge into every catalog.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _ -k gettext -k ngettext:1,2 -k N_ \
		--no-location --omit-header --sort-output -o locales/messages.pot .
	$(BIN)/pybabel update -i locales/messages.pot -d locales -D messages \
		--width 100 --ignore-obsolete

bench: install system-deps
	$(BIN)/python bench/inbound.py
	$(BIN)/python bench/checkout.py
	$(BIN)/python bench/outbox.py
	$(BIN)/python bench/triggers.py
	$(BIN)/python bench/stats.py
	$(BIN)/python bench/scale.py

clean:
	rm -rf $(VENV) locales/*/LC_MESSAGES/*.mo
