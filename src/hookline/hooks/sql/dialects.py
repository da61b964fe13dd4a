"""What differs between SQL systems, for the SQL hooks: URLs, driver arguments, error classes, upserts.

One :class:`Dialect` object per system (SQLite, PostgreSQL via psycopg 3, MySQL/MariaDB via PyMySQL);
:class:`~hookline.hooks.sql.SqlHook` delegates to the dialect of its connection's ``conn_type``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine

from hookline.connection import Connection
from hookline.hooks.sql.engines import PoolOptions

__all__ = [
    "DIALECTS",
    "Dialect",
    "Failure",
    "MySqlDialect",
    "PostgresDialect",
    "SqliteDialect",
]

#: How a driver error is classified: rejected credentials, unreachable server, or neither.
Failure = Literal["auth", "connect"] | None


class Dialect:
    """The system-specific parts of a SQL hook.

    Attributes:
        driver: The SQLAlchemy driver name (``postgresql+psycopg``).
        driver_package: The import name of the DBAPI module and the hookline extra that installs it.
        placeholder: The positional placeholder ``insert_rows`` writes.
        backslash_escapes: Whether ``\\'`` escapes a quote inside strings (script splitting).
        autocommit_single_statements: Run a lone statement in autocommit mode (as atomic as
            BEGIN/statement/COMMIT, without the two extra round trips where the driver sends them).
        default_pool_pre_ping: Whether pooled connections are tested at checkout unless the hook or
            the connection says otherwise: on for network databases (a server restart or an idle
            timeout kills pooled sessions), off for SQLite files (nothing can drop them, and the
            test would double the cost of a checkout).
        raw_statements: Run statements (outside autocommit mode) on the pooled DB-API connection
            directly instead of through SQLAlchemy's Connection and Result layers, which cost more
            than the statement itself on an embedded database. Only where the driver needs nothing
            from those layers: SQLite (sqlite3 begins and ends transactions itself, as SQLAlchemy
            lets it).
        raw_autocommit: Run statements in autocommit mode (a lone statement, or ``autocommit=True``)
            on the pooled DB-API connection directly, switching the driver's autocommit flag on for
            the call (see :meth:`set_autocommit`; it must cost no round trip) instead of going
            through SQLAlchemy's Connection, isolation-level switching and Result layers, which
            cost more than a round trip: PostgreSQL (psycopg's flag is client-side).
    """

    driver: ClassVar[str] = ""
    driver_package: ClassVar[tuple[str, str]] = ("", "")
    placeholder: ClassVar[str] = "%s"
    backslash_escapes: ClassVar[bool] = False
    autocommit_single_statements: ClassVar[bool] = False
    default_pool_pre_ping: ClassVar[bool] = True
    raw_statements: ClassVar[bool] = False
    raw_autocommit: ClassVar[bool] = False

    @property
    def name(self) -> str:
        """The SQLAlchemy dialect name (``postgresql``)."""
        return self.driver.split("+")[0]

    def build_url(self, conn: Connection, schema: str | None) -> URL:
        """The SQLAlchemy URL from the connection's fields (``schema`` overrides the database)."""
        return URL.create(
            self.driver,
            username=conn.login or None,
            password=conn.password or None,
            host=conn.host or None,
            port=conn.port,
            database=schema or conn.schema or None,
        )

    def connect_args(self, conn: Connection, options: PoolOptions) -> dict[str, Any]:
        """Keyword arguments for the DBAPI ``connect()``."""
        return {}

    def is_static(self, url: URL) -> bool:
        """True when the database must live on one shared connection (SQLite ``:memory:``)."""
        return False

    def on_create(self, conn: Connection) -> Callable[[Engine], None] | None:
        """A callback to run on a newly created engine (event listeners), or None."""
        return None

    def classify(self, orig: BaseException) -> Failure:
        """Classify a DBAPI error: ``"auth"``, ``"connect"`` or None."""
        return None

    def set_autocommit(self, dbapi_conn: Any, on: bool) -> None:
        """Switch a DB-API connection's autocommit mode (dialects with ``raw_autocommit``)."""
        raise NotImplementedError(f"{type(self).__name__} has no raw autocommit mode")

    def dropped_before_statement(self, orig: BaseException) -> bool:
        """Whether a disconnect error proves the server ended the session without running (or
        without committing) the statement, so it may be sent again on a new connection."""
        return False

    def replace_sql(
        self, table: str, columns: str, values: str, fields: Sequence[str], index: Sequence[str]
    ) -> str:
        """The statement inserting a row or replacing the one with the same key."""
        return f"REPLACE INTO {table} {columns}VALUES ({values})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SqliteDialect(Dialect):
    """SQLite: the host (or, as ``sqlite:////abs/path.db`` parses, the schema) is the file path."""

    driver = "sqlite"
    placeholder = "?"
    default_pool_pre_ping = False
    raw_statements = True

    def build_url(self, conn: Connection, schema: str | None) -> URL:
        path = conn.host or conn.schema or ""
        return URL.create("sqlite", database=None if path in ("", ":memory:") else path)

    def connect_args(self, conn: Connection, options: PoolOptions) -> dict[str, Any]:
        return {"check_same_thread": False, "timeout": options.connect_timeout_s}

    def is_static(self, url: URL) -> bool:
        return url.database is None

    def classify(self, orig: BaseException) -> Failure:
        return "connect" if "unable to open database file" in str(orig) else None

    def replace_sql(
        self, table: str, columns: str, values: str, fields: Sequence[str], index: Sequence[str]
    ) -> str:
        return f"INSERT OR REPLACE INTO {table} {columns}VALUES ({values})"


_PG_PASSTHROUGH = frozenset(
    {
        "sslmode", "sslcert", "sslkey", "sslrootcert", "sslcrl", "sslpassword", "application_name",
        "options", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
        "target_session_attrs", "client_encoding", "gssencmode", "channel_binding",
    }
)  # fmt: skip


class PostgresDialect(Dialect):
    """PostgreSQL through psycopg 3; libpq extras (``sslmode``, ``application_name``, ...) pass through.

    libpq takes whole seconds for ``connect_timeout`` and psycopg enforces at least 2.
    """

    driver = "postgresql+psycopg"
    driver_package = ("psycopg", "postgres")
    autocommit_single_statements = True
    raw_autocommit = True

    def set_autocommit(self, dbapi_conn: Any, on: bool) -> None:
        dbapi_conn.autocommit = on  # psycopg: client-side, no round trip

    def dropped_before_statement(self, orig: BaseException) -> bool:
        # Class 57P (admin/crash shutdown, cannot connect now): the backend was terminated and a
        # terminated backend aborts the statement it was running; no SQLSTATE: the socket had
        # been closed (EOF), almost always before the statement arrived. (Only a server crash
        # between a statement's commit and its reply could make the retry run it twice.)
        sqlstate = getattr(orig, "sqlstate", None)
        return sqlstate is None or str(sqlstate).startswith("57P")

    def connect_args(self, conn: Connection, options: PoolOptions) -> dict[str, Any]:
        args = {k: v for k, v in conn.extra.items() if k in _PG_PASSTHROUGH}
        args["connect_timeout"] = max(1, math.ceil(options.connect_timeout_s))
        return args

    def classify(self, orig: BaseException) -> Failure:
        sqlstate = getattr(orig, "sqlstate", None)
        text = str(orig)
        if sqlstate in ("28P01", "28000") or "password authentication failed" in text:
            return "auth"
        if "connection failed" in text or "timeout expired" in text:
            return "connect"
        return None

    def replace_sql(
        self, table: str, columns: str, values: str, fields: Sequence[str], index: Sequence[str]
    ) -> str:
        if not fields or not index:
            raise ValueError(
                "PostgreSQL replace needs target_fields and replace_index (the unique columns)"
            )
        updates = [f"{f} = excluded.{f}" for f in fields if f not in index]
        action = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
        return (
            f"INSERT INTO {table} {columns}VALUES ({values}) "
            f"ON CONFLICT ({', '.join(index)}) {action}"
        )


_MYSQL_AUTH_CODES = frozenset({1045, 1698})
_MYSQL_CONNECT_CODES = frozenset({2002, 2003, 2005, 2006, 2013})


class MySqlDialect(Dialect):
    """MySQL/MariaDB through PyMySQL: TLS off unless extras ask, ``charset`` default ``utf8mb4``."""

    driver = "mysql+pymysql"
    driver_package = ("pymysql", "mysql")
    backslash_escapes = True

    def build_url(self, conn: Connection, schema: str | None) -> URL:
        url = super().build_url(conn, schema)
        return url.update_query_dict({"charset": str(conn.extra.get("charset", "utf8mb4"))})

    def connect_args(self, conn: Connection, options: PoolOptions) -> dict[str, Any]:
        # PyMySQL's connect_timeout covers only the TCP connect; the handshake reads use
        # read_timeout. Bound both by connect_timeout_s here; on_create restores the read/write
        # timeouts once connected.
        limit = options.connect_timeout_s
        args: dict[str, Any] = {
            "connect_timeout": limit,
            "read_timeout": limit,
            "write_timeout": limit,
        }
        extra = conn.extra_dejson
        ssl = {k: extra[k] for k in ("ssl_ca", "ssl_cert", "ssl_key") if extra.get(k)}
        if isinstance(extra.get("ssl"), Mapping):
            args["ssl"] = dict(extra["ssl"])
        elif ssl:
            args.update(ssl)
        else:
            args["ssl_disabled"] = True
        return args

    def on_create(self, conn: Connection) -> Callable[[Engine], None] | None:
        extra = conn.extra
        read_s = float(extra["read_timeout_s"]) if extra.get("read_timeout_s") else None
        write_s = float(extra["write_timeout_s"]) if extra.get("write_timeout_s") else None

        def restore_timeouts(dbapi_conn: Any, record: Any) -> None:
            # PyMySQL re-applies _read_timeout/_write_timeout to the socket before each read/write.
            dbapi_conn._read_timeout = read_s
            dbapi_conn._write_timeout = write_s

        def attach(engine: Engine) -> None:
            event.listen(engine, "connect", restore_timeouts)

        return attach

    def classify(self, orig: BaseException) -> Failure:
        code = orig.args[0] if orig.args and isinstance(orig.args[0], int) else None
        if code in _MYSQL_AUTH_CODES:
            return "auth"
        if code in _MYSQL_CONNECT_CODES:
            return "connect"
        return None


SQLITE = SqliteDialect()
POSTGRES = PostgresDialect()
MYSQL = MySqlDialect()

#: conn_type -> dialect, for the generic SqlHook.
DIALECTS: dict[str, Dialect] = {
    "sqlite": SQLITE,
    "postgres": POSTGRES,
    "postgresql": POSTGRES,
    "mysql": MYSQL,
    "mariadb": MYSQL,
}
