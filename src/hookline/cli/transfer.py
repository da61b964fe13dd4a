"""Connections files for ``connections import`` and ``export``: reading every accepted shape, writing safely.

Reading (:func:`parse_import_text`) accepts Airflow's connections-file shapes (a JSON or YAML object
``{conn_id: value}``, ``conn_id=value`` env lines, see :mod:`hookline.secrets.files`) and two more that
teams keep:

* a JSON or YAML **list** of connection objects, each with its ``conn_id``;
* the **environment form** ``connections get/list -o env`` prints: ``HOOKLINE_CONN_<ID>='<uri>'`` (or
  ``AIRFLOW_CONN_<ID>``, optionally after ``export``) lines with shell quoting. The id is the variable
  name after the prefix, lower-cased, as the env backend lists it.

Writing (:func:`write_private`) never follows a symbolic link and never leaves a half-written file:
the text goes to a new file (mode 0600, ``O_EXCL``/``O_NOFOLLOW``) in the same directory, is flushed
to disk, then renamed over the destination.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import stat
import tempfile
from pathlib import Path
from typing import Any, Final

from hookline.cli.common import CliFailure
from hookline.connection import Connection
from hookline.exceptions import ConnectionsFileError, InvalidConnection
from hookline.secrets.env import DEFAULT_PREFIXES
from hookline.secrets.files import FileFormat, parse_connections_text

__all__ = ["parse_import_text", "write_private"]

_ENV_LINE: Final = re.compile(
    r"\s*(?:export\s+)?(?P<name>(?:" + "|".join(map(re.escape, DEFAULT_PREFIXES)) + r")[^=\s]+)="
)
_COMMENT: Final = re.compile(r"\s*(#|$)")


# -- reading --------------------------------------------------------------------------------------


def _is_environment_form(text: str) -> bool:
    """Every non-comment line is a ``HOOKLINE_CONN_X=...`` assignment (the `-o env` output)."""
    lines = [line for line in text.splitlines() if not _COMMENT.match(line)]
    return bool(lines) and all(_ENV_LINE.match(line) for line in lines)


def _parse_environment_form(text: str, source: str) -> dict[str, Connection]:
    conns: dict[str, Connection] = {}
    errors: list[tuple[int | None, str]] = []
    first: dict[str, int] = {}
    for line_no, line in enumerate(text.splitlines(), 1):
        if _COMMENT.match(line):
            continue
        match = _ENV_LINE.match(line)
        assert match is not None  # checked by _is_environment_form
        name = match["name"]
        prefix = next(p for p in DEFAULT_PREFIXES if name.startswith(p))
        conn_id = name[len(prefix) :].lower()
        try:
            words = shlex.split(line[match.end() :], comments=True)
        except ValueError:  # an unterminated quote; never quote the value (it may hold a secret)
            errors.append((line_no, f"{name}: the value is not valid shell quoting"))
            continue
        if len(words) != 1 or not words[0]:
            errors.append((line_no, f"{name}: expected one quoted value, found {len(words)}"))
            continue
        if conn_id in first:
            errors.append(
                (line_no, f"Found multiple values for {conn_id} in {source}. (first defined on "
                 f"line {first[conn_id]})")
            )  # fmt: skip
            continue
        first[conn_id] = line_no
        try:
            conns[conn_id] = Connection.from_text(words[0], conn_id=conn_id)
        except InvalidConnection as exc:
            errors.append((line_no, f"connection {conn_id!r}: {exc}"))
    if errors:
        raise ConnectionsFileError(source, errors)
    return conns


def _load_list(text: str, fmt: FileFormat) -> list[Any] | None:
    """The document when it is a list (JSON or YAML), else None (let the files parser report)."""
    try:
        if fmt == "json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception:  # malformed: the files parser reports it with its line
        return None
    return data if isinstance(data, list) else None


def _parse_list(items: list[Any], source: str) -> dict[str, Connection]:
    """A list of connection objects, each with its ``conn_id``, checked by Airflow's object rules."""
    conns: dict[str, Connection] = {}
    errors: list[tuple[int | None, str]] = []
    first: dict[str, int] = {}
    for number, item in enumerate(items, 1):
        where = f"entry {number}"
        conn_id = item.get("conn_id") if isinstance(item, dict) else None
        if not isinstance(item, dict):
            errors.append(
                (None, f"{where}: expected a connection object, got {type(item).__name__}")
            )
            continue
        if not isinstance(conn_id, str) or not conn_id:
            errors.append((None, f"{where}: has no conn_id"))
            continue
        if conn_id in first:
            errors.append((None, f"{where}: conn_id {conn_id!r} repeats entry {first[conn_id]}"))
            continue
        first[conn_id] = number
        try:
            parsed = parse_connections_text(json.dumps({conn_id: item}), "json", source)
        except ConnectionsFileError as exc:
            errors.extend((None, f"{where}: {message}") for _, message in exc.errors)
            continue
        conns.update(parsed)
    if not items:
        errors.append((None, "The file is empty."))
    if errors:
        raise ConnectionsFileError(source, errors)
    return conns


def parse_import_text(text: str, fmt: FileFormat, source: str) -> dict[str, Connection]:
    """Parse an import file in any accepted shape; all or nothing.

    Args:
        text: The file content.
        fmt: ``"json"``, ``"yaml"`` or ``"env"``.
        source: The file name, for messages.

    Returns:
        conn_id -> Connection, in file order.

    Raises:
        ConnectionsFileError: the text or any entry is invalid; ``.errors`` lists every problem.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    if fmt == "env" and _is_environment_form(text):
        return _parse_environment_form(text, source)
    if fmt in ("json", "yaml"):
        items = _load_list(text, fmt)
        if items is not None:
            return _parse_list(items, source)
    return parse_connections_text(text, fmt, source)


# -- writing --------------------------------------------------------------------------------------


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically, readable by its owner only (it may hold secrets).

    Raises:
        CliFailure: ``path`` is a symbolic link (it is never followed: its target could be any
            file the user can write) or exists and is not a regular file.
        OSError: the directory cannot be written.
    """
    try:
        info = path.lstat()
    except FileNotFoundError:
        pass
    else:
        if stat.S_ISLNK(info.st_mode):
            raise CliFailure(
                f"{path} is a symbolic link; refusing to write through it (give the real path, or "
                "- for stdout)"
            )
        if not stat.S_ISREG(info.st_mode):
            raise CliFailure(f"{path} exists and is not a regular file; refusing to replace it")
    directory = path.parent
    # mkstemp opens with O_CREAT | O_EXCL | O_NOFOLLOW and mode 0600.
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        # rename() replaces the directory entry: a link put there meanwhile is replaced, not followed
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
