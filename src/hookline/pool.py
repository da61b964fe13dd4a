"""Pooled SQLAlchemy engines shared inside a process, keyed by conn_id and credential fingerprint.

A SQL hook asks :func:`acquire_engine` for an engine instead of creating one: every hook of the same
connection in a process then shares one engine and its pool. The key is ``(conn_id, credential
fingerprint, pool options)``. The fingerprint is a SHA-256 hash of the full URL, password included, so
the password itself is never stored in a key, a log line or a repr. When a connection's credentials
change (a rotated password), the next :func:`acquire_engine` with the new fingerprint disposes the
engines built from the old one, so no pooled connection keeps using stale credentials.

Pool settings (:class:`PoolOptions`) come from hook keyword arguments, then connection extras, then
the defaults below; units are in the names.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.pool import QueuePool, StaticPool

from hookline.exceptions import InvalidConnection, PoolTimeout

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_MAX_OVERFLOW",
    "DEFAULT_POOL_PRE_PING",
    "DEFAULT_POOL_RECYCLE_S",
    "DEFAULT_POOL_SIZE",
    "DEFAULT_POOL_TIMEOUT_S",
    "POOL_OPTION_KEYS",
    "PoolOptions",
    "acquire_engine",
    "credential_fingerprint",
    "dispose_all",
    "dispose_engines",
    "engine_count",
    "pool_timeout_error",
]

log = logging.getLogger(__name__)

DEFAULT_POOL_SIZE: Final = 5
DEFAULT_MAX_OVERFLOW: Final = 10
DEFAULT_POOL_TIMEOUT_S: Final = 30.0
DEFAULT_POOL_RECYCLE_S: Final = 1800.0
DEFAULT_POOL_PRE_PING: Final = True
DEFAULT_CONNECT_TIMEOUT_S: Final = 10.0

#: Connection-extra keys read as pool settings (never passed on to the driver).
POOL_OPTION_KEYS: Final = frozenset(
    {
        "pool_size",
        "max_overflow",
        "pool_timeout_s",
        "pool_recycle_s",
        "pool_pre_ping",
        "connect_timeout_s",
    }
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _as_int(name: str, value: Any, minimum: int, conn_id: str | None) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if type(value) is not int or value < minimum:
        raise InvalidConnection(
            f"{name} must be an integer >= {minimum}, got {value!r}", conn_id=conn_id
        )
    return value


def _as_float(name: str, value: Any, minimum: float, conn_id: str | None) -> float:
    try:
        number = float(value) if isinstance(value, str | int | float) else None
    except ValueError:
        number = None
    if number is None or isinstance(value, bool) or not number >= minimum:
        raise InvalidConnection(
            f"{name} must be a number >= {minimum}, got {value!r}", conn_id=conn_id
        )
    return number


def _as_bool(name: str, value: Any, conn_id: str | None) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise InvalidConnection(f"{name} must be a boolean, got {value!r}", conn_id=conn_id)


@dataclass(frozen=True, slots=True)
class PoolOptions:
    """Pool and connect settings of one engine.

    Attributes:
        pool_size: Connections kept open in the pool.
        max_overflow: Extra connections opened beyond ``pool_size`` under load (closed on return).
        pool_timeout_s: How long a checkout waits for a free connection before :class:`PoolTimeout`.
        pool_recycle_s: Connections older than this are replaced at checkout (``-1``: never).
        pool_pre_ping: Test each connection at checkout, replacing dead ones (e.g. after a server
            restart or ``pg_terminate_backend``).
        connect_timeout_s: How long opening one database connection may take.
    """

    pool_size: int = DEFAULT_POOL_SIZE
    max_overflow: int = DEFAULT_MAX_OVERFLOW
    pool_timeout_s: float = DEFAULT_POOL_TIMEOUT_S
    pool_recycle_s: float = DEFAULT_POOL_RECYCLE_S
    pool_pre_ping: bool = DEFAULT_POOL_PRE_PING
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S

    @classmethod
    def resolve(
        cls,
        overrides: Mapping[str, Any],
        extras: Mapping[str, Any],
        *,
        conn_id: str | None = None,
        default_pool_pre_ping: bool = DEFAULT_POOL_PRE_PING,
    ) -> PoolOptions:
        """Build options from hook arguments (``overrides``, None means unset), then extras, then defaults.

        Extras may hold strings (URI query parameters are text): ``"5"``, ``"2.5"``, ``"true"``.
        ``default_pool_pre_ping`` is the dialect's default when neither sets ``pool_pre_ping`` (off
        for SQLite files, on for network databases).

        Raises:
            InvalidConnection: a value has the wrong type or is out of range.
        """

        def pick(name: str) -> Any:
            value = overrides.get(name)
            return extras.get(name) if value is None else value

        values: dict[str, Any] = {}
        if (v := pick("pool_size")) is not None:
            values["pool_size"] = _as_int("pool_size", v, 1, conn_id)
        if (v := pick("max_overflow")) is not None:
            values["max_overflow"] = _as_int("max_overflow", v, -1, conn_id)
        if (v := pick("pool_timeout_s")) is not None:
            values["pool_timeout_s"] = _as_float("pool_timeout_s", v, 0.0, conn_id)
        if (v := pick("pool_recycle_s")) is not None:
            values["pool_recycle_s"] = _as_float("pool_recycle_s", v, -1.0, conn_id)
        if (v := pick("pool_pre_ping")) is not None:
            values["pool_pre_ping"] = _as_bool("pool_pre_ping", v, conn_id)
        elif default_pool_pre_ping != DEFAULT_POOL_PRE_PING:
            values["pool_pre_ping"] = default_pool_pre_ping
        if (v := pick("connect_timeout_s")) is not None:
            values["connect_timeout_s"] = _as_float("connect_timeout_s", v, 0.001, conn_id)
        return cls(**values)

    def describe(self) -> str:
        """The settings that bound a checkout, as text for error messages."""
        overflow = "unlimited" if self.max_overflow < 0 else str(self.max_overflow)
        return (
            f"pool_size={self.pool_size}, max_overflow={overflow}, "
            f"pool_timeout_s={self.pool_timeout_s:g}"
        )


def pool_timeout_error(options: PoolOptions, conn_id: str) -> PoolTimeout:
    """The :class:`PoolTimeout` for an exhausted pool, stating the limits in force."""
    return PoolTimeout(
        f"connection pool of {conn_id!r} is exhausted: all connections stayed checked out for "
        f"pool_timeout_s={options.pool_timeout_s:g} s ({options.describe()}); return connections "
        "sooner (use the hook as a context manager) or raise pool_size/max_overflow",
        conn_id=conn_id,
    )


def credential_fingerprint(url: URL) -> str:
    """A short SHA-256 hex digest of the URL including its password (the password is not recoverable)."""
    fields = (
        url.drivername,
        url.username,
        url.password,
        url.host,
        url.port,
        url.database,
        sorted(url.query.items()),
    )
    return hashlib.sha256(repr(fields).encode()).hexdigest()[:32]


_EngineKey = tuple[str, str, PoolOptions, str]

_lock = threading.Lock()
_engines: dict[_EngineKey, Engine] = {}


def acquire_engine(
    conn_id: str,
    url: URL,
    options: PoolOptions,
    *,
    connect_args: Mapping[str, Any] | None = None,
    static_pool: bool = False,
    on_create: Callable[[Engine], None] | None = None,
) -> tuple[Engine, str]:
    """Return the process-wide engine for ``(conn_id, url, options, connect_args)``, creating it once.

    Engines of ``conn_id`` built from other credentials are disposed first: their pools close idle
    connections, and connections still checked out are closed when returned.

    Args:
        conn_id: The connection the engine serves.
        url: The full SQLAlchemy URL, password included (only its fingerprint is kept as key).
        options: Pool settings.
        connect_args: Keyword arguments for the DBAPI ``connect()``.
        static_pool: Use one shared connection (SQLite ``:memory:``) instead of a QueuePool.
        on_create: Called with a newly created engine (to attach event listeners).

    Returns:
        The engine and the credential fingerprint it was filed under.
    """
    fingerprint = credential_fingerprint(url)
    args = dict(connect_args or {})
    key: _EngineKey = (conn_id, fingerprint, options, repr(sorted(args.items())))
    engine = _engines.get(key)
    if engine is not None:
        return engine, fingerprint
    with _lock:
        engine = _engines.get(key)
        if engine is not None:
            return engine, fingerprint
        stale = [k for k in _engines if k[0] == conn_id and k[1] != fingerprint]
        for old in stale:
            log.info(
                "credentials of %r changed: disposing the engine built from the old ones", conn_id
            )
            _engines.pop(old).dispose()
        engine = _create(url, options, args, static_pool)
        if on_create is not None:
            on_create(engine)
        _engines[key] = engine
        return engine, fingerprint


def _create(url: URL, options: PoolOptions, connect_args: dict[str, Any], static: bool) -> Engine:
    kwargs: dict[str, Any] = {
        "connect_args": connect_args,
        "hide_parameters": True,
        "pool_pre_ping": options.pool_pre_ping,
    }
    if static:
        kwargs["poolclass"] = StaticPool
    else:
        kwargs.update(
            poolclass=QueuePool,
            pool_size=options.pool_size,
            max_overflow=options.max_overflow,
            pool_timeout=options.pool_timeout_s,
            pool_recycle=options.pool_recycle_s if options.pool_recycle_s >= 0 else -1,
        )
    return create_engine(url, **kwargs)


def dispose_engines(conn_id: str) -> int:
    """Dispose and forget every engine of ``conn_id``; returns how many there were."""
    with _lock:
        keys = [k for k in _engines if k[0] == conn_id]
        for key in keys:
            _engines.pop(key).dispose()
    return len(keys)


def dispose_all() -> None:
    """Dispose and forget every shared engine (tests, shutdown)."""
    with _lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.dispose()


def engine_count(conn_id: str | None = None) -> int:
    """How many shared engines exist (for ``conn_id`` only, when given)."""
    with _lock:
        return sum(1 for k in _engines if conn_id is None or k[0] == conn_id)


def _after_fork_in_child() -> None:
    # A forked child must not use the parent's sockets: drop the engines without closing them.
    global _lock
    _lock = threading.Lock()
    engines = list(_engines.values())
    _engines.clear()
    for engine in engines:
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
