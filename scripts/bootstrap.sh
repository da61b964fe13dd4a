#!/usr/bin/env bash
# Make a fresh machine ready for `make test`: uv, the locked Python environment (all extras), and the
# Debian packages whose servers the integration tests start (PostgreSQL, MariaDB, Redis).
# Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[bootstrap] %s\n' "$*"; }

if ! command -v uv >/dev/null 2>&1 && ! python3 -m uv --version >/dev/null 2>&1; then
  log "installing uv"
  python3 -m pip install --quiet uv
fi
UV=$(command -v uv || echo "python3 -m uv")

need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v mariadbd >/dev/null 2>&1 || need+=(mariadb-server)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing Debian packages: ${need[*]} (run as root or install them)"; exit 1
  fi
  log "apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

$UV sync --all-extras --locked --quiet
