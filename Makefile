# The two commands of the README: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test lint typecheck demo clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check egoaction tests benchmarks
	$(BIN)/ruff format --check egoaction tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -q

# Synthetic EPIC-format kitchen -> train configs/demo.yaml -> evaluate (official EPIC metrics) -> report.
demo: $(STAMP)
	$(BIN)/egoaction synth --format epic100 --preset small --seed 0 --no-flow --overwrite data/synth-epic100
	$(BIN)/egoaction train configs/demo.yaml --overwrite
	$(BIN)/egoaction evaluate runs/demo
	$(BIN)/egoaction report runs/demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
