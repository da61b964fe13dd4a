"""hookline-only rows for hooks (issue 5's budgets): pooling against a new connection each time.

* SQL: ``SqlHook.get_first("select 1")`` on the hook's pool against opening a new DB-API connection
  for every statement (what Airflow's ``DbApiHook.get_first`` does), on SQLite always and on
  PostgreSQL: the server ``PGHOST``/``PGPORT`` (``PGUSER``, ``PGPASSWORD``, ``PGDATABASE``) point at
  or, when ``PGHOST`` is unset, a throwaway PostgreSQL server on 127.0.0.1 that the benchmark starts
  itself (``tests.servers.postgres.PostgresServer``; needs ``/usr/lib/postgresql/*/bin/initdb`` and
  root; not in ``--quick`` mode) and stops by PID at the end.
* HTTP: ``HttpHook.run("GET", ...)`` on one keep-alive client against a new hook (new client and
  TCP connection) per request, served by a local ``http.server`` on 127.0.0.1 running in the parent
  process (so it does not share the worker's GIL).
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench import processes
from bench.processes import Side
from bench.report import Row, Target

AIRFLOW = "Airflow 3.3.2"

__all__ = ["OPS", "local_http_server", "rows"]

_BODY = b'{"ok": true}'


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms Nagle/delayed-ACK stall between headers and body

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(_BODY)))
        self.end_headers()
        self.wfile.write(_BODY)

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def local_http_server() -> Iterator[int]:
    """A keep-alive HTTP/1.1 server on 127.0.0.1 (free port) in a thread; yields the port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@contextmanager
def throwaway_postgres() -> Iterator[dict[str, Any] | str]:
    """Start a throwaway PostgreSQL server on 127.0.0.1; yield its connection parameters.

    Yields a string (why there is none) instead when no server can be started: no ``initdb``
    under ``/usr/lib/postgresql/*/bin``, not root, or the start failed. The server is stopped
    (``pg_ctl stop``, then SIGTERM/SIGKILL to the postmaster's PID if still running) and its
    directory removed on exit.
    """
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        yield "no server: PGHOST not set and no initdb under /usr/lib/postgresql"
        return
    if os.geteuid() != 0:
        yield "no server: PGHOST not set and not root (cannot start one)"
        return
    try:
        from tests.servers._proc import free_port, stop_pid
        from tests.servers.postgres import PostgresServer
    except ImportError as exc:
        yield f"no server: cannot import tests.servers.postgres ({exc})"
        return
    base_dir = Path(tempfile.mkdtemp(prefix="hookline-bench-pg-", dir="/tmp"))
    server: Any = None
    pid: int | None = None
    try:
        base_dir.chmod(0o755)
        shutil.chown(base_dir, "postgres", "postgres")
        server = PostgresServer(free_port(), secrets.token_urlsafe(16), base_dir)
        try:
            server.start()
        except Exception as exc:  # reported in the row, never fatal
            pid = _postmaster_pid(server.data_dir)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            yield f"could not start PostgreSQL: {first[:120]}"
            return
        pid = _postmaster_pid(server.data_dir)
        yield {
            "host": server.host,
            "port": server.port,
            "login": server.superuser,
            "password": server.superuser_password,
            "schema": "postgres",
        }
    finally:
        try:
            if server is not None:
                with suppress(Exception):  # fall back to the PID below
                    server.stop()
                if pid is not None and (server.data_dir / "postmaster.pid").exists():
                    stop_pid(pid)
        finally:
            shutil.rmtree(base_dir, ignore_errors=True)


def _pg_params() -> dict[str, Any] | None:
    host = os.environ.get("PGHOST")
    if not host:
        return None
    return {
        "host": host,
        "port": int(os.environ.get("PGPORT", "5432")),
        "login": os.environ.get("PGUSER", "postgres"),
        "password": os.environ.get("PGPASSWORD"),
        "schema": os.environ.get("PGDATABASE", "postgres"),
    }


def _sql_conn(params: dict[str, Any]) -> Any:
    from hookline import Connection

    if params["dialect"] == "sqlite":
        return Connection(conn_id="bench_sqlite", conn_type="sqlite", host=params["path"])
    return Connection(conn_id="bench_pg", conn_type="postgres", **params["pg"])


def _sql_pooled(params: dict[str, Any]) -> Callable[[], object]:
    from hookline.hooks.sql import SqlHook

    hook = SqlHook(_sql_conn(params), log_sql=False)

    def op() -> object:
        return hook.get_first("select 1")

    op()
    return op


def _sql_pooled_unparked(params: dict[str, Any]) -> Callable[[], object]:
    """The same hook with parking off: every call goes through SQLAlchemy's checkout and checkin
    (what the parking trick of ``SharedEngine.borrow`` saves)."""
    from hookline.hooks.sql import SqlHook

    hook = SqlHook(_sql_conn(params), log_sql=False)
    hook._shared_engine().park_limit = 0

    def op() -> object:
        return hook.get_first("select 1")

    op()
    return op


def _sql_new_connection(params: dict[str, Any]) -> Callable[[], object]:
    if params["dialect"] == "sqlite":
        import sqlite3

        path = params["path"]

        def op() -> object:
            db = sqlite3.connect(path)
            try:
                return db.execute("select 1").fetchone()
            finally:
                db.close()

        return op
    import psycopg

    pg = params["pg"]
    kwargs = {
        "host": pg["host"],
        "port": pg["port"],
        "user": pg["login"],
        "password": pg["password"],
        "dbname": pg["schema"],
    }

    def pg_op() -> object:
        with psycopg.connect(**kwargs) as db:
            return db.execute("select 1").fetchone()

    return pg_op


def _sql_raw_open(params: dict[str, Any]) -> Callable[[], object]:
    """The floor: ``select 1`` on one open DB-API connection (one round trip, no pool, no hook)."""
    db: Any
    if params["dialect"] == "sqlite":
        import sqlite3

        db = sqlite3.connect(params["path"])
    else:
        import psycopg

        pg = params["pg"]
        db = psycopg.connect(
            host=pg["host"],
            port=pg["port"],
            user=pg["login"],
            password=pg["password"],
            dbname=pg["schema"],
            autocommit=True,
        )

    def op() -> object:
        return db.execute("select 1").fetchone()

    return op


def _af_pg_hook(params: dict[str, Any]) -> Callable[[], object]:
    """Airflow's PostgresHook: every get_first resolves the connection and opens a new one."""
    pg = params["pg"]
    os.environ["AIRFLOW_CONN_BENCH_PG"] = json.dumps(
        {
            "conn_type": "postgres",
            "host": pg["host"],
            "port": pg["port"],
            "login": pg["login"],
            "password": pg["password"],
            "schema": pg["schema"],
        }
    )
    from airflow.providers.postgres.hooks.postgres import PostgresHook  # type: ignore[import-not-found, unused-ignore]

    def op() -> object:
        return PostgresHook(postgres_conn_id="bench_pg").get_first("select 1")

    op()
    return op


def _http_pooled(params: dict[str, Any]) -> Callable[[], object]:
    from hookline import Connection
    from hookline.hooks.http import HttpHook

    conn = Connection(conn_id="bench_http", conn_type="http", host="127.0.0.1", port=params["port"])
    hook = HttpHook(conn)

    def op() -> object:
        return hook.run("GET", "/ping").content

    return op


def _http_new_client(params: dict[str, Any]) -> Callable[[], object]:
    from hookline import Connection
    from hookline.hooks.http import HttpHook

    conn = Connection(conn_id="bench_http", conn_type="http", host="127.0.0.1", port=params["port"])

    def op() -> object:
        with HttpHook(conn) as hook:
            return hook.run("GET", "/ping").content

    return op


OPS: dict[str, tuple[str, dict[str, Any]]] = {
    "sql_pooled": ("calls", {"hookline": _sql_pooled}),
    "sql_pooled_unparked": ("calls", {"hookline": _sql_pooled_unparked}),
    "sql_raw_open": ("calls", {"hookline": _sql_raw_open}),
    "pg_airflow_hook": ("calls", {"airflow": _af_pg_hook}),
    "sql_new_connection": ("calls", {"hookline": _sql_new_connection}),
    "http_pooled": ("calls", {"hookline": _http_pooled}),
    "http_new_client": ("calls", {"hookline": _http_new_client}),
}


def _pair(
    hl: Side, ops: list[str], params: dict[str, Any], s: Any, af: Side | None = None
) -> dict[str, list[float] | str]:
    """Run the ops alternately in fresh workers, up to 3 rounds; ops named ``*_airflow_*`` run in
    the Airflow interpreter ``af``."""
    out: dict[str, list[float] | str] = {}
    rounds = max(1, min(s.rounds, 3))
    for rnd in range(rounds):
        for op in ops if rnd % 2 == 0 else list(reversed(ops)):
            side = af if "_airflow_" in op else hl
            if side is None:
                continue
            item = {"module": __name__, "op": op, "params": params}
            samples = max(5, s.samples // 4)
            got = processes.run_worker(side, [item], samples=samples, warmup=s.warmup)[op]
            current = out.get(op)
            if "samples" in got:
                out[op] = (current if isinstance(current, list) else []) + list(got["samples"])
            elif not isinstance(current, list):
                out[op] = str(got["error"])
    return out


def _pg_rows(
    hl: Side,
    af: Side | None,
    s: Any,
    pg: dict[str, Any],
    origin: str,
    pg_target: Target,
    add: Callable[..., None],
) -> None:
    ops = [
        "sql_pooled",
        "sql_new_connection",
        "pg_airflow_hook",
        "sql_raw_open",
        "sql_pooled_unparked",
    ]
    res = _pair(hl, ops, {"dialect": "postgres", "pg": pg}, s, af)
    add(
        "PostgreSQL: pooled checkout + select 1",
        res,
        "sql_pooled",
        "sql_new_connection",
        "new connection each time",
        target=pg_target,
        note=f"`PostgresHook(conn).get_first('select 1')` on the pool vs `psycopg.connect()` + `select 1` + close per call; server {pg['host']}:{pg['port']}, {origin}.",
    )
    add(
        "PostgreSQL: pooled hook vs the driver floor",
        res,
        "sql_pooled",
        "sql_raw_open",
        "one open connection, raw driver",
        target=Target("≤ 1.15x the driver", min_ratio=1 / 1.15),
        note="same hookline samples, against `select 1` on one open psycopg connection in autocommit (one round trip): the hook's per-call overhead (ratio < 1 by construction; the target is ratio ≥ 0.87).",
    )
    add(
        "PostgreSQL: parked connection vs SQLAlchemy checkout",
        res,
        "sql_pooled",
        "sql_pooled_unparked",
        "same hook, parking off",
        note="same hookline samples, against the hook with `SharedEngine.park_limit = 0` (SQLAlchemy checkout, autocommit switch and checkin on every call).",
    )
    if af is not None:
        add(
            "PostgreSQL: hookline pooled vs Airflow PostgresHook",
            res,
            "sql_pooled",
            "pg_airflow_hook",
            AIRFLOW,
            target=pg_target,
            note="same hookline samples, against Airflow 3.3.2's `PostgresHook(postgres_conn_id=...).get_first('select 1')` (connection from an `AIRFLOW_CONN_` JSON env var; a new DB connection per call).",
        )


def _overhead(hook: Any, floor: Any) -> list[float] | str | None:
    """The hook's samples minus the floor's median (an error string passes through)."""
    if not isinstance(hook, list) or not isinstance(floor, list) or not floor:
        return hook if isinstance(hook, str) else floor if isinstance(floor, str) else None
    base = sorted(floor)[len(floor) // 2]
    return [max(0.0, sample - base) for sample in hook]


def rows(hl: Side, af: Side | None, s: Any) -> list[Row]:
    """Measure the hook pairs (and Airflow's PostgresHook when PostgreSQL is reachable)."""
    g = "Hooks: pooling (hookline only)"
    out: list[Row] = []

    def add(name: str, res: dict[str, Any], a: str, b: str, label: str, **kw: Any) -> None:
        row = Row(group=g, name=name, other_label=label, **kw)
        row.set_side("hookline", res.get(a))
        row.set_side("other", res.get(b))
        out.append(row)

    with tempfile.TemporaryDirectory(prefix="hookline-bench-sql-") as tmp:
        path = str(Path(tmp) / "bench.db")
        sqlite_ops = ["sql_pooled", "sql_new_connection", "sql_raw_open", "sql_pooled_unparked"]
        res = _pair(hl, sqlite_ops, {"dialect": "sqlite", "path": path}, s)
    add(
        "SQLite: pooled checkout + select 1",
        res,
        "sql_pooled",
        "sql_new_connection",
        "new connection each time",
        note="`SqlHook(conn).get_first('select 1')` on the hook's pool vs `sqlite3.connect(path)` + `select 1` + close per call (what Airflow's `DbApiHook.get_first` does), same database file.",
    )
    add(
        "SQLite: pooled hook vs the driver floor",
        res,
        "sql_pooled",
        "sql_raw_open",
        "one open connection, raw driver",
        note="same hookline samples, against `select 1` on one open `sqlite3` connection: the hook's own per-call overhead (ratio < 1 by construction).",
    )
    overhead = _overhead(res.get("sql_pooled"), res.get("sql_raw_open"))
    out.append(
        Row(
            group=g,
            name="SQLite: pooled hook overhead over the driver",
            target=Target("≤ 5 µs", max_value=5e-6),
            note="hookline samples minus the median of the raw driver's (the two rows above): what the hook adds to `select 1`.",
        )
    )
    out[-1].set_side("hookline", overhead)
    add(
        "SQLite: parked connection vs SQLAlchemy checkout",
        res,
        "sql_pooled",
        "sql_pooled_unparked",
        "same hook, parking off",
        note="same hookline samples, against the hook with `SharedEngine.park_limit = 0` (SQLAlchemy checkout and checkin on every call).",
    )
    pg_target = Target("≥ 20x", min_ratio=20)
    env_pg = _pg_params()
    with ExitStack() as stack:
        pg: dict[str, Any] | str
        if env_pg is not None:
            pg, origin = env_pg, "from PGHOST/PGPORT (not started by the benchmark)"
        elif s.smoke:
            pg = "no server: PGHOST not set (--quick starts none)"
            origin = ""
        else:
            pg = stack.enter_context(throwaway_postgres())
            origin = "a throwaway PostgreSQL server started by the benchmark"
        if isinstance(pg, str):
            out.append(
                Row(
                    group=g,
                    name="PostgreSQL: pooled checkout + select 1",
                    target=pg_target,
                    hookline_status=f"n/a ({pg})",
                    note="runs against PGHOST/PGPORT when set, else against a throwaway server the benchmark starts (root + initdb needed; not with --quick).",
                )
            )
        else:
            _pg_rows(hl, af, s, pg, origin, pg_target, add)
    with local_http_server() as port:
        res = _pair(hl, ["http_pooled", "http_new_client"], {"port": port}, s)
    add(
        "HTTP GET: keep-alive client",
        res,
        "http_pooled",
        "http_new_client",
        "new client per request",
        note="`HttpHook(conn).run('GET', '/ping')` on one keep-alive client vs a new `HttpHook` (new httpx client, new TCP connection) per request; local `http.server` on 127.0.0.1 (HTTP/1.1) in the parent process.",
    )
    return out
