"""Pooled SQLAlchemy engines shared inside a process, keyed by conn_id and credential fingerprint.

A SQL hook asks :func:`acquire_engine` for an engine instead of creating one: every hook of the same
connection in a process then shares one engine and its pool. The key is ``(conn_id, credential
fingerprint, pool options)``. The fingerprint is a SHA-256 hash of the full URL, password included, so
the password itself is never stored in a key, a log line or a repr. When a connection's credentials
change (a rotated password), the next :func:`acquire_engine` with the new fingerprint disposes the
engines built from the old one, so no pooled connection keeps using stale credentials.

Pool settings (:class:`PoolOptions`) come from hook keyword arguments, then connection extras, then
the defaults below; units are in the names.

Pre-ping (``pool_pre_ping``, on by default for network databases) costs no round trip in the common
case: at checkout, a pooled connection is pinged (one round trip, replaced if dead) only when its socket
has input waiting while idle (a server that ended the session sends an error or closes the socket:
``pg_terminate_backend``, a restart, an idle timeout) or when it has been idle longer than
:data:`PRE_PING_IDLE_S` (a silently dropped TCP session shows nothing on the socket). A brand-new
connection is never pinged. Drivers whose socket cannot be found are pinged at every checkout.
"""

from __future__ import annotations

import hashlib
import logging
import os
import select
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
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
    "LAST_CHECKIN_KEY",
    "POOL_OPTION_KEYS",
    "PRE_PING_IDLE_S",
    "PoolOptions",
    "acquire_engine",
    "credential_fingerprint",
    "dispose_all",
    "dispose_engines",
    "engine_count",
    "needs_ping",
    "pool_timeout_error",
]

log = logging.getLogger(__name__)

DEFAULT_POOL_SIZE: Final = 5
DEFAULT_MAX_OVERFLOW: Final = 10
DEFAULT_POOL_TIMEOUT_S: Final = 30.0
DEFAULT_POOL_RECYCLE_S: Final = 1800.0
DEFAULT_POOL_PRE_PING: Final = True
DEFAULT_CONNECT_TIMEOUT_S: Final = 10.0

#: With pre-ping on, a pooled connection idle for longer than this (seconds) is pinged at checkout
#: even when its socket shows nothing (a NAT or firewall may have dropped the session silently).
PRE_PING_IDLE_S: Final = 30.0

#: Key in a pooled connection's ``info`` dict: ``time.monotonic()`` of its last return to the pool
#: (absent on a connection that has not been used yet).
LAST_CHECKIN_KEY: Final = "hookline_last_checkin"

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
        pool_pre_ping: Check each pooled connection at checkout, replacing dead ones (e.g. after a
            server restart or ``pg_terminate_backend``): a ping round trip only when the socket has
            input waiting or the connection was idle longer than :data:`PRE_PING_IDLE_S` (see the
            module docstring), so a busy pool pays nothing.
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


def _socket_fd(dbapi_conn: Any) -> int | None:
    """The file descriptor of a DB-API connection's socket (psycopg 3, PyMySQL), or None."""
    try:
        pgconn = getattr(dbapi_conn, "pgconn", None)
        if pgconn is not None:
            return int(pgconn.socket)
        sock = getattr(dbapi_conn, "_sock", None)
        if sock is not None:
            return int(sock.fileno())
    except Exception:  # a closed connection has no socket: ping it, the ping decides
        return None
    return None


def _has_input(fd: int) -> bool:
    """True when the socket has data, an EOF or an error waiting (checked without blocking)."""
    if fd < 0:
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    readable, _, errored = select.select([fd], [], [fd], 0)
    return bool(readable or errored)


def needs_ping(dbapi_conn: Any, info: Mapping[str, Any], now: float | None = None) -> bool:
    """Whether a pooled connection about to be checked out must be pinged (see the module docstring).

    Args:
        dbapi_conn: The DB-API connection.
        info: The pool entry's ``info`` dict (holds :data:`LAST_CHECKIN_KEY`).
        now: ``time.monotonic()`` (default: now).
    """
    last = info.get(LAST_CHECKIN_KEY)
    if last is None:
        return False  # opened for this checkout
    if (time.monotonic() if now is None else now) - last > PRE_PING_IDLE_S:
        return True
    fd = _socket_fd(dbapi_conn)
    return fd is None or _has_input(fd)


def _attach_pre_ping(engine: Engine) -> None:
    """Check connections at checkout (see the module docstring); record each one's last checkin."""
    dialect = engine.dialect

    def on_checkin(dbapi_conn: Any, record: Any) -> None:
        if dbapi_conn is not None:
            record.info[LAST_CHECKIN_KEY] = time.monotonic()

    def on_checkout(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        if not needs_ping(dbapi_conn, record.info):
            return
        try:
            alive = dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as exc:
            if not dialect.is_disconnect(exc, dbapi_conn, None):
                raise
            alive = False
        if not alive:
            # The pool invalidates this connection and checks out a new one in its place.
            raise sa_exc.DisconnectionError("pooled connection failed its pre-ping")

    event.listen(engine, "checkin", on_checkin)
    event.listen(engine, "checkout", on_checkout)


def _create(url: URL, options: PoolOptions, connect_args: dict[str, Any], static: bool) -> Engine:
    kwargs: dict[str, Any] = {
        "connect_args": connect_args,
        "hide_parameters": True,
        # Replaced by the cheaper checkout check of _attach_pre_ping (see the module docstring).
        "pool_pre_ping": False,
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
    engine = create_engine(url, **kwargs)
    if options.pool_pre_ping:
        _attach_pre_ping(engine)
    return engine


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
