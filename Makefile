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

.PHONY: all setup data browser repro readme pull push test lab smoke bench mutate mutate-sample

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

# The bundled digits, also put into DVC's cache (data.dvc pins their hash): `dvc exp run` workspaces and
# `dvc push` take them from there.
data: setup
	$(BIN)/aad data fetch mnist5k
	$(BIN)/dvc commit --force --quiet data.dvc

repro: data
	$(BIN)/dvc repro
	$(BIN)/dvc status
	$(MAKE) --no-print-directory readme

# The README's results block from the run's generated section (reports/results.md, written by `aad site`).
readme: setup
	$(BIN)/aad readme

# Share a finished run: git holds the small results and dvc.lock; checkpoints, prepared data and
# per-image records go to the DVC remote 'store' (.dvc/config; a folder beside the clone by default).
push: setup
	$(BIN)/dvc push

# A clone gets the committed run's cached files without training anything (then `make lab`).
pull: setup
	$(BIN)/aad remote
	$(BIN)/dvc pull
	$(BIN)/dvc status

# The report site's browser test (tests/test_site_browser.py) drives Debian's Chromium through Playwright
# (the test extra); `playwright install` is never used: it downloads a browser build from a CDN.
browser:
	@if [ -x /usr/bin/chromium ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
		echo "make: the site's browser test needs Chromium at /usr/bin/chromium (Debian's chromium package) and" \
		     "apt-get is not available here: install Chromium there by hand, then rerun." >&2; exit 1; fi; \
	SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

test: data browser
	$(BIN)/python -m pytest

bench: data
	$(BIN)/aad bench --readme README.md

# JupyterLab on the project (its root, the file browser in notebooks/), new notebooks on the project's
# kernel "aad" (the numbered ones name it in their metadata); each notebook finds the project root
# itself. MPLBACKEND is unset so that the kernel shows figures inline.
lab: data
	env -u MPLBACKEND $(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" \
		--LabApp.default_url=/lab/tree/notebooks --MappingKernelManager.default_kernel_name=aad

smoke: data
	$(BIN)/aad profile use smoke && $(BIN)/dvc repro; $(BIN)/aad profile use default

# Mutation testing of the equation and recipe modules (not in CI; all 5,021 mutants take several
# hours on 2 cores, see mutation/README.md). Scope and settings: [tool.mutmut] in pyproject.toml;
# report: mutation/README.md. `make mutate-sample` checks only mutation/sample.json's random sample.
mutate: data
	$(BIN)/python -m pip install --quiet -e ".[mutate]"
	rm -rf mutants
	$(BIN)/mutmut run --max-children $$(nproc)
	$(BIN)/python mutation/summarize.py

mutate-sample: data
	$(BIN)/python -m pip install --quiet -e ".[mutate]"
	rm -rf mutants
	$(BIN)/mutmut run --max-children $$(nproc) $$($(BIN)/python -c "import json; print(' '.join(json.load(open('mutation/sample.json'))['names']))")
	$(BIN)/python mutation/summarize.py --sample mutation/sample.json --command "make mutate-sample"
