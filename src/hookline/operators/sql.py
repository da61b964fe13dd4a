"""SQL operators over :class:`~hookline.hooks.sql.SqlHook`: run statements, check results.

* :class:`SQLExecuteQueryOperator` runs SQL (a string, a list, or a ``.sql`` template file) and
  returns what its handler returns (all rows by default), as Airflow's common.sql operator does.
* :class:`SQLCheckOperator` fails when the first row of a query is missing or holds a false value.
* :class:`SQLValueCheckOperator` fails when the first row differs from ``pass_value`` (numbers
  within ``tolerance``).
* ``PostgresOperator`` is Airflow's old name, kept as an alias.

The dialect follows the connection's conn_type (SQLite, PostgreSQL, MySQL/MariaDB). Parameters are
bound by the driver (its parameter style), never formatted into SQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from hookline.exceptions import InvalidPipeline, SqlCheckFailed
from hookline.hooks.sql import SqlHook, fetch_all_handler
from hookline.hooks.sql.support import ResultCursor
from hookline.operators.base import BaseOperator

__all__ = [
    "PostgresOperator",
    "SQLCheckOperator",
    "SQLExecuteQueryOperator",
    "SQLValueCheckOperator",
    "make_hook",
]

Parameters = Mapping[str, Any] | Sequence[Any]


def make_hook(conn_id: str, database: str | None, hook_params: Mapping[str, Any] | None) -> SqlHook:
    """The SQL hook for ``conn_id`` (dialect by conn_type), with ``database`` as its schema."""
    return SqlHook(conn_id, schema=database, **dict(hook_params or {}))


def _plain(value: Any) -> Any:
    """Rows as lists (JSON-friendly task results); other values as they are."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class SQLExecuteQueryOperator(BaseOperator):
    """Run SQL on a connection and return the handler's result.

    Args:
        task_id: The task id.
        conn_id: The SQL connection (templated).
        sql: A statement, a script (with ``split_statements``), a list of statements, or a path
            ending in ``.sql`` (a template file next to the pipeline file); templated.
        parameters: Bound to every statement (templated).
        handler: Called with the cursor after each statement (default: all rows; None: nothing).
        split_statements: Split a string at top-level ``;`` (default: False).
        return_last: With a split string, return only the last statement's result.
        autocommit: Run without a transaction.
        database: Overrides the connection's schema (database name); templated.
        hook_params: Extra :class:`SqlHook` arguments (``pool_size``, ...).
        show_return_value_in_logs: Log the (masked) result.
        **kwargs: :class:`BaseOperator` arguments.
    """

    template_fields = ("conn_id", "sql", "parameters", "database", "hook_params")
    template_ext = (".sql", ".json")

    def __init__(
        self,
        *,
        task_id: str,
        sql: str | Sequence[str],
        conn_id: str = "sql_default",
        parameters: Parameters | None = None,
        handler: Callable[[ResultCursor], Any] | None = fetch_all_handler,
        split_statements: bool | None = None,
        return_last: bool = True,
        autocommit: bool = False,
        database: str | None = None,
        hook_params: Mapping[str, Any] | None = None,
        show_return_value_in_logs: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(task_id, **kwargs)
        if not sql or not isinstance(sql, str | list | tuple):
            raise InvalidPipeline(
                f"task {task_id!r}: sql must be a non-empty string or list of statements",
                task_id=task_id,
            )
        self.conn_id = conn_id
        self.sql: str | list[str] = sql if isinstance(sql, str) else list(sql)
        self.parameters = parameters
        self.handler = handler
        self.split_statements = bool(split_statements)
        self.return_last = return_last
        self.autocommit = autocommit
        self.database = database
        self.hook_params = dict(hook_params or {})
        self.show_return_value_in_logs = show_return_value_in_logs

    def get_db_hook(self) -> SqlHook:
        """The hook this task runs on (Airflow's ``get_db_hook``)."""
        return make_hook(self.conn_id, self.database, self.hook_params)

    def execute(self, context: dict[str, Any]) -> Any:
        """Run the SQL; return the handler's result (rows as lists)."""
        with self.get_db_hook() as hook:
            result = hook.run(
                self.sql,
                self.parameters,
                autocommit=self.autocommit,
                handler=self.handler,
                split_statements=self.split_statements,
                return_last=self.return_last,
            )
        return _plain(result)


class SQLCheckOperator(BaseOperator):
    """Fail unless the query's first row exists and every value in it is true (Airflow's check).

    Args:
        task_id: The task id.
        sql: The query (templated; a ``.sql`` file works).
        conn_id: The SQL connection (templated).
        parameters: Bound to the query (templated).
        database: Overrides the connection's schema.
        **kwargs: :class:`BaseOperator` arguments.

    Raises:
        SqlCheckFailed: no row, or a false value (``0``, ``False``, ``None``, ``''``) in it.
    """

    template_fields = ("sql", "conn_id", "parameters", "database")
    template_ext = (".sql",)

    def __init__(
        self,
        *,
        task_id: str,
        sql: str,
        conn_id: str = "sql_default",
        parameters: Parameters | None = None,
        database: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(task_id, **kwargs)
        self.sql = sql
        self.conn_id = conn_id
        self.parameters = parameters
        self.database = database

    def execute(self, context: dict[str, Any]) -> Any:
        """Run the query and check its first row; return the row."""
        with make_hook(self.conn_id, self.database, None) as hook:
            record = hook.get_first(self.sql, self.parameters)
        if not record:
            raise SqlCheckFailed(
                f"task {self.task_id!r}: the check query returned no row", task_id=self.task_id
            )
        if not all(record):
            raise SqlCheckFailed(
                f"task {self.task_id!r}: check failed, the first row has a false value: "
                f"{list(record)!r}",
                task_id=self.task_id,
            )
        return _plain(record)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


class SQLValueCheckOperator(BaseOperator):
    """Fail unless every value of the query's first row equals ``pass_value`` (Airflow's check).

    Numbers match within ``tolerance`` (a fraction: ``0.1`` accepts 90 to 110 for 100); other
    values match when their text is equal.

    Args:
        task_id: The task id.
        sql: The query (templated).
        pass_value: The expected value (templated).
        tolerance: Relative tolerance for numbers.
        conn_id: The SQL connection (templated).
        parameters: Bound to the query (templated).
        database: Overrides the connection's schema.
        **kwargs: :class:`BaseOperator` arguments.

    Raises:
        SqlCheckFailed: no row, or a value that does not match.
    """

    template_fields = ("sql", "pass_value", "conn_id", "parameters", "database")
    template_ext = (".sql",)

    def __init__(
        self,
        *,
        task_id: str,
        sql: str,
        pass_value: Any,
        tolerance: float | None = None,
        conn_id: str = "sql_default",
        parameters: Parameters | None = None,
        database: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(task_id, **kwargs)
        self.sql = sql
        self.pass_value = pass_value
        self.tolerance = float(tolerance) if tolerance is not None else None
        self.conn_id = conn_id
        self.parameters = parameters
        self.database = database

    def _matches(self, value: Any) -> bool:
        expected = _number(self.pass_value)
        actual = _number(value)
        if expected is not None and actual is not None:
            if self.tolerance is None:
                return actual == expected
            return expected * (1 - self.tolerance) <= actual <= expected * (1 + self.tolerance)
        if isinstance(value, dt.date):
            value = value.isoformat()
        return str(value) == str(self.pass_value)

    def execute(self, context: dict[str, Any]) -> Any:
        """Run the query and compare its first row; return the row."""
        with make_hook(self.conn_id, self.database, None) as hook:
            record = hook.get_first(self.sql, self.parameters)
        if not record:
            raise SqlCheckFailed(
                f"task {self.task_id!r}: the check query returned no row", task_id=self.task_id
            )
        if not all(self._matches(v) for v in record):
            within = f" within a tolerance of {self.tolerance:g}" if self.tolerance else ""
            raise SqlCheckFailed(
                f"task {self.task_id!r}: check failed: {list(record)!r} does not match the pass "
                f"value {self.pass_value!r}{within}",
                task_id=self.task_id,
            )
        return _plain(record)


class PostgresOperator(SQLExecuteQueryOperator):
    """Airflow's old name for :class:`SQLExecuteQueryOperator` (``postgres_conn_id=``)."""

    def __init__(
        self,
        *,
        task_id: str,
        sql: str | Sequence[str],
        postgres_conn_id: str = "postgres_default",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("conn_id", postgres_conn_id)
        super().__init__(task_id=task_id, sql=sql, **kwargs)
