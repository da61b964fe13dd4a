"""Local variables files (Airflow's ``variables_file_path``) and Airflow's variables import/export text.

The shapes are those of Airflow's ``LocalFilesystemBackend``, chosen by the file extension:

* ``.env``: ``KEY=value`` lines, split on the first ``=``; blank and ``#`` comment lines skipped; no
  quote stripping (``KEY='x'`` keeps the quotes, as Airflow does);
* ``.json`` and ``.yaml``/``.yml``: one object ``{key: value}``. A value that is not text (a number,
  an object, a list...) is stored as its JSON text, so ``get_variable(key, deserialize_json=True)``
  gives it back; a one-element list is its element, as in Airflow (a longer list is an error, as in
  Airflow: write it as a JSON string); ``null`` defines nothing (Airflow's lookup answers None).

Every problem of a file is reported at once with its line (:class:`~hookline.exceptions.VariablesFileError`,
recorded as ``invalid`` in the lookup trace, which stops the chain), repeated keys included, and a
message never quotes a value. :func:`render_variables_json` writes what ``airflow variables export``
writes, and :func:`parse_variables_import` reads what ``airflow variables import`` reads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hookline.exceptions import HooklineError, VariablesFileError
from hookline.secrets.files import _PARSERS, FileFormat, format_for_path
from hookline.secrets.watched_file import WatchedFile

__all__ = [
    "VariablesFile",
    "parse_variables_import",
    "parse_variables_text",
    "render_variables_json",
]


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def parse_variables_text(text: str, fmt: FileFormat, source: str = "<text>") -> dict[str, str]:
    """Parse variables-file text; all or nothing.

    Returns:
        key -> stored text, in file order.

    Raises:
        VariablesFileError: the text or any entry is invalid; ``.errors`` lists every problem.
    """
    from hookline.resolve.variables import validate_variable_key

    parser = _PARSERS[fmt]
    if text.startswith("\ufeff"):
        text = text[1:]
    items, errors = parser(text)
    result: dict[str, str] = {}
    first_line: dict[str, int | None] = {}
    for item in items:
        key = item.key
        if not isinstance(key, str):
            errors.append((item.line, f"The key must be a string, not {type(key).__name__}"))
            continue
        if key in first_line:
            where = f" (first defined on line {first_line[key]})" if first_line[key] else ""
            errors.append((item.line, f"Found multiple values for {key} in {source}.{where}"))
            continue
        first_line[key] = item.line
        try:
            validate_variable_key(key)
        except HooklineError as exc:
            errors.append((item.line, str(exc)))
            continue
        value = item.value
        if isinstance(value, list):
            if len(value) != 1:
                errors.append((item.line, f"variable {key!r}: a list must have exactly one value"))
                continue
            value = value[0]
        if value is None:
            continue
        try:
            result[key] = _as_text(value)
        except (TypeError, ValueError, RecursionError):  # YAML dates, NaN-free encoders...
            errors.append((item.line, f"variable {key!r}: the value cannot be stored as text"))
    if errors:
        errors.sort(key=lambda error: (error[0] is None, error[0] or 0))
        raise VariablesFileError(source, errors)
    return result


def parse_variables_import(
    text: str, fmt: FileFormat = "json", source: str = "<text>"
) -> tuple[dict[str, str], list[str]]:
    """Read a file of ``airflow variables import``: the shapes of :func:`parse_variables_text`
    (JSON, YAML or ``.env``), each value stored as ``airflow variables import`` stores it: text as
    it is, anything else as ``json.dumps(value, indent=2)`` (``Variable.set(..., serialize_json=
    True)``); an object ``{"value": ..., "description": ...}`` (what ``variables export`` writes for
    a variable with a description) stands for its value.

    Returns:
        key -> stored text, and the keys whose description was dropped (hookline keeps none).

    Raises:
        VariablesFileError: the text or an entry is invalid; every problem is listed.
    """
    from hookline.resolve.variables import validate_variable_key

    parser = _PARSERS[fmt]
    items, errors = parser(text.removeprefix("\ufeff"))
    result: dict[str, str] = {}
    described: list[str] = []
    first_line: dict[str, int | None] = {}
    for item in items:
        key = item.key
        if not isinstance(key, str):
            errors.append((item.line, f"The key must be a string, not {type(key).__name__}"))
            continue
        if key in first_line:
            errors.append((item.line, f"Found multiple values for {key} in {source}."))
            continue
        first_line[key] = item.line
        try:
            validate_variable_key(key)
        except HooklineError as exc:
            errors.append((item.line, str(exc)))
            continue
        value = item.value
        if isinstance(value, list) and fmt == "env":
            value = value[0] if len(value) == 1 else value
        if isinstance(value, dict) and value.get("value"):
            if value.get("description"):
                described.append(key)
            value = value["value"]
        try:
            result[key] = value if isinstance(value, str) else json.dumps(value, indent=2)
        except (TypeError, ValueError, RecursionError):
            errors.append((item.line, f"variable {key!r}: the value cannot be stored as text"))
    if errors:
        errors.sort(key=lambda error: (error[0] is None, error[0] or 0))
        raise VariablesFileError(source, errors)
    return result, described


def render_variables_json(variables: Mapping[str, str]) -> str:
    """What ``airflow variables export`` writes: a JSON object sorted by key, indented by 4, each
    value decoded from JSON when it is JSON text, else the text. Values are in clear."""
    data: dict[str, Any] = {}
    for key, value in variables.items():
        try:
            data[key] = json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            data[key] = value
    return json.dumps(data, sort_keys=True, indent=4) + "\n"


class VariablesFile:
    """The variables of one file, parsed on first use and again only when it changes (one
    ``stat`` per lookup in between).

    Raises:
        ConfigurationError: the extension is not supported.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self.format: FileFormat = format_for_path(self.path)
        path, fmt = self.path, self.format
        self._file: WatchedFile[dict[str, str], VariablesFileError] = WatchedFile(
            path, lambda text: parse_variables_text(text, fmt, str(path)), VariablesFileError
        )

    def values(self) -> dict[str, str]:
        """key -> text.

        Raises:
            VariablesFileError: the file is missing, unreadable or invalid.
        """
        return self._file.read()
