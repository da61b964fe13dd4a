"""Build the secrets chain from settings: each name in ``[secrets] backends`` becomes a backend.

Backends are found by name in the registry (built-ins directly, others through the
``hookline.secrets_backends`` entry points) and built with their ``[secrets.backend.<name>]`` table
as keyword arguments. A table with a ``type`` key names an instance of that backend type, so one type
can be configured twice::

    [secrets]
    backends = ["vault_us", "vault_eu"]
    [secrets.backend.vault_us]
    type = "vault"
    url = "https://vault-us.example:8200"

The instance's name (``vault_us``) is what traces, errors and metrics show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hookline import masking
from hookline.connection_secrets import register_sensitive_values
from hookline.exceptions import ConfigurationError
from hookline.resolve.chain import SecretsChain
from hookline.secrets.base import SecretsBackend

if TYPE_CHECKING:
    from hookline.config import Settings

__all__ = ["build_chain"]


def _instantiate(name: str, kwargs: dict[str, Any], type_name: str | None = None) -> SecretsBackend:
    from hookline.registry import backend_class_for

    cls = backend_class_for(type_name or name)
    # Credentials configured for a backend (a Vault token, AWS keys, an AppRole secret_id) are
    # secrets: an SDK message or traceback quoting one is masked like a connection's password.
    register_sensitive_values(kwargs)
    try:
        backend = cls(**kwargs)
    except TypeError as exc:
        raise ConfigurationError(
            f"secrets backend {name!r} rejected its settings [secrets.backend.{name}] "
            f"(keys: {', '.join(sorted(kwargs)) or 'none'}): {masking.redact(str(exc))}"
        ) from exc
    if not isinstance(backend, SecretsBackend):
        raise ConfigurationError(
            f"secrets backend {name!r} is a {type(backend).__name__}, not a SecretsBackend"
        )
    if type_name is not None or backend.name == SecretsBackend.name:
        backend.name = name
    return backend


def _type_of(name: str, kwargs: dict[str, Any]) -> str | None:
    """Pop the ``type`` key of a named instance's table (None when it has none)."""
    if "type" not in kwargs:
        return None
    type_name = kwargs.pop("type")
    if not isinstance(type_name, str) or not type_name.strip():
        raise ConfigurationError(
            f"[secrets.backend.{name}] type must be a backend name, got {type_name!r}"
        )
    return type_name.strip()


def build_chain(settings: Settings | None = None) -> SecretsChain:
    """Build the chain configured in ``settings`` (default: :func:`hookline.config.load_settings`).

    Backends are found by name (or by the ``type`` key of their table) in the
    ``hookline.secrets_backends`` entry-point group and built with their ``[secrets.backend.<name>]``
    keyword arguments; the metastore also gets ``url`` (from
    ``[metastore] url``) and ``home`` unless its table sets them.

    Raises:
        ConfigurationError: an unknown backend name, or a backend rejected its settings.
        MissingDependency: a backend's optional SDK is not installed.
    """
    if settings is None:
        from hookline.config import load_settings

        settings = load_settings()
    backends: list[SecretsBackend] = []
    try:
        for name in settings.backends:
            kwargs = settings.kwargs_for(name)
            type_name = _type_of(name, kwargs)
            if (type_name or name) == "metastore":
                kwargs.setdefault("url", settings.metastore_url)
                kwargs.setdefault("home", settings.home)
            backends.append(_instantiate(name, kwargs, type_name))
    except BaseException:
        for backend in backends:
            backend.close()
        raise
    return SecretsChain(backends)
