# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all venv test lint tools demo lab docs bench clean

all: test

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,dask]'
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint tools
	PYTHONASYNCIODEBUG=1 $(BIN)/python -m pytest -q

# Tools the tests drive for real: Debian's chromium (the notebook browser test) and Icarus
# Verilog (the cocotb example). Installed with apt-get when missing (a quick no-op when
# present); a tool that cannot be had makes its tests skip and say why.
TOOLS := /usr/bin/chromium:chromium /usr/bin/iverilog:iverilog
tools:
	@for pair in $(TOOLS); do \
	  path=$${pair%%:*}; package=$${pair##*:}; \
	  test -x $$path && continue; \
	  if ! command -v apt-get >/dev/null; then \
	    echo "WARNING: no $$path and no apt-get: tests that need $$package will skip" >&2; \
	    continue; fi; \
	  echo "installing $$package for the tests (apt-get)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$package \
	    >/dev/null; } || echo "WARNING: could not install $$package: its tests will skip" >&2; \
	done

demo: $(STAMP)
	$(BIN)/gator run examples/regression.yaml --parallel 2; \
	  status=$$?; $(BIN)/gator show latest; \
	  [ $$status -le 1 ] || exit $$status

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

docs: $(STAMP)
	$(BIN)/mkdocs build --strict -d site

bench: $(STAMP)
	$(BIN)/python benchmarks/engine.py
	$(BIN)/python benchmarks/load.py
	$(BIN)/python benchmarks/bench_lines.py
	$(BIN)/python benchmarks/bench_store.py
	$(BIN)/python benchmarks/bench_sampling.py
	$(BIN)/python benchmarks/bench_dask.py
	$(BIN)/python benchmarks/bench_views.py
	$(BIN)/python benchmarks/bench_slurm.py
	$(BIN)/python benchmarks/bench_hardening.py

clean:
	rm -rf $(VENV) site gator-runs .pytest_cache .mypy_cache .ruff_cache
