"""Support for the SQL hooks: the cursor view handlers receive, Airflow's fetch handlers, a script
splitter that respects quotes, comments and dollar quotes, and row chunking for ``insert_rows``.

Public names are re-exported by :mod:`hookline.hooks.sql`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import CursorResult

from hookline import masking
from hookline.exceptions import DriverError, HookError

__all__ = [
    "ResultCursor",
    "chunk_rows",
    "driver_error",
    "fetch_all_handler",
    "fetch_one_handler",
    "first_line",
    "run_on_dbapi",
    "split_sql_string",
]

_MESSAGE_LIMIT = 300


class ResultCursor:
    """What a ``run`` handler receives: a DB-API-cursor-like view of one statement's result.

    Attributes:
        description: The DB-API ``description`` (None when the statement returns no rows).
        rowcount: Rows affected, as the driver reports it.
    """

    def __init__(self, result: CursorResult[Any], *, conn_id: str | None = None) -> None:
        self._conn_id = conn_id
        self._result: Any = result
        self.description: Any = result.cursor.description if result.returns_rows else None
        self.rowcount: int = result.rowcount

    @classmethod
    def from_dbapi(cls, cursor: Any, *, conn_id: str | None = None) -> ResultCursor:
        """The same view of a DB-API cursor that has just executed a statement (whose
        ``description`` is None when the statement returns no rows, as sqlite3's is)."""
        view = object.__new__(cls)
        view._conn_id = conn_id
        view._result = cursor
        view.description = cursor.description
        view.rowcount = cursor.rowcount
        return view

    def _rows(self) -> Any:
        if self.description is None:
            raise HookError(
                f"connection {self._conn_id!r}: the statement returned no rows to fetch",
                conn_id=self._conn_id,
            )
        return self._result

    def fetchall(self) -> list[tuple[Any, ...]]:
        """All remaining rows as tuples."""
        return [tuple(row) for row in self._rows().fetchall()]

    def fetchone(self) -> tuple[Any, ...] | None:
        """The next row as a tuple, or None."""
        row = self._rows().fetchone()
        return None if row is None else tuple(row)

    def fetchmany(self, size: int | None = None) -> list[tuple[Any, ...]]:
        """Up to ``size`` rows as tuples."""
        return [tuple(row) for row in self._rows().fetchmany(size)]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return (tuple(row) for row in self._rows())


def run_on_dbapi(
    dbapi_conn: Any,
    statements: Sequence[str],
    bound: Any,
    handler: Callable[[ResultCursor], Any] | None,
    conn_id: str | None,
    debug: Callable[..., None] | None,
    *,
    commit: bool = True,
    results: list[Any] | None = None,
    descriptions: list[Any] | None = None,
) -> tuple[list[Any], list[Any]]:
    """Run ``statements`` on one cursor of a DB-API connection, then commit (unless ``commit`` is
    false: the connection is in autocommit mode); return the handler's results and each statement's
    ``description``, appended to ``results``/``descriptions`` when given (so a caller sees how far
    a failed run got). Errors propagate untranslated (nothing is committed then); the caller
    returns the connection."""
    results = [] if results is None else results
    descriptions = [] if descriptions is None else descriptions
    cursor = dbapi_conn.cursor()
    try:
        for statement in statements:
            if debug is not None:
                debug("Running statement: %s", statement)
            if bound is None:
                cursor.execute(statement)
            else:
                cursor.execute(statement, bound)
            view = ResultCursor.from_dbapi(cursor, conn_id=conn_id)
            descriptions.append(view.description)
            if handler is not None:
                results.append(handler(view))
        if commit:
            dbapi_conn.commit()
    finally:
        cursor.close()
    return results, descriptions


def fetch_all_handler(cursor: ResultCursor) -> list[tuple[Any, ...]] | None:
    """Airflow's handler: every row, or None when the statement returns no rows."""
    return cursor.fetchall() if cursor.description is not None else None


def fetch_one_handler(cursor: ResultCursor) -> tuple[Any, ...] | None:
    """Airflow's handler: the first row, or None."""
    return cursor.fetchone() if cursor.description is not None else None


def split_sql_string(sql: str, *, backslash_escapes: bool = False) -> list[str]:
    """Split a script into statements at top-level ``;``, dropping comments and empty statements.

    Quotes (``'``, ``"``, backticks), ``--`` and ``/* */`` comments and PostgreSQL dollar quotes
    (``$$``, ``$tag$``) are respected. With ``backslash_escapes`` (MySQL), ``\\'`` does not end a
    string; ``E'...'`` strings always allow it.
    """
    statements: list[str] = []
    current: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end
            current.append(" ")
        elif ch == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
            current.append(" ")
        elif ch in "'\"`":
            escapes = ch == "'" and (backslash_escapes or (i > 0 and sql[i - 1] in "eE"))
            j = i + 1
            while j < n:
                if escapes and sql[j] == "\\":
                    j += 2
                    continue
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:  # doubled quote
                        j += 2
                        continue
                    break
                j += 1
            current.append(sql[i : j + 1])
            i = j + 1
        elif ch == "$" and (m := re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", sql[i:])):
            tag = m.group(0)
            end = sql.find(tag, i + len(tag))
            stop = n if end < 0 else end + len(tag)
            current.append(sql[i:stop])
            i = stop
        elif ch == ";":
            statements.append("".join(current))
            current = []
            i += 1
        else:
            current.append(ch)
            i += 1
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip()]


def first_line(exc: BaseException) -> str:
    """The error text on one line, cut at 300 characters."""
    text = " ".join(str(exc).split())
    return text[:_MESSAGE_LIMIT] + ("..." if len(text) > _MESSAGE_LIMIT else "")


def chunk_rows(
    rows: Iterator[Sequence[Any]], size: int, width: int, conn_id: str
) -> Iterator[list[tuple[Any, ...]]]:
    """Rows as lists of tuples of ``size`` (0: all in one), checking each row has ``width`` values."""
    while True:
        chunk = [tuple(row) for row in (itertools.islice(rows, size) if size else rows)]
        if not chunk:
            return
        for row in chunk:
            if len(row) != width:
                raise HookError(
                    f"insert_rows: a row has {len(row)} values, expected {width}", conn_id=conn_id
                )
        yield chunk


def driver_error(exc: BaseException) -> DriverError:
    """A stand-in for a driver's exception, its text masked, to chain a hook error from.

    The hook error is raised ``from`` this instead of from the driver's exception, whose message
    can quote a bound parameter (``invalid input syntax for type integer: "<the value>"``) and would
    be printed in full by every traceback. It keeps the driver's class name, SQLSTATE or error
    code, and traceback frames (code lines, no values).
    """
    orig: BaseException = exc
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        orig = exc.orig
    cls = type(orig)
    name = f"{cls.__module__}.{cls.__qualname__}"
    code = getattr(orig, "sqlstate", None)
    if code is None and orig.args and type(orig.args[0]) is int:
        code = str(orig.args[0])
    text = str(masking.redact(str(orig).strip()))
    cause = DriverError(f"{name}: {text}", driver_type=name, sqlstate=code)
    cause.__traceback__ = orig.__traceback__
    return cause
