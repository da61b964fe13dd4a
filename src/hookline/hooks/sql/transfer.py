"""Moving many rows in or out of a SQL database: tab-separated files and DataFrame imports.

* :func:`encode_row` / :func:`decode_line`: PostgreSQL's ``COPY`` text format (tab-separated,
  ``\\N`` for NULL, backslash escapes for tab, newline, carriage return and backslash; what
  ``COPY table TO STDOUT`` writes and MySQL's ``LOAD DATA`` reads by default). ``bulk_dump`` and
  ``bulk_load`` write and read it on every dialect: through ``COPY`` on PostgreSQL, row by row on
  the others, so a file dumped from one database loads into another.
* :func:`copy_direction`: whether a ``COPY`` statement reads a file (``FROM STDIN``) or writes one.
* :func:`atomic_output`: a file written next to its destination and renamed over it when complete,
  so a failed dump never leaves a truncated file where a good one was.
* :func:`import_pandas` / :func:`import_polars`: the optional DataFrame libraries, or
  :class:`~hookline.exceptions.MissingDependency` naming the extra.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Literal

from hookline.exceptions import HookError, MissingDependency

__all__ = [
    "atomic_output",
    "copy_direction",
    "decode_line",
    "encode_row",
    "import_pandas",
    "import_polars",
    "require_file",
]

_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_ESCAPE = re.compile(r"[\\\t\n\r]")
_UNESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r", "b": "\b", "f": "\f", "v": "\v"}
_UNESCAPE = re.compile(r"\\(.)")
_FROM_STDIN = re.compile(r"\bfrom\s+stdin\b", re.IGNORECASE)
_TO_STDOUT = re.compile(r"\bto\s+stdout\b", re.IGNORECASE)
NULL = "\\N"


def _field(value: Any) -> str:
    if value is None:
        return NULL
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\\\x" + bytes(value).hex()
    text = value if isinstance(value, str) else str(value)
    return _ESCAPE.sub(lambda m: _ESCAPES[m.group(0)], text)


def encode_row(row: Sequence[Any]) -> str:
    """One row as a line of the ``COPY`` text format, newline included."""
    return "\t".join(_field(value) for value in row) + "\n"


def decode_line(line: str) -> tuple[str | None, ...]:
    """One line of the ``COPY`` text format (its newline may be there or not) as a row of text
    values, ``None`` for ``\\N``."""
    line = line[:-1] if line.endswith("\n") else line
    return tuple(
        None
        if field == NULL
        else _UNESCAPE.sub(lambda m: _UNESCAPES.get(m.group(1), m.group(1)), field)
        for field in line.split("\t")
    )


def copy_direction(sql: str, conn_id: str) -> Literal["in", "out"]:
    """``"in"`` for ``COPY ... FROM STDIN``, ``"out"`` for ``COPY ... TO STDOUT``.

    Raises:
        HookError: neither (``copy_expert`` moves data between a local file and the server only).
    """
    if _FROM_STDIN.search(sql):
        return "in"
    if _TO_STDOUT.search(sql):
        return "out"
    raise HookError(
        f"copy_expert {conn_id!r}: the statement must be COPY ... FROM STDIN (load the file) or "
        "COPY ... TO STDOUT (write the file)",
        conn_id=conn_id,
    )


@contextmanager
def atomic_output(filename: str | os.PathLike[str], mode: Literal["w", "wb"]) -> Iterator[IO[Any]]:
    """Write ``filename`` through a temporary file beside it, renamed over it only on success."""
    target = Path(filename)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        if mode == "wb":
            with open(partial, "wb") as binary:
                yield binary
        else:
            with open(partial, "w", encoding="utf-8", newline="") as text:
                yield text
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def require_file(filename: str | os.PathLike[str], conn_id: str, what: str) -> Path:
    """``filename`` as a Path when it is an existing file.

    Raises:
        HookError: it does not exist or is not a file (nothing is loaded, nothing is created).
    """
    path = Path(filename)
    if not path.is_file():
        raise HookError(f"{what} {conn_id!r}: no file to load at {str(path)!r}", conn_id=conn_id)
    return path


def import_pandas(purpose: str) -> Any:
    """The pandas module, or MissingDependency naming the ``pandas`` extra."""
    try:
        import pandas
    except ImportError as exc:
        raise MissingDependency("pandas", "pandas", purpose=purpose) from exc
    return pandas


def import_polars(purpose: str) -> Any:
    """The polars module, or MissingDependency naming the ``polars`` extra."""
    try:
        import polars  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        raise MissingDependency("polars", "polars", purpose=purpose) from exc
    return polars
