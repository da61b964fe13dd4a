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
from typing import Any, Final

from hookline.exceptions import ConfigurationError, InvalidConnection, MissingDependency

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

_extra_hooks: dict[str, type[Any]] = {}
_extra_backends: dict[str, type[Any]] = {}
# hookline's own backends of the default chain, as declared in its entry points.
_BUILTIN_BACKENDS: Final = {
    "env": ("hookline.secrets.env", "EnvBackend"),
    "metastore": ("hookline.secrets.metastore", "MetastoreBackend"),
}


@functools.cache
def _entry_points(group: str) -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=group)}


def register_hook(conn_type: str, hook_class: type[Any]) -> None:
    """Register a hook class for ``conn_type`` at run time (tests, scripts without packaging)."""
    _extra_hooks[conn_type] = hook_class


def hook_types() -> list[str]:
    """Every conn_type with a registered hook."""
    return sorted({*_entry_points(HOOKS_GROUP), *_extra_hooks})


def hook_class_for(conn_type: str) -> type[Any]:
    """The hook class for ``conn_type``.

    Raises:
        InvalidConnection: no hook is registered for it (the message lists the known types).
    """
    if conn_type in _extra_hooks:
        return _extra_hooks[conn_type]
    ep = _entry_points(HOOKS_GROUP).get(conn_type)
    if ep is None:
        known = ", ".join(hook_types())
        raise InvalidConnection(f"Unknown hook type {conn_type!r}; registered types: {known}")
    cls: type[Any] = ep.load()
    return cls


def register_backend(name: str, backend_class: type[Any]) -> None:
    """Register a secrets backend class under ``name`` at run time (tests, scripts without packaging).

    A registered class takes precedence over an entry point of the same name.
    """
    _extra_backends[name] = backend_class


def backend_names() -> list[str]:
    """Every backend name that can be written in ``[secrets] backends``."""
    return sorted({*_entry_points(SECRETS_BACKENDS_GROUP), *_extra_backends})


def backend_class_for(name: str) -> type[Any]:
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
        backend_class: type[Any] = getattr(importlib.import_module(builtin[0]), builtin[1])
        return backend_class
    ep = _entry_points(SECRETS_BACKENDS_GROUP).get(name)
    if ep is None:
        known = ", ".join(backend_names())
        raise ConfigurationError(f"unknown secrets backend {name!r}; known backends: {known}")
    try:
        cls: type[Any] = ep.load()
    except MissingDependency:
        raise
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(
            f"secrets backend {name!r} ({ep.value}) cannot be loaded: {type(exc).__name__}: {exc}"
        ) from exc
    return cls
