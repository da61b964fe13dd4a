#!/usr/bin/env bash
# The servers the integration tests and benchmarks start themselves (PostgreSQL, MariaDB, Redis), and
# the headless Chromium the web UI tests drive, from Debian packages. Only `make test` and `make bench` need them; installing them needs root.
# Idempotent and quiet when everything is already there.
set -euo pipefail

log() { printf '[bootstrap-servers] %s\n' "$*"; }

need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v mariadbd >/dev/null 2>&1 || need+=(mariadb-server)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ "${#need[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  log "missing Debian packages: ${need[*]} (run as root or install them; only needed by make test and make bench)"
  exit 1
fi
log "apt-get install ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
