# hookline developer commands. `make demo` and `make test` work on a fresh machine with Python 3.11+.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
RUN := $(UV) run --no-sync

.PHONY: bootstrap demo test lint typecheck unit bench format clean

bootstrap:
	@bash scripts/bootstrap.sh

demo: bootstrap
	$(RUN) python examples/demo.py

lint: bootstrap
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: bootstrap
	$(RUN) mypy

test: lint typecheck
	$(RUN) pytest -q

unit: bootstrap
	$(RUN) pytest -q -m "not integration"

bench: bootstrap
	$(RUN) python -m bench

format: bootstrap
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache .hypothesis
