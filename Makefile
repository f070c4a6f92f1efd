# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all venv test lint browser demo lab docs bench clean

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

test: lint browser
	PYTHONASYNCIODEBUG=1 $(BIN)/python -m pytest -q

# The notebook browser test drives Debian's chromium. Install it when it is missing
# (quick no-op when present); if it cannot be had, that one test skips and says why.
browser:
	@test -x /usr/bin/chromium || command -v apt-get >/dev/null || \
	  echo "WARNING: no /usr/bin/chromium and no apt-get: the browser test will be skipped" >&2
	@test -x /usr/bin/chromium || ! command -v apt-get >/dev/null || \
	  { echo "installing chromium for the browser test (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	    >/dev/null; } || \
	  echo "WARNING: could not install chromium: the browser test will be skipped" >&2

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
	$(BIN)/python benchmarks/bench_dask.py
	$(BIN)/python benchmarks/bench_views.py

clean:
	rm -rf $(VENV) site gator-runs .pytest_cache .mypy_cache .ruff_cache
