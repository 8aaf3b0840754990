# Two targets are the whole set-up on a fresh machine: `make demo` and `make test`.
# Each creates .venv if it is missing and installs what it needs from PyPI.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp

.PHONY: demo demo-clean test lint typecheck layers unit clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The simulated lab is kept between runs (a second `make demo` shows the no-op).
demo: $(STAMP)
	$(BIN)/homelab up examples/home-lab.yaml --sim --yes

# Stop the demo's background simulator and forget the simulated lab (its state, kubeconfig).
demo-clean:
	test ! -x $(BIN)/homelab || $(BIN)/homelab sim stop examples/home-lab.yaml
	rm -rf examples/.homelab

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

# Coverage of every process (CLI subprocesses included), floor in pyproject's [tool.coverage].
unit: $(STAMP)
	scripts/ensure-tools.sh
	scripts/with-postgres.sh $(BIN)/pytest -q -n 2 --cov --cov-report=term

test: lint typecheck layers unit

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .coverage .coverage.*
