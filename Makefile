# jupyter-mlops: `make demo` to try it, `make test` to check everything.
# Everything installs into .venv; nothing is installed globally except Chromium for UI tests.

PYTHON   ?= python3
VENV     ?= .venv
BIN      := $(VENV)/bin
HEADLESS ?=
STAMP    := $(VENV)/.installed-stamp
DEMO     := binder/demo.ipynb
CHROMIUM ?= /usr/bin/chromium

.PHONY: help install labextension demo test lint lint-py lint-ts pytest ui-test chromium clean \
	engines

help:
	@echo "make demo              install into .venv and open JupyterLab on $(DEMO)"
	@echo "make demo HEADLESS=1   execute $(DEMO) end to end; non-zero exit on any failure"
	@echo "make test              install, lint (ruff, mypy, eslint, prettier) and run every test"
	@echo "make labextension      rebuild the TypeScript after a change (JupyterLab: reload)"
	@echo "make clean             remove .venv and build output"

# The editable install runs the labextension build (hatch-jupyter-builder -> jlpm) and puts
# the built extension where JupyterLab finds it.
$(STAMP): pyproject.toml labextension/package.json labextension/yarn.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[dev]"
	@# what `jupyter labextension develop` does (without its second build): JupyterLab then
	@# serves jupyter_mlops/labextension itself, so `make labextension` shows up on reload
	rm -rf $(VENV)/share/jupyter/labextensions/jupyter-mlops
	ln -s $(CURDIR)/jupyter_mlops/labextension $(VENV)/share/jupyter/labextensions/jupyter-mlops
	$(BIN)/jupyter labextension list 2>&1 | grep -q "jupyter-mlops.*enabled.*OK" \
		|| { echo "the jupyter-mlops labextension is not installed correctly"; exit 1; }
	touch $@

install: $(STAMP)

# Rebuild the TypeScript when a source changed since the last build (the install built it once).
LABEXT_SOURCES := $(shell find labextension/src labextension/style labextension/schema -type f 2>/dev/null)
LABEXT_STAMP   := jupyter_mlops/labextension/package.json
$(LABEXT_STAMP): $(STAMP) $(LABEXT_SOURCES) labextension/package.json
	cd labextension && PATH="$(abspath $(BIN)):$$PATH" jlpm build
	touch $@

labextension: $(LABEXT_STAMP)

demo: install labextension
ifeq ($(HEADLESS),1)
	$(BIN)/jupyter mlops demo --headless $(DEMO)
else
	JUPYTER_CONFIG_PATH="$(CURDIR)/binder/jupyter-config$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
		$(BIN)/jupyter lab $(DEMO)
endif

# UI tests drive Debian's Chromium (Playwright's own browser download cannot work here).
chromium:
	@test -x $(CHROMIUM) || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y chromium; \
		else sudo apt-get update && sudo apt-get install -y chromium; fi; }

lint-py: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# the package scripts call `jlpm` themselves: put the venv's bin first on PATH
lint-ts: install
	cd labextension && PATH="$(abspath $(BIN)):$$PATH" jlpm lint:check

lint: lint-py lint-ts

# Airflow 3, Prefect 3, kfp and Feast each in their own venv under /tmp (they pin many packages):
# the pipeline export and Feast adapter tests run the real engines. Built in parallel, reused while their
# requirements stay the same. A venv that cannot be built makes only its tests skip (with why),
# except on CI (CI=true), where it fails `make test`: CI never passes with an engine untested.
engines: install
	$(BIN)/python tests/engines.py airflow prefect kfp feast evidently

pytest: install engines
	$(BIN)/python -m pytest tests --ignore=tests/ui -q -rs

ui-test: install labextension chromium
	$(BIN)/python -m pytest tests/ui -q -rs

test: lint pytest ui-test

clean:
	rm -rf $(VENV) jupyter_mlops/labextension labextension/node_modules labextension/lib \
		labextension/tsconfig.tsbuildinfo build dist test-artifacts
