"""Where settings come from, for :mod:`hookline.config`: TOML text with line lookup, ``HOOKLINE_*``
variables as a tree, and the closest valid name for a misspelled one.

Kept apart from the schema in :mod:`hookline.config` so that module reads as the settings themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from hookline.exceptions import ConfigurationError

__all__ = [
    "ENV_PREFIX",
    "Source",
    "closest",
    "env_tree",
    "leaf_paths",
    "literal",
    "read_toml",
    "variable_name",
]

ENV_PREFIX: Final = "HOOKLINE_"
# Variables that look like HOOKLINE_<SECTION>__<KEY> but are not settings.
_NOT_SETTINGS: Final = ("HOOKLINE_CONN_",)


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``name`` (a likely misspelling of it), or None when none is close."""
    import difflib  # only on the error path

    options = sorted(set(choices))
    lowered = {option.lower(): option for option in options}
    if name.lower() in lowered:
        return lowered[name.lower()]
    matches = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    if matches:
        return lowered[matches[0]]
    # A shortened name (``ttl`` for ``ttl_seconds``): the one choice it starts.
    starts = [
        option for low, option in lowered.items() if len(name) >= 3 and low.startswith(name.lower())
    ]
    return starts[0] if len(starts) == 1 else None


class Source:
    """Where a value came from, for error messages: a file (with line lookup) or a variable."""

    def __init__(self, path: Path | None = None, text: str = "") -> None:
        self.path = path
        self._lines = text.splitlines()

    @property
    def from_env(self) -> bool:
        return self.path is None

    def origin(self, keys: Sequence[str]) -> str:
        """``"file, line N"`` (or just the file), or the variable name."""
        if self.path is None:
            return variable_name(keys)
        line = _find_line(self._lines, list(keys))
        return f"{self.path}" + (f", line {line}" if line else "")

    def where(self, keys: Sequence[str]) -> str:
        """The prefix of an error message about ``keys``."""
        if self.path is None:
            return variable_name(keys)
        return f"{'.'.join(keys)} ({self.origin(keys)})"


def variable_name(keys: Sequence[str]) -> str:
    """The ``HOOKLINE_<SECTION>__<KEY>`` variable that sets ``keys``."""
    return ENV_PREFIX + "__".join(k.upper() for k in keys)


def _find_line(lines: list[str], keys: list[str]) -> int | None:
    """Best-effort line number of ``keys`` in TOML text: the key line, else its table header."""
    table: list[str] = []
    header_line: int | None = None
    want_table, want_key = keys[:-1], keys[-1]
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if line.startswith("["):
            name = line.strip("[] \t").split("]")[0]
            table = [part.strip().strip("\"'") for part in name.split(".")]
            if table == keys and header_line is None:
                header_line = number
            continue
        if "=" not in line or line.startswith("#"):
            continue
        key_path = [part.strip().strip("\"'") for part in line.split("=", 1)[0].split(".")]
        full = table + key_path
        if full == [*want_table, want_key]:
            return number
        if header_line is None and full[: len(keys)] == keys:
            header_line = number  # a dotted key that defines the table (``secret.backends = ...``)
    return header_line


def read_toml(path: Path) -> tuple[dict[str, Any], Source]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(f"config file {path} does not exist (HOOKLINE_CONFIG)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"config file {path} cannot be read: {type(exc).__name__}: {exc}"
        ) from exc
    import tomllib  # only when a config file exists

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"config file {path} is not valid TOML: {exc}") from None
    return data, Source(path, text)


def literal(text: str) -> Any:
    """A backend keyword value from the environment: a TOML literal when it parses as one."""
    stripped = text.strip()
    if not stripped:
        return text
    import tomllib

    try:
        return tomllib.loads(f"v = {stripped}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def leaf_paths(value: Any) -> list[list[str]]:
    """The key paths to the leaves of a nested mapping (``[[]]`` for a leaf itself)."""
    if not isinstance(value, Mapping) or not value:
        return [[]]
    return [[str(key), *rest] for key, child in value.items() for rest in leaf_paths(child)]


def env_tree(environ: Mapping[str, str]) -> dict[str, Any]:
    """``HOOKLINE_A__B__C=v`` variables as a nested dict ``{"a": {"b": {"c": "v"}}}``."""
    tree: dict[str, Any] = {}
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name.startswith(_NOT_SETTINGS) or "__" not in name:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if not all(parts):
            raise ConfigurationError(f"{name}: empty part in a HOOKLINE_<SECTION>__<KEY> variable")
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigurationError(f"{name}: conflicts with a variable naming {part!r} alone")
            node = child
        if isinstance(node.get(parts[-1]), dict):
            raise ConfigurationError(f"{name}: conflicts with variables below it")
        node[parts[-1]] = environ[name]
    return tree
