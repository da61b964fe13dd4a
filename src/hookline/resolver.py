"""``get_connection``: the one function every caller uses to resolve a connection by id.

It asks the process-wide default resolver, built lazily from configuration on first use. Until the
configured chain is built, the default resolver is the environment backend alone.
"""

from __future__ import annotations

import threading
from typing import Protocol

from hookline.connection import Connection, validate_conn_id
from hookline.exceptions import ConnectionNotFound
from hookline.secrets.env import EnvBackend

__all__ = ["Resolver", "find_connection", "get_connection", "set_default_resolver"]


class Resolver(Protocol):
    """Anything that resolves connections by id (a secrets chain, a cache in front of one)."""

    def get_connection(self, conn_id: str, *, fresh: bool = False) -> Connection:
        """Return the connection or raise :class:`ConnectionNotFound`."""
        ...


class _EnvResolver:
    def __init__(self) -> None:
        self._backend = EnvBackend()

    def get_connection(self, conn_id: str, *, fresh: bool = False) -> Connection:
        conn = self._backend.get_connection(conn_id)
        if conn is None:
            keys = ", ".join(self._backend.lookup_keys(conn_id))
            raise ConnectionNotFound(
                conn_id, message=f"connection {conn_id!r} is not defined; looked in env ({keys})"
            )
        return conn


_lock = threading.Lock()
_default: Resolver | None = None


def _build_default() -> Resolver:
    return _EnvResolver()


def default_resolver() -> Resolver:
    """The process-wide resolver, built on first use."""
    global _default
    resolver = _default
    if resolver is None:
        with _lock:
            if _default is None:
                _default = _build_default()
            resolver = _default
    return resolver


def set_default_resolver(resolver: Resolver | None) -> None:
    """Replace the process-wide resolver (None: rebuild from configuration on next use)."""
    global _default
    with _lock:
        _default = resolver


def get_connection(conn_id: str, *, fresh: bool = False) -> Connection:
    """Resolve ``conn_id`` through the configured secrets chain.

    Args:
        conn_id: The connection id.
        fresh: Bypass caches and ask the backends (use after an authentication failure).

    Raises:
        ConnectionNotFound: no backend holds ``conn_id``; the message lists what was asked.
        InvalidConnection: ``conn_id`` is invalid, or the stored value is malformed.
    """
    resolver = _default or default_resolver()
    try:
        return resolver.get_connection(conn_id, fresh=fresh)
    except ConnectionNotFound:
        validate_conn_id(conn_id)
        raise


def find_connection(conn_id: str) -> Connection | None:
    """Like :func:`get_connection`, but None when no backend holds ``conn_id``."""
    try:
        return get_connection(conn_id)
    except ConnectionNotFound:
        return None
