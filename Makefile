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

# The main job on the bundled samples: the nightly batch over a tray (a scratch copy of
# samples/data, so the demo's deletion never touches the repository), one form as an operator
# sees it, deletion of the unsuitable copy with its logged note, and the audit check.
demo: $(STAMP)
	rm -rf demo-out && mkdir -m 700 demo-out && mkdir -m 700 demo-out/tray
	cp samples/data/form_*.jpg demo-out/tray/ && cp samples/data/manifest.csv demo-out/manifest.csv
	$(BIN)/ifb1 batch demo-out/tray --out demo-out/out --data demo-out/data \
		--manifest demo-out/manifest.csv --json-summary demo-out/summary.json
	$(BIN)/ifb1 process demo-out/tray/form_0001.jpg --out demo-out/process
	$(BIN)/ifb1 delete --data demo-out/data
	$(BIN)/ifb1 audit verify --data demo-out/data
	$(BIN)/ifb1 report --data demo-out/data --out demo-out/reports
	$(BIN)/ifb1 samples make --out demo-out/generated --count 2 --seed 1 --ppi 300
	@echo "Demo output in demo-out/: out/exports/*.an2 (ANSI/NIST-ITL), out/forms/*/ (500 ppi prints, preview, result.json),"
	@echo "data/ (case record and audit log), summary.json (the morning summary), reports/ (quality reports per force), generated/ (new synthetic scans with truth)"

test: $(STAMP)
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q

# Benchmarks run in their own environment: the reference tools (peers) are
# installed there only, never in the product's environment.
$(BENCH_STAMP): pyproject.toml benchmarks/requirements-bench.txt benchmarks/requirements-bench-deps.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/pip install --quiet -e '.[test]'
	$(BENCH_VENV)/bin/pip install --quiet -r benchmarks/requirements-bench-deps.txt
	$(BENCH_VENV)/bin/pip install --quiet --no-deps -r benchmarks/requirements-bench.txt
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) demo-out
