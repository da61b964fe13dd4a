"""Find classes by the names written in configuration or connections.

* ``hookline.hooks`` entry points map a ``conn_type`` to a hook class;
* ``hookline.secrets_backends`` entry points map a backend name to a backend class.

Entry points are read once, lazily, and classes are imported only when asked for, so third-party
packages can add hooks and backends without hookline importing them up front. The backends of the
default chain (``env``, ``metastore``) are hookline's own and found without reading entry points
(scanning installed distributions costs ~30 ms in a fresh process).
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING, Any, Final

from hookline.exceptions import ConfigurationError, InvalidConnection, MissingDependency

if TYPE_CHECKING:
    from hookline.hooks.base import BaseHook
    from hookline.secrets.base import SecretsBackend

    HookClass = type[BaseHook[Any]]
    BackendClass = type[SecretsBackend]

__all__ = [
    "HOOKS_GROUP",
    "SECRETS_BACKENDS_GROUP",
    "backend_class_for",
    "backend_names",
    "hook_class_for",
    "hook_types",
    "register_backend",
    "register_hook",
]

HOOKS_GROUP = "hookline.hooks"
SECRETS_BACKENDS_GROUP = "hookline.secrets_backends"

_extra_hooks: dict[str, HookClass] = {}
_extra_backends: dict[str, BackendClass] = {}
# hookline's own backends of the default chain, as declared in its entry points.
_BUILTIN_BACKENDS: Final = {
    "env": ("hookline.secrets.env", "EnvBackend"),
    "metastore": ("hookline.secrets.metastore", "MetastoreBackend"),
}


@functools.cache
def _entry_points(group: str) -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=group)}


def _checked_hook(conn_type: str, hook_class: object) -> HookClass:
    from hookline.hooks.base import BaseHook

    if not (isinstance(hook_class, type) and issubclass(hook_class, BaseHook)):
        raise ConfigurationError(
            f"the hook registered for {conn_type!r} ({hook_class!r}) is not a BaseHook subclass"
        )
    return hook_class


def _checked_backend(name: str, backend_class: object) -> BackendClass:
    from hookline.secrets.base import SecretsBackend

    if not (isinstance(backend_class, type) and issubclass(backend_class, SecretsBackend)):
        raise ConfigurationError(
            f"the secrets backend registered as {name!r} ({backend_class!r}) is not a "
            "SecretsBackend subclass"
        )
    return backend_class


def register_hook(conn_type: str, hook_class: HookClass) -> None:
    """Register a hook class for ``conn_type`` at run time (tests, scripts without packaging).

    Raises:
        ConfigurationError: ``hook_class`` is not a :class:`~hookline.hooks.base.BaseHook` subclass.
    """
    _extra_hooks[conn_type] = _checked_hook(conn_type, hook_class)


def hook_types() -> list[str]:
    """Every conn_type with a registered hook."""
    return sorted({*_entry_points(HOOKS_GROUP), *_extra_hooks})


def hook_class_for(conn_type: str) -> HookClass:
    """The hook class for ``conn_type``.

    Raises:
        InvalidConnection: no hook is registered for it (the message lists the known types).
        ConfigurationError: the entry point does not name a BaseHook subclass.
    """
    if conn_type in _extra_hooks:
        return _extra_hooks[conn_type]
    ep = _entry_points(HOOKS_GROUP).get(conn_type)
    if ep is None:
        known = ", ".join(hook_types())
        raise InvalidConnection(f"Unknown hook type {conn_type!r}; registered types: {known}")
    return _checked_hook(conn_type, ep.load())


def register_backend(name: str, backend_class: BackendClass) -> None:
    """Register a secrets backend class under ``name`` at run time (tests, scripts without packaging).

    A registered class takes precedence over an entry point of the same name.

    Raises:
        ConfigurationError: ``backend_class`` is not a SecretsBackend subclass.
    """
    _extra_backends[name] = _checked_backend(name, backend_class)


def backend_names() -> list[str]:
    """Every backend name that can be written in ``[secrets] backends``."""
    return sorted({*_entry_points(SECRETS_BACKENDS_GROUP), *_extra_backends})


def backend_class_for(name: str) -> BackendClass:
    """The secrets backend class registered under ``name``.

    Raises:
        ConfigurationError: no backend has that name (the message lists the known names), or its
            module cannot be imported.
        MissingDependency: the backend needs an optional SDK that is not installed.
    """
    if name in _extra_backends:
        return _extra_backends[name]
    builtin = _BUILTIN_BACKENDS.get(name)
    if builtin is not None:
        module = importlib.import_module(builtin[0])
        return _checked_backend(name, module.__dict__[builtin[1]])
    ep = _entry_points(SECRETS_BACKENDS_GROUP).get(name)
    if ep is None:
        known = ", ".join(backend_names())
        raise ConfigurationError(f"unknown secrets backend {name!r}; known backends: {known}")
    try:
        cls = ep.load()
    except MissingDependency:
        raise
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(
            f"secrets backend {name!r} ({ep.value}) cannot be loaded: {type(exc).__name__}: {exc}"
        ) from exc
    return _checked_backend(name, cls)
