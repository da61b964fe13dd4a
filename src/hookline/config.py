"""Settings: every default in one place, loaded from ``hookline.toml`` and ``HOOKLINE_*`` variables.

Sources, weakest first:

1. the defaults below (this module is the only place that defines them);
2. the TOML file: ``$HOOKLINE_CONFIG`` when set, else ``$HOOKLINE_HOME/hookline.toml`` when it exists;
3. ``HOOKLINE_<SECTION>__<KEY>`` environment variables (``__`` separates levels), for example
   ``HOOKLINE_CACHE__TTL_SECONDS=60``, ``HOOKLINE_SECRETS__BACKENDS=env,files,metastore``,
   ``HOOKLINE_SECRETS__BACKEND__VAULT__URL=http://127.0.0.1:8200``, ``HOOKLINE_METASTORE__URL=...``.

The file layout::

    [secrets]
    backends = ["env", "files", "metastore"]     # asked in this order

    [secrets.backend.files]                       # keyword arguments of the "files" backend
    connections_file_path = "/etc/hookline/connections.yaml"

    [cache]
    ttl_seconds = 300

    [metastore]
    url = "postgresql+psycopg://hookline@db/hookline"

When ``[secrets] backends`` is not set, the chain is ``env`` then ``metastore``, with ``files`` put
between them when a ``[secrets.backend.files]`` table (or a ``HOOKLINE_SECRETS__BACKEND__FILES__*``
variable) configures it. Tables for backends that are not in the chain are ignored with a warning.

Environment values are text. Typed settings (numbers, booleans, the backend list) are converted and
checked; backend keyword values are read as TOML literals when they look like one (``5``, ``2.5``,
``true``, ``[...]``, ``{...}``, ``"quoted"``) and kept as text otherwise, so quote a value that must
stay text: ``HOOKLINE_SECRETS__BACKEND__X__TOKEN='"12345"'``.

Sections hookline does not know (``[audit]``, ``[pool]``...) are kept as read in
:attr:`Settings.sections` for the modules that own them. Unknown keys in known sections are errors.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from hookline.exceptions import ConfigurationError
from hookline.masking import REDACTED, is_sensitive_key, redact

__all__ = [
    "CONFIG_FILE_NAME",
    "DEFAULT_BACKENDS",
    "DEFAULT_HOME",
    "ENV_PREFIX",
    "CacheSettings",
    "Settings",
    "load_settings",
]

log = logging.getLogger(__name__)

# -- every default, in one place -------------------------------------------------------------------

ENV_PREFIX: Final = "HOOKLINE_"
DEFAULT_HOME: Final = "~/.hookline"
CONFIG_FILE_NAME: Final = "hookline.toml"
DEFAULT_BACKENDS: Final[tuple[str, ...]] = ("env", "metastore")
FILES_BACKEND: Final = "files"
DEFAULT_CACHE_ENABLED: Final = True
DEFAULT_CACHE_TTL_SECONDS: Final = 300.0
DEFAULT_CACHE_TTL_JITTER_RATIO: Final = 0.1
DEFAULT_CACHE_NEGATIVE_TTL_SECONDS: Final = 5.0
DEFAULT_CACHE_STALE_IF_ERROR_SECONDS: Final = 600.0
DEFAULT_CACHE_ERROR_RETRY_SECONDS: Final = 5.0
DEFAULT_CACHE_CHANGE_CHECK_INTERVAL_SECONDS: Final = 0.25
DEFAULT_CACHE_MAX_ENTRIES: Final = 100_000
DEFAULT_METASTORE_URL: Final[str | None] = None  # None: SQLite at $HOOKLINE_HOME/hookline.db

# Variables that look like HOOKLINE_<SECTION>__<KEY> but are not settings.
_NOT_SETTINGS: Final = ("HOOKLINE_CONN_",)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s]*:)[^@/?#\s]*(?=@)")


@dataclasses.dataclass(frozen=True, slots=True)
class CacheSettings:
    """How the connection cache in front of the secrets chain behaves (section ``[cache]``).

    Attributes:
        enabled: Put the cache in front of the chain at all.
        ttl_seconds: How long a resolved connection is served from memory (upper bound).
        ttl_jitter_ratio: Each entry lives a random ``ttl_seconds * (1 - ratio*U[0,1))``, so entries
            resolved together do not all expire together. ``0 <= ratio < 1``.
        negative_ttl_seconds: How long "not found" is remembered.
        stale_if_error_seconds: After expiry, how long an entry may still be served while every
            backend that could answer is unavailable.
        error_retry_seconds: While an expired value is served that way, how often the backends are
            asked again.
        change_check_interval_seconds: How often, at most, backends with a ``change_counter()`` (the
            metastore) are asked whether another process changed something.
        max_entries: Entries kept before expired ones are dropped (then the oldest).
    """

    enabled: bool = DEFAULT_CACHE_ENABLED
    ttl_seconds: float = DEFAULT_CACHE_TTL_SECONDS
    ttl_jitter_ratio: float = DEFAULT_CACHE_TTL_JITTER_RATIO
    negative_ttl_seconds: float = DEFAULT_CACHE_NEGATIVE_TTL_SECONDS
    stale_if_error_seconds: float = DEFAULT_CACHE_STALE_IF_ERROR_SECONDS
    error_retry_seconds: float = DEFAULT_CACHE_ERROR_RETRY_SECONDS
    change_check_interval_seconds: float = DEFAULT_CACHE_CHANGE_CHECK_INTERVAL_SECONDS
    max_entries: int = DEFAULT_CACHE_MAX_ENTRIES

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "enabled":
                if not isinstance(value, bool):
                    raise ConfigurationError(f"cache.enabled must be true or false, not {value!r}")
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigurationError(f"cache.{field.name} must be a number, not {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ConfigurationError(
                    f"cache.{field.name} must be a finite number >= 0, not {value!r}"
                )
        if self.ttl_jitter_ratio >= 1:
            raise ConfigurationError(
                f"cache.ttl_jitter_ratio must be in [0, 1), not {self.ttl_jitter_ratio!r}"
            )
        if not isinstance(self.max_entries, int) or self.max_entries < 1:
            raise ConfigurationError(
                f"cache.max_entries must be an integer >= 1, not {self.max_entries!r}"
            )


@dataclasses.dataclass(frozen=True, slots=True, repr=False)
class Settings:
    """Resolved hookline settings (see the module docstring for sources and layout).

    Attributes:
        home: ``HOOKLINE_HOME`` (default ``~/.hookline``): the config file, SQLite metastore, key file.
        config_path: The TOML file that was read, or None.
        backends: Backend names, asked in this order (``[secrets] backends``).
        backend_kwargs: Keyword arguments per backend name (``[secrets.backend.<name>]``).
        cache: Cache settings (``[cache]``).
        metastore_url: SQLAlchemy URL of the metastore (``[metastore] url``); None means SQLite at
            ``$HOOKLINE_HOME/hookline.db``.
        sections: Sections hookline's core does not interpret, as read (for other modules).
    """

    home: Path
    config_path: Path | None = None
    backends: tuple[str, ...] = DEFAULT_BACKENDS
    backend_kwargs: Mapping[str, Mapping[str, Any]] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )
    cache: CacheSettings = dataclasses.field(default_factory=CacheSettings)
    metastore_url: str | None = DEFAULT_METASTORE_URL
    sections: Mapping[str, Mapping[str, Any]] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )

    def kwargs_for(self, backend: str) -> dict[str, Any]:
        """A mutable copy of the keyword arguments configured for ``backend`` (empty if none)."""
        return dict(self.backend_kwargs.get(backend, {}))

    def as_display_dict(self) -> dict[str, Any]:
        """The settings as plain data for ``hookline config show``, secrets redacted.

        Values under sensitive-looking keys (``token``, ``password``, ``secret_id``...) become ``***``
        and passwords inside URLs are replaced, so the result is safe to print.
        """
        data: dict[str, Any] = {
            "home": str(self.home),
            "config_path": str(self.config_path) if self.config_path else None,
            "secrets": {
                "backends": list(self.backends),
                "backend": {
                    name: _redact_display(kwargs) for name, kwargs in self.backend_kwargs.items()
                },
            },
            "cache": dataclasses.asdict(self.cache),
            "metastore": {"url": _redact_url(self.metastore_url)},
        }
        for name, section in self.sections.items():
            data[name] = _redact_display(section)
        return data

    def __repr__(self) -> str:
        # Backend kwargs hold tokens and keys, the metastore URL a password: show the redacted form.
        return f"Settings({self.as_display_dict()!r})"


def _redact_url(value: str | None) -> str | None:
    if value is None:
        return None
    # The URL's password, then what masking hides in any text: ``?password=...`` query values,
    # registered secrets.
    return str(redact(_URL_PASSWORD.sub(lambda m: m.group("head") + REDACTED, value)))


def _redact_display(value: Any, key: str | None = None) -> Any:
    if key is not None and is_sensitive_key(key) and value is not None:
        return REDACTED
    if isinstance(value, Mapping):
        return {str(k): _redact_display(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_display(v) for v in value]
    if isinstance(value, str):
        return _redact_url(value)
    return value


# -- loading ----------------------------------------------------------------------------------------


class _Source:
    """Where a value came from, for error messages: a file (with line lookup) or a variable."""

    def __init__(self, path: Path | None = None, text: str = "") -> None:
        self.path = path
        self._lines = text.splitlines()

    def where(self, dotted: Iterable[str]) -> str:
        keys = list(dotted)
        if self.path is None:
            return ENV_PREFIX + "__".join(k.upper() for k in keys)
        line = _find_line(self._lines, keys)
        location = f"{self.path}" + (f", line {line}" if line else "")
        return f"{'.'.join(keys)} ({location})"


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
            if table == keys:
                header_line = number
            continue
        if "=" not in line or line.startswith("#"):
            continue
        key_path = [part.strip().strip("\"'") for part in line.split("=", 1)[0].split(".")]
        if table + key_path == [*want_table, want_key]:
            return number
    return header_line


def _read_toml(path: Path) -> tuple[dict[str, Any], _Source]:
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
    return data, _Source(path, text)


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(text)


def _literal(text: str) -> Any:
    """A backend keyword value from the environment: a TOML literal when it parses as one."""
    stripped = text.strip()
    if not stripped:
        return text
    import tomllib

    try:
        return tomllib.loads(f"v = {stripped}")["v"]
    except tomllib.TOMLDecodeError:
        return text


_CACHE_FIELDS: Final = {f.name: f for f in dataclasses.fields(CacheSettings)}


def _coerce_cache(key: str, value: Any, where: str) -> Any:
    kind = "bool" if key == "enabled" else "int" if key == "max_entries" else "float"
    try:
        if isinstance(value, str):
            if kind == "bool":
                return _parse_bool(value)
            return int(value) if kind == "int" else float(value)
        if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
    except ValueError:
        expected = {"bool": "true or false", "int": "an integer", "float": "a number"}[kind]
        raise ConfigurationError(f"{where}: expected {expected}, got {value!r}") from None
    return value


def _coerce_backends(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        names = [part.strip() for part in value.split(",")]
    elif isinstance(value, list):
        names = value
    else:
        raise ConfigurationError(
            f"{where}: expected a list of backend names, got a {type(value).__name__}"
        )
    if not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise ConfigurationError(f"{where}: expected non-empty backend names, got {value!r}")
    names = [n.strip() for n in names]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigurationError(f"{where}: backend(s) listed twice: {', '.join(duplicates)}")
    return tuple(names)


class _Builder:
    """Collects values from the file and the environment, checking each against its schema."""

    def __init__(self) -> None:
        self.backends: tuple[str, ...] | None = None
        self.backend_kwargs: dict[str, dict[str, Any]] = {}
        self.cache: dict[str, Any] = {}
        self.metastore_url: str | None = DEFAULT_METASTORE_URL
        self.sections: dict[str, dict[str, Any]] = {}

    def apply(self, data: Mapping[str, Any], source: _Source, *, from_env: bool) -> None:
        for section, body in data.items():
            if section not in {"secrets", "cache", "metastore"}:
                if not isinstance(body, Mapping):
                    raise ConfigurationError(
                        f"{source.where([section])}: expected a table, got {body!r}"
                    )
                self.sections.setdefault(section, {}).update(body)
                continue
            if not isinstance(body, Mapping):
                raise ConfigurationError(
                    f"{source.where([section])}: expected a table [{section}], "
                    f"got a {type(body).__name__}"
                )
            getattr(self, f"_apply_{section}")(body, source, from_env)

    def _apply_secrets(self, body: Mapping[str, Any], source: _Source, from_env: bool) -> None:
        for key, value in body.items():
            where = source.where(["secrets", key])
            if key == "backends":
                self.backends = _coerce_backends(value, where)
            elif key == "backend":
                if not isinstance(value, Mapping):
                    raise ConfigurationError(f"{where}: expected [secrets.backend.<name>] tables")
                for name, kwargs in value.items():
                    if not isinstance(kwargs, Mapping):
                        raise ConfigurationError(
                            f"{source.where(['secrets', 'backend', name])}: expected a table of "
                            f"keyword arguments, got a {type(kwargs).__name__}"
                        )
                    target = self.backend_kwargs.setdefault(name, {})
                    for arg, arg_value in kwargs.items():
                        from_text = from_env and isinstance(arg_value, str)
                        target[arg] = _literal(arg_value) if from_text else arg_value
            else:
                raise ConfigurationError(
                    f"{where}: unknown setting {key!r} in [secrets]; known: backends, backend"
                )

    def _apply_cache(self, body: Mapping[str, Any], source: _Source, from_env: bool) -> None:
        for key, value in body.items():
            where = source.where(["cache", key])
            if key not in _CACHE_FIELDS:
                known = ", ".join(_CACHE_FIELDS)
                raise ConfigurationError(
                    f"{where}: unknown setting {key!r} in [cache]; known: {known}"
                )
            coerced = _coerce_cache(key, value, where)
            try:
                CacheSettings(**{key: coerced})
            except ConfigurationError as exc:
                raise ConfigurationError(f"{where}: {exc}") from None
            self.cache[key] = coerced

    def _apply_metastore(self, body: Mapping[str, Any], source: _Source, from_env: bool) -> None:
        for key, value in body.items():
            where = source.where(["metastore", key])
            if key != "url":
                raise ConfigurationError(
                    f"{where}: unknown setting {key!r} in [metastore]; known: url"
                )
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(f"{where}: expected a database URL string")
            self.metastore_url = value.strip()

    def build(self, home: Path, config_path: Path | None) -> Settings:
        backends = self.backends
        if backends is None:
            backends = DEFAULT_BACKENDS
            if FILES_BACKEND in self.backend_kwargs:
                backends = (DEFAULT_BACKENDS[0], FILES_BACKEND, *DEFAULT_BACKENDS[1:])
        unused = sorted(set(self.backend_kwargs) - set(backends))
        if unused:
            log.warning(
                "secrets backend table(s) %s are configured but not in the chain %s; ignored",
                ", ".join(unused),
                list(backends),
            )
        return Settings(
            home=home,
            config_path=config_path,
            backends=backends,
            backend_kwargs=MappingProxyType(
                {k: MappingProxyType(dict(v)) for k, v in self.backend_kwargs.items()}
            ),
            cache=CacheSettings(**self.cache),
            metastore_url=self.metastore_url,
            sections=MappingProxyType(
                {k: MappingProxyType(dict(v)) for k, v in self.sections.items()}
            ),
        )


def _env_tree(environ: Mapping[str, str]) -> dict[str, Any]:
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


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Load settings from the defaults, the TOML file and ``HOOKLINE_*`` variables.

    Args:
        environ: The environment to read (default ``os.environ``; tests pass a dict).

    Raises:
        ConfigurationError: the file cannot be read or parsed, or a value is unknown or invalid; the
            message names the file and line or the variable.
    """
    env = os.environ if environ is None else environ
    home = Path(env.get("HOOKLINE_HOME") or DEFAULT_HOME).expanduser()  # as crypto.hookline_home
    config_path: Path | None
    explicit = env.get("HOOKLINE_CONFIG")
    if explicit:
        config_path = Path(explicit).expanduser()
    else:
        candidate = home / CONFIG_FILE_NAME
        config_path = candidate if candidate.is_file() else None
    builder = _Builder()
    if config_path is not None:
        data, source = _read_toml(config_path)
        builder.apply(data, source, from_env=False)
    builder.apply(_env_tree(env), _Source(), from_env=True)
    return builder.build(home, config_path)
