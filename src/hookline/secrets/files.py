"""Local connections files: Airflow's JSON, YAML and ``.env`` shapes, re-read only when they change.

The shapes are those of Airflow's ``LocalFilesystemBackend`` (``connections_file_path``), chosen by
the file extension (``.json``, ``.yaml``/``.yml``, ``.env``):

* JSON and YAML: one object ``{conn_id: value}``; ``.env``: ``conn_id=value`` lines (split on the first
  ``=``; blank and ``#`` comment lines skipped; no quote stripping);
* a value is a URI string (or JSON text starting with ``{``), an object of connection fields
  (``conn_type, description, host, login, password, schema, port, extra`` plus ``extra_dejson``,
  ``uri``, ``conn_id``, ``team_name``), or a one-element list of either.

Errors use Airflow's messages and carry line numbers. Unlike Airflow, every bad entry is reported (not
just the first), each with the line of its key; duplicate keys in JSON and YAML are errors (Airflow
silently keeps the last); YAML line numbers are 1-based and messages never quote file content (a
snippet could hold a password). Every malformed file is a typed
:class:`~hookline.exceptions.ConnectionsFileError` (a character YAML refuses, nesting too deep, bad
UTF-8 included), so the chain records the files backend as ``invalid`` and stops, rather than
treating it as down and serving the same id from the next backend. Ids that would change a path they
are put in (``a/../b``, ``a//b``, a backslash: :mod:`hookline.secrets.ids`) are refused, in the file
and in lookups. :func:`render_connections` writes the shapes of Airflow's ``connections export``,
which :func:`parse_connections_text` reads back.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple

from hookline import masking
from hookline.connection import Connection
from hookline.exceptions import ConfigurationError, ConnectionsFileError, InvalidConnection
from hookline.secrets.base import SecretsBackend
from hookline.secrets.ids import check_conn_id_path, conn_id_path_problem
from hookline.secrets.watched_file import WatchedFile

if TYPE_CHECKING:
    import yaml

    from hookline.secrets.variables_file import VariablesFile

__all__ = [
    "ConnectionsFileError",
    "FileFormat",
    "LocalFilesBackend",
    "format_for_path",
    "parse_connections_text",
    "render_connections",
]

FileFormat = Literal["json", "yaml", "env"]

_EXTENSIONS: Final[dict[str, FileFormat]] = {
    ".env": "env",
    ".json": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
}
_LEGAL_KEYS: Final = frozenset(
    {
        "conn_id", "conn_type", "description", "host", "login", "password", "schema", "port",
        "extra", "uri", "team_name", "extra_dejson",
    }
)  # fmt: skip
_URI_EXCLUSIVE: Final = (
    "conn_type",
    "host",
    "login",
    "password",
    "schema",
    "port",
    "extra",
    "extra_dejson",
)
_TEXT_FIELDS: Final = ("conn_type", "description", "host", "login", "password", "schema")
_COMMENT = re.compile(r"\s*#")
_WS = re.compile(r"[ \t\n\r]*")

ParseErrors = list[tuple[int | None, str]]
_TOO_DEEP: Final = "The file nests values too deeply to be read."


class _Item(NamedTuple):
    line: int | None
    key: Any
    value: Any


def format_for_path(path: str | os.PathLike[str]) -> FileFormat:
    """The file format implied by a path's extension.

    Raises:
        ConfigurationError: the extension is not ``.env``, ``.json``, ``.yaml`` or ``.yml``.
    """
    fmt = _EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ConfigurationError(
            f"Unsupported file format of {os.fspath(path)}. The file must have one of the following "
            f"extensions: {' '.join(sorted(_EXTENSIONS))}"
        )
    return fmt


# -- parsers: text -> items (line, key, value) ----------------------------------------------------


def _parse_env(text: str) -> tuple[list[_Item], ParseErrors]:
    items: list[_Item] = []
    errors: ParseErrors = []
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip() or _COMMENT.match(line):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            message = 'Invalid line format. The line should contain at least one equal sign ("=").'
            errors.append((line_no, message))
        elif not key:
            errors.append((line_no, "Invalid line format. Key is empty."))
        elif not value:
            errors.append((line_no, "Invalid line format. Value is empty."))
        else:
            items.append(_Item(line_no, key, value))
    return items, errors


def _parse_json(text: str) -> tuple[list[_Item], ParseErrors]:
    if not text.strip():
        return [], [(1, "The file is empty.")]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], [(exc.lineno, exc.msg)]
    except RecursionError:
        return [], [(None, _TOO_DEEP)]
    if not isinstance(data, dict):
        return [], [(1, "The file should contain the object.")]
    # json.loads accepted the text, so walk the top-level object again to find each key's line.
    decoder = json.JSONDecoder()
    items: list[_Item] = []
    idx = _WS.match(text, 0).end() + 1  # type: ignore[union-attr]  # past "{"
    line, counted_to = 1, 0
    while True:
        idx = _WS.match(text, idx).end()  # type: ignore[union-attr]
        if text[idx] == "}":
            break
        if text[idx] == ",":
            idx = _WS.match(text, idx + 1).end()  # type: ignore[union-attr]
        line += text.count("\n", counted_to, idx)
        counted_to = idx
        key, idx = json.decoder.scanstring(text, idx + 1)  # type: ignore[attr-defined]
        idx = _WS.match(text, idx).end() + 1  # type: ignore[union-attr]  # past ":"
        idx = _WS.match(text, idx).end()  # type: ignore[union-attr]
        value, idx = decoder.raw_decode(text, idx)
        items.append(_Item(line, key, value))
    return items, []


def _yaml_error(exc: yaml.YAMLError, text: str) -> tuple[int | None, str]:
    import yaml

    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML refuses (control, surrogate)
        position = exc.position if isinstance(exc.position, int) else 0
        line_start = text.rfind("\n", 0, position) + 1
        code = exc.character if isinstance(exc.character, int) else 0
        return (
            text.count("\n", 0, position) + 1,
            f"special character #x{code:04x} is not allowed in YAML (column {position - line_start + 1})",
        )
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        parts = [p for p in (exc.context, exc.problem) if p]
        message = ": ".join(parts) or type(exc).__name__
        if mark is not None:
            return mark.line + 1, f"{message} (column {mark.column + 1})"
        return None, message
    return None, f"invalid YAML ({type(exc).__name__})"


def _parse_yaml(text: str) -> tuple[list[_Item], ParseErrors]:
    if not text.strip():
        return [], [(1, "The file is empty.")]
    import yaml  # here, not at import: JSON and env files (and the CLI's start) need no YAML

    try:
        loader = yaml.SafeLoader(text)  # checks every character first: ReaderError
    except yaml.YAMLError as exc:
        return [], [_yaml_error(exc, text)]
    try:
        node = loader.get_single_node()
        if not isinstance(node, yaml.MappingNode):
            line = node.start_mark.line + 1 if node is not None else 1
            return [], [(line, "The file should contain the object.")]
        loader.flatten_mapping(node)
        items = [
            _Item(
                key_node.start_mark.line + 1,
                loader.construct_object(key_node, deep=True),
                loader.construct_object(value_node, deep=True),
            )
            for key_node, value_node in node.value
        ]
    except yaml.YAMLError as exc:
        return [], [_yaml_error(exc, text)]
    except RecursionError:
        return [], [(None, _TOO_DEEP)]
    finally:
        loader.dispose()
    return items, []


_PARSERS: Final = {"env": _parse_env, "json": _parse_json, "yaml": _parse_yaml}


# -- items -> connections -------------------------------------------------------------------------


class _EntryError(Exception):
    pass


def _from_object(conn_id: str, value: Mapping[Any, Any]) -> Connection:
    keys = {str(k) for k in value}
    illegal = keys - _LEGAL_KEYS
    if illegal:
        raise _EntryError(
            f"The object have illegal keys: {', '.join(sorted(illegal))}. The dictionary can only "
            f"contain the following keys: {', '.join(sorted(_LEGAL_KEYS))}"
        )
    if "extra" in value and "extra_dejson" in value:
        raise _EntryError(
            "The extra and extra_dejson parameters are mutually exclusive. "
            "Please provide only one parameter."
        )
    if "conn_id" in value and value["conn_id"] != conn_id:
        raise _EntryError(
            f"Mismatch conn_id. The dictionary key has the value: {value['conn_id']}. "
            f"The item has the value: {conn_id}."
        )
    if value.get("team_name") is not None:
        raise _EntryError("team_name is not supported: hookline has no multi-team mode")
    fields = {str(k): v for k, v in value.items() if k not in {"conn_id", "team_name", "uri"}}
    for name in _TEXT_FIELDS:  # YAML reads `password: 123456` or `schema: 2024` as numbers
        if type(fields.get(name)) in (int, float):
            fields[name] = str(fields[name])
    uri = value.get("uri")
    if uri is not None:
        if any(fields.get(name) is not None for name in _URI_EXCLUSIVE):
            raise _EntryError(
                "You must create an object using the URI or individual values (conn_type, host, "
                "login, password, schema, port or extra).You can't mix these two ways to create "
                "this object."
            )
        if not isinstance(uri, str):
            raise _EntryError(f"uri must be a string, not {type(uri).__name__}")
        conn = Connection.from_uri(uri, conn_id=conn_id)
        description = fields.get("description")
        return conn if description is None else conn.replace(description=description)
    return Connection.from_dict(fields, conn_id=conn_id)


def _create_connection(conn_id: str, value: Any, source: str) -> Connection | None:
    if isinstance(value, list):
        if len(value) > 1:
            raise _EntryError(f"Found multiple values for {conn_id} in {source}.")
        if not value:
            return None  # Airflow creates nothing for an empty list
        value = value[0]
    if isinstance(value, str):
        return Connection.from_text(value, conn_id=conn_id)
    if isinstance(value, Mapping):
        return _from_object(conn_id, value)
    raise _EntryError(
        f"Unexpected value type: {type(value)}. The connection can only be defined using a string "
        "or object."
    )


def parse_connections_text(
    text: str, fmt: FileFormat, source: str = "<text>"
) -> dict[str, Connection]:
    """Parse connections-file text; all or nothing.

    Args:
        text: The file content.
        fmt: ``"json"``, ``"yaml"`` or ``"env"``.
        source: Name of the file, used in messages.

    Returns:
        conn_id -> Connection, in file order.

    Raises:
        ConnectionsFileError: the text or any entry is invalid; ``.errors`` lists every problem with
            its line number.
        ConfigurationError: ``fmt`` is not a known format.
    """
    parser = _PARSERS.get(fmt)
    if parser is None:
        raise ConfigurationError(f"unknown connections file format {fmt!r}; use json, yaml or env")
    if text.startswith("\ufeff"):
        text = text[1:]
    items, errors = parser(text)
    result: dict[str, Connection] = {}
    first_line: dict[str, int | None] = {}
    for item in items:
        key = item.key
        if not isinstance(key, str):
            errors.append(
                (item.line, f"The key must be a string, not {type(key).__name__}: {key!r}")
            )
            continue
        if key in first_line:
            where = f" (first defined on line {first_line[key]})" if first_line[key] else ""
            errors.append((item.line, f"Found multiple values for {key} in {source}.{where}"))
            continue
        first_line[key] = item.line
        problem = conn_id_path_problem(key)
        if problem is not None:
            errors.append(
                (item.line, f"connection {key!r}: the id has {problem}; it cannot be looked up")
            )
            continue
        try:
            conn = _create_connection(key, item.value, source)
        except _EntryError as exc:
            errors.append((item.line, f"connection {key!r}: {exc}"))
            continue
        except InvalidConnection as exc:
            errors.append((item.line, f"connection {key!r}: {exc}"))
            continue
        except RecursionError:
            errors.append((item.line, f"connection {key!r}: values nested too deeply"))
            continue
        if conn is not None:
            result[key] = conn
    if errors:
        errors.sort(key=lambda error: (error[0] is None, error[0] or 0))
        # A key is quoted as given, and a broken line can make a URI (with its password) the key:
        # messages pass through masking (URL passwords, values after sensitive keys).
        raise ConnectionsFileError(
            source, [(line, str(masking.redact(message))) for line, message in errors]
        )
    return result


def _export_fields(conn: Connection) -> dict[str, Any]:
    """Airflow's ``connections export`` fields: extra as its JSON text, password in clear."""
    return {
        "conn_type": conn.conn_type,
        "description": conn.description,
        "login": conn.login,
        "password": conn.password,
        "host": conn.host,
        "port": conn.port,
        "schema": conn.schema,
        "extra": conn.extra_json,
    }


def render_connections(
    conns: Mapping[str, Connection],
    fmt: FileFormat,
    *,
    serialization: Literal["uri", "json"] = "uri",
) -> str:
    """Render connections as Airflow's ``connections export`` does (sorted by conn_id).

    JSON and YAML: ``{conn_id: {conn_type, description, login, password, host, port, schema, extra}}``
    with ``extra`` as JSON text. env: ``conn_id=<URI>`` lines, or ``conn_id=<JSON>`` with
    ``serialization="json"`` (keeps the description, which a URI cannot hold). The output holds
    passwords in clear text and reads back with :func:`parse_connections_text`.
    """
    ordered = sorted(conns.items())
    if fmt == "json":
        return json.dumps({cid: _export_fields(c) for cid, c in ordered}, indent=2) + "\n"
    if fmt == "yaml":
        import yaml

        data = {cid: _export_fields(c) for cid, c in ordered}
        return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
    if fmt == "env":
        if serialization == "json":
            return "".join(f"{cid}={c.to_json()}\n" for cid, c in ordered)
        return "".join(f"{cid}={c.get_uri()}\n" for cid, c in ordered)
    raise ConfigurationError(f"unknown connections file format {fmt!r}; use json, yaml or env")


# -- the backend ----------------------------------------------------------------------------------


class LocalFilesBackend(SecretsBackend):
    """Connections from a local JSON, YAML or ``.env`` file (Airflow's shapes).

    The file is parsed on first use and again only when its mtime, size or inode changes; lookups in
    between cost one ``stat``. A file with errors raises :class:`ConnectionsFileError` on every
    lookup until it is fixed.

    Args:
        connections_file_path: The connections file; its extension picks the format. None: this
            backend holds no connection.
        variables_file_path: The variables file (Airflow's shapes, see
            :mod:`hookline.secrets.variables_file`). None: this backend holds no variable.

    Raises:
        ConfigurationError: an extension is not supported, or neither path is given.
    """

    listable = True
    variables_listable = True

    name = "files"

    def __init__(
        self,
        connections_file_path: str | os.PathLike[str] | None = None,
        variables_file_path: str | os.PathLike[str] | None = None,
    ) -> None:
        if connections_file_path is None and variables_file_path is None:
            raise ConfigurationError(
                "the files backend needs connections_file_path, variables_file_path or both"
            )
        self.path: Path | None = None
        if connections_file_path is not None:
            self.path = Path(connections_file_path).expanduser()
            self.format: FileFormat = format_for_path(self.path)
        self._variables: VariablesFile | None = None
        if variables_file_path is not None:
            from hookline.secrets.variables_file import VariablesFile

            self._variables = VariablesFile(variables_file_path)
        self._file: WatchedFile[dict[str, Connection], ConnectionsFileError] | None = None
        if self.path is not None:
            path, fmt = self.path, self.format
            self._file = WatchedFile(
                path,
                lambda text: parse_connections_text(text, fmt, str(path)),
                ConnectionsFileError,
                on_reload=self._forget_json,
            )
        self._json: dict[str, str] = {}

    def _connections(self) -> dict[str, Connection]:
        return {} if self._file is None else self._file.read()

    def _forget_json(self) -> None:
        self._json = {}

    def get_connection(self, conn_id: str) -> Connection | None:
        """The connection from the file, or None when the file does not define it.

        Raises:
            ConnectionsFileError: the file is missing, unreadable or invalid.
            InvalidConnection: ``conn_id`` is not a safe key (see :mod:`hookline.secrets.ids`).
        """
        check_conn_id_path(conn_id, backend=self.name)
        return self._connections().get(conn_id)

    def get_conn_value(self, conn_id: str) -> str | None:
        """The connection as JSON text (password included), or None when not defined.

        Raises:
            ConnectionsFileError: the file is missing, unreadable or invalid.
            InvalidConnection: ``conn_id`` is not a safe key (see :mod:`hookline.secrets.ids`).
        """
        check_conn_id_path(conn_id, backend=self.name)
        conns = self._connections()
        cache = self._json
        value = cache.get(conn_id)
        if value is None:
            conn = conns.get(conn_id)
            if conn is None:
                return None
            value = cache[conn_id] = conn.to_json()
        return value

    def lookup_keys(self, conn_id: str) -> list[str]:
        return [f"{self.path}#{conn_id}"] if self.path is not None else []

    def list_connections(self) -> Iterator[Connection]:
        """Every connection in the file, in file order."""
        yield from self._connections().values()

    # -- variables ------------------------------------------------------------------------------

    def get_variable(self, key: str) -> str | None:
        """The variable from ``variables_file_path``, or None when not defined (or no file).

        Raises:
            VariablesFileError: the file is missing, unreadable or invalid.
        """
        if self._variables is None:
            return None
        return self._variables.values().get(key)

    def variable_lookup_keys(self, key: str) -> list[str]:
        return [f"{self._variables.path}#{key}"] if self._variables is not None else []

    def list_variables(self) -> Iterator[tuple[str, str]]:
        """Every variable of the file, in file order."""
        if self._variables is not None:
            yield from self._variables.values().items()

    def __repr__(self) -> str:
        variables = self._variables
        if variables is None:
            return f"LocalFilesBackend({str(self.path)!r})"
        return (
            f"LocalFilesBackend(connections_file_path={str(self.path) if self.path else None!r}, "
            f"variables_file_path={str(variables.path)!r})"
        )
