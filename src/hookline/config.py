"""Settings: every default in one place, loaded from ``hookline.toml`` and ``HOOKLINE_*`` variables.

Sources, weakest first:

1. the defaults below (this module is the only place that defines them);
2. the TOML file: ``$HOOKLINE_CONFIG`` when set, else ``$HOOKLINE_HOME/hookline.toml`` when it exists;
3. ``HOOKLINE_<SECTION>__<KEY>`` environment variables (``__`` separates levels), for example
   ``HOOKLINE_CACHE__TTL_SECONDS=60``, ``HOOKLINE_SECRETS__BACKENDS=env,files,metastore``,
   ``HOOKLINE_SECRETS__BACKEND__VAULT__URL=http://127.0.0.1:8200``, ``HOOKLINE_METASTORE__URL=...``.

Airflow's own ``[secrets] backend = <class path>`` and ``backend_kwargs = {json}`` are read too: from an
``airflow.cfg`` (weaker than the TOML file), ``[secrets] backend``/``backend_kwargs`` in the TOML file,
and ``AIRFLOW__SECRETS__BACKEND``/``AIRFLOW__SECRETS__BACKEND_KWARGS`` (stronger than the file, weaker
than ``HOOKLINE_*``); :mod:`hookline.airflow_config` maps the class to a hookline backend and states
the rules.

The file layout::

    [secrets]
    backends = ["env", "files", "metastore"]     # asked in this order, exactly as written

    [secrets.backend.files]                       # keyword arguments of the "files" backend
    connections_file_path = "/etc/hookline/connections.yaml"

    [secrets.backend.shared]                      # a second metastore, named "shared" in the chain
    type = "metastore"                            # the registered backend it is (default: its name)
    url = "postgresql+psycopg://hookline@db/hookline"

    [cache]
    ttl_seconds = 300

    [metastore]
    url = "postgresql+psycopg://hookline@db/hookline"

The chain is exactly ``[secrets] backends`` (default ``env`` then ``metastore``): nothing is added
because a table exists, and a ``[secrets.backend.<name>]`` table for a name that is not in the chain
is an error. ``[metastore] url`` and ``HOOKLINE_HOME`` go to every backend of the metastore type
(:mod:`hookline.resolve.build`), whatever its name.

Strict by design: a misspelled section or key (``[secret]``, ``[metastor]``, ``ttl``) is an error
naming the file and line (or the variable) and the closest valid name, never silently ignored; only
sections that hookline reads are accepted. Every problem found is reported at once.

Environment values are text. Typed settings (numbers, booleans, the backend list) are converted and
checked; backend keyword values are read as TOML literals when they look like one (``5``, ``2.5``,
``true``, ``[...]``, ``{...}``, ``"quoted"``) and kept as text otherwise, so quote a value that must
stay text: ``HOOKLINE_SECRETS__BACKEND__X__TOKEN='"12345"'``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from hookline import masking
from hookline._settings_source import (
    ENV_PREFIX,
    Source,
    closest,
    env_tree,
    leaf_paths,
    literal,
    read_toml,
    variable_name,
)
from hookline.airflow_config import (
    AirflowSetting,
    airflow_cfg_path,
    map_backend,
    parse_backend_kwargs,
    read_airflow_cfg,
    read_airflow_env,
)
from hookline.exceptions import ConfigurationError
from hookline.masking import REDACTED, redact

__all__ = [
    "BACKEND_TYPE_KEY",
    "CONFIG_FILE_NAME",
    "DEFAULT_BACKENDS",
    "DEFAULT_HOME",
    "ENV_PREFIX",
    "SECTIONS",
    "CacheSettings",
    "Settings",
    "closest",
    "load_settings",
]

# -- every default, in one place -------------------------------------------------------------------

DEFAULT_HOME: Final = "~/.hookline"
CONFIG_FILE_NAME: Final = "hookline.toml"
DEFAULT_BACKENDS: Final[tuple[str, ...]] = ("env", "metastore")
BACKEND_TYPE_KEY: Final = "type"  # in [secrets.backend.<name>]: the registered backend it is
DEFAULT_CACHE_ENABLED: Final = True
DEFAULT_CACHE_TTL_SECONDS: Final = 300.0
DEFAULT_CACHE_TTL_JITTER_RATIO: Final = 0.1
DEFAULT_CACHE_NEGATIVE_TTL_SECONDS: Final = 5.0
DEFAULT_CACHE_STALE_IF_ERROR_SECONDS: Final = 600.0
DEFAULT_CACHE_ERROR_RETRY_SECONDS: Final = 5.0
DEFAULT_CACHE_CHANGE_CHECK_INTERVAL_SECONDS: Final = 0.25
DEFAULT_CACHE_MAX_ENTRIES: Final = 100_000
DEFAULT_METASTORE_URL: Final[str | None] = None  # None: SQLite at $HOOKLINE_HOME/hookline.db

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


_CACHE_FIELDS: Final = {f.name: f for f in dataclasses.fields(CacheSettings)}

# Every section hookline reads, with its keys (a section no code reads is not accepted).
SECTIONS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "secrets": ("backends", "backend", "backend_kwargs"),
        "cache": tuple(_CACHE_FIELDS),
        "metastore": ("url",),
        # Sections owned by one feature module each, kept as written in Settings.sections and
        # checked by their owner (hookline.audit, hookline.masking, hookline.pipelines,
        # hookline.regions, hookline.rotation).
        "audit": (
            "enabled",
            "sinks",
            "fail_closed",
            "directory",
            "max_file_bytes",
            "syslog_address",
            "aggregate_interval_seconds",
        ),
        "masking": ("enabled",),
        "celery": ("broker_url", "queue", "visibility_timeout_s", "heartbeat_interval_s"),
        "pipelines": ("xcom_max_bytes",),
        "failover": ("naming", "regions"),
        "rotation": (
            "interval_s",
            "connections",
            "strategy",
            "admin_conn_id",
            "password_length",
            "password_symbols",
            "alternate_suffix",
        ),
    }
)
_FEATURE_SECTIONS: Final = frozenset(
    {"audit", "masking", "celery", "pipelines", "failover", "rotation"}
)


@dataclasses.dataclass(frozen=True, slots=True, repr=False)
class Settings:
    """Resolved hookline settings (see the module docstring for sources and layout).

    Attributes:
        home: ``HOOKLINE_HOME`` (default ``~/.hookline``): the config file, SQLite metastore, key file.
        config_path: The TOML file that was read, or None.
        backends: Backend names, asked in this order (``[secrets] backends``), exactly as written.
        backend_kwargs: Keyword arguments per backend name (``[secrets.backend.<name>]`` without
            its ``type`` key).
        backend_types: The registered backend each name is, when its table declares ``type``
            (otherwise the name itself is the type).
        cache: Cache settings (``[cache]``).
        metastore_url: SQLAlchemy URL of the metastore (``[metastore] url``); None means SQLite at
            ``$HOOKLINE_HOME/hookline.db``.
        origins: Where each set value came from (dotted key -> ``"file, line N"`` or the
            variable name), for error messages.
        sections: The feature sections (``[audit]``, ``[masking]``, ``[celery]``, ``[pipelines]``,
            ``[failover]``) as written; their keys are checked here, their values by the owner.
    """

    home: Path
    config_path: Path | None = None
    backends: tuple[str, ...] = DEFAULT_BACKENDS
    backend_kwargs: Mapping[str, Mapping[str, Any]] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )
    backend_types: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )
    cache: CacheSettings = dataclasses.field(default_factory=CacheSettings)
    metastore_url: str | None = DEFAULT_METASTORE_URL
    origins: Mapping[str, str] = dataclasses.field(default_factory=lambda: MappingProxyType({}))
    sections: Mapping[str, Mapping[str, Any]] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )

    def kwargs_for(self, backend: str) -> dict[str, Any]:
        """A mutable copy of the keyword arguments configured for ``backend`` (empty if none)."""
        return dict(self.backend_kwargs.get(backend, {}))

    def backend_type(self, backend: str) -> str:
        """The registered backend type of the chain entry ``backend`` (its declared type, else its name)."""
        return self.backend_types.get(backend, backend)

    def where(self, dotted: str) -> str:
        """Where the setting ``dotted`` (``"secrets.backends"``) was set: a file and line, a variable,
        or ``"default"``; the nearest enclosing setting's origin when the key itself has none."""
        parts = dotted.split(".")
        while parts:
            origin = self.origins.get(".".join(parts))
            if origin is not None:
                return origin
            parts.pop()
        return "default"

    def as_display_dict(self) -> dict[str, Any]:
        """The settings as plain data for ``hookline config show``, secrets redacted.

        Values under keys :func:`hookline.masking.is_sensitive_key` flags (``token``, ``password``,
        ``secret_id``, webhook URLs...) become ``***`` and passwords inside URLs are replaced, so the
        result is safe to print.
        """
        backend: dict[str, Any] = {}
        for name in sorted({*self.backend_kwargs, *self.backend_types}):
            table = dict(self.backend_kwargs.get(name, {}))
            if name in self.backend_types:
                table = {BACKEND_TYPE_KEY: self.backend_types[name], **table}
            backend[name] = _redact_display(table)
        return {
            "home": str(self.home),
            "config_path": str(self.config_path) if self.config_path else None,
            "secrets": {"backends": list(self.backends), "backend": backend},
            "cache": dataclasses.asdict(self.cache),
            "metastore": {"url": _redact_url(self.metastore_url)},
            **{name: _redact_display(dict(body)) for name, body in self.sections.items()},
        }

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
    # Through the module attribute, so the one sensitive-name policy of hookline.masking decides.
    if key is not None and masking.is_sensitive_key(key) and value is not None:
        return REDACTED
    if isinstance(value, Mapping):
        return {str(k): _redact_display(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_display(v) for v in value]
    if isinstance(value, str):
        return _redact_url(value)
    return value


# -- loading ----------------------------------------------------------------------------------------


def _coerce_cache(key: str, value: Any, where: str) -> Any:
    kind = "bool" if key == "enabled" else "int" if key == "max_entries" else "float"
    try:
        if isinstance(value, str):
            if kind == "bool":
                from hookline.options import parse_bool

                return parse_bool(value, name=key, error=ConfigurationError)
            return int(value) if kind == "int" else float(value)
        if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
    except (ValueError, ConfigurationError):
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


def _did_you_mean(suggestion: str | None) -> str:
    return f"; did you mean {suggestion}?" if suggestion else ""


class _Builder:
    """Collects values from the file and the environment, checking each against its schema.

    Problems are collected, not raised one by one, so a file with three typos is fixed in one go.
    """

    def __init__(self) -> None:
        self.backends: tuple[str, ...] | None = None
        self.backend_kwargs: dict[str, dict[str, Any]] = {}
        self.backend_types: dict[str, str] = {}
        self.cache: dict[str, Any] = {}
        self.metastore_url: str | None = DEFAULT_METASTORE_URL
        self.origins: dict[str, str] = {}
        # Where each backend table was (last) defined, for "defined but not in backends".
        self.table_where: dict[str, str] = {}
        self.sections: dict[str, dict[str, Any]] = {}
        self.problems: list[str] = []
        # Airflow's [secrets] backend / backend_kwargs, strongest source last (hookline.airflow_config).
        self.airflow = AirflowSetting()

    def apply_airflow(self, setting: AirflowSetting) -> None:
        """Take the options ``setting`` sets over those of weaker sources (option by option)."""
        self.airflow.backend = setting.backend or self.airflow.backend
        self.airflow.backend_kwargs = setting.backend_kwargs or self.airflow.backend_kwargs
        self.airflow.kwarg_overrides.update(setting.kwarg_overrides)

    def _set_origin(self, source: Source, keys: Sequence[str]) -> None:
        self.origins[".".join(keys)] = source.origin(keys)

    def apply(self, data: Mapping[str, Any], source: Source) -> None:
        for section, body in data.items():
            if section not in SECTIONS:
                self.problems.append(self._unknown_section(section, body, source))
                continue
            if not isinstance(body, Mapping):
                self.problems.append(
                    f"{source.where([section])}: expected a table [{section}], "
                    f"got a {type(body).__name__}"
                )
                continue
            for key, value in body.items():
                if key not in SECTIONS[section]:
                    self.problems.append(self._unknown_key(section, key, source))
                    continue
                try:
                    if section in _FEATURE_SECTIONS:
                        self.sections.setdefault(section, {})[key] = value
                        self._set_origin(source, [section, key])
                        continue
                    getattr(self, f"_apply_{section}")(key, value, source)
                except ConfigurationError as exc:
                    self.problems.append(str(exc))

    def _unknown_section(self, section: str, body: Any, source: Source) -> str:
        suggestion = closest(section, SECTIONS)
        owners = [name for name, keys in SECTIONS.items() if section in keys]
        if source.from_env:
            names = [variable_name([section, *rest]) for rest in leaf_paths(body)]
            hint = None
            if suggestion is not None:
                hint = " or ".join(variable_name([suggestion, *rest]) for rest in leaf_paths(body))
            elif owners:  # HOOKLINE_BACKENDS: a key without its section
                hint = variable_name([owners[0], section])
            return (
                f"{', '.join(names)}: unknown section {section!r}{_did_you_mean(hint)}"
                f" (known sections: {', '.join(sorted(SECTIONS))})"
            )
        if suggestion is None and owners:  # a key written outside its table
            return (
                f"{source.where([section])}: unknown section {section!r}; "
                f"did you mean [{owners[0]}] {section}?"
            )
        return (
            f"{source.where([section])}: unknown section [{section}]"
            f"{_did_you_mean(f'[{suggestion}]' if suggestion else None)}"
            f" (known sections: {', '.join(f'[{name}]' for name in sorted(SECTIONS))})"
        )

    def _unknown_key(self, section: str, key: str, source: Source) -> str:
        known = SECTIONS[section]
        suggestion = closest(key, known)
        if suggestion is not None:
            suggestion = (
                variable_name([section, suggestion]) if source.from_env else repr(suggestion)
            )
        return (
            f"{source.where([section, key])}: unknown setting {key!r} in [{section}]"
            f"{_did_you_mean(suggestion)}; known: {', '.join(known)}"
        )

    def _apply_secrets(self, key: str, value: Any, source: Source) -> None:
        where = source.where(["secrets", key])
        if key == "backends":
            self.backends = _coerce_backends(value, where)
            self._set_origin(source, ["secrets", "backends"])
            return
        if key == "backend_kwargs" or (
            key == "backend" and isinstance(value, str) and "." in value
        ):
            # Airflow's form: a class path and its JSON keyword arguments.
            origin = source.origin(["secrets", key])
            if key == "backend":
                self.apply_airflow(AirflowSetting(backend=(value, origin)))
            else:
                parsed = parse_backend_kwargs(value, where)
                self.apply_airflow(AirflowSetting(backend_kwargs=(parsed, origin)))
            return
        if not isinstance(value, Mapping):
            raise ConfigurationError(
                f"{where}: expected [secrets.backend.<name>] tables (or an Airflow class path)"
            )
        for name, kwargs in value.items():
            keys = ["secrets", "backend", name]
            if not isinstance(kwargs, Mapping):
                self.problems.append(
                    f"{source.where(keys)}: expected a table of keyword arguments, "
                    f"got a {type(kwargs).__name__}"
                )
                continue
            self.table_where[name] = (
                ", ".join(variable_name([*keys, *rest]) for rest in leaf_paths(kwargs))
                if source.from_env
                else source.origin(keys)
            )
            self._set_origin(source, keys)
            target = self.backend_kwargs.setdefault(name, {})
            for arg, arg_value in kwargs.items():
                self._set_origin(source, [*keys, arg])
                from_text = source.from_env and isinstance(arg_value, str)
                if arg == BACKEND_TYPE_KEY:
                    if not isinstance(arg_value, str) or not arg_value.strip():
                        self.problems.append(
                            f"{source.where([*keys, arg])}: expected the name of a registered "
                            f"secrets backend, got {arg_value!r}"
                        )
                        continue
                    self.backend_types[name] = arg_value.strip()
                    continue
                target[arg] = literal(arg_value) if from_text else arg_value

    def _apply_cache(self, key: str, value: Any, source: Source) -> None:
        where = source.where(["cache", key])
        coerced = _coerce_cache(key, value, where)
        try:
            CacheSettings(**{key: coerced})
        except ConfigurationError as exc:
            raise ConfigurationError(f"{where}: {exc}") from None
        self.cache[key] = coerced
        self._set_origin(source, ["cache", key])

    def _apply_metastore(self, key: str, value: Any, source: Source) -> None:
        where = source.where(["metastore", key])
        if not isinstance(value, str) or not value.strip():
            raise ConfigurationError(f"{where}: expected a database URL string")
        self.metastore_url = value.strip()
        self._set_origin(source, ["metastore", key])

    def _map_airflow(self) -> tuple[str, ...] | None:
        """Put the mapped Airflow backend under hookline's own table; the chain it implies."""
        if self.airflow.backend is None or not self.airflow.backend[0].strip():
            return None
        class_path, where = self.airflow.backend
        kwargs, kwargs_where = self.airflow.backend_kwargs or ({}, where)
        origins = dict.fromkeys(kwargs, kwargs_where)
        for key, (value, variable) in self.airflow.kwarg_overrides.items():
            kwargs = {**kwargs, key: value}
            origins[key] = variable
        try:
            mapped = map_backend(class_path, kwargs, where=where, kwargs_where=origins)
        except ConfigurationError as exc:
            self.problems.append(str(exc))
            return None
        if mapped is None:  # hookline itself
            return None
        name = mapped.name
        if self.backends is not None and name not in self.backends:
            self.problems.append(
                f"[secrets] backend {class_path} ({where}) is hookline's {name!r} backend, which "
                f"is not in [secrets] backends {list(self.backends)} "
                f"({self.origins.get('secrets.backends')}); add {name!r} to backends"
            )
            return None
        table = self.backend_kwargs.get(name, {})
        self.backend_kwargs[name] = {**mapped.kwargs, **table}  # hookline's own keys win
        for key, origin in mapped.origins.items():
            if key not in table:
                self.origins[f"secrets.backend.{name}.{key}"] = f"{origin} (Airflow backend_kwargs)"
        self.origins.setdefault(f"secrets.backend.{name}", f"{where} (Airflow [secrets] backend)")
        self.table_where.setdefault(name, where)
        if self.backends is None:
            self.origins["secrets.backends"] = f"{where} (Airflow's search path)"
            return mapped.chain
        return None

    def build(self, home: Path, config_path: Path | None) -> Settings:
        implied = self._map_airflow()
        backends = self.backends if self.backends is not None else implied or DEFAULT_BACKENDS
        for name in sorted(set(self.backend_kwargs) - set(backends)):
            suggestion = closest(name, set(backends) - set(self.backend_kwargs))
            hint = _did_you_mean(repr(suggestion) if suggestion else None)
            self.problems.append(
                f"[secrets.backend.{name}] ({self.table_where[name]}) is defined but not in "
                f"[secrets] backends {list(backends)}{hint}; add {name!r} to backends or "
                "remove the table"
            )
        if self.problems:
            if len(self.problems) == 1:
                raise ConfigurationError(self.problems[0])
            raise ConfigurationError(
                f"{len(self.problems)} problems in the configuration:\n"
                + "\n".join(f"  - {problem}" for problem in self.problems)
            )
        return Settings(
            home=home,
            config_path=config_path,
            backends=backends,
            backend_kwargs=MappingProxyType(
                {k: MappingProxyType(dict(v)) for k, v in self.backend_kwargs.items()}
            ),
            backend_types=MappingProxyType(dict(self.backend_types)),
            cache=CacheSettings(**self.cache),
            metastore_url=self.metastore_url,
            origins=MappingProxyType(dict(self.origins)),
            sections=MappingProxyType(
                {k: MappingProxyType(dict(v)) for k, v in self.sections.items()}
            ),
        )


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Load settings from the defaults, the TOML file and ``HOOKLINE_*`` variables.

    Args:
        environ: The environment to read (default ``os.environ``; tests pass a dict).

    Raises:
        ConfigurationError: the file cannot be read or parsed, or a section, key or value is unknown
            or invalid (every problem is listed; each names the file and line or the variable, and
            the closest valid name when there is one).
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
    airflow_cfg = airflow_cfg_path(env)
    if airflow_cfg is not None:
        builder.apply_airflow(read_airflow_cfg(airflow_cfg))
    if config_path is not None:
        data, source = read_toml(config_path)
        builder.apply(data, source)
    builder.apply_airflow(read_airflow_env(env))
    builder.apply(env_tree(env), Source())
    return builder.build(home, config_path)
