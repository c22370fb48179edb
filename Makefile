# Two entry points on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PO := $(wildcard locales/*/LC_MESSAGES/messages.po)
MO := $(PO:.po=.mo)

.PHONY: run test install system-deps messages bench clean

run: install
	$(BIN)/loyalty-bot run

test: install system-deps
	$(BIN)/python -m pytest

install: $(STAMP) $(MO)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

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

clean:
	rm -rf $(VENV) locales/*/LC_MESSAGES/*.mo
