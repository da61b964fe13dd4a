"""SQL hooks: Airflow's DbApiHook API on pooled SQLAlchemy engines (SQLite, PostgreSQL, MySQL/MariaDB).

:class:`SqlHook` serves any SQL connection (the dialect follows ``conn_type``); :class:`SqliteHook`,
:class:`PostgresHook` (psycopg 3) and :class:`MySqlHook` (PyMySQL) fix the dialect and carry
Airflow's ``conn_name_attr``/``default_conn_name``. Every hook of one connection and options in a
process shares one engine and pool (:mod:`hookline.hooks.sql.engines`), whose DB connections get
their credentials at connect time; settings come from hook arguments, then connection extras
(``pool_size``, ``max_overflow``, ``pool_timeout_s``, ``pool_recycle_s``, ``pool_pre_ping``,
``connect_timeout_s``, ``statement_timeout_s``), then defaults.

A lone statement on PostgreSQL (``get_first``, ``get_records``, ``run`` of one statement) costs one
network round trip: it runs in autocommit mode on the pooled psycopg connection itself (no BEGIN/COMMIT,
no SQLAlchemy isolation-level switching), and pre-ping sends no ping while the pool is busy.

SQL is sent as written (the DB-API ``execute``): use the driver's parameter style
(``%s``/``%(name)s`` for psycopg and PyMySQL, ``?``/``:name`` for SQLite). Values are always bound as
parameters, never formatted into SQL. Errors: see :mod:`hookline.hooks.sql.execution`.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import quote

from hookline.exceptions import HookConnectionError, HookError
from hookline.hooks.sql.dialects import MYSQL, POSTGRES, SQLITE
from hookline.hooks.sql.execution import SqlExecutor
from hookline.hooks.sql.support import (
    ResultCursor,
    chunk_rows,
    driver_error,
    fetch_all_handler,
    fetch_one_handler,
    first_line,
    split_sql_string,
)
from hookline.hooks.sql.transfer import (
    atomic_output,
    copy_direction,
    decode_line,
    encode_row,
    import_pandas,
    import_polars,
    require_file,
)

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
_COPY_CHUNK_BYTES = 1 << 16
_BULK_CHUNK_ROWS = 1000


def _bind(parameters: Parameters | None) -> Any:
    if parameters is None:
        return None
    return dict(parameters) if isinstance(parameters, Mapping) else tuple(parameters)


class SqlHook(SqlExecutor):
    """A pooled SQL hook with Airflow's DbApiHook API; the dialect follows the connection's conn_type.

    Args:
        conn: A conn_id or a Connection (default: ``default_conn_name``). The Airflow keyword named by
            ``conn_name_attr`` (``postgres_conn_id=...``) is accepted too. Built from a conn_id, new
            DB connections take the credentials the resolver holds at that moment; built from a
            Connection, its credentials (a later hook handing in another Connection with the same
            conn_id replaces them for the shared engine).
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
            :data:`~hookline.hooks.sql.pooling.PRE_PING_IDLE_S` (30 s) idle; a statement run on the
            DB-API connection (PostgreSQL autocommit, SQLite) that still finds its reused session
            ended by the server is sent once more on a new connection. Off: a dead pooled session
            fails the next statement with :class:`HookConnectionError`.
        connect_timeout_s: Limit for opening one connection (default 10; PostgreSQL rounds up to
            whole seconds, at least 2).
        statement_timeout_s: Cancel a statement running longer than this with
            :class:`~hookline.exceptions.StatementTimeout` (extra ``statement_timeout_s``; default:
            no limit). PostgreSQL: the ``statement_timeout`` setting, sent at connect (no round
            trip; behind PgBouncer, which rejects startup options, set it on the role instead);
            MariaDB: ``max_statement_time``; MySQL: ``max_execution_time`` (SELECT only); SQLite:
            checked by the driver every 1,000 VM steps.
    """

    conn_type = ""
    hook_name = "SQL"
    default_conn_name = "sql_default"
    conn_name_attr = "conn_id"

    _test_connection_sql = "select 1"

    # -- DbApiHook API --------------------------------------------------------------------------------

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
            HookConnectionError, AuthenticationFailed, PoolTimeout, StatementTimeout, HookError:
                see :mod:`hookline.hooks.sql.execution`.
        """
        if isinstance(parameters, bool):
            raise TypeError("parameters is the 2nd argument; pass autocommit=... by keyword")
        statements = (
            [sql]
            if isinstance(sql, str) and not split_statements and sql.strip()
            else self._statements(sql, split_statements)
        )
        results = self.run_with_refresh(
            functools.partial(self._execute, statements, _bind(parameters), autocommit, handler)
        )
        if handler is None:
            return None
        if isinstance(sql, str) and (return_last or not split_statements):
            self.descriptions = self.descriptions[-1:]
            return results[-1]
        return results

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
        return self._insert(
            table, rows, target_fields, commit_every, replace, replace_index, commit_each=True
        )

    def _insert(
        self,
        table: str,
        rows: Iterable[Sequence[Any]],
        target_fields: Sequence[str] | None,
        chunk_size: int,
        replace: bool,
        replace_index: str | Sequence[str] | None,
        *,
        commit_each: bool,
    ) -> int:
        """``executemany`` in chunks of ``chunk_size``, committing each chunk or (``commit_each``
        false) all of them at the end, in one transaction."""
        iterator = iter(rows)
        first = next(iterator, None)
        if first is None:
            return 0
        width = len(first) if target_fields is None else len(target_fields)
        sql = self._insert_sql(table, target_fields, width, replace, replace_index)
        chunks = chunk_rows(itertools.chain([first], iterator), chunk_size, width, self.conn_id)

        def action() -> int:
            total = 0
            with self._connect() as conn:
                for chunk in chunks:
                    conn.exec_driver_sql(sql, chunk)
                    if commit_each:
                        conn.commit()
                    total += len(chunk)
                    self.log.debug("inserted %d rows into %s so far", total, table)
                conn.commit()
            return total

        return self.run_with_refresh(action)

    def _quoted_table(self, table: str) -> str:
        quote_ident = self.get_sqlalchemy_engine().dialect.identifier_preparer.quote
        names = [self._identifier(part, "table") for part in table.split(".")]
        return ".".join(quote_ident(part) for part in names)

    def _insert_sql(
        self,
        table: str,
        target_fields: Sequence[str] | None,
        width: int,
        replace: bool,
        replace_index: str | Sequence[str] | None,
    ) -> str:
        quote_ident = self.get_sqlalchemy_engine().dialect.identifier_preparer.quote
        qtable = self._quoted_table(table)
        fields = [self._identifier(f, "column") for f in target_fields or ()]
        columns = f"({', '.join(quote_ident(f) for f in fields)}) " if fields else ""
        values = ", ".join([self._dialect.placeholder] * width)
        if not replace:
            return f"INSERT INTO {qtable} {columns}VALUES ({values})"
        index = [replace_index] if isinstance(replace_index, str) else list(replace_index or ())
        index = [quote_ident(self._identifier(i, "replace_index column")) for i in index]
        return self._dialect.replace_sql(
            qtable, columns, values, [quote_ident(f) for f in fields], index
        )

    def _identifier(self, name: str, what: str) -> str:
        if not isinstance(name, str) or _IDENTIFIER.fullmatch(name) is None:
            raise HookError(
                f"{type(self).__name__} {self.conn_id!r}: invalid {what} name {name!r}: use letters, "
                "digits, _ and $ (run() takes any SQL)",
                conn_id=self.conn_id,
            )
        return name

    # -- DataFrames -----------------------------------------------------------------------------------

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
            polars = import_polars("get_df(df_type='polars')")
            rows = self.get_records(sql, parameters) or []
            columns = [column[0] for column in self.last_description or ()]
            return polars.DataFrame(rows, schema=columns, orient="row", **kwargs)
        if df_type != "pandas":
            raise ValueError(f"df_type must be 'pandas' or 'polars', not {df_type!r}")
        pandas = import_pandas("get_df")
        bound = _bind(parameters)

        def action() -> Any:
            with self._connect() as conn:
                if bound is None:
                    conn.execution_options(no_parameters=True)
                return pandas.read_sql(sql, conn, params=bound, **kwargs)

        return self.run_with_refresh(action)

    def get_pandas_df(self, sql: str, parameters: Parameters | None = None, **kwargs: Any) -> Any:
        """Airflow's older name of :meth:`get_df` with ``df_type="pandas"``."""
        return self.get_df(sql, parameters, df_type="pandas", **kwargs)

    def get_df_by_chunks(
        self,
        sql: str,
        parameters: Parameters | None = None,
        *,
        chunksize: int,
        df_type: Literal["pandas", "polars"] = "pandas",
        **kwargs: Any,
    ) -> Iterator[Any]:
        """The result of ``sql`` as DataFrames of at most ``chunksize`` rows, read lazily on one
        pooled connection (returned when the iterator is exhausted or closed).

        Raises:
            ValueError: ``chunksize`` below 1 or an unknown ``df_type``.
            MissingDependency: pandas or polars is missing.
        """
        if type(chunksize) is not int or chunksize < 1:
            raise ValueError(f"chunksize must be an integer >= 1, not {chunksize!r}")
        if df_type not in ("pandas", "polars"):
            raise ValueError(f"df_type must be 'pandas' or 'polars', not {df_type!r}")
        library = (
            import_polars("get_df_by_chunks")
            if df_type == "polars"
            else import_pandas("get_df_by_chunks")
        )
        return self._frames(sql, _bind(parameters), chunksize, df_type, library, kwargs)

    def _frames(
        self,
        sql: str,
        bound: Any,
        chunksize: int,
        df_type: str,
        library: Any,
        kwargs: dict[str, Any],
    ) -> Iterator[Any]:
        with self._connect() as conn:
            if bound is None:
                conn.execution_options(no_parameters=True)
            if df_type == "pandas":
                yield from library.read_sql(sql, conn, params=bound, chunksize=chunksize, **kwargs)
                return
            result = (
                conn.exec_driver_sql(sql) if bound is None else conn.exec_driver_sql(sql, bound)
            )
            columns = list(result.keys())
            while rows := result.fetchmany(chunksize):
                yield library.DataFrame(
                    [tuple(r) for r in rows], schema=columns, orient="row", **kwargs
                )

    def get_pandas_df_by_chunks(
        self, sql: str, parameters: Parameters | None = None, *, chunksize: int, **kwargs: Any
    ) -> Iterator[Any]:
        """Airflow's older name of :meth:`get_df_by_chunks` with ``df_type="pandas"``."""
        return self.get_df_by_chunks(sql, parameters, chunksize=chunksize, **kwargs)

    # -- files ----------------------------------------------------------------------------------------

    def copy_expert(self, sql: str, filename: str | os.PathLike[str]) -> None:
        """Run a PostgreSQL ``COPY`` between the server and a local file (Airflow's PostgresHook).

        ``COPY ... FROM STDIN`` loads ``filename`` (which must exist) in one transaction;
        ``COPY ... TO STDOUT`` writes it, through a temporary file renamed over it when complete.

        Raises:
            HookError: not PostgreSQL, neither form of COPY, the input file is missing, or a
                database error (nothing is committed then).
        """
        if not self._dialect.supports_copy:
            raise HookError(
                f"{type(self).__name__} {self.conn_id!r}: copy_expert needs PostgreSQL's COPY; "
                f"this is {self.dialect_name} (bulk_load/bulk_dump work on every dialect)",
                conn_id=self.conn_id,
            )
        direction = copy_direction(sql, self.conn_id)
        if direction == "in":
            require_file(filename, self.conn_id, "copy_expert")
        if self.log_sql:
            self.log.info("Running copy expert: %s, filename: %s", sql, filename)
        self.run_with_refresh(functools.partial(self._copy, sql, filename, direction))

    def _copy(self, sql: str, filename: str | os.PathLike[str], direction: str) -> None:
        shared = self._shared_engine()
        fairy = self._borrow(shared, False)
        dbapi_conn: Any = fairy.dbapi_connection
        try:
            with dbapi_conn.cursor() as cursor:
                if direction == "in":
                    with open(filename, "rb") as source, cursor.copy(sql) as copy:
                        while data := source.read(_COPY_CHUNK_BYTES):
                            copy.write(data)
                else:
                    with atomic_output(filename, "wb") as target, cursor.copy(sql) as copy:
                        for data in copy:
                            target.write(data)
            dbapi_conn.commit()
        except shared.dbapi_error as exc:
            failure: Exception = exc
        except BaseException:
            shared.give_back(fairy, autocommit=False, clean=False)
            raise
        else:
            shared.give_back(fairy, autocommit=False, clean=True)
            return
        shared.give_back(fairy, autocommit=False, clean=False)
        raise self._translate(failure, connecting=False) from driver_error(failure)

    def bulk_load(self, table: str, tmp_file: str | os.PathLike[str]) -> int:
        """Load a tab-separated file (PostgreSQL's ``COPY`` text format) into ``table``, in one
        transaction: all rows or none. PostgreSQL runs ``COPY table FROM STDIN``; other dialects
        insert the rows in chunks of 1,000 (values arrive as text, ``\\N`` as NULL).

        Returns:
            The number of rows loaded (-1 on PostgreSQL, where COPY does not report it here).

        Raises:
            HookError: an invalid table name, a missing file, a row of the wrong width, or a
                database error.
        """
        qtable = self._quoted_table(table)
        path = require_file(tmp_file, self.conn_id, "bulk_load")
        if self._dialect.supports_copy:
            self.copy_expert(f"COPY {qtable} FROM STDIN", path)
            return -1
        with open(path, encoding="utf-8", newline="\n") as source:
            return self._insert(
                table,
                (decode_line(line) for line in source),
                None,
                _BULK_CHUNK_ROWS,
                False,
                None,
                commit_each=False,
            )

    def bulk_dump(self, table: str, tmp_file: str | os.PathLike[str]) -> None:
        """Write every row of ``table`` to a tab-separated file (PostgreSQL's ``COPY`` text format),
        through a temporary file renamed over ``tmp_file`` when complete. PostgreSQL runs ``COPY
        table TO STDOUT``; other dialects write the rows as they are fetched.

        Raises:
            HookError: an invalid table name or a database error (``tmp_file`` is left as it was).
        """
        qtable = self._quoted_table(table)
        if self._dialect.supports_copy:
            self.copy_expert(f"COPY {qtable} TO STDOUT", tmp_file)
            return

        def action() -> None:
            with self._connect() as conn, atomic_output(tmp_file, "w") as target:
                conn.execution_options(no_parameters=True)
                result = conn.exec_driver_sql(f"SELECT * FROM {qtable}")
                while rows := result.fetchmany(_BULK_CHUNK_ROWS):
                    target.writelines(encode_row(row) for row in rows)

        self.run_with_refresh(action)

    # -- testing --------------------------------------------------------------------------------------

    def _test(self) -> None:
        if not self.get_first(self._test_connection_sql):
            raise HookError(f"{self._test_connection_sql!r} returned no row", conn_id=self.conn_id)


class SqliteHook(SqlHook):
    """SQLite through the standard library. The connection's host is the database file path
    (Airflow's convention; ``schema`` is read when host is empty, as ``sqlite:////abs/path.db``
    parses). An empty path or ``:memory:`` is an in-memory database shared by the process's hooks of
    the connection (one connection, no pool settings). Placeholders: ``?`` or ``:name``.

    :meth:`test_connection` opens the file read-only: a wrong path is reported, never created.
    """

    conn_type = "sqlite"
    hook_name = "SQLite"
    default_conn_name = "sqlite_default"
    conn_name_attr = "sqlite_conn_id"
    dialect = SQLITE

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The host is the database file; no login, password, port or schema."""
        return {
            "hidden_fields": ["login", "password", "port", "schema"],
            "relabeling": {"host": "Database file"},
            "placeholders": {"host": "/path/to/file.db or :memory:"},
        }

    def _test(self) -> None:
        path = SQLITE.path(self.connection)
        if not path:
            super()._test()
            return
        try:
            db = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=1.0)
            try:
                db.execute("pragma schema_version").fetchone()  # reads the header: a database?
            finally:
                db.close()
        except sqlite3.Error as exc:
            failure = exc
        else:
            return
        raise HookConnectionError(
            f"SqliteHook {self.conn_id!r}: cannot connect to sqlite:///{path} (opened read-only, "
            f"nothing created): {first_line(driver_error(failure))}",
            conn_id=self.conn_id,
        ) from driver_error(failure)


class PostgresHook(SqlHook):
    """PostgreSQL through psycopg 3 (``postgresql+psycopg``); ``schema`` is the database name.

    Extras that are libpq parameters (``sslmode``, ``application_name``, ``options``, ...) go to the
    driver; ``prepare_threshold`` sets psycopg's (``null``/``"none"``: no server-side prepared
    statements, as a PgBouncer in transaction mode needs). ``insert_rows(..., replace=True,
    replace_index=...)`` upserts with ``ON CONFLICT``; :meth:`copy_expert`, :meth:`bulk_load` and
    :meth:`bulk_dump` use ``COPY``.
    """

    conn_type = "postgres"
    hook_name = "Postgres"
    default_conn_name = "postgres_default"
    conn_name_attr = "postgres_conn_id"
    dialect = POSTGRES

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """``schema`` is the database, as in Airflow's form."""
        return {
            "relabeling": {"schema": "Database"},
            "placeholders": {"host": "db.example.com", "port": "5432"},
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """libpq's ``sslmode`` and ``application_name`` (extras passed to the driver)."""
        return {
            "sslmode": {
                "label": "SSL mode",
                "choices": [
                    "",
                    "disable",
                    "allow",
                    "prefer",
                    "require",
                    "verify-ca",
                    "verify-full",
                ],
            },
            "application_name": {"label": "Application name", "placeholder": "hookline"},
        }


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

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """``schema`` is the database."""
        return {
            "relabeling": {"schema": "Database"},
            "placeholders": {"host": "db.example.com", "port": "3306"},
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The character set and the TLS CA file (extras)."""
        return {
            "charset": {"label": "Charset", "placeholder": "utf8mb4"},
            "ssl_ca": {"label": "TLS CA file", "placeholder": "/etc/ssl/certs/ca.pem"},
        }
