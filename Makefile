# hookline developer commands. `make demo` needs only Python 3.11+; `make test` and `make bench` also
# install the servers the integration tests start (PostgreSQL, MariaDB: Debian packages, as root).
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
RUN := $(UV) run --no-sync

.PHONY: bootstrap servers demo test lint typecheck unit bench format docs clean

bootstrap:
	@bash scripts/bootstrap.sh

servers:
	@bash scripts/bootstrap-servers.sh

demo: bootstrap
	$(RUN) python examples/demo.py

lint: bootstrap
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: bootstrap
	$(RUN) mypy

test: servers lint typecheck
	$(RUN) pytest -q

unit: bootstrap
	$(RUN) pytest -q -m "not integration"

bench: bootstrap servers
	$(RUN) python -m bench

format: bootstrap
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

docs: bootstrap
	$(RUN) python scripts/gen_cli_docs.py

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache .hypothesis
