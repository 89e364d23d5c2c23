# Set-up and entry points. `make test` and `make demo` work from a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: test demo reference bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned: any range that admits a newer release resolves to the
	# newest CUDA build (several GB); 2.13.0 is the CPU build this machine serves.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[train,dev]'
	touch $(STAMP)

# The reference Argdown CLI for the differential tests (skipped without node).
reference:
	@if command -v npm >/dev/null 2>&1; then \
		cd tests/reference && npm ci --no-audit --no-fund --loglevel=error; \
	else echo "node/npm not found: differential tests against @argdown/cli will be skipped"; fi

test: $(STAMP) reference
	$(PY) -m pytest -q

demo: $(STAMP)
	mkdir -p runs/demo
	$(VENV)/bin/argdown-lbl parse --summary --json \
		$$(find corpora -name '*.argdown' -o -name '*.md' | sort) > runs/demo/parse.json
	@echo "JSON export written to runs/demo/parse.json"

bench: $(STAMP) reference
	$(PY) benchmarks/parse_speed.py

clean:
	rm -rf $(VENV) tests/reference/node_modules runs .pytest_cache .hypothesis
