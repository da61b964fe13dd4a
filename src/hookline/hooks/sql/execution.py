"""The engine side of the SQL hooks: the shared engine, checkouts, statements and error translation.

:class:`SqlExecutor` is the base of :class:`~hookline.hooks.sql.SqlHook`; it holds what every SQL hook
method needs and no Airflow API of its own:

* the dialect (fixed by the class, or picked by the connection's ``conn_type``) and the options;
* the :class:`~hookline.hooks.sql.engines.SharedEngine` of ``(connection, options)``, whose
  ``do_connect`` event takes the credentials from the resolver (a hook built from a conn_id) or
  from the Connection object the hook was given, so no engine holds a password;
* :meth:`SqlExecutor._execute`: statements on the pooled DB-API connection directly where the
  dialect allows it (PostgreSQL in autocommit mode, SQLite), else through SQLAlchemy;
* :meth:`SqlExecutor._translate`: driver errors to hookline's: unreachable or timed out ->
  :class:`HookConnectionError`; rejected credentials -> :class:`AuthenticationFailed` (which
  triggers one credential refresh and retry); exhausted pool -> :class:`PoolTimeout`; statement
  timeout -> :class:`StatementTimeout`; anything else -> :class:`HookError`. Messages show the URL
  with ``***`` for the password, masked like every other message (:func:`hookline.masking.redact`),
  and the error is chained from a masked :class:`~hookline.exceptions.DriverError`, never from the
  driver's exception, whose text can quote a bound parameter.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine
from sqlalchemy.engine import Connection as SaConnection
from sqlalchemy.pool import PoolProxiedConnection

from hookline import masking
from hookline.connection import Connection
from hookline.events import default_bus
from hookline.exceptions import (
    AuthenticationFailed,
    HookConnectionError,
    HookError,
    HooklineError,
    MissingDependency,
    StatementTimeout,
)
from hookline.hooks.base import BaseHook
from hookline.hooks.sql.dialects import DIALECTS, Dialect, split_secret_args
from hookline.hooks.sql.engines import CredentialSource, EngineSpec, SharedEngine, acquire_engine
from hookline.hooks.sql.pooling import LAST_CHECKIN_KEY, PoolOptions, pool_timeout_error
from hookline.hooks.sql.support import (
    ResultCursor,
    driver_error,
    first_line,
    run_on_dbapi,
    split_sql_string,
)
from hookline.resolve.default import get_connection

__all__ = ["SqlExecutor"]


class SqlExecutor(BaseHook[PoolProxiedConnection]):
    """Shared engine, checkouts, statement execution and error translation of the SQL hooks.

    Args:
        conn: A conn_id or a Connection (default: ``default_conn_name``). The Airflow keyword named by
            ``conn_name_attr`` (``postgres_conn_id=...``) is accepted too.
        schema: Overrides the connection's schema (the database name).
        log_sql: Log each statement at DEBUG (parameters are never logged).
        pool_size, max_overflow, pool_timeout_s, pool_recycle_s, pool_pre_ping, connect_timeout_s,
            statement_timeout_s: See :class:`~hookline.hooks.sql.SqlHook`.
    """

    #: The dialect, fixed by subclasses; SqlHook itself picks one by the connection's conn_type.
    dialect: ClassVar[Dialect | None] = None

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
        statement_timeout_s: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn, **kwargs)
        # Built from a conn_id: new DB connections take their credentials from the resolver.
        self._by_id = self._connection is None
        self.schema = schema
        self.log_sql = log_sql
        self._pool_overrides: dict[str, Any] = {
            "pool_size": pool_size,
            "max_overflow": max_overflow,
            "pool_timeout_s": pool_timeout_s,
            "pool_recycle_s": pool_recycle_s,
            "pool_pre_ping": pool_pre_ping,
            "connect_timeout_s": connect_timeout_s,
            "statement_timeout_s": statement_timeout_s,
        }
        self._shared: SharedEngine | None = None
        self._options: PoolOptions | None = None
        self._picked: Dialect | None = type(self).dialect
        self.descriptions: list[Any] = []

    # -- dialect and options --------------------------------------------------------------------------

    @property
    def _dialect(self) -> Dialect:
        dialect = self._picked
        if dialect is None:
            conn_type = self.connection.conn_type or ""
            dialect = DIALECTS.get(conn_type)
            if dialect is None:
                known = ", ".join(sorted(DIALECTS))
                raise HookError(
                    f"{type(self).__name__} cannot serve conn_type {conn_type!r} of connection "
                    f"{self.conn_id!r}; supported: {known}",
                    conn_id=self.conn_id,
                )
            self._picked = dialect
        return dialect

    @property
    def dialect_name(self) -> str:
        """The SQLAlchemy dialect name: ``sqlite``, ``postgresql`` or ``mysql``."""
        return self._dialect.name

    @property
    def sqlalchemy_url(self) -> URL:
        """The SQLAlchemy URL built from the connection's fields, password included (special
        characters need no quoting). Its ``repr``/``str`` hide the password. The shared engine is
        built from this URL *without* login and password (see :mod:`hookline.hooks.sql.engines`)."""
        return self._dialect.build_url(self.connection, self.schema)

    def get_uri(self) -> str:
        """The connection as a URL SQLAlchemy's ``create_engine`` accepts, **password included**
        (``postgresql+psycopg://user:pa%40ss@host:5432/db``, as Airflow's ``PostgresHook.get_uri``):
        never log it."""
        return self.sqlalchemy_url.render_as_string(hide_password=False)

    @property
    def pool_options(self) -> PoolOptions:
        """The settings in force (hook arguments, then connection extras, then defaults)."""
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

    # -- the shared engine ----------------------------------------------------------------------------

    def _engine_spec(self) -> EngineSpec:
        """What the shared engine is built from: no login, no password, no secret driver argument."""
        dialect = self._dialect
        options = self.pool_options
        url = dialect.engine_url(self.connection, self.schema)
        public, _ = split_secret_args(dialect.connect_args(self.connection, options))
        return EngineSpec.build(
            url.render_as_string(hide_password=False),
            options,
            public,
            static=dialect.is_static(url),
        )

    def _shared_engine(self) -> SharedEngine:
        shared = self._shared
        if shared is not None:
            return shared
        dialect = self._dialect
        module, extra = dialect.driver_package
        if module and importlib.util.find_spec(module) is None:
            raise MissingDependency(module, extra, purpose=type(self).__name__)
        conn = self.connection
        options = self.pool_options
        conn_id = self.conn_id

        def pending(exc: BaseException) -> Connection | None:
            if dialect.classify(exc) != "auth":
                return None
            from hookline.rotation.fallback import pending_connection

            return pending_connection(conn_id)

        def source() -> CredentialSource:
            if self._by_id:
                return CredentialSource(fetch=lambda: get_connection(conn_id), fallback=pending)
            return CredentialSource(given=conn)

        def credentials(current: Connection) -> dict[str, Any]:
            return dialect.driver_credentials(current, options)

        shared = acquire_engine(
            conn_id if self._resolvable else "anonymous:" + conn_id,
            self._engine_spec(),
            source,
            driver_credentials=credentials,
            autocommit_setter=dialect.set_autocommit if dialect.raw_autocommit else None,
            on_create=dialect.on_create(conn, options),
            rotates=dialect.has_credentials,
        )
        shared.offer(conn)
        self._shared = shared
        return shared

    def get_sqlalchemy_engine(self, engine_kwargs: dict[str, Any] | None = None) -> Engine:
        """The process-wide pooled engine of this connection (shared with other hooks of it).

        With ``engine_kwargs`` (Airflow's argument), a new engine of its own is built with those
        ``create_engine`` arguments instead, credentials supplied at connect time the same way;
        the caller disposes it.
        """
        if engine_kwargs is None:
            return self._shared_engine().engine
        return self._shared_engine().private_engine(engine_kwargs)

    def pool_status(self) -> dict[str, int]:
        """Counts of the shared pool: ``size``, ``checked_out``, ``checked_in``, ``overflow``
        (idle connections parked for the next call count as checked in)."""
        return self._shared_engine().status()

    def reset_client(self) -> None:
        """Return :meth:`get_conn`'s connection and forget the engine, so the next use builds one
        from the current fields. Called after a refresh found new credentials: the shared engine
        then opens its next DB connections with them, and replaces older ones at their next
        checkout (see :meth:`SharedEngine.renew`)."""
        shared = self._shared
        super().reset_client()
        self._shared = None
        self._options = None
        self._picked = type(self).dialect
        if shared is not None:
            if shared.credentials.kind == "resolved":
                shared.renew()
            elif self._connection is not None:
                shared.offer(self._connection)

    # -- connections ----------------------------------------------------------------------------------

    def get_conn(self) -> PoolProxiedConnection:
        """A DB-API connection checked out from the shared pool (the same one until :meth:`close`).

        The hook returns it to the pool on :meth:`close` or at the end of its ``with`` block; calling
        the connection's own ``close()`` returns it early. Other methods of the hook check out and
        return their own connections and never touch this one.
        """
        client = self._client
        if client is None:
            client = self.run_with_refresh(lambda: self._borrow(self._shared_engine(), False))
            self._client = client
        return client

    def get_cursor(self) -> Any:
        """A DB-API cursor on :meth:`get_conn`'s connection (Airflow's ``get_cursor``)."""
        return self.get_conn().cursor()

    def close_conn(self) -> None:
        """Return :meth:`get_conn`'s connection to the pool (the shared engine stays open)."""
        client = self._client
        if client is not None:
            self._client = None
            client.close()

    def _borrow(
        self, shared: SharedEngine, autocommit: bool, *, retries: bool = False
    ) -> PoolProxiedConnection:
        """:meth:`SharedEngine.borrow`, driver and pool errors translated."""
        try:
            return shared.borrow(autocommit, retries=retries)
        except (sa_exc.DBAPIError, sa_exc.TimeoutError, shared.dbapi_error) as exc:
            failure: Exception = exc
        raise self._translate(failure, connecting=True) from driver_error(failure)

    @contextmanager
    def _connect(self, autocommit: bool = False) -> Iterator[SaConnection]:
        """A pooled SQLAlchemy connection, returned to the pool on exit; driver errors translated."""
        shared = self._shared_engine()
        failure: Exception | None = None
        started = time.perf_counter() if default_bus.active else 0.0
        try:
            conn = shared.engine.connect()
        except (sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
            failure = exc
        if failure is not None:
            raise self._translate(failure, connecting=True) from driver_error(failure)
        if started:
            shared.emit_checkout(time.perf_counter() - started)
        with conn:
            if autocommit:
                conn.execution_options(isolation_level="AUTOCOMMIT")
            try:
                yield conn
            except sa_exc.DBAPIError as exc:
                failure = exc
            if failure is not None:
                raise self._translate(failure, connecting=False) from driver_error(failure)

    # -- errors ---------------------------------------------------------------------------------------

    def _translate(self, exc: Exception, *, connecting: bool, lost: bool = False) -> HooklineError:
        if isinstance(exc, sa_exc.TimeoutError):
            return pool_timeout_error(self.pool_options, self.conn_id)
        orig: BaseException = exc
        if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
            orig = exc.orig
        kind = self._dialect.classify(orig)
        # One masking policy everywhere: registered secrets, never short values in free text.
        detail = str(masking.redact(first_line(orig)))
        where = self.sqlalchemy_url.render_as_string(hide_password=True)
        name = type(self).__name__
        if kind == "auth":
            return AuthenticationFailed(
                f"{name} {self.conn_id!r}: the server rejected the credentials for {where}: "
                f"{detail}",
                conn_id=self.conn_id,
            )
        if kind == "timeout":
            limit = self.pool_options.statement_timeout_s
            return StatementTimeout(
                f"{name} {self.conn_id!r}: the statement ran longer than "
                f"statement_timeout_s={limit:g} and was cancelled: {detail}"
                if limit is not None
                else f"{name} {self.conn_id!r}: the statement was cancelled by a timeout: {detail}",
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

    # -- statements -----------------------------------------------------------------------------------

    def _execute(
        self,
        statements: list[str],
        bound: Any,
        autocommit: bool,
        handler: Callable[[ResultCursor], Any] | None,
    ) -> list[Any]:
        """Run ``statements`` on one pooled connection; return the handler's results."""
        # One statement is atomic on its own: where BEGIN/COMMIT cost round trips (PostgreSQL), run it
        # in autocommit mode, which gives the same result with two fewer round trips.
        dialect = self._dialect
        autocommit = autocommit or (len(statements) == 1 and dialect.autocommit_single_statements)
        if dialect.raw_autocommit and autocommit:
            return self._run_raw(statements, bound, handler, autocommit=True)
        if dialect.raw_statements and not autocommit:
            return self._run_raw(statements, bound, handler)
        return self._run_sa(statements, bound, handler, autocommit)

    def _run_sa(
        self,
        statements: list[str],
        bound: Any,
        handler: Callable[[ResultCursor], Any] | None,
        autocommit: bool,
    ) -> list[Any]:
        """:meth:`_execute` through SQLAlchemy's Connection (transactions, isolation levels)."""
        results: list[Any] = []
        descriptions: list[Any] = []
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
        """:meth:`_execute` on the pooled DB-API connection itself (dialects with ``raw_statements``,
        or ``raw_autocommit`` in autocommit mode): the same statements, parameters, results and
        errors, without SQLAlchemy's per-statement Connection and Result objects.

        With pre-ping on, a statement that fails first on a connection reused from the pool because
        the server had already ended that session (a disconnect error the dialect's
        ``dropped_before_statement`` accepts) is sent once more on a new connection: the pre-ping
        check at checkout only sees a session ended before the call.
        """
        shared = self._shared or self._shared_engine()
        debug = self.log.debug if self.log_sql else None
        retries = self._dialect.retries_dropped_sessions
        for attempt in (1, 2):
            # Speed trick: where a statement that finds its session ended is sent again on a new
            # connection, the first attempt skips the socket check (a poll system call) of the
            # parked connection it borrows; the retry covers what the check would have found.
            fairy = self._borrow(shared, autocommit, retries=retries and attempt == 1)
            reused = LAST_CHECKIN_KEY in fairy.info
            dbapi_conn = fairy.dbapi_connection
            results: list[Any] = []
            descriptions: list[Any] = []
            try:
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
            except shared.dbapi_error as exc:
                failure: Exception = exc
            except BaseException:
                shared.give_back(fairy, autocommit=autocommit, clean=False)
                raise
            else:
                shared.give_back(fairy, autocommit=autocommit, clean=True)
                self.descriptions = descriptions
                return results
            lost = shared.engine.dialect.is_disconnect(failure, dbapi_conn, None)  # type: ignore[arg-type]
            if lost:
                fairy.invalidate(failure)
            else:
                shared.give_back(fairy, autocommit=autocommit, clean=False)
            if (
                lost
                and attempt == 1
                and reused
                and not descriptions
                and self._dialect.dropped_before_statement(failure)
            ):
                self.log.info(
                    "connection %r: the server had ended a pooled session; retrying on a new one",
                    self.conn_id,
                )
                continue
            raise self._translate(failure, connecting=False, lost=lost) from driver_error(failure)
        raise AssertionError("unreachable")  # pragma: no cover

    def _statements(self, sql: str | Sequence[str], split_statements: bool) -> list[str]:
        """``sql`` as a list of statements (split at top-level ``;`` when asked).

        Raises:
            ValueError: no statements (Airflow's message).
        """
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
        return statements
