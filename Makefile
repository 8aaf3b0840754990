# Two targets are the whole set-up on a fresh machine: `make demo` and `make test`.
# Each creates .venv if it is missing and installs what it needs from PyPI.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck layers unit clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/homelab validate examples/home-lab.yaml
	$(BIN)/homelab render examples/home-lab.yaml --out out/home-lab
	$(BIN)/homelab apply examples/home-lab.yaml --sim --yes
	$(BIN)/homelab plan examples/home-lab.yaml --sim --detailed-exitcode

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP)
	scripts/with-postgres.sh $(BIN)/pytest -q -n 2

test: lint typecheck layers unit

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
