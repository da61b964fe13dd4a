"""OpenBao's database secrets engine wired to a real PostgreSQL, plus a threaded query load.

:func:`setup_dynamic_postgres` creates a fresh database with a table, mounts the database engine at a
fresh path on the OpenBao server, points it at that database (``postgresql-database-plugin``) and
creates a role whose users may connect and select; lease TTL and max TTL are arguments.
:func:`run_query_load` runs N threads querying through hooks for a while and counts successes and
failures. Used by tests/integration/test_vault_dynamic.py and bench/vault_dynamic_bench.py.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported lazily: every module here is a pytest plugin, loaded in name order
    from tests.servers.openbao import OpenBaoServer
    from tests.servers.postgres import PostgresServer

__all__ = ["DynamicDatabase", "LoadResult", "run_query_load", "setup_dynamic_postgres"]

CREATION = [
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
    'GRANT CONNECT ON DATABASE "{db}" TO "{{name}}";',
    'GRANT USAGE ON SCHEMA public TO "{{name}}";',
    'GRANT SELECT ON items TO "{{name}}";',
]
REVOCATION = [
    'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{{name}}";',
    'REVOKE USAGE ON SCHEMA public FROM "{{name}}";',
    'REVOKE CONNECT ON DATABASE "{db}" FROM "{{name}}";',
    'DROP ROLE IF EXISTS "{{name}}";',
]


@dataclass
class DynamicDatabase:
    """A database served through OpenBao's database engine.

    Attributes:
        bao: The OpenBao server.
        pg: The PostgreSQL server.
        database: The database name (it holds ``items(id int)`` with 3 rows).
        mount: The engine's mount path.
        role: The engine role issuing ``SELECT``-only users.
    """

    bao: OpenBaoServer
    pg: PostgresServer
    database: str
    mount: str
    role: str

    def dynamic_roles(self) -> list[str]:
        """The PostgreSQL login roles the engine created that still exist."""
        import psycopg

        with psycopg.connect(
            host=self.pg.host,
            port=self.pg.port,
            user=self.pg.superuser,
            password=self.pg.superuser_password,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            rows = conn.execute(
                "select rolname from pg_roles where rolname like %s order by rolname",
                (f"v-%-{self.role[:8]}%",),
            ).fetchall()
        return [row[0] for row in rows]

    def lease_alive(self, lease_id: str) -> bool:
        """Whether ``sys/leases/lookup`` still knows the lease."""
        import hvac

        try:
            self.bao.client().sys.read_lease(lease_id)
        except hvac.exceptions.InvalidRequest:
            return False
        return True

    def backend_settings(self, **extra: Any) -> dict[str, Any]:
        """Keyword arguments of a ``vault_dynamic`` backend serving ``conn_id`` ``warehouse``."""
        return {
            "url": self.bao.url,
            "token": self.bao.root_token,
            "mount_point": self.mount,
            "connections": {
                "warehouse": {
                    "role": self.role,
                    "conn_type": "postgres",
                    "host": self.pg.host,
                    "port": self.pg.port,
                    "schema": self.database,
                }
            },
            **extra,
        }


def setup_dynamic_postgres(
    bao: OpenBaoServer, pg: PostgresServer, *, ttl_s: int, max_ttl_s: int
) -> DynamicDatabase:
    """A fresh database, engine mount and role (lease TTL ``ttl_s``, max TTL ``max_ttl_s``)."""
    database = pg.create_database(pg.unique_name("dyn"))
    pg.execute(
        "create table items (id int primary key); insert into items values (1), (2), (3)",
        database=database,
    )
    suffix = uuid.uuid4().hex[:8]
    mount = f"database-{suffix}"
    role = f"ro{suffix}"
    root = bao.client()
    root.sys.enable_secrets_engine("database", path=mount)
    root.secrets.database.configure(
        name="pg",
        plugin_name="postgresql-database-plugin",
        connection_url=(
            f"postgresql://{{{{username}}}}:{{{{password}}}}@{pg.host}:{pg.port}/{database}"
            "?sslmode=disable"
        ),
        username=pg.superuser,
        password=pg.superuser_password,
        allowed_roles=[role],
        mount_point=mount,
    )
    root.secrets.database.create_role(
        name=role,
        db_name="pg",
        creation_statements=[s.replace("{db}", database) for s in CREATION],
        revocation_statements=[s.replace("{db}", database) for s in REVOCATION],
        default_ttl=f"{ttl_s}s",
        max_ttl=f"{max_ttl_s}s",
        mount_point=mount,
    )
    return DynamicDatabase(bao=bao, pg=pg, database=database, mount=mount, role=role)


@dataclass
class LoadResult:
    """What :func:`run_query_load` counted.

    Attributes:
        ok: Queries that returned the expected answer.
        failed: Queries that raised or answered wrongly.
        errors: The first few failures (type and message).
        users: The distinct ``current_user`` values seen.
        seconds: How long the load ran.
    """

    ok: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    users: set[str] = field(default_factory=set)
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        """Successful queries per second."""
        return self.ok / self.seconds if self.seconds else 0.0


def run_query_load(
    make_hook: Callable[[], Any], *, threads: int, seconds: float, pause_s: float = 0.0
) -> LoadResult:
    """``threads`` threads, each with its own hook, run ``select current_user, count(*) from items``
    for ``seconds``; every answer must be ``(user, 3)``."""
    result = LoadResult()
    lock = threading.Lock()
    stop = threading.Event()

    def worker() -> None:
        hook = make_hook()
        ok = failed = 0
        users: set[str] = set()
        errors: list[str] = []
        try:
            while not stop.is_set():
                try:
                    row = hook.get_first("select current_user, count(*) from items")
                except Exception as exc:
                    failed += 1
                    if len(errors) < 5:
                        errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                if row is None or row[1] != 3:
                    failed += 1
                    continue
                ok += 1
                users.add(row[0])
                if pause_s:
                    time.sleep(pause_s)
        finally:
            hook.close()
            with lock:
                result.ok += ok
                result.failed += failed
                result.users |= users
                result.errors.extend(errors)

    workers = [threading.Thread(target=worker, name=f"load-{i}") for i in range(threads)]
    started = time.monotonic()
    for thread in workers:
        thread.start()
    stop.wait(seconds)
    stop.set()
    for thread in workers:
        thread.join(timeout=60)
    result.seconds = time.monotonic() - started
    return result
