"""hookline as an Apache Airflow secrets backend: Airflow reads connections and variables through
hookline's configured chain and cache.

Configure it on both sides of an Airflow 3 deployment (``[secrets]`` for the API server and
scheduler, ``[workers]`` for task processes)::

    AIRFLOW__SECRETS__BACKEND=hookline.airflow.secrets.HooklineSecretsBackend
    AIRFLOW__SECRETS__BACKEND_KWARGS='{"config_file": "/etc/hookline/hookline.toml"}'
    AIRFLOW__WORKERS__SECRETS_BACKEND=hookline.airflow.secrets.HooklineSecretsBackend
    AIRFLOW__WORKERS__SECRETS_BACKEND_KWARGS='{"config_file": "/etc/hookline/hookline.toml"}'

``backend_kwargs`` are hookline settings: ``config_file`` (the ``hookline.toml`` to read, as
``HOOKLINE_CONFIG``) and ``home`` (as ``HOOKLINE_HOME``); without them the process's ``HOOKLINE_*``
variables decide, as for any hookline program. The first backend built in a process also becomes
hookline's process default resolver, so hookline hooks and operators running in the same task, and
:func:`hookline.get_variable`, share its chain and cache.

Airflow itself masks the password and sensitive extras of every connection a backend returns, and the
value of every variable whose key looks sensitive (``_mask_connection_secrets`` and
``_mask_and_deserialize_variable`` in ``airflow.sdk.execution_time.context``); hookline registers the
same values with its own masker when it resolves them. A hookline
:class:`~hookline.exceptions.BackendPermissionDenied` becomes Airflow's
``AirflowSecretsBackendAccessDenied``, so Airflow does not fall through to a less restrictive backend;
other hookline errors propagate and Airflow asks its next backend, as for any backend that fails.

hookline serves no Airflow configuration options: :meth:`HooklineSecretsBackend.get_config` returns
None. Team-scoped lookups (Airflow's multi-team mode) are not served either: hookline has no teams, and
answering a team's question from the global scope would widen what the team may read.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from hookline.exceptions import BackendPermissionDenied, ConfigurationError, ConnectionNotFound

try:  # Airflow 3: the Task SDK's base (sets the SDK Connection class by default)
    from airflow.sdk.bases.secrets_backend import BaseSecretsBackend
except ImportError:  # pragma: no cover - Airflow 2.x
    from airflow.secrets.base_secrets import BaseSecretsBackend

try:
    from airflow.sdk.exceptions import AirflowSecretsBackendAccessDenied
except ImportError:  # pragma: no cover - older Airflow: the deny is a PermissionError there too
    AirflowSecretsBackendAccessDenied = PermissionError

if TYPE_CHECKING:
    from hookline.connection import Connection
    from hookline.resolve.default import Resolver

__all__ = ["BACKEND_KWARGS", "HooklineSecretsBackend"]

# backend_kwargs -> the hookline variable each one stands for.
BACKEND_KWARGS: Final[Mapping[str, str]] = {
    "config_file": "HOOKLINE_CONFIG",
    "home": "HOOKLINE_HOME",
}

_lock = threading.Lock()
_resolvers: dict[tuple[tuple[str, str], ...], Resolver] = {}


def _resolver_for(settings_env: Mapping[str, str]) -> Resolver:
    """One resolver per distinct configuration per process (Airflow may build the backend more
    than once: the server and worker chains, every CLI command)."""
    from hookline.resolve import default

    key = tuple(sorted(settings_env.items()))
    with _lock:
        resolver = _resolvers.get(key)
        if resolver is not None:
            return resolver
        if not settings_env:
            resolver = default.default_resolver()
        else:
            from hookline.config import load_settings

            resolver = default.build_resolver(load_settings({**os.environ, **settings_env}))
            # hooks, operators and get_variable in this process use the same chain and cache
            if default.current_resolver() is None:
                default.set_default_resolver(resolver)
        _resolvers[key] = resolver
        return resolver


class HooklineSecretsBackend(BaseSecretsBackend):  # type: ignore[misc]
    """An Airflow secrets backend that resolves through hookline (see the module docstring).

    Args:
        config_file: The ``hookline.toml`` to read (default: ``HOOKLINE_CONFIG``, else
            ``$HOOKLINE_HOME/hookline.toml``).
        home: hookline's home directory (default: ``HOOKLINE_HOME``, else ``~/.hookline``).

    Raises:
        ConfigurationError: an unknown keyword argument (the message names the closest known one),
            or an invalid hookline configuration.
    """

    def __init__(self, **backend_kwargs: Any) -> None:
        super().__init__()
        settings_env: dict[str, str] = {}
        for key, value in backend_kwargs.items():
            variable = BACKEND_KWARGS.get(key)
            if variable is None:
                from hookline.config import closest

                suggestion = closest(key, BACKEND_KWARGS)
                hint = f"; did you mean {suggestion!r}?" if suggestion else ""
                raise ConfigurationError(
                    f"unknown backend_kwargs key {key!r} for HooklineSecretsBackend{hint} "
                    f"(known: {', '.join(BACKEND_KWARGS)})"
                )
            if not isinstance(value, str | os.PathLike) or not os.fspath(value):
                raise ConfigurationError(
                    f"backend_kwargs {key!r} for HooklineSecretsBackend must be a non-empty path"
                )
            settings_env[variable] = os.fspath(os.path.expanduser(value))
        self._settings_env = settings_env
        self._resolver = _resolver_for(settings_env)

    # -- connections ----------------------------------------------------------------------------

    def _lookup(self, conn_id: str) -> Connection | None:
        try:
            return self._resolver.get_connection(conn_id)
        except ConnectionNotFound:
            return None
        except BackendPermissionDenied as exc:
            # Authoritative: Airflow must not ask a less restrictive backend after this one.
            raise AirflowSecretsBackendAccessDenied(str(exc)) from None

    def get_conn_value(self, conn_id: str, team_name: str | None = None) -> str | None:
        """The connection as Airflow's JSON form, or None when hookline does not hold it."""
        if team_name is not None:
            return None
        conn = self._lookup(conn_id)
        return None if conn is None else conn.to_json()

    def get_connection(self, conn_id: str, team_name: str | None = None) -> Any:
        """An Airflow ``Connection`` (the class Airflow set for this process side) built field by
        field from hookline's, or None when hookline does not hold ``conn_id``."""
        if team_name is not None:
            return None
        conn = self._lookup(conn_id)
        if conn is None:
            return None
        return self._get_connection_class()(
            conn_id=conn_id,
            conn_type=conn.conn_type,
            description=conn.description,
            host=conn.host,
            login=conn.login,
            password=conn.password,
            schema=conn.schema,
            port=conn.port,
            extra=conn.extra_json,
        )

    # -- variables and configuration ------------------------------------------------------------

    def get_variable(self, key: str, team_name: str | None = None) -> str | None:
        """The variable's stored text through hookline's chain, or None when no backend holds it."""
        if team_name is not None:
            return None
        from hookline.resolve.cache import CachedResolver
        from hookline.resolve.chain import SecretsChain

        resolver = self._resolver
        try:
            if isinstance(resolver, CachedResolver | SecretsChain):
                # this backend's chain (its config_file), not the process default's
                value = resolver.find_variable(key)
            else:  # a custom default resolver: hookline's own fallback to the default chain
                from hookline import get_variable

                value = get_variable(key, default=None)
        except BackendPermissionDenied as exc:
            raise AirflowSecretsBackendAccessDenied(str(exc)) from None
        return None if value is None else str(value)

    def get_config(self, key: str) -> str | None:
        """Always None: hookline stores no Airflow configuration options."""
        return None

    def __repr__(self) -> str:
        return f"HooklineSecretsBackend({', '.join(sorted(self._settings_env)) or 'defaults'})"
