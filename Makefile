# The two commands: `make run` and `make test`. Both create .venv if it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Dagster keeps run history in the instance configured by ./dagster.yaml (storage under
# .bespoke/dagster), so CLI runs and `make ui` see the same history.
export DAGSTER_HOME := $(CURDIR)

.PHONY: run test ui mlflow install install-dev clean

run: install
	$(BIN)/bespoke run

test: install-dev
	$(BIN)/pytest

ui: install
	$(BIN)/dagster dev -m bespoke_pipeline -h 127.0.0.1 -p 3000

mlflow: install
	$(BIN)/mlflow server --backend-store-uri sqlite:///.bespoke/mlflow/mlflow.db \
		--host 127.0.0.1 --port 5000

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@ $(VENV)/.installed

clean:
	rm -rf .bespoke
