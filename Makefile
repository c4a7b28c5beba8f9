# Two user-facing targets: `make run` (embedded Punchcard) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup lint browser bench bench-appointments bench-reports bench-burst bench-scale clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Punchcard needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/punchcard up $(ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The front-desk test drives Debian's chromium (never `playwright install`: it downloads a
# browser). Nothing to do when it is there; else apt-get it, with sudo unless root.
CHROMIUM ?= /usr/bin/chromium
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium

browser:
	@if [ -x "$(CHROMIUM)" ]; then \
		echo "browser: $(CHROMIUM) is present"; \
	else \
		if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi; \
		echo "browser: $(CHROMIUM) is missing: installing Debian's chromium with apt-get"; \
		echo "browser: $${sudo:+$$sudo }env $(APT_INSTALL)"; \
		$$sudo env $(APT_INSTALL) || { \
			echo "browser: install failed: running apt-get update, then installing again"; \
			$$sudo apt-get update && $$sudo env $(APT_INSTALL); \
		} || { echo "browser: could not install chromium; the desk browser test needs $(CHROMIUM)" >&2; exit 1; }; \
		[ -x "$(CHROMIUM)" ] || { echo "browser: chromium installed but $(CHROMIUM) is missing" >&2; exit 1; }; \
	fi

test: lint browser
	$(BIN)/pytest -p no:cacheprovider $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m bench.redemptions $(ARGS)

# History events and Temporal Actions per completed appointment, at 0, 1 and 5 integrations.
bench-appointments: setup
	$(BIN)/python -m bench.appointments $(ARGS)

# The reconciliation and the overrun audit on a generated ledger of a million rows.
bench-reports: setup
	$(BIN)/python -m bench.reports $(ARGS)

# Signed Boulevard completions at 40/s from 8 senders into `punchcard up` (its own ports and
# temporary data directory), SMS through the Twilio stand-in: acks, ledger, confirmations.
bench-burst: setup
	$(BIN)/python -m bench.burst $(ARGS)

# 10,000 open packages on `punchcard up`: memory, cache and sale rate at 1k and 10k.
bench-scale: setup
	$(BIN)/python -m bench.scale $(ARGS)

clean:
	rm -rf $(VENV) .punchcard
