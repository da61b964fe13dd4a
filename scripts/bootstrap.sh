#!/usr/bin/env bash
# The Python part of a fresh machine: uv and the locked environment (every extra, the dev group).
# Needs only Python 3.11+ and no root: enough for `make demo`, `make unit`, `make lint`.
# `make test` and `make bench` also run scripts/bootstrap-servers.sh (Debian packages, as root).
# Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[bootstrap] %s\n' "$*"; }

if ! command -v uv >/dev/null 2>&1 && ! python3 -m uv --version >/dev/null 2>&1; then
  log "installing uv"
  python3 -m pip install --quiet uv
fi
UV=$(command -v uv || echo "python3 -m uv")

$UV sync --all-extras --locked --quiet
