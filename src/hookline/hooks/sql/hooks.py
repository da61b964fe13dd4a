"""SQL hooks: Airflow's DbApiHook API on pooled SQLAlchemy engines (SQLite, PostgreSQL, MySQL/MariaDB).

:class:`SqlHook` serves any SQL connection (the dialect follows ``conn_type``); :class:`SqliteHook`,
:class:`PostgresHook` (psycopg 3) and :class:`MySqlHook` (PyMySQL) fix the dialect and carry
Airflow's ``conn_name_attr``/``default_conn_name``. Every hook of one connection in a process shares
one engine and pool (:mod:`hookline.hooks.sql.engines`); settings come from hook arguments, then connection extras
(``pool_size``, ``max_overflow``, ``pool_timeout_s``, ``pool_recycle_s``, ``pool_pre_ping``,
``connect_timeout_s``), then defaults.

A lone statement on PostgreSQL (``get_first``, ``get_records``, ``run`` of one statement) costs one
network round trip: it runs in autocommit mode on the pooled psycopg connection itself (no BEGIN/COMMIT,
no SQLAlchemy isolation-level switching), and pre-ping sends no ping while the pool is busy (see
:mod:`hookline.hooks.sql.engines`).

SQL is sent as written (the DB-API ``execute``): use the driver's parameter style
(``%s``/``%(name)s`` for psycopg and PyMySQL, ``?``/``:name`` for SQLite). Values are always bound as
parameters, never formatted into SQL. Driver errors are translated once, here: unreachable or timed
out -> :class:`HookConnectionError`; rejected credentials -> :class:`AuthenticationFailed` (which
triggers one credential refresh and retry); exhausted pool -> :class:`PoolTimeout`; anything else ->
:class:`HookError`. Messages show the URL with ``***`` for the password and never a secret.
"""

from __future__ import annotations

import importlib.util
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine
from sqlalchemy.engine import Connection as SaConnection
from sqlalchemy.pool import PoolProxiedConnection

from hookline import masking
from hookline.connection import Connection
from hookline.exceptions import (
    AuthenticationFailed,
    HookConnectionError,
    HookError,
    HooklineError,
    MissingDependency,
)
from hookline.hooks.base import BaseHook
from hookline.hooks.sql.dialects import DIALECTS, MYSQL, POSTGRES, SQLITE, Dialect
from hookline.hooks.sql.engines import (
    LAST_CHECKIN_KEY,
    PoolOptions,
    acquire_engine,
    pool_timeout_error,
)
from hookline.hooks.sql.support import (
    ResultCursor,
    chunk_rows,
    fetch_all_handler,
    fetch_one_handler,
    first_line,
    run_on_dbapi,
    split_sql_string,
)

if TYPE_CHECKING:
    import pandas

__all__ = [
    "MySqlHook",
    "PostgresHook",
    "ResultCursor",
    "SqlHook",
    "SqliteHook",
    "fetch_all_handler",
    "fetch_one_handler",
    "split_sql_string",
]

Parameters = Mapping[str, Any] | Sequence[Any]
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


class SqlHook(BaseHook[PoolProxiedConnection]):
    """A pooled SQL hook with Airflow's DbApiHook API; the dialect follows the connection's conn_type.

    Args:
        conn: A conn_id or a Connection (default: ``default_conn_name``). The Airflow keyword named by
            ``conn_name_attr`` (``postgres_conn_id=...``) is accepted too.
        schema: Overrides the connection's schema (the database name).
        log_sql: Log each statement at DEBUG (parameters are never logged).
        pool_size: Connections kept in the pool (extra ``pool_size``; default 5).
        max_overflow: Extra connections under load (extra ``max_overflow``; default 10).
        pool_timeout_s: Wait for a free connection before :class:`PoolTimeout` (default 30).
        pool_recycle_s: Replace connections older than this (default 1800; -1 never).
        pool_pre_ping: Check pooled connections at checkout, replacing dead ones (extra
            ``pool_pre_ping``; default: on for network databases, off for SQLite files, which
            nothing can drop). The check costs a ping round trip only when the connection's socket
            shows the server ended the session, or after more than
            :data:`~hookline.hooks.sql.engines.PRE_PING_IDLE_S` (30 s) idle; a statement run on the DB-API
            connection (PostgreSQL autocommit, SQLite) that still finds its reused session ended
            by the server is sent once more on a new connection. Off: a dead pooled session fails
            the next statement with :class:`HookConnectionError`.
        connect_timeout_s: Limit for opening one connection (default 10; PostgreSQL rounds up to
            whole seconds, at least 2).
    """

    conn_type: ClassVar[str] = ""
    hook_name: ClassVar[str] = "SQL"
    default_conn_name: ClassVar[str] = "sql_default"
    conn_name_attr: ClassVar[str] = "conn_id"

    #: The dialect, fixed by subclasses; SqlHook itself picks one by the connection's conn_type.
    dialect: ClassVar[Dialect | None] = None
    _test_connection_sql: ClassVar[str] = "select 1"

    def __init__(
        self,
        conn: str | Connection | None = None,
        *,
        schema: str | None = None,
        log_sql: bool = True,
        pool_size: int | None = None,
        max_overflow: int | None = None,
        pool_timeout_s: float | None = None,
        pool_recycle_s: float | None = None,
        pool_pre_ping: bool | None = None,
        connect_timeout_s: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn, **kwargs)
        self.schema = schema
        self.log_sql = log_sql
        self._pool_overrides: dict[str, Any] = {
            "pool_size": pool_size,
            "max_overflow": max_overflow,
            "pool_timeout_s": pool_timeout_s,
            "pool_recycle_s": pool_recycle_s,
            "pool_pre_ping": pool_pre_ping,
            "connect_timeout_s": connect_timeout_s,
        }
        self._engine: Engine | None = None
        self._options: PoolOptions | None = None
        self.descriptions: list[Any] = []

    # -- dialect ------------------------------------------------------------------------------------

    @property
    def _dialect(self) -> Dialect:
        fixed = type(self).dialect
        if fixed is not None:
            return fixed
        conn_type = self.connection.conn_type or ""
        dialect = DIALECTS.get(conn_type)
        if dialect is None:
            known = ", ".join(sorted(DIALECTS))
            raise HookError(
                f"SqlHook cannot serve conn_type {conn_type!r} of connection {self.conn_id!r}; "
                f"supported: {known}",
                conn_id=self.conn_id,
            )
        return dialect

    @property
    def dialect_name(self) -> str:
        """The SQLAlchemy dialect name: ``sqlite``, ``postgresql`` or ``mysql``."""
        return self._dialect.name

    @property
    def sqlalchemy_url(self) -> URL:
        """The SQLAlchemy URL built from the connection's fields (special characters need no quoting).

        Its ``repr``/``str`` hide the password; ``render_as_string(hide_password=False)`` shows it.
        """
        return self._dialect.build_url(self.connection, self.schema)

    def get_uri(self) -> str:
        """The SQLAlchemy URL as text, **password included**: never log it."""
        return self.sqlalchemy_url.render_as_string(hide_password=False)

    @property
    def pool_options(self) -> PoolOptions:
        """The pool settings in force (hook arguments, then connection extras, then defaults)."""
        if self._options is None:
            extras = self.connection.extra_dejson
            if "connect_timeout_s" not in extras and "connect_timeout" in extras:
                extras["connect_timeout_s"] = extras["connect_timeout"]
            self._options = PoolOptions.resolve(
                self._pool_overrides,
                extras,
                conn_id=self.conn_id,
                default_pool_pre_ping=self._dialect.default_pool_pre_ping,
            )
        return self._options

    # -- engine and connections ---------------------------------------------------------------------

    def get_sqlalchemy_engine(self) -> Engine:
        """The process-wide pooled engine of this connection (shared with other hooks of it)."""
        engine = self._engine
        if engine is None:
            dialect = self._dialect
            module, extra = dialect.driver_package
            if module and importlib.util.find_spec(module) is None:
                raise MissingDependency(module, extra, purpose=f"{type(self).__name__}")
            url = self.sqlalchemy_url
            options = self.pool_options
            key = self.conn_id if self._resolvable else "anonymous:" + self.conn_id
            engine, _ = acquire_engine(
                key,
                url,
                options,
                connect_args=dialect.connect_args(self.connection, options),
                static_pool=dialect.is_static(url),
                on_create=dialect.on_create(self.connection),
            )
            self._engine = engine
        return engine

    def pool_status(self) -> dict[str, int]:
        """Counts of the shared pool: ``size``, ``checked_out``, ``checked_in``, ``overflow``."""
        pool: Any = self.get_sqlalchemy_engine().pool
        if not hasattr(pool, "checkedout"):
            return {"size": 1, "checked_out": 0, "checked_in": 1, "overflow": 0}
        return {
            "size": pool.size(),
            "checked_out": pool.checkedout(),
            "checked_in": pool.checkedin(),
            "overflow": pool.overflow(),
        }

    def get_conn(self) -> PoolProxiedConnection:
        """A DB-API connection checked out from the shared pool (the same one until :meth:`close`).

        The hook returns it to the pool on :meth:`close` or at the end of its ``with`` block; calling
        the connection's own ``close()`` returns it early. Other methods of the hook check out and
        return their own connections and never touch this one.
        """
        client = self._client
        if client is None:
            client = self.run_with_refresh(self._checkout)
            self._client = client
        return client

    def get_cursor(self) -> Any:
        """A DB-API cursor on :meth:`get_conn`'s connection (Airflow's ``get_cursor``)."""
        return self.get_conn().cursor()

    def _checkout(self) -> PoolProxiedConnection:
        engine = self.get_sqlalchemy_engine()
        # raw_connection() raises the driver's own errors, not SQLAlchemy's wrappers.
        driver_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        try:
            return engine.raw_connection()
        except (sa_exc.DBAPIError, sa_exc.TimeoutError, driver_error) as exc:
            raise self._translate(exc, connecting=True) from exc

    def close_conn(self) -> None:
        """Return :meth:`get_conn`'s connection to the pool (the shared engine stays open)."""
        client = self._client
        if client is not None:
            self._client = None
            client.close()

    def reset_client(self) -> None:
        """Return the connection and forget the engine, so the next use builds one from fresh fields."""
        super().reset_client()
        self._engine = None
        self._options = None

    @contextmanager
    def _connect(self, autocommit: bool = False) -> Iterator[SaConnection]:
        """A pooled SQLAlchemy connection, returned to the pool on exit; driver errors translated."""
        engine = self.get_sqlalchemy_engine()
        try:
            conn = engine.connect()
        except (sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
            raise self._translate(exc, connecting=True) from exc
        with conn:
            if autocommit:
                conn.execution_options(isolation_level="AUTOCOMMIT")
            try:
                yield conn
            except sa_exc.DBAPIError as exc:
                raise self._translate(exc, connecting=False) from exc

    def _translate(self, exc: Exception, *, connecting: bool, lost: bool = False) -> HooklineError:
        if isinstance(exc, sa_exc.TimeoutError):
            return pool_timeout_error(self.pool_options, self.conn_id)
        orig: BaseException = exc
        if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
            orig = exc.orig
        kind = self._dialect.classify(orig)
        detail = first_line(orig)
        password = self.connection.password
        if password:
            detail = detail.replace(password, masking.REDACTED)
        detail = masking.redact(detail)
        where = self.sqlalchemy_url.render_as_string(hide_password=True)
        name = type(self).__name__
        if kind == "auth":
            return AuthenticationFailed(
                f"{name} {self.conn_id!r}: the server rejected the credentials for {where}: "
                f"{detail}",
                conn_id=self.conn_id,
            )
        if connecting:
            limit = self.pool_options.connect_timeout_s
            return HookConnectionError(
                f"{name} {self.conn_id!r}: cannot connect to {where} "
                f"(connect_timeout_s={limit:g}): {detail}",
                conn_id=self.conn_id,
            )
        if (
            kind == "connect"
            or lost
            or (isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated)
        ):
            return HookConnectionError(
                f"{name} {self.conn_id!r}: lost the connection to {where}: {detail}",
                conn_id=self.conn_id,
            )
        return HookError(
            f"{name} {self.conn_id!r}: {type(orig).__name__}: {detail}", conn_id=self.conn_id
        )

    # -- DbApiHook API ------------------------------------------------------------------------------

    def run(
        self,
        sql: str | Sequence[str],
        parameters: Parameters | None = None,
        *,
        autocommit: bool = False,
        handler: Callable[[ResultCursor], Any] | None = None,
        split_statements: bool = False,
        return_last: bool = True,
    ) -> Any:
        """Run one or more statements on one pooled connection (Airflow's ``DbApiHook.run``).

        Args:
            sql: A statement, a script (with ``split_statements``) or a list of statements.
            parameters: Bound to every statement, in the driver's parameter style.
            autocommit: Run without a transaction; otherwise all statements commit together.
            handler: Called with a :class:`ResultCursor` after each statement.
            split_statements: Split a string at top-level ``;`` (see :func:`split_sql_string`).
            return_last: With a string and splitting, return only the last statement's result.

        Returns:
            None without a handler; the single result when ``sql`` is a string and (``return_last``
            or not ``split_statements``); otherwise a list with one result per statement.

        Raises:
            ValueError: no statements.
            HookConnectionError, AuthenticationFailed, PoolTimeout, HookError: as the module says.
        """
        if isinstance(parameters, bool):
            raise TypeError("parameters is the 2nd argument; pass autocommit=... by keyword")
        if isinstance(sql, str):
            statements = (
                split_sql_string(sql, backslash_escapes=self._dialect.backslash_escapes)
                if split_statements
                else [sql]
            )
        else:
            statements = list(sql)
        if not statements or not all(s.strip() for s in statements):
            raise ValueError("List of SQL statements is empty")
        bound: Any = None
        if parameters is not None:
            bound = dict(parameters) if isinstance(parameters, Mapping) else tuple(parameters)

        def action() -> list[Any]:
            return self._run(statements, bound, autocommit, handler)

        results = self.run_with_refresh(action)
        if handler is None:
            return None
        if isinstance(sql, str) and (return_last or not split_statements):
            self.descriptions = self.descriptions[-1:]
            return results[-1]
        return results

    def _run(
        self,
        statements: list[str],
        bound: Any,
        autocommit: bool,
        handler: Callable[[ResultCursor], Any] | None,
    ) -> list[Any]:
        results: list[Any] = []
        descriptions: list[Any] = []
        # One statement is atomic on its own: where BEGIN/COMMIT cost round trips (PostgreSQL), run it
        # in autocommit mode, which gives the same result with two fewer round trips.
        dialect = self._dialect
        autocommit = autocommit or (len(statements) == 1 and dialect.autocommit_single_statements)
        if dialect.raw_autocommit and autocommit:
            return self._run_raw(statements, bound, handler, autocommit=True)
        if dialect.raw_statements and not autocommit:
            return self._run_raw(statements, bound, handler)
        with self._connect(autocommit) as conn:
            if bound is None:
                conn.execution_options(no_parameters=True)
            for statement in statements:
                if self.log_sql:
                    self.log.debug("Running statement: %s", statement)
                result = (
                    conn.exec_driver_sql(statement)
                    if bound is None
                    else conn.exec_driver_sql(statement, bound)
                )
                try:
                    cursor = ResultCursor(result, conn_id=self.conn_id)
                    descriptions.append(cursor.description)
                    if handler is not None:
                        results.append(handler(cursor))
                finally:
                    result.close()
            if not autocommit:
                conn.commit()
        self.descriptions = descriptions
        return results

    def _run_raw(
        self,
        statements: list[str],
        bound: Any,
        handler: Callable[[ResultCursor], Any] | None,
        *,
        autocommit: bool = False,
    ) -> list[Any]:
        """:meth:`_run` on the pooled DB-API connection itself (dialects with ``raw_statements``, or
        ``raw_autocommit`` in autocommit mode): the same statements, parameters, results and errors,
        without SQLAlchemy's per-statement Connection and Result objects.

        With pre-ping on, a statement that fails first on a connection reused from the pool because
        the server had already ended that session (a disconnect error the dialect's
        ``dropped_before_statement`` accepts) is sent once more on a new connection: the pre-ping
        check at checkout only sees a session ended before the call.
        """
        dialect = self._dialect
        engine_dialect = self.get_sqlalchemy_engine().dialect
        debug = self.log.debug if self.log_sql else None
        for attempt in (1, 2):
            fairy = self._checkout()
            reused = LAST_CHECKIN_KEY in fairy.info
            dbapi_conn = fairy.dbapi_connection
            results: list[Any] = []
            descriptions: list[Any] = []
            failure: Any = None
            try:
                if autocommit:
                    dialect.set_autocommit(dbapi_conn, True)
                run_on_dbapi(
                    dbapi_conn,
                    statements,
                    bound,
                    handler,
                    self.conn_id,
                    debug,
                    commit=not autocommit,
                    results=results,
                    descriptions=descriptions,
                )
            except engine_dialect.loaded_dbapi.Error as exc:
                failure = exc
            except BaseException:
                self._release_raw(fairy, autocommit, lost=None)
                raise
            lost = failure is not None and engine_dialect.is_disconnect(failure, dbapi_conn, None)
            self._release_raw(fairy, autocommit, lost=failure if lost else None)
            if failure is None:
                self.descriptions = descriptions
                return results
            if (
                lost
                and attempt == 1
                and reused
                and not descriptions
                and dialect.dropped_before_statement(failure)
            ):
                self.log.info(
                    "connection %r: the server had ended a pooled session; retrying on a new one",
                    self.conn_id,
                )
                continue
            raise self._translate(failure, connecting=False, lost=lost) from failure
        raise AssertionError("unreachable")  # pragma: no cover

    def _release_raw(
        self, fairy: PoolProxiedConnection, autocommit: bool, *, lost: BaseException | None
    ) -> None:
        """Return a connection used by :meth:`_run_raw` to the pool (rolled back if not committed),
        autocommit switched off again; a lost one (or one that cannot switch back) is invalidated."""
        try:
            if lost is None and autocommit:
                try:
                    self._dialect.set_autocommit(fairy.dbapi_connection, False)
                except Exception as exc:
                    lost = exc
            if lost is not None:
                fairy.invalidate(lost if isinstance(lost, Exception) else None)
        finally:
            fairy.close()

    @property
    def last_description(self) -> Any:
        """The ``description`` of the last statement run (None when it returned no rows)."""
        return self.descriptions[-1] if self.descriptions else None

    def get_records(self, sql: str | Sequence[str], parameters: Parameters | None = None) -> Any:
        """All rows of ``sql`` as a list of tuples (a list of such lists for a list of statements)."""
        return self.run(sql, parameters, handler=fetch_all_handler)

    def get_first(self, sql: str | Sequence[str], parameters: Parameters | None = None) -> Any:
        """The first row of ``sql`` as a tuple, or None."""
        return self.run(sql, parameters, handler=fetch_one_handler)

    def insert_rows(
        self,
        table: str,
        rows: Iterable[Sequence[Any]],
        target_fields: Sequence[str] | None = None,
        commit_every: int = 1000,
        replace: bool = False,
        *,
        replace_index: str | Sequence[str] | None = None,
    ) -> int:
        """Insert ``rows`` with ``executemany`` in chunks of ``commit_every``, committing each chunk.

        Values are bound as parameters. ``table`` (optionally ``schema.table``) and ``target_fields``
        must be plain identifiers (letters, digits, ``_``, ``$``); they are quoted when needed
        (reserved words, upper case).

        Args:
            table: The table name.
            rows: The rows; an iterable is consumed lazily, one chunk at a time.
            target_fields: Column names (default: every column, in table order).
            commit_every: Rows per chunk and transaction (``0``: everything in one transaction).
            replace: Replace rows with the same key (``REPLACE INTO``; PostgreSQL uses
                ``ON CONFLICT (replace_index) DO UPDATE``, which needs ``target_fields`` and
                ``replace_index``).
            replace_index: PostgreSQL only: the unique column(s) that identify a row.

        Returns:
            The number of rows inserted.

        Raises:
            HookError: an invalid identifier, a row of the wrong width, or a database error.
        """
        if commit_every < 0:
            raise ValueError("commit_every must be >= 0")
        iterator = iter(rows)
        first = next(iterator, None)
        if first is None:
            return 0
        width = len(first) if target_fields is None else len(target_fields)
        sql = self._insert_sql(table, target_fields, width, replace, replace_index)
        chunks = chunk_rows(itertools.chain([first], iterator), commit_every, width, self.conn_id)

        def action() -> int:
            total = 0
            with self._connect() as conn:
                for chunk in chunks:
                    conn.exec_driver_sql(sql, chunk)
                    conn.commit()
                    total += len(chunk)
                    self.log.debug("inserted %d rows into %s so far", total, table)
            return total

        return self.run_with_refresh(action)

    def _insert_sql(
        self,
        table: str,
        target_fields: Sequence[str] | None,
        width: int,
        replace: bool,
        replace_index: str | Sequence[str] | None,
    ) -> str:
        quote = self.get_sqlalchemy_engine().dialect.identifier_preparer.quote
        names = [self._identifier(part, "table") for part in table.split(".")]
        qtable = ".".join(quote(part) for part in names)
        fields = [self._identifier(f, "column") for f in target_fields or ()]
        columns = f"({', '.join(quote(f) for f in fields)}) " if fields else ""
        values = ", ".join([self._dialect.placeholder] * width)
        if not replace:
            return f"INSERT INTO {qtable} {columns}VALUES ({values})"
        index = [replace_index] if isinstance(replace_index, str) else list(replace_index or ())
        index = [quote(self._identifier(i, "replace_index column")) for i in index]
        return self._dialect.replace_sql(qtable, columns, values, [quote(f) for f in fields], index)

    def _identifier(self, name: str, what: str) -> str:
        if not isinstance(name, str) or _IDENTIFIER.fullmatch(name) is None:
            raise HookError(
                f"{type(self).__name__} {self.conn_id!r}: invalid {what} name {name!r}: use letters, "
                "digits, _ and $ (run() takes any SQL)",
                conn_id=self.conn_id,
            )
        return name

    def get_df(
        self,
        sql: str,
        parameters: Parameters | None = None,
        *,
        df_type: Literal["pandas", "polars"] = "pandas",
        **kwargs: Any,
    ) -> Any:
        """The result of ``sql`` as a DataFrame.

        With ``df_type="pandas"`` (default), ``kwargs`` go to ``pandas.read_sql`` (``index_col``,
        ``parse_dates``, ...). With ``"polars"``, the rows are fetched through :meth:`get_records`
        and ``kwargs`` go to ``polars.DataFrame``.

        Raises:
            MissingDependency: pandas (extra ``pandas``) or polars (extra ``polars``) is missing.
            ValueError: an unknown ``df_type``.
        """
        if df_type == "polars":
            try:
                import polars  # type: ignore[import-not-found, unused-ignore]
            except ImportError as exc:
                raise MissingDependency(
                    "polars", "polars", purpose="get_df(df_type='polars')"
                ) from exc
            rows = self.get_records(sql, parameters) or []
            columns = [column[0] for column in self.last_description or ()]
            return polars.DataFrame(rows, schema=columns, orient="row", **kwargs)
        if df_type != "pandas":
            raise ValueError(f"df_type must be 'pandas' or 'polars', not {df_type!r}")
        try:
            import pandas
        except ImportError as exc:
            raise MissingDependency("pandas", "pandas", purpose="get_df") from exc
        bound: Any = None
        if parameters is not None:
            bound = dict(parameters) if isinstance(parameters, Mapping) else tuple(parameters)

        def action() -> pandas.DataFrame:
            with self._connect() as conn:
                if bound is None:
                    conn.execution_options(no_parameters=True)
                return pandas.read_sql(sql, conn, params=bound, **kwargs)

        return self.run_with_refresh(action)

    def _test(self) -> None:
        if not self.get_first(self._test_connection_sql):
            raise HookError(f"{self._test_connection_sql!r} returned no row", conn_id=self.conn_id)


class SqliteHook(SqlHook):
    """SQLite through the standard library. The connection's host is the database file path
    (Airflow's convention; ``schema`` is read when host is empty, as ``sqlite:////abs/path.db``
    parses). An empty path or ``:memory:`` is an in-memory database shared by the process's hooks of
    the connection (one connection, no pool settings). Placeholders: ``?`` or ``:name``."""

    conn_type = "sqlite"
    hook_name = "SQLite"
    default_conn_name = "sqlite_default"
    conn_name_attr = "sqlite_conn_id"
    dialect = SQLITE


class PostgresHook(SqlHook):
    """PostgreSQL through psycopg 3 (``postgresql+psycopg``); ``schema`` is the database name.

    Extras that are libpq parameters (``sslmode``, ``application_name``, ``options``, ...) go to the
    driver. ``insert_rows(..., replace=True, replace_index=...)`` upserts with ``ON CONFLICT``.
    """

    conn_type = "postgres"
    hook_name = "Postgres"
    default_conn_name = "postgres_default"
    conn_name_attr = "postgres_conn_id"
    dialect = POSTGRES


class MySqlHook(SqlHook):
    """MySQL and MariaDB through PyMySQL (``mysql+pymysql``); ``schema`` is the database name.

    TLS is off unless the extras ask for it (``ssl`` as a dict of PyMySQL ssl options, or ``ssl_ca``,
    ``ssl_cert``, ``ssl_key``): PyMySQL's default TLS attempt costs about 19 ms per connect even
    against a server without TLS. ``charset`` defaults to ``utf8mb4``. Extras ``read_timeout_s`` and
    ``write_timeout_s`` bound each read/write once connected (default: none).
    """

    conn_type = "mysql"
    hook_name = "MySQL"
    default_conn_name = "mysql_default"
    conn_name_attr = "mysql_conn_id"
    dialect = MYSQL
