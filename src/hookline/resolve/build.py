"""Build the secrets chain from settings: each name in ``[secrets] backends`` becomes a backend.

The chain is exactly what was written, in that order: nothing is added or dropped. Each entry's type
is the ``type`` key of its ``[secrets.backend.<name>]`` table, or else its name; the type is found in
the registry (built-ins directly, others through the ``hookline.secrets_backends`` entry points) and
built with the rest of the table as keyword arguments. Every backend of the metastore type (the
:class:`~hookline.secrets.metastore.MetastoreBackend` class or a subclass, whatever its name) also
gets ``url`` (from ``[metastore] url``) and ``home`` unless its table sets them.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from hookline import masking
from hookline.connection_secrets import register_sensitive_values
from hookline.exceptions import ConfigurationError, MissingDependency
from hookline.resolve.chain import SecretsChain
from hookline.secrets.base import SecretsBackend

if TYPE_CHECKING:
    from hookline.config import Settings

__all__ = [
    "backend_class",
    "build_backend",
    "build_chain",
    "check_settings_used",
    "is_metastore_type",
]

_METASTORE_MODULE = "hookline.secrets.metastore.backend"


def is_metastore_type(cls: type[Any]) -> bool:
    """Whether ``cls`` is the metastore backend class or a subclass of it.

    A subclass can only exist once the metastore module is imported, so a chain without a metastore
    never imports it (and SQLAlchemy) just to answer this.
    """
    module = sys.modules.get(_METASTORE_MODULE)
    if module is None:
        return False
    metastore: type[Any] = module.MetastoreBackend
    return isinstance(cls, type) and issubclass(cls, metastore)


def backend_class(settings: Settings, name: str) -> type[Any]:
    """The backend class of the chain entry ``name`` (its declared ``type``, else its name).

    Raises:
        ConfigurationError: no backend is registered under the type; the message names where the
            name was written and the closest registered name.
        MissingDependency: the backend needs an optional SDK that is not installed.
    """
    from hookline.registry import backend_class_for, backend_names

    kind = settings.backend_type(name)
    try:
        return backend_class_for(kind)
    except ConfigurationError as exc:
        known = backend_names()
        if kind in known:
            raise  # registered but failed to load: the registry's message says why
        from hookline.config import closest

        field = "type" if kind != name else "backends"
        where = settings.where(
            f"secrets.backend.{name}.type" if field == "type" else "secrets.backends"
        )
        suggestion = closest(kind, known)
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        written = f"[secrets.backend.{name}] type" if field == "type" else "[secrets] backends"
        raise ConfigurationError(
            f"unknown secrets backend {kind!r} in {written} ({where}){hint}; "
            f"known backends: {', '.join(known)}"
        ) from exc


def build_backend(settings: Settings, name: str) -> SecretsBackend:
    """Build the chain entry ``name`` from ``settings`` (without asking it anything).

    Raises:
        ConfigurationError: an unknown backend type, or the backend rejected its settings.
        MissingDependency: a backend's optional SDK is not installed.
    """
    cls = backend_class(settings, name)
    kwargs = settings.kwargs_for(name)
    if is_metastore_type(cls):
        _require_metastore_packages(name)
        kwargs.setdefault("url", settings.metastore_url)
        kwargs.setdefault("home", settings.home)
    # Credentials configured for a backend (a Vault token, AWS keys, an AppRole secret_id) are
    # secrets: an SDK message or traceback quoting one is masked like a connection's password.
    register_sensitive_values(kwargs)
    try:
        backend = cls(**kwargs)
    except TypeError as exc:
        where = settings.where(f"secrets.backend.{name}")
        raise ConfigurationError(
            f"secrets backend {name!r} rejected its settings [secrets.backend.{name}] ({where}) "
            f"(keys: {', '.join(sorted(kwargs)) or 'none'}): {masking.redact(str(exc))}"
            f"{_kwarg_hint(cls, kwargs)}"
        ) from exc
    if not isinstance(backend, SecretsBackend):
        raise ConfigurationError(
            f"secrets backend {name!r} is a {type(backend).__name__}, not a SecretsBackend"
        )
    if backend.name != name:
        backend.name = name  # the chain entry's name shows in traces and `--source`
    return backend


# What the metastore needs that only the `metastore` extra installs (checked without importing).
_METASTORE_PACKAGES = ("sqlalchemy", "alembic", "cryptography")


def _require_metastore_packages(name: str) -> None:
    """Fail when the chain names a metastore but the ``metastore`` extra is not installed.

    Raises:
        MissingDependency: says which package is missing, the extra that installs it, and how to
            leave the metastore out of the chain (a service that only reads variables).
    """
    import importlib.util

    for package in _METASTORE_PACKAGES:
        if importlib.util.find_spec(package) is None:
            raise MissingDependency(
                package,
                "metastore",
                purpose=f"the metastore backend {name!r} in [secrets] backends (or set "
                "HOOKLINE_SECRETS__BACKENDS=env to read connections from variables only)",
            )


def _kwarg_hint(cls: type[Any], kwargs: dict[str, Any]) -> str:
    """ "; did you mean 'url'?" for a misspelled keyword (error path only: reads the signatures)."""
    import inspect

    from hookline.config import closest

    accepted: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        accepted.update(
            p.name
            for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
        )
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    hints = []
    for key in sorted(set(kwargs) - accepted):
        suggestion = closest(key, accepted)
        if suggestion is not None:
            hints.append(f"{key!r} -> {suggestion!r}")
    return f"; did you mean {', '.join(hints)}?" if hints else ""


def check_settings_used(settings: Settings, backends: list[SecretsBackend]) -> None:
    """Refuse settings that no backend of the chain reads.

    Raises:
        ConfigurationError: ``[metastore] url`` is set while no backend is of the metastore type.
    """
    if settings.metastore_url is not None and not any(
        is_metastore_type(type(backend)) for backend in backends
    ):
        raise ConfigurationError(
            f"[metastore] url is set ({settings.where('metastore.url')}) but no backend in "
            f"[secrets] backends {list(settings.backends)} is a metastore; add 'metastore' to "
            "backends or remove the setting"
        )


def build_chain(settings: Settings | None = None) -> SecretsChain:
    """Build the chain configured in ``settings`` (default: :func:`hookline.config.load_settings`).

    Raises:
        ConfigurationError: an unknown backend type, a backend rejected its settings, or
            ``[metastore] url`` is set while no backend of the chain is a metastore.
        MissingDependency: a backend's optional SDK is not installed.
    """
    if settings is None:
        from hookline.config import load_settings

        settings = load_settings()
    backends: list[SecretsBackend] = []
    try:
        for name in settings.backends:
            backends.append(build_backend(settings, name))
        check_settings_used(settings, backends)
    except BaseException:
        for backend in backends:
            backend.close()
        raise
    return SecretsChain(backends)
