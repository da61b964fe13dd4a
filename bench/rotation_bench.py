"""Zero-downtime credential rotation, measured: queries through the SQL hooks while rotating.

For PostgreSQL (``PostgresHook``) and MariaDB (``MySqlHook``), each with the ``single_user`` and
``alternating_users`` strategies: 8 threads run ``select 1`` through one hook each (pool size 4) for
``--seconds`` (60 by default) while **another process** rotates the connection every second with
:class:`hookline.rotation.Rotator` (the metastore in a fresh ``HOOKLINE_HOME`` holds the
connection, as ``hookline rotate`` would run from cron). Reported: rotations, queries, failed
queries (the target is 0), and the query latency (median, p99) during the run.

Servers are throwaway ones started here (``tests.servers.postgres``, ``tests.servers.mariadb``,
bound to 127.0.0.1), stopped at the end.

``python -m bench.rotation_bench [--seconds 60] [--json]``; ``make bench`` runs it as a group (not
in ``--quick`` mode) in a subprocess.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.report import Row

__all__ = ["measure", "rows"]

GROUP = "Credential rotation: zero downtime (hookline only)"
THREADS = 8
REPO = Path(__file__).resolve().parents[1]
STRATEGIES = ("single_user", "alternating_users")

ROTATE_LOOP = """
import sys, time
from hookline.rotation import Rotator
conn_id, seconds = sys.argv[1], float(sys.argv[2])
rotator = Rotator()
rotator.rotate(conn_id, dry_run=True)
import psycopg, pymysql, sqlalchemy  # warm-up before the clock starts
print("ready", flush=True)
sys.stdin.readline()
deadline = time.monotonic() + seconds
count = 0
while time.monotonic() < deadline:
    started = time.monotonic()
    rotator.rotate(conn_id)
    count += 1
    time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
print(count)
"""


@contextmanager
def _postgres() -> Iterator[Any]:
    from tests.servers.postgres import start_postgres

    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.base_dir, ignore_errors=True)


@contextmanager
def _mariadb() -> Iterator[Any]:
    from tests.servers._proc import free_port
    from tests.servers.mariadb import MariaDbServer, _ensure_installed

    _ensure_installed()
    base_dir = Path(tempfile.mkdtemp(prefix="hookline-bench-mariadb-", dir="/tmp"))
    base_dir.chmod(0o755)
    shutil.chown(base_dir, "mysql", "mysql")
    server = MariaDbServer(free_port(), secrets.token_urlsafe(16), base_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base_dir, ignore_errors=True)


def _connections(db: str, server: Any, strategy: str) -> list[Any]:
    from hookline import Connection

    name = server.unique_name("rotbench")
    password = secrets.token_urlsafe(18)
    server.create_database(name, owner_password=password)
    if db == "postgres":
        conn_type, admin_login, admin_password = (
            "postgres",
            server.superuser,
            server.superuser_password,
        )
    else:
        conn_type, admin_login, admin_password = "mysql", server.root_user, server.root_password
    extra = {}
    conns = []
    if strategy == "alternating_users":
        extra = {"rotation_strategy": strategy, "rotation_admin_conn_id": "bench_admin"}
        conns.append(
            Connection(
                conn_id="bench_admin",
                conn_type=conn_type,
                host=server.host,
                port=server.port,
                login=admin_login,
                password=admin_password,
                schema="postgres" if db == "postgres" else None,
            )
        )
    conns.append(
        Connection(
            conn_id="bench_rot",
            conn_type=conn_type,
            host=server.host,
            port=server.port,
            login=name,
            password=password,
            schema=name,
            extra=extra,
        )
    )
    return conns


def measure(db: str, server: Any, strategy: str, seconds: float) -> dict[str, Any]:
    """One run: 8 querying threads while another process rotates every second."""
    from hookline.hooks.sql import MySqlHook, PostgresHook
    from hookline.hooks.sql.engines import dispose_all
    from hookline.resolve import default as resolver

    home = Path(tempfile.mkdtemp(prefix="hookline-bench-rot-"))
    home.chmod(0o700)
    os.environ["HOOKLINE_HOME"] = str(home)
    resolver.set_default_resolver(None)
    try:
        chain = resolver.default_chain()
        for conn in _connections(db, server, strategy):
            chain.set_connection(conn)
        hook_class = PostgresHook if db == "postgres" else MySqlHook
        stop = threading.Event()
        latencies: list[list[float]] = [[] for _ in range(THREADS)]
        failures: list[str] = []

        def worker(index: int) -> None:
            hook = hook_class("bench_rot", pool_size=4)
            mine = latencies[index]
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    hook.get_first("select 1")
                except Exception as exc:  # counted: the target is none
                    failures.append(f"{type(exc).__name__}: {exc}"[:300])
                    continue
                mine.append(time.perf_counter() - started)

        child = subprocess.Popen(
            [sys.executable, "-c", ROTATE_LOOP, "bench_rot", str(seconds)],
            cwd=REPO, env=dict(os.environ), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            _, err = child.communicate()
            raise RuntimeError(f"the rotation process did not start: {err[-500:]}")
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        try:
            out, err = child.communicate("go\n", timeout=seconds * 10 + 120)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        if child.returncode != 0:
            raise RuntimeError(f"the rotation process failed: {err[-500:]}")
        samples = sorted(x for per_thread in latencies for x in per_thread)
        return {
            "db": db,
            "strategy": strategy,
            "seconds": seconds,
            "rotations": int(out.strip()),
            "queries": len(samples),
            "failures": len(failures),
            "first_failures": failures[:5],
            "median_s": statistics.median(samples) if samples else None,
            "p99_s": samples[int(len(samples) * 0.99)] if samples else None,
            # 1000 evenly spaced quantiles: enough for the table's median and p99.
            "quantiles": [samples[int(i * len(samples) / 1000)] for i in range(1000)]
            if samples
            else [],
        }
    finally:
        dispose_all()
        resolver.set_default_resolver(None)
        shutil.rmtree(home, ignore_errors=True)


def run(seconds: float, dbs: list[str]) -> list[dict[str, Any]]:
    """Every database and strategy; a server that cannot start is reported as an error entry."""
    results: list[dict[str, Any]] = []
    starters = {"postgres": _postgres, "mariadb": _mariadb}
    for db in dbs:
        try:
            with starters[db]() as server:
                for strategy in STRATEGIES:
                    results.append(measure(db, server, strategy, seconds))
        except Exception as exc:  # reported in the row, never fatal to the bench
            results.append({"db": db, "error": f"{type(exc).__name__}: {exc}"[:300]})
    return results


def rows(hl: Any, af: Any, s: Any) -> list[Row]:
    """The benchmark group: one row per database and strategy (skipped in ``--quick`` mode)."""
    if s.smoke:
        row = Row(
            group=GROUP, name="rotation every 1 s under load", hookline_status="skipped (quick)"
        )
        return [row]
    proc = subprocess.run(
        [sys.executable, "-m", "bench.rotation_bench", "--json", "--seconds", "60"],
        cwd=REPO, env=hl.env, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        row = Row(group=GROUP, name="rotation every 1 s under load")
        row.set_side("hookline", f"rotation bench failed: {proc.stderr.strip()[-300:]}")
        return [row]
    out: list[Row] = []
    for res in json.loads(proc.stdout):
        name = f"{res['db']} {res.get('strategy', '')}: select 1 while rotating every 1 s"
        row = Row(group=GROUP, name=name)  # the target (0 failed) is in the note and errors
        if "error" in res:
            row.set_side("hookline", res["error"])
        else:
            row.set_side("hookline", res["quantiles"])
            row.note = (
                f"{THREADS} threads, {res['seconds']:g} s: {res['queries']} queries, "
                f"{res['failures']} failed, {res['rotations']} rotations by another process"
            )
            if res["failures"]:
                row.errors.append(f"{res['failures']} failed queries: {res['first_failures']}")
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rotation_bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--db", action="append", choices=["postgres", "mariadb"])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    results = run(args.seconds, args.db or ["postgres", "mariadb"])
    if args.json:
        print(json.dumps(results))
    else:
        print(f"{'database':10} {'strategy':18} {'rotations':>9} {'queries':>9} {'failed':>6} "
              f"{'median':>9} {'p99':>9}")  # fmt: skip
        for res in results:
            if "error" in res:
                print(f"{res['db']:10} error: {res['error']}")
                continue
            print(
                f"{res['db']:10} {res['strategy']:18} {res['rotations']:9d} {res['queries']:9d} "
                f"{res['failures']:6d} {res['median_s'] * 1e3:7.2f}ms {res['p99_s'] * 1e3:7.2f}ms"
            )
            for failure in res["first_failures"]:
                print(f"    {failure}")
    failed = any("error" in r or r["failures"] for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
