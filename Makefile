# Set-up happens on demand: every target creates .venv from the project's own files if missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SCENARIO ?= xor-sigmoid-sgd
WORKERS ?= 2
PYTEST_ARGS ?=

.PHONY: report test test-fast gallery clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[all,dev]'
	touch $(STAMP)

report: $(STAMP)
	$(BIN)/parity run $(SCENARIO)

# Bytecode is cached even where PYTHONDONTWRITEBYTECODE is set (as on the project's sandboxes):
# every xdist worker, sweep worker and fresh-interpreter test would otherwise compile the
# project's modules and re-run pytest's assertion rewriting from source (20-50 s CPU a suite).
test: $(STAMP)
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -n $(WORKERS) --dist worksteal $(PYTEST_ARGS)

test-fast: $(STAMP)
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -m "not slow"

gallery: $(STAMP)
	$(BIN)/python -m comparisons.report.gallery

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
