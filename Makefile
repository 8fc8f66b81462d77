# Two commands for a fresh clone (see README):
#   make all    install everything into .venv, then rebuild every result (dvc repro, default profile)
#   make test   install everything into .venv, then run the test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(BIN):$(PATH)
export MPLBACKEND ?= Agg

.PHONY: all setup data repro test lab smoke bench mutate mutate-sample

all: repro

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[test,peers]"
	# torchattacks (cross-check tests, benchmarks) pins an old requests: install it without deps.
	$(BIN)/python -m pip install --quiet --no-deps torchattacks==3.5.1
	# The Jupyter kernel of this environment (inside .venv, so clones never overwrite each other's).
	$(BIN)/python -m ipykernel install --sys-prefix --name aad --display-name "Python (aad)"
	touch $(STAMP)

setup: $(STAMP)

data: setup
	$(BIN)/aad data fetch mnist5k

repro: data
	$(BIN)/dvc repro
	$(BIN)/dvc status

test: data
	$(BIN)/python -m pytest

bench: data
	$(BIN)/aad bench --readme README.md

lab: data
	$(BIN)/jupyter lab notebooks/

smoke: data
	$(BIN)/aad profile use smoke && $(BIN)/dvc repro; $(BIN)/aad profile use default

# Mutation testing of the equation and recipe modules (not in CI; all 3,948 mutants take several
# hours on 2 cores, see mutation/README.md). Scope and settings: [tool.mutmut] in pyproject.toml;
# report: mutation/README.md. `make mutate-sample` checks only mutation/sample.json's random sample.
mutate: data
	$(BIN)/python -m pip install --quiet -e ".[mutate]"
	rm -rf mutants
	$(BIN)/mutmut run --max-children $$(nproc)
	$(BIN)/python mutation/summarize.py --before mutation/before.json

mutate-sample: data
	$(BIN)/python -m pip install --quiet -e ".[mutate]"
	rm -rf mutants
	$(BIN)/mutmut run --max-children $$(nproc) $$($(BIN)/python -c "import json; print(' '.join(json.load(open('mutation/sample.json'))['names']))")
	$(BIN)/python mutation/summarize.py --sample mutation/sample.json --before mutation/before.json --command "make mutate-sample"
