"""``get_connection``: the one function every caller uses to resolve a connection by id.

It asks the process-wide default resolver, built lazily on first use from configuration: a
:class:`~hookline.resolve.cache.CachedResolver` over :func:`~hookline.resolve.build_chain`, or the bare
chain when ``[cache] enabled = false``. Nothing heavy is imported until then, so ``import hookline``
stays fast. Tests replace it with :func:`set_default_resolver` or
:func:`hookline.testing.override_connections`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol

from hookline.connection import Connection
from hookline.exceptions import ConnectionNotFound

if TYPE_CHECKING:
    from hookline.config import Settings
    from hookline.resolve.chain import SecretsChain

__all__ = [
    "Resolver",
    "active_resolver",
    "build_resolver",
    "current_resolver",
    "default_chain",
    "default_resolver",
    "find_connection",
    "get_connection",
    "set_default_resolver",
    "swap_default_resolver",
    "use_resolver",
]


class Resolver(Protocol):
    """Anything that resolves connections by id (a secrets chain, a cache in front of one)."""

    def get_connection(self, conn_id: str, *, fresh: bool = False) -> Connection:
        """Return the connection or raise :class:`ConnectionNotFound`."""
        ...


_lock = threading.Lock()
_default: Resolver | None = None
# use_resolver() scopes a resolver to the current thread or asyncio task (a ContextVar, so an
# override in one test thread or task never leaks into another). The hot path reads the ContextVar
# only while some override is open anywhere: a plain int global is cheaper to test than a get().
_scoped: ContextVar[Resolver | None] = ContextVar("hookline_scoped_resolver", default=None)
_scoped_open = 0


def _build_default() -> Resolver:
    from hookline.config import load_settings

    return build_resolver(load_settings())


def build_resolver(settings: Settings) -> Resolver:
    """A resolver as the process default is built: the feature sections applied, the chain of
    ``settings`` behind a cache (unless ``[cache] enabled = false``)."""
    from hookline.resolve.build import build_chain

    _apply_feature_sections(settings)
    chain = build_chain(settings)
    if not settings.cache.enabled:
        return chain
    from hookline.resolve.cache import CachedResolver

    return CachedResolver(chain, settings.cache)


def _apply_feature_sections(settings: Settings) -> None:
    """Switch on what ``[masking]`` and ``[audit]`` ask for, once, with the default resolver."""
    from hookline.exceptions import ConfigurationError
    from hookline.options import parse_bool

    masking_section = settings.sections.get("masking", {})
    if "enabled" in masking_section:
        from hookline import masking

        masking.configure(
            enabled=parse_bool(
                masking_section["enabled"], name="masking.enabled", error=ConfigurationError
            )
        )
    audit_section = settings.sections.get("audit", {})
    if audit_section:
        from hookline import audit

        audit_settings = audit.AuditSettings.from_mapping(audit_section)
        if audit_settings.enabled:
            audit.enable(audit_settings, home=settings.home, metastore_url=settings.metastore_url)


def default_resolver() -> Resolver:
    """The process-wide resolver, built from configuration on first use.

    Raises:
        ConfigurationError: the configuration is invalid.
    """
    global _default
    resolver = _default
    if resolver is None:
        with _lock:
            if _default is None:
                _default = _build_default()
            resolver = _default
    return resolver


def active_resolver() -> Resolver:
    """The resolver lookups use here and now: the one :func:`use_resolver` scoped to this thread
    or task, else the process default (built from configuration on first use)."""
    if _scoped_open:
        scoped = _scoped.get()
        if scoped is not None:
            return scoped
    return _default or default_resolver()


def current_resolver() -> Resolver | None:
    """The process-wide resolver if it has been built, else None (never builds it: for metrics
    collectors and health reports that must not trigger configuration loading)."""
    return _default


def default_chain() -> SecretsChain:
    """The secrets chain behind the default resolver (writes through it invalidate the cache).

    When the default resolver was replaced by one without a chain, a chain is built from the
    configuration.
    """
    from hookline.resolve.build import build_chain
    from hookline.resolve.cache import CachedResolver
    from hookline.resolve.chain import SecretsChain

    resolver = _scoped.get() or default_resolver()
    if isinstance(resolver, SecretsChain):
        return resolver
    if isinstance(resolver, CachedResolver):
        return resolver.chain
    return build_chain()


def set_default_resolver(resolver: Resolver | None) -> None:
    """Replace the process-wide resolver (None: rebuild from configuration on next use)."""
    swap_default_resolver(resolver)


def swap_default_resolver(resolver: Resolver | None) -> Resolver | None:
    """Replace the process-wide resolver and return the previous one (None if not built yet)."""
    global _default
    with _lock:
        previous, _default = _default, resolver
    return previous


@contextmanager
def use_resolver(resolver: Resolver) -> Iterator[Resolver]:
    """Resolve through ``resolver`` inside the block, in this thread or asyncio task only.

    Other threads and tasks keep the process default; blocks nest. Used by
    :func:`hookline.testing.override_connections`.
    """
    global _scoped_open
    with _lock:
        _scoped_open += 1
    token = _scoped.set(resolver)
    try:
        yield resolver
    finally:
        _scoped.reset(token)
        with _lock:
            _scoped_open -= 1


def get_connection(
    conn_id: str,
    *,
    fresh: bool = False,
    force_refresh: bool = False,
    region: str | None = None,
    fallback_regions: Sequence[str] | None = None,
) -> Connection:
    """Resolve ``conn_id`` through the configured secrets chain (cached).

    Args:
        conn_id: The connection id.
        fresh: Bypass caches and ask the backends (use after an authentication failure or a
            credential rotation).
        force_refresh: The same as ``fresh``, under the name of the "re-read after rotating" recipe
            (``get_connection(conn_id, force_refresh=True)``).
        region: Resolve the regional connection ``{conn_id}_{region}`` (naming configurable), or
            the first fallback region's when this one is down or not defined (see
            :func:`hookline.regions.get_regional_connection`).
        fallback_regions: Regions to fall back to, in order (default: ``[failover.regions]``).

    Raises:
        ConnectionNotFound: no backend holds ``conn_id``; the message lists what was asked.
        InvalidConnection: ``conn_id`` is invalid, or the stored value is malformed.
        BackendPermissionDenied: a backend refused access (the chain does not fall through).
        DecryptionError: the stored value cannot be decrypted with the configured keys.
    """
    # The chain validates conn_id before asking any backend, so invalid ids never reach a cache.
    fresh = fresh or force_refresh
    if region is not None:
        from hookline.regions import get_regional_connection

        return get_regional_connection(
            conn_id, region, fallback_regions=fallback_regions, fresh=fresh
        )
    if _scoped_open:
        scoped = _scoped.get()
        if scoped is not None:
            return scoped.get_connection(conn_id, fresh=fresh)
    return (_default or default_resolver()).get_connection(conn_id, fresh=fresh)


def find_connection(conn_id: str) -> Connection | None:
    """Like :func:`get_connection`, but None when no backend holds ``conn_id``.

    Raises:
        ConnectionUnresolved: nothing found while some backend could not answer (not absent).
    """
    try:
        return get_connection(conn_id)
    except ConnectionNotFound:
        return None
