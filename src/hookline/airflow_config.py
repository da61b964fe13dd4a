"""Airflow's secrets backend setting, read as it is: ``[secrets] backend`` and ``backend_kwargs``.

An Airflow deployment names its secrets backend by class path with JSON keyword arguments::

    [secrets]
    backend = airflow.providers.hashicorp.secrets.vault.VaultBackend
    backend_kwargs = {"connections_path": "connections", "mount_point": "airflow", "url": "http://vault:8200"}

hookline reads that setting from four places and maps the class to the hookline backend that reads
the same store the same way, with the same keyword arguments (:data:`AIRFLOW_BACKENDS`). Where each
option comes from, weakest first (each of ``backend``, ``backend_kwargs`` and the per-key
``AIRFLOW__SECRETS__BACKEND_KWARG__<KEY>`` overrides is taken from the strongest place that sets it,
as Airflow does):

1. ``airflow.cfg``: the file named by ``HOOKLINE_AIRFLOW_CFG``, else ``$AIRFLOW_HOME/airflow.cfg`` when
   ``AIRFLOW_HOME`` is set and the file exists;
2. ``hookline.toml``: ``[secrets] backend = "<class path>"`` and ``backend_kwargs`` (a JSON string or a
   TOML table);
3. ``AIRFLOW__SECRETS__BACKEND`` and ``AIRFLOW__SECRETS__BACKEND_KWARGS`` (then the per-key
   ``AIRFLOW__SECRETS__BACKEND_KWARG__<KEY>`` variables, raw text, over the JSON);
4. ``HOOKLINE_SECRETS__BACKEND`` and ``HOOKLINE_SECRETS__BACKEND_KWARGS``.

The mapped backend joins the chain as Airflow searches: that backend, then ``env``, then
``metastore``, unless ``[secrets] backends`` is set, which then must name it. Keys of hookline's own
``[secrets.backend.<name>]`` table for the same backend override the mapped ones key by key.
``hookline.airflow.secrets.HooklineSecretsBackend`` (hookline itself inside Airflow) maps to nothing.

A ``*_lookup_pattern`` keeps Airflow's meaning (a match at the start of the id, ``re.match``): it is
mapped to ``(?:pattern).*`` for hookline's whole-id match.

Anything that cannot be mapped is a :class:`~hookline.exceptions.ConfigurationError` naming the key,
where it was set and the closest valid name: an unknown class, a keyword argument the hookline backend
has no equivalent for, a configuration-option lookup (``config_path``/``config_prefix`` other than
null: hookline serves no Airflow configuration), ``*_cmd``/``*_secret`` variants (hookline runs no
commands to read its settings). Airflow itself would log a warning and drop a malformed
``backend_kwargs``; hookline refuses it. This module never imports Airflow.
"""

from __future__ import annotations

import configparser
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from hookline._settings_source import Source, closest
from hookline.exceptions import ConfigurationError

__all__ = [
    "AIRFLOW_BACKENDS",
    "AIRFLOW_CFG_VARIABLE",
    "HOOKLINE_BACKEND_CLASS",
    "AirflowBackend",
    "MappedBackend",
    "airflow_cfg_path",
    "map_backend",
    "parse_backend_kwargs",
    "read_airflow_cfg",
    "read_airflow_env",
]

AIRFLOW_CFG_VARIABLE: Final = "HOOKLINE_AIRFLOW_CFG"
HOOKLINE_BACKEND_CLASS: Final = "hookline.airflow.secrets.HooklineSecretsBackend"
_ENV_BACKEND: Final = "AIRFLOW__SECRETS__BACKEND"
_ENV_KWARGS: Final = "AIRFLOW__SECRETS__BACKEND_KWARGS"
_ENV_KWARG_PREFIX: Final = "AIRFLOW__SECRETS__BACKEND_KWARG__"
# Airflow's indirect forms of the two options: hookline runs no command and asks no backend for them.
_INDIRECT: Final = ("backend_cmd", "backend_secret", "backend_kwargs_cmd", "backend_kwargs_secret")

Convert = Callable[[str, Any, str], Any]


def _text(key: str, value: Any, where: str) -> Any:
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(
            f"{where}: backend_kwargs {key!r} must be text, not {type(value).__name__}"
        )
    return value


def _int(key: str, value: Any, where: str) -> int:
    from hookline.options import parse_int

    return parse_int(value, name=f"{where}: backend_kwargs {key!r}", error=ConfigurationError)


def _verify(key: str, value: Any, where: str) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        from hookline.options import parse_bool

        return parse_bool(value, name=f"{where}: backend_kwargs {key!r}", error=ConfigurationError)
    return _text(key, value, where)  # type: ignore[no-any-return]


def _json_object(key: str, value: Any, where: str) -> Any:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ConfigurationError(
                f"{where}: backend_kwargs {key!r} must be a JSON object"
            ) from None
    if value is not None and not isinstance(value, Mapping):
        raise ConfigurationError(f"{where}: backend_kwargs {key!r} must be an object")
    return value


def _scopes(key: str, value: Any, where: str) -> Any:
    if isinstance(value, str):  # Airflow's form: comma-separated
        return [part.strip() for part in value.split(",") if part.strip()]
    if value is not None and not (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    ):
        raise ConfigurationError(f"{where}: backend_kwargs {key!r} must be comma-separated text")
    return value


def _airflow_pattern(key: str, value: Any, where: str) -> Any:
    """Airflow's ``*_lookup_pattern`` with Airflow's meaning in hookline's whole-id match.

    Airflow asks a backend when ``re.match(pattern, id, re.IGNORECASE)``: a match at the start of
    the id. hookline's backends match the whole id (``re.fullmatch``), so the pattern becomes
    ``(?:pattern).*``; ``^db_`` would otherwise select the id ``db_`` alone.
    """
    import re

    value = _text(key, value, where)
    if value is None:
        return None
    try:
        re.compile(value)
    except re.error as exc:
        raise ConfigurationError(
            f"{where}: backend_kwargs {key!r} is not a valid regex: {exc}"
        ) from None
    return f"(?:{value}).*"


def _single_path(key: str, value: Any, where: str) -> Any:
    # Airflow 3's Vault backend also takes a list of paths (asked in order); hookline reads one.
    if isinstance(value, list | tuple):
        if len(value) != 1:
            raise ConfigurationError(
                f"{where}: backend_kwargs {key!r} lists {len(value)} paths; hookline's vault "
                "backend reads one path (chain several vault backends in [secrets] backends instead)"
            )
        value = value[0]
    return _text(key, value, where)


@dataclass(frozen=True)
class AirflowBackend:
    """How one Airflow secrets backend class maps to a hookline backend.

    Attributes:
        class_path: Airflow's class path.
        hookline_type: The registered hookline backend that reads the same store the same way.
        kwargs: Airflow keyword argument -> (hookline keyword argument, converter).
        null_only: Keyword arguments accepted only as null: lookups hookline does not do
            (Airflow configuration options).
        unsupported: Airflow keyword arguments hookline has no equivalent for, with the reason.
    """

    class_path: str
    hookline_type: str
    kwargs: Mapping[str, tuple[str, Convert]] = field(default_factory=dict)
    null_only: tuple[str, ...] = ()
    unsupported: Mapping[str, str] = field(default_factory=dict)

    @property
    def class_name(self) -> str:
        return self.class_path.rsplit(".", 1)[-1]


def _same(*names: str, convert: Convert = _text) -> dict[str, tuple[str, Convert]]:
    return {name: (name, convert) for name in names}


_CONFIG_LOOKUP = "hookline serves no Airflow configuration options"
_PATTERNS = {
    "connections_lookup_pattern": ("connections_lookup_pattern", _airflow_pattern),
    "variables_lookup_pattern": ("variables_lookup_pattern", _airflow_pattern),
}
_PREFIXES_SM = {**_same("connections_prefix", "variables_prefix"), **_PATTERNS}
_AWS_SESSION = _same(
    "region_name",
    "profile_name",
    "endpoint_url",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "role_arn",
)
_AWS_OBJECTS = {
    "assume_role_kwargs": ("assume_role_kwargs", _json_object),
    "extra_conn_words": ("extra_conn_words", _json_object),
}
_AWS_UNSUPPORTED = {
    "full_url_mode": "removed from Airflow's Amazon provider; URI and JSON values are both detected",
    "are_secret_values_urlencoded": "removed from Airflow's Amazon provider",
    "aws_conn_id": "hookline's AWS backends take their credentials as keyword arguments",
    "api_version": "hookline's AWS backends use the SDK's default API version",
    "use_ssl": "use an https:// or http:// endpoint_url instead",
    "verify": "hookline's AWS backends always verify TLS",
    "config_kwargs": "hookline sets its own botocore retry and timeout configuration",
}
_VAULT_AUTH = ("token", "approle", "userpass")
_VAULT_OTHER_AUTH = (
    f"hookline's vault backend supports auth_type {', '.join(_VAULT_AUTH)} (not aws_iam, azure, "
    "gcp, github, jwt, kubernetes, ldap, radius)"
)


def _vault_auth_type(key: str, value: Any, where: str) -> Any:
    if value not in _VAULT_AUTH:
        suggestion = closest(str(value), _VAULT_AUTH)
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        raise ConfigurationError(
            f"{where}: backend_kwargs {key!r} = {value!r}: {_VAULT_OTHER_AUTH}{hint}"
        )
    return value


#: Every Airflow secrets backend class hookline maps, by class path (Airflow 2.x and 3.x, current
#: providers: apache-airflow-providers-hashicorp, -amazon, -google).
AIRFLOW_BACKENDS: Final[Mapping[str, AirflowBackend]] = {
    backend.class_path: backend
    for backend in (
        AirflowBackend(
            "airflow.secrets.local_filesystem.LocalFilesystemBackend",
            "files",
            _same("connections_file_path", "variables_file_path"),
            null_only=("configs_file_path",),
        ),
        AirflowBackend("airflow.secrets.environment_variables.EnvironmentVariablesBackend", "env"),
        AirflowBackend(
            "airflow.providers.hashicorp.secrets.vault.VaultBackend",
            "vault",
            {
                "connections_path": ("connections_path", _single_path),
                "variables_path": ("variables_path", _single_path),
                "kv_engine_version": ("kv_engine_version", _int),
                "auth_type": ("auth_type", _vault_auth_type),
                "verify": ("verify", _verify),
                **_same(
                    "url",
                    "mount_point",
                    "auth_mount_point",
                    "token",
                    "token_path",
                    "role_id",
                    "secret_id",
                    "username",
                    "password",
                    "namespace",
                ),
                **_PATTERNS,
                "cert": ("cert", lambda k, v, w: v),
            },
            null_only=("config_path",),
            unsupported={
                **dict.fromkeys(
                    (
                        "key_id",
                        "assume_role_kwargs",
                        "region",
                        "kubernetes_role",
                        "kubernetes_jwt_path",
                        "gcp_key_path",
                        "gcp_keyfile_dict",
                        "gcp_scopes",
                        "azure_tenant_id",
                        "azure_resource",
                        "radius_host",
                        "radius_secret",
                        "radius_port",
                        "jwt_role",
                        "jwt_token",
                        "jwt_token_path",
                    ),
                    _VAULT_OTHER_AUTH,
                ),
                "use_team_secrets_path": "hookline has no multi-team secrets paths",
                "global_secrets_path": "hookline has no multi-team secrets paths",
                "proxies": "hookline's vault backend uses the HTTPS_PROXY/HTTP_PROXY variables",
            },
        ),
        AirflowBackend(
            "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend",
            "aws_secrets_manager",
            {**_PREFIXES_SM, "sep": ("sep", _text), **_AWS_SESSION, **_AWS_OBJECTS},
            null_only=("config_prefix", "config_lookup_pattern"),
            unsupported=_AWS_UNSUPPORTED,
        ),
        AirflowBackend(
            "airflow.providers.amazon.aws.secrets.systems_manager.SystemsManagerParameterStoreBackend",
            "aws_ssm",
            {**_PREFIXES_SM, **_AWS_SESSION, **_AWS_OBJECTS},
            null_only=("config_prefix", "config_lookup_pattern"),
            unsupported={
                **_AWS_UNSUPPORTED,
                "sep": "Airflow's SystemsManagerParameterStoreBackend takes no sep (it joins with '/')",
            },
        ),
        AirflowBackend(
            "airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend",
            "gcp_secret_manager",
            {
                **_same(
                    "connections_prefix",
                    "variables_prefix",
                    "sep",
                    "project_id",
                ),
                **_PATTERNS,
                "gcp_key_path": ("key_path", _text),
                "gcp_keyfile_dict": ("keyfile_dict", _json_object),
                "gcp_scopes": ("scopes", _scopes),
            },
            null_only=("config_prefix",),
            unsupported={
                "gcp_credential_config_file": "hookline's gcp backend takes a key file or key dict",
                "impersonation_chain": "hookline's gcp backend does not impersonate service accounts",
            },
        ),
    )
}


@dataclass(frozen=True)
class MappedBackend:
    """An Airflow backend setting as a hookline chain entry.

    Attributes:
        name: The chain entry (the hookline backend type).
        kwargs: hookline keyword arguments.
        origins: hookline keyword argument -> where its Airflow value was set.
        where: Where the class path was set.
    """

    name: str
    kwargs: Mapping[str, Any]
    origins: Mapping[str, str]
    where: str

    @property
    def chain(self) -> tuple[str, ...]:
        """Airflow's search path with this backend first: it, then env, then metastore."""
        return tuple(dict.fromkeys((self.name, "env", "metastore")))


def _unknown_class(class_path: str, where: str) -> ConfigurationError:
    by_name = {backend.class_name: path for path, backend in AIRFLOW_BACKENDS.items()}
    suggestion = closest(class_path, AIRFLOW_BACKENDS) or by_name.get(
        closest(class_path.rsplit(".", 1)[-1], by_name) or ""
    )
    hint = f"; did you mean {suggestion!r}?" if suggestion else ""
    return ConfigurationError(
        f"{where}: Airflow secrets backend {class_path!r} has no hookline equivalent{hint} "
        f"(mapped: {', '.join(sorted(AIRFLOW_BACKENDS))}; hookline's own: {HOOKLINE_BACKEND_CLASS})"
    )


def map_backend(
    class_path: str,
    kwargs: Mapping[str, Any],
    *,
    where: str,
    kwargs_where: Mapping[str, str] | None = None,
) -> MappedBackend | None:
    """Map Airflow's ``backend`` and ``backend_kwargs`` to a hookline chain entry.

    Args:
        class_path: Airflow's class path.
        kwargs: Airflow's keyword arguments.
        where: Where ``class_path`` was set (for messages).
        kwargs_where: Where each keyword argument was set (default: ``where``).

    Returns:
        The hookline backend, or None for :data:`HOOKLINE_BACKEND_CLASS` (hookline itself).

    Raises:
        ConfigurationError: an unknown class or a keyword argument that cannot be mapped (every
            problem listed; each names the key, where it was set and the closest valid name).
    """
    class_path = class_path.strip()
    if class_path == HOOKLINE_BACKEND_CLASS:
        return None
    backend = AIRFLOW_BACKENDS.get(class_path)
    if backend is None:
        raise _unknown_class(class_path, where)
    origins = kwargs_where or {}
    mapped: dict[str, Any] = {}
    mapped_origins: dict[str, str] = {}
    problems: list[str] = []
    for key, value in kwargs.items():
        key_where = origins.get(key, where)
        try:
            if key in backend.kwargs:
                target, convert = backend.kwargs[key]
                mapped[target] = convert(key, value, key_where)
                mapped_origins[target] = key_where
            elif key in backend.null_only:
                if value is not None:
                    raise ConfigurationError(
                        f"{key_where}: backend_kwargs {key!r} of {backend.class_name} cannot be "
                        f"mapped: {_CONFIG_LOOKUP}; set it to null or remove it"
                    )
            elif key in backend.unsupported:
                raise ConfigurationError(
                    f"{key_where}: backend_kwargs {key!r} of {backend.class_name} cannot be mapped "
                    f"to hookline's {backend.hookline_type!r} backend: {backend.unsupported[key]}"
                )
            else:
                known = [*backend.kwargs, *backend.null_only]
                suggestion = closest(key, known)
                hint = f"; did you mean {suggestion!r}?" if suggestion else ""
                raise ConfigurationError(
                    f"{key_where}: unknown backend_kwargs key {key!r} for {backend.class_name}"
                    f"{hint} (mapped to hookline's {backend.hookline_type!r} backend: "
                    f"{', '.join(known) or 'no keyword arguments'})"
                )
        except ConfigurationError as exc:
            problems.append(str(exc))
    if problems:
        if len(problems) == 1:
            raise ConfigurationError(problems[0])
        raise ConfigurationError(
            f"{len(problems)} problems in Airflow's backend_kwargs:\n"
            + "\n".join(f"  - {problem}" for problem in problems)
        )
    return MappedBackend(backend.hookline_type, mapped, mapped_origins, where)


def parse_backend_kwargs(value: Any, where: str) -> dict[str, Any]:
    """``backend_kwargs`` as a dict: JSON text (``""`` for none) or a mapping already.

    Raises:
        ConfigurationError: not JSON, or not an object.
    """
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str):
        raise ConfigurationError(
            f"{where}: backend_kwargs must be a JSON object, not {type(value).__name__}"
        )
    if not value.strip():
        return {}
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        # The text may hold a token: say where the JSON breaks, never quote it.
        raise ConfigurationError(
            f"{where}: backend_kwargs is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(parsed, dict):
        raise ConfigurationError(
            f"{where}: backend_kwargs must be a JSON object, not {type(parsed).__name__}"
        )
    return parsed


# -- the Airflow sources ---------------------------------------------------------------------------


@dataclass
class AirflowSetting:
    """``[secrets]`` options found in one Airflow source, each with where it was set."""

    backend: tuple[str, str] | None = None
    backend_kwargs: tuple[dict[str, Any], str] | None = None
    kwarg_overrides: dict[str, tuple[str, str]] = field(default_factory=dict)


def airflow_cfg_path(environ: Mapping[str, str]) -> Path | None:
    """The ``airflow.cfg`` to read: ``HOOKLINE_AIRFLOW_CFG``, else ``$AIRFLOW_HOME/airflow.cfg`` if
    it exists, else None.

    Raises:
        ConfigurationError: ``HOOKLINE_AIRFLOW_CFG`` names a file that does not exist.
    """
    explicit = environ.get(AIRFLOW_CFG_VARIABLE)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigurationError(f"{AIRFLOW_CFG_VARIABLE}: {path} is not a file")
        return path
    home = environ.get("AIRFLOW_HOME")
    if home:
        candidate = Path(home).expanduser() / "airflow.cfg"
        if candidate.is_file():
            return candidate
    return None


def read_airflow_cfg(path: Path) -> AirflowSetting:
    """The ``[secrets] backend`` and ``backend_kwargs`` options of an ``airflow.cfg``.

    Raises:
        ConfigurationError: the file cannot be read or parsed, or sets an option hookline cannot
            follow (``backend_cmd``, ``backend_kwargs_secret``...).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path} cannot be read: {type(exc).__name__}") from None
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        raise ConfigurationError(
            f"{path} is not a valid airflow.cfg: {type(exc).__name__}"
        ) from None
    source = Source(path, text)
    setting = AirflowSetting()
    if not parser.has_section("secrets"):
        return setting
    for option in _INDIRECT:
        if parser.has_option("secrets", option) and parser.get("secrets", option).strip():
            raise ConfigurationError(
                f"[secrets] {option} ({source.origin(['secrets', option])}): hookline runs no "
                f"command and asks no backend for its settings; set [secrets] "
                f"{option.rsplit('_', 1)[0]} itself"
            )
    if parser.has_option("secrets", "backend"):
        setting.backend = (parser.get("secrets", "backend"), source.origin(["secrets", "backend"]))
    if parser.has_option("secrets", "backend_kwargs"):
        where = source.origin(["secrets", "backend_kwargs"])
        raw = parser.get("secrets", "backend_kwargs")
        setting.backend_kwargs = (
            parse_backend_kwargs(raw, f"[secrets] backend_kwargs ({where})"),
            where,
        )
    return setting


def read_airflow_env(environ: Mapping[str, str]) -> AirflowSetting:
    """``AIRFLOW__SECRETS__BACKEND``, ``AIRFLOW__SECRETS__BACKEND_KWARGS`` and the per-key
    ``AIRFLOW__SECRETS__BACKEND_KWARG__<KEY>`` variables (raw text, as Airflow reads them).

    Raises:
        ConfigurationError: malformed kwargs JSON, or a ``_CMD``/``_SECRET`` variant is set.
    """
    setting = AirflowSetting()
    for option in _INDIRECT:
        name = f"AIRFLOW__SECRETS__{option.upper()}"
        if environ.get(name, "").strip():
            raise ConfigurationError(
                f"{name}: hookline runs no command and asks no backend for its settings; set "
                f"AIRFLOW__SECRETS__{option.rsplit('_', 1)[0].upper()} itself"
            )
    if _ENV_BACKEND in environ:
        setting.backend = (environ[_ENV_BACKEND], _ENV_BACKEND)
    if _ENV_KWARGS in environ:
        setting.backend_kwargs = (
            parse_backend_kwargs(environ[_ENV_KWARGS], _ENV_KWARGS),
            _ENV_KWARGS,
        )
    for name in sorted(environ):
        if name.startswith(_ENV_KWARG_PREFIX) and len(name) > len(_ENV_KWARG_PREFIX):
            setting.kwarg_overrides[name[len(_ENV_KWARG_PREFIX) :].lower()] = (environ[name], name)
    return setting
