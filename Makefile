# niteoweb.clickbank: one command to run a site, one to test it.
#   make start   venv + install + Zope instance + Plone site "Plone" → http://localhost:8080/Plone
#   make test    venv + install + lint + the whole test suite
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTANCE := instance
STAMP := $(VENV)/.installed

export ADMIN_USER ?= admin
export ADMIN_PASSWORD ?= admin
export HOST ?= 127.0.0.1
export PORT ?= 8080
export SITE_ID ?= Plone
export SMTP_HOST ?= 127.0.0.1
export SMTP_PORT ?= 8025

.PHONY: help
help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip

$(STAMP): $(BIN)/python setup.py constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e ".[test]" ruff zpretty sphinx
	touch $(STAMP)

.PHONY: install
install: $(STAMP) ## Create .venv and install the add-on with Plone 6.2.2

.PHONY: constraints
constraints: $(BIN)/python ## Recompile constraints.txt from requirements.in (needs uv)
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile requirements.in --python-version 3.11 --no-header --no-annotate -o constraints.txt
	$(BIN)/python scripts/versions_cfg.py constraints.txt > versions.cfg

$(INSTANCE)/etc/zope.conf: | $(STAMP)
	$(BIN)/python scripts/make_instance.py $(INSTANCE)

.PHONY: instance
instance: $(STAMP) $(INSTANCE)/etc/zope.conf ## Create the Zope instance (make start adds the site)

.PHONY: start
start: instance ## Run the site in the foreground on http://$(HOST):$(PORT)/$(SITE_ID)
	$(BIN)/zconsole run $(INSTANCE)/etc/zope.conf scripts/create_site.py
	@bash scripts/serve.sh $(INSTANCE)

.PHONY: lint
lint: $(STAMP) ## ruff and zpretty checks
	$(BIN)/ruff check src tests scripts bench
	$(BIN)/ruff format --check src tests scripts bench
	$(BIN)/zpretty --check $$(find src -name '*.zcml' -o -name '*.xml' -o -name '*.pt')

.PHONY: format
format: $(STAMP) ## Apply ruff and zpretty formatting
	$(BIN)/ruff check --fix src tests scripts bench
	$(BIN)/ruff format src tests scripts bench
	$(BIN)/zpretty -i $$(find src -name '*.zcml' -o -name '*.xml' -o -name '*.pt')

.PHONY: test
test: lint ## Lint, then run the test suite but the slow tests (fails if none ran)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

.PHONY: stress
stress: $(STAMP) ## Faults, fuzzing, load and ZEO tests (< 15 minutes)
	HYPOTHESIS_PROFILE=stress $(BIN)/python -m pytest -m "slow or property" $(PYTEST_ARGS)

.PHONY: bench
bench: $(STAMP) ## Run the benchmark (QUICK=1 for < 5 minutes)
	$(BIN)/python bench/run.py $(if $(QUICK),--quick)

.PHONY: screenshots
screenshots: $(STAMP) ## Retake the docs' screenshots (needs Chromium)
	SCREENSHOTS_DIR=docs/_static $(BIN)/python -m pytest tests/test_browser.py

.PHONY: docs
docs: $(STAMP) ## Build the Sphinx docs (warnings are errors)
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

.PHONY: clean
clean: ## Remove the venv, the instance and build files (the site's data too!)
	rm -rf $(VENV) $(INSTANCE) docs/_build src/*.egg-info
