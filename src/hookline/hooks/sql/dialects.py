"""What differs between SQL systems, for the SQL hooks: URLs, driver arguments, error classes, upserts.

One :class:`Dialect` object per system (SQLite, PostgreSQL via psycopg 3, MySQL/MariaDB via PyMySQL);
:class:`~hookline.hooks.sql.SqlHook` delegates to the dialect of its connection's ``conn_type``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine

from hookline import masking
from hookline.connection import Connection
from hookline.hooks.sql.pooling import PoolOptions
from hookline.options import parse_float, parse_int, resolve_option

__all__ = [
    "DIALECTS",
    "Dialect",
    "Failure",
    "MySqlDialect",
    "PostgresDialect",
    "SqliteDialect",
    "split_secret_args",
]

#: How a driver error is classified: rejected credentials, unreachable server, a statement cancelled
#: by the statement timeout, or none of these.
Failure = Literal["auth", "connect", "timeout"] | None


def _holds_secret(key: str, value: Any) -> bool:
    if masking.is_sensitive_key(key):
        return True
    if isinstance(value, Mapping):
        return any(_holds_secret(str(k), v) for k, v in value.items())
    return False


def split_secret_args(args: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split driver arguments into ``(public, secret)``: an argument is secret when its name is
    sensitive (``sslpassword``, ``ssl_key``) or it is a mapping holding a sensitive name at any depth
    (PyMySQL's ``ssl`` dict). Secret ones travel with the credentials, never in an engine's key."""
    public: dict[str, Any] = {}
    secret: dict[str, Any] = {}
    for key, value in args.items():
        (secret if _holds_secret(key, value) else public)[key] = value
    return public, secret


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
            cost more than a round trip: PostgreSQL (psycopg's flag is client-side). Idle
            connections the hooks park wait in autocommit mode, so a lone statement switches nothing.
        has_credentials: Whether connections carry a login and password that can change (engines
            then check each checkout's credential generation): not SQLite.
        supports_copy: Whether the database speaks ``COPY`` (``copy_expert``; bulk load and dump
            through COPY): PostgreSQL.
        retries_dropped_sessions: Whether :meth:`dropped_before_statement` can prove a statement
            never ran, so the raw path sends it again on a new connection: PostgreSQL.
    """

    driver: ClassVar[str] = ""
    driver_package: ClassVar[tuple[str, str]] = ("", "")
    placeholder: ClassVar[str] = "%s"
    backslash_escapes: ClassVar[bool] = False
    autocommit_single_statements: ClassVar[bool] = False
    default_pool_pre_ping: ClassVar[bool] = True
    raw_statements: ClassVar[bool] = False
    raw_autocommit: ClassVar[bool] = False
    has_credentials: ClassVar[bool] = True
    supports_copy: ClassVar[bool] = False
    retries_dropped_sessions: ClassVar[bool] = False

    @property
    def name(self) -> str:
        """The SQLAlchemy dialect name (``postgresql``)."""
        return self.driver.split("+")[0]

    def build_url(self, conn: Connection, schema: str | None) -> URL:
        """The SQLAlchemy URL from the connection's fields (``schema`` overrides the database),
        login and password included."""
        return URL.create(
            self.driver,
            username=conn.login or None,
            password=conn.password or None,
            host=conn.host or None,
            port=conn.port,
            database=schema or conn.schema or None,
        )

    def engine_url(self, conn: Connection, schema: str | None) -> URL:
        """:meth:`build_url` without login and password: what a shared engine is built from (the
        credentials reach the driver at connect time, see :meth:`driver_credentials`)."""
        url = self.build_url(conn, schema)
        return URL.create(
            url.drivername, host=url.host, port=url.port, database=url.database, query=url.query
        )

    def connect_args(self, conn: Connection, options: PoolOptions) -> dict[str, Any]:
        """Keyword arguments for the DBAPI ``connect()`` besides login and password (secret ones
        included; :func:`split_secret_args` separates them)."""
        return {}

    def driver_credentials(self, conn: Connection, options: PoolOptions) -> dict[str, Any]:
        """The DBAPI ``connect()`` keyword arguments that carry ``conn``'s credentials: ``user``,
        ``password`` and the secret ones of :meth:`connect_args`."""
        args = split_secret_args(self.connect_args(conn, options))[1]
        if conn.login:
            args["user"] = conn.login
        if conn.password:
            args["password"] = conn.password
        return args

    def is_static(self, url: URL) -> bool:
        """True when the database must live on one shared connection (SQLite ``:memory:``)."""
        return False

    def on_create(self, conn: Connection, options: PoolOptions) -> Callable[[Engine], None] | None:
        """A callback to run on a newly created engine (event listeners), or None."""
        return None

    def classify(self, orig: BaseException) -> Failure:
        """Classify a DBAPI error: ``"auth"``, ``"connect"``, ``"timeout"`` or None."""
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
    has_credentials = False

    def build_url(self, conn: Connection, schema: str | None) -> URL:
        path = self.path(conn)
        return URL.create("sqlite", database=path or None)

    @staticmethod
    def path(conn: Connection) -> str:
        """The database file path ("" for an in-memory database)."""
        path = conn.host or conn.schema or ""
        return "" if path == ":memory:" else path

    def connect_args(self, conn: Connection, options: PoolOptions) -> dict[str, Any]:
        return {"check_same_thread": False, "timeout": options.connect_timeout_s}

    def driver_credentials(self, conn: Connection, options: PoolOptions) -> dict[str, Any]:
        return {}  # a file has no login: fields a connection carries anyway are not for sqlite3

    def is_static(self, url: URL) -> bool:
        return url.database is None

    def on_create(self, conn: Connection, options: PoolOptions) -> Callable[[Engine], None] | None:
        limit = options.statement_timeout_s
        if limit is None:
            return None

        def limit_statements(dbapi_conn: Any, record: Any) -> None:
            # sqlite3 has no statement timeout: the trace callback marks each statement's start,
            # the progress handler (every 1,000 VM steps) aborts one running past the limit
            # ("interrupted", classified as a timeout).
            deadline = [math.inf]

            def started(statement: str) -> None:
                deadline[0] = time.monotonic() + limit

            def check() -> int:
                return 1 if time.monotonic() > deadline[0] else 0

            dbapi_conn.set_trace_callback(started)
            dbapi_conn.set_progress_handler(check, 1000)

        def attach(engine: Engine) -> None:
            event.listen(engine, "connect", limit_statements)

        return attach

    def classify(self, orig: BaseException) -> Failure:
        text = str(orig)
        if "unable to open database file" in text:
            return "connect"
        return "timeout" if text == "interrupted" else None

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
    supports_copy = True
    retries_dropped_sessions = True

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
        extra = conn.extra
        args = {k: v for k, v in extra.items() if k in _PG_PASSTHROUGH}
        args["connect_timeout"] = max(1, math.ceil(options.connect_timeout_s))
        if options.statement_timeout_s is not None:
            # A startup parameter: no round trip. (PgBouncer rejects startup "options" unless told
            # to ignore them; behind it, set statement_timeout on the role instead.)
            ms = max(1, math.ceil(options.statement_timeout_s * 1000))
            args["options"] = f"{args.get('options', '')} -c statement_timeout={ms}".strip()
        if "prepare_threshold" in extra:
            args["prepare_threshold"] = self.prepare_threshold(extra["prepare_threshold"], conn)
        return args

    @staticmethod
    def prepare_threshold(value: Any, conn: Connection) -> int | None:
        """psycopg's ``prepare_threshold`` from an extra: executions of a query before psycopg
        prepares it server-side; ``null``/``"none"`` turns server-side preparation off, as a
        PgBouncer in transaction mode needs (a prepared statement lives in one server session)."""
        if value is None or (
            isinstance(value, str) and value.strip().lower() in ("none", "null", "")
        ):
            return None
        return parse_int(value, name="prepare_threshold", minimum=0, conn_id=conn.conn_id)

    def classify(self, orig: BaseException) -> Failure:
        sqlstate = getattr(orig, "sqlstate", None)
        text = str(orig)
        if sqlstate in ("28P01", "28000") or "password authentication failed" in text:
            return "auth"
        if sqlstate == "57014" and "statement timeout" in text:
            return "timeout"
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
# MariaDB's max_statement_time exceeded; MySQL's max_execution_time exceeded.
_MYSQL_TIMEOUT_CODES = frozenset({1969, 3024})


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

    def on_create(self, conn: Connection, options: PoolOptions) -> Callable[[Engine], None] | None:
        extra = conn.extra
        read_s = resolve_option(
            "read_timeout_s", None, extra, None,
            convert=lambda v: parse_float(v, name="read_timeout_s", minimum=0.001, conn_id=conn.conn_id),
        )  # fmt: skip
        write_s = resolve_option(
            "write_timeout_s", None, extra, None,
            convert=lambda v: parse_float(v, name="write_timeout_s", minimum=0.001, conn_id=conn.conn_id),
        )  # fmt: skip
        limit = options.statement_timeout_s

        def on_connect(dbapi_conn: Any, record: Any) -> None:
            if limit is not None:
                # MariaDB: max_statement_time (seconds, any statement); MySQL: max_execution_time
                # (milliseconds, SELECT only). One statement at connect time.
                if "mariadb" in dbapi_conn.get_server_info().lower():
                    setting = f"max_statement_time = {limit:.6f}"
                else:
                    setting = f"max_execution_time = {max(1, math.ceil(limit * 1000))}"
                with dbapi_conn.cursor() as cursor:
                    cursor.execute(f"SET SESSION {setting}")
            # PyMySQL re-applies _read_timeout/_write_timeout to the socket before each read/write.
            dbapi_conn._read_timeout = read_s
            dbapi_conn._write_timeout = write_s

        def attach(engine: Engine) -> None:
            event.listen(engine, "connect", on_connect)

        return attach

    def classify(self, orig: BaseException) -> Failure:
        code = orig.args[0] if orig.args and isinstance(orig.args[0], int) else None
        if code in _MYSQL_AUTH_CODES:
            return "auth"
        if code in _MYSQL_CONNECT_CODES:
            return "connect"
        if code in _MYSQL_TIMEOUT_CODES:
            return "timeout"
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
