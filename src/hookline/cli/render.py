"""Rendering for the CLI: connections, lists, traces and settings as table, JSON, YAML, URI or env text.

Everything here redacts by default: passwords and extras under sensitive keys are written as ``***``
and URIs come from :meth:`~hookline.Connection.get_redacted_uri`. Only ``show_secrets=True`` (the
``--show-secrets`` flag) prints the real values. Tables are built from :class:`rich.text.Text` cells so
no value is ever read as rich markup; machine formats are plain text written without rich.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any, Final

from rich.console import Console
from rich.table import Table
from rich.text import Text

from hookline import masking
from hookline.cli.common import CliFailure
from hookline.connection import Connection

__all__ = [
    "ConfigFormat",
    "OutputFormat",
    "connection_record",
    "env_lines",
    "env_var_name",
    "plain_table",
    "redact_text_values",
    "render_connection",
    "render_connections",
    "render_mapping",
    "to_json",
    "to_yaml",
    "write_text",
]

_ENV_PREFIX = "HOOKLINE_CONN_"
# What a shell accepts as a variable name: ids that do not fit cannot be printed as `-o env`.
_SHELL_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class OutputFormat(StrEnum):
    """The ``--output`` choices of ``connections get`` and ``connections list``.

    ``plain`` is a borderless table (Airflow's ``-o plain``), easy to ``grep`` and ``awk``.
    """

    table = "table"
    plain = "plain"
    json = "json"
    yaml = "yaml"
    uri = "uri"
    env = "env"


class ConfigFormat(StrEnum):
    """The ``--output`` choices of commands that print structured data that has no URI form."""

    table = "table"
    plain = "plain"
    json = "json"
    yaml = "yaml"


def redact_text_values(data: Any) -> Any:
    """``data`` with every registered secret masked in its strings; keys and structure are kept.

    Unlike :func:`hookline.masking.redact` on a mapping, a value is not hidden for its key's name:
    for data that is already redacted by key (settings, traces) and only needs the value pass.
    """
    if isinstance(data, str):
        return masking.redact(data)
    if isinstance(data, Mapping):
        return {key: redact_text_values(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [redact_text_values(value) for value in data]
    return data


def to_json(data: Any) -> str:
    """Pretty JSON text (two-space indent, keys in insertion order)."""
    return json.dumps(data, indent=2, default=str)


def to_yaml(data: Any) -> str:
    """Block-style YAML text, keys in insertion order."""
    import yaml  # not at import: only -o yaml needs it, and it is slow to import

    text: str = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return text.rstrip("\n")


def env_var_name(conn_id: str) -> str | None:
    """The environment variable that defines ``conn_id`` for the env backend, or None when it would
    not be a valid shell variable name (``a-b``, ``p(q)``, ``a.b``)."""
    name = _ENV_PREFIX + conn_id.upper()
    return name if _SHELL_NAME.fullmatch(name) else None


def env_lines(conns: Iterable[Connection], *, show_secrets: bool) -> list[str]:
    """``HOOKLINE_CONN_<ID>=<value>`` lines a POSIX shell can source: the value is shell-quoted.

    ``connections import`` reads them back (the id is the name after the prefix, lower-cased).

    Raises:
        CliFailure: an id cannot be a shell variable name; every such id is listed and nothing is
            printed (a line like ``HOOKLINE_CONN_A-B=...`` would be run as a command).
    """
    lines: list[str] = []
    bad: list[str] = []
    for conn in conns:
        name = env_var_name(conn.conn_id or "")
        if name is None:
            bad.append(repr(conn.conn_id))
            continue
        lines.append(f"{name}={shlex.quote(_uri(conn, show_secrets))}")
    if bad:
        raise CliFailure(
            f"cannot print {len(bad)} connection(s) as environment variables: the id(s) "
            f"{', '.join(bad)} are not valid shell variable names (letters, digits and _ only); "
            "use -o uri, -o json or `connections export --format env` instead"
        )
    return lines


def _uri(conn: Connection, show_secrets: bool) -> str:
    return conn.get_uri() if show_secrets else conn.get_redacted_uri()


def connection_record(
    conn: Connection, source: str | None = None, *, show_secrets: bool = False
) -> dict[str, Any]:
    """A connection as a plain dict: its fields (``extra`` as a dict), ``uri`` and ``source``.

    Args:
        conn: The connection.
        source: The name of the backend that holds it, if known.
        show_secrets: Keep the password and sensitive extras; otherwise they are ``***``.
    """
    record = conn.to_dict(redact=not show_secrets)
    record["uri"] = _uri(conn, show_secrets)
    if source is not None:
        record["source"] = source
    return record


def _cell(value: Any) -> Text:
    if value is None:
        return Text("")
    if isinstance(value, Mapping | list):
        return Text(json.dumps(value, default=str) if value else "")
    return Text(str(value))


def _print_table(table: Table, console: Console) -> None:
    console.print(table, soft_wrap=True)


def _plain_cell(value: Any) -> str:
    # One line per row, whatever the value holds.
    return " ".join(_cell(value).plain.split()) if value is not None else ""


def plain_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Rows as a borderless table: a header line, then columns left-aligned, two spaces apart."""
    cells = [list(header), *([_plain_cell(value) for value in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def render_connection(
    conn: Connection,
    source: str | None,
    fmt: OutputFormat,
    console: Console,
    *,
    show_secrets: bool = False,
) -> None:
    """Print one connection to ``console`` in ``fmt``."""
    if fmt in (OutputFormat.table, OutputFormat.plain):
        record = connection_record(conn, source, show_secrets=show_secrets)
        if fmt is OutputFormat.plain:
            write_text(console, plain_table(("field", "value"), record.items()))
            return
        table = Table(show_header=True, header_style="bold")
        table.add_column("field")
        table.add_column("value", overflow="fold")
        for key, value in record.items():
            table.add_row(Text(key), _cell(value))
        _print_table(table, console)
        return
    _write_plain([(conn, source)], fmt, console, show_secrets=show_secrets, single=True)


_LIST_COLUMNS = ("conn_id", "conn_type", "host", "port", "schema", "login", "source")


def render_connections(
    rows: Sequence[tuple[str, Connection]],
    fmt: OutputFormat,
    console: Console,
    *,
    show_secrets: bool = False,
) -> None:
    """Print ``(source, connection)`` rows to ``console`` in ``fmt``.

    The table shows the non-secret columns only; ``--output uri``/``env``/``json``/``yaml`` show the
    whole connection (redacted unless ``show_secrets``).
    """
    pairs = [(conn, source) for source, conn in rows]
    if fmt in (OutputFormat.table, OutputFormat.plain):
        records = []
        for conn, source in pairs:
            record = conn.to_dict(redact=True)
            record["source"] = source
            records.append([record.get(column) for column in _LIST_COLUMNS])
        if fmt is OutputFormat.plain:
            write_text(console, plain_table(_LIST_COLUMNS, records))
            return
        table = Table(show_header=True, header_style="bold")
        for column in _LIST_COLUMNS:
            table.add_column(column, overflow="fold")
        for values in records:
            table.add_row(*(_cell(value) for value in values))
        _print_table(table, console)
        return
    _write_plain(pairs, fmt, console, show_secrets=show_secrets, single=False)


def _write_plain(
    pairs: Sequence[tuple[Connection, str | None]],
    fmt: OutputFormat,
    console: Console,
    *,
    show_secrets: bool,
    single: bool,
) -> None:
    lines: list[str]
    if fmt in (OutputFormat.json, OutputFormat.yaml):
        records = [connection_record(c, s, show_secrets=show_secrets) for c, s in pairs]
        data: Any = records[0] if single else records
        lines = [to_json(data) if fmt is OutputFormat.json else to_yaml(data)]
    elif fmt is OutputFormat.uri:
        if single:
            lines = [_uri(c, show_secrets) for c, _ in pairs]
        else:
            lines = [f"{c.conn_id}\t{_uri(c, show_secrets)}" for c, _ in pairs]
    else:  # env: lines a shell can source, read back by the env backend and by `import`
        lines = env_lines((c for c, _ in pairs), show_secrets=show_secrets)
    write_text(console, "\n".join(lines))


def write_text(console: Console, text: str) -> None:
    """Write ``text`` and a newline verbatim (no markup, no highlighting, no wrapping)."""
    if not text:
        return
    console.file.write(text + "\n")
    console.file.flush()


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, name + ".")
        else:
            yield name, value


def render_mapping(data: Mapping[str, Any], fmt: ConfigFormat, console: Console) -> None:
    """Print a nested mapping: a two-column table of dotted keys, or JSON/YAML."""
    if fmt is ConfigFormat.json:
        write_text(console, to_json(data))
    elif fmt is ConfigFormat.yaml:
        write_text(console, to_yaml(data))
    elif fmt is ConfigFormat.plain:
        write_text(console, plain_table(("setting", "value"), _flatten(data)))
    else:
        table = Table(show_header=True, header_style="bold")
        table.add_column("setting")
        table.add_column("value", overflow="fold")
        for key, value in _flatten(data):
            table.add_row(Text(key), _cell(value))
        _print_table(table, console)
