"""``get_variable``, ``set_variable``, ``delete_variable``: Airflow Variables through the secrets chain.

Variables are read like connections: through the process default resolver (the configured chain
behind its cache) or the resolver a test scoped with :func:`hookline.testing.override_connections`,
with the same trace, events, masking and audit (rules in :mod:`hookline.resolve.variables`). Where
each backend keeps them:

* environment: ``HOOKLINE_VAR_<KEY>``, then Airflow's ``AIRFLOW_VAR_<KEY>`` (key upper-cased);
* files: ``variables_file_path`` of the files backend (``.env``, ``.json``, ``.yaml``, as Airflow's
  ``LocalFilesystemBackend`` reads them);
* metastore: the ``variable`` table, values Fernet-encrypted; writes go there.

``get_variable(key, default, deserialize_json=...)`` behaves like Airflow's ``Variable.get(key,
default_var, deserialize_json)``: the default is returned as given (never deserialized). Unlike
Airflow, a default is **not** returned when a backend could not answer
(:class:`~hookline.exceptions.VariableUnresolved`): the variable may be defined there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from hookline.resolve.cache import CachedResolver
    from hookline.resolve.chain import SecretsChain

__all__ = [
    "MISSING",
    "delete_variable",
    "get_variable",
    "list_variables",
    "set_variable",
    "set_variables",
]


class _Missing:
    """The type of :data:`MISSING` ("no default given")."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


#: The default of :func:`get_variable`'s ``default``: raise when the variable is not defined.
MISSING: Final = _Missing()


# Bound on first use (importing them with hookline would load the resolver and its settings; a
# function-level import on every call costs more than the cached lookup itself).
_active_resolver: Callable[[], Any] | None = None
_variable_resolvers: tuple[type[CachedResolver] | type[SecretsChain], ...] = ()


def _resolver() -> CachedResolver | SecretsChain:
    global _active_resolver, _variable_resolvers
    active = _active_resolver
    if active is None:
        from hookline.resolve.cache import CachedResolver
        from hookline.resolve.chain import SecretsChain
        from hookline.resolve.default import active_resolver

        _variable_resolvers = (CachedResolver, SecretsChain)
        _active_resolver = active = active_resolver
    resolver = active()
    if isinstance(resolver, _variable_resolvers):
        return resolver
    return _chain()


def _chain() -> SecretsChain:
    from hookline.resolve.default import default_chain

    return default_chain()


def get_variable(
    key: str,
    default: Any = MISSING,
    *,
    deserialize_json: bool = False,
    fresh: bool = False,
) -> Any:
    """The value of variable ``key`` from the configured secrets chain (cached).

    Args:
        key: The variable key (at most 250 characters).
        default: Returned as given when no backend holds ``key``; without it, a missing variable
            raises :class:`~hookline.exceptions.VariableNotFound`.
        deserialize_json: Return ``json.loads`` of the value (members under sensitive keys are
            registered for masking).
        fresh: Bypass the cache and ask the backends.

    Raises:
        VariableNotFound: no backend holds ``key`` and no default was given; the message lists
            what was asked.
        VariableUnresolved: nobody that answered holds ``key``, but a backend could not answer
            (raised even with a default).
        InvalidVariable: an invalid key, an invalid stored value or file, or a value that is not
            JSON with ``deserialize_json``.
        BackendPermissionDenied: a backend refused access (the chain does not fall through).
        DecryptionError: the stored value cannot be decrypted with the configured keys.
    """
    if default is MISSING:
        value = _resolver().get_variable(key, fresh=fresh)
    else:
        found = _resolver().find_variable(key, fresh=fresh)
        if found is None:
            return default
        value = found
    if deserialize_json:
        from hookline.resolve.variables import deserialize_variable

        return deserialize_variable(key, value)
    return value


def set_variable(
    key: str, value: Any, *, serialize_json: bool = False, overwrite: bool = True
) -> None:
    """Store variable ``key`` in the first backend of the chain that stores variables (the
    metastore); caches forget the old value at once.

    Args:
        key: The variable key.
        value: Text, or any JSON-serializable value with ``serialize_json`` (stored as
            ``json.dumps(value, indent=2)``, as Airflow's ``Variable.set`` does).
        serialize_json: Store ``value`` as JSON text.
        overwrite: Replace an existing value (else raise).

    Raises:
        InvalidVariable: an invalid key, a value that is not text (without ``serialize_json``),
            or ``key`` exists and ``overwrite`` is False.
        ConfigurationError: no backend of the chain stores variables.
    """
    if serialize_json:
        value = json.dumps(value, indent=2)
    _chain().set_variable(key, value, overwrite=overwrite)


def set_variables(items: Iterable[tuple[str, str]], *, overwrite: bool = True) -> None:
    """Store many variables, all or nothing (one transaction in the metastore).

    Raises:
        InvalidVariable: an invalid key or value, repeated keys, or (``overwrite`` False) keys
            that exist; nothing is written.
        ConfigurationError: no backend of the chain stores variables.
    """
    _chain().set_variables(list(items), overwrite=overwrite)


def delete_variable(key: str) -> bool:
    """Delete variable ``key`` from the backend that stores variables; return whether it existed.

    Raises:
        InvalidVariable: an invalid key.
        ConfigurationError: no backend of the chain stores variables.
    """
    return _chain().delete_variable(key)


def list_variables() -> list[tuple[str, str, str]]:
    """``(backend, key, value)`` of every variable in every backend that can list them.

    Raises:
        ListingIncomplete: a backend failed, or rows could not be read.
    """
    return _chain().list_variables()
