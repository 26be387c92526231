# Quick start: `make demo` runs the main job on the bundled samples, `make test` runs the tests.
# Both create .venv and install the package on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ifb1 samples make --out demo-out/scans --count 3 --seed 1
	@echo "Demo output in demo-out/"

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Benchmarks run in their own environment: the reference tools (peers) are
# installed there only, never in the product's environment.
$(BENCH_STAMP): pyproject.toml benchmarks/requirements-bench.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/pip install --quiet -e '.[test]'
	$(BENCH_VENV)/bin/pip install --quiet --no-deps -r benchmarks/requirements-bench.txt
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) demo-out
