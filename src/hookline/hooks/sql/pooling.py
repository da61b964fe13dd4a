"""Pool settings and the checks a pooled SQL connection passes before it is handed out.

* :class:`PoolOptions`: pool and connect settings of one engine, read the one way every hook reads
  options (hook argument, else connection extra, else default; :mod:`hookline.options`);
* :func:`needs_ping`: the cheap pre-ping test. At checkout, a pooled connection is pinged (one round
  trip, replaced if dead) only when its socket has input waiting while idle (a server that ended the
  session sends an error or closes the socket: ``pg_terminate_backend``, a restart, an idle timeout)
  or when it has been idle longer than :data:`PRE_PING_IDLE_S` (a silently dropped TCP session shows
  nothing on the socket). A brand-new connection is never pinged. Drivers whose socket cannot be
  found are pinged at every checkout.
"""

from __future__ import annotations

import select
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from hookline.exceptions import PoolTimeout
from hookline.options import parse_bool, parse_float, parse_int

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
    "needs_ping",
    "pool_timeout_error",
]

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

#: Connection-extra keys read as engine settings (never passed on to the driver).
POOL_OPTION_KEYS: Final = frozenset(
    {
        "pool_size",
        "max_overflow",
        "pool_timeout_s",
        "pool_recycle_s",
        "pool_pre_ping",
        "connect_timeout_s",
        "statement_timeout_s",
    }
)


@dataclass(frozen=True, slots=True)
class PoolOptions:
    """Pool and connect settings of one engine (part of the key the engine is shared under).

    Attributes:
        pool_size: Connections kept open in the pool.
        max_overflow: Extra connections opened beyond ``pool_size`` under load (closed on return;
            ``-1``: no limit).
        pool_timeout_s: How long a checkout waits for a free connection before :class:`PoolTimeout`.
        pool_recycle_s: Connections older than this are replaced at checkout (``-1``: never).
        pool_pre_ping: Check each pooled connection at checkout, replacing dead ones (e.g. after a
            server restart or ``pg_terminate_backend``): a ping round trip only when the socket has
            input waiting or the connection was idle longer than :data:`PRE_PING_IDLE_S` (see the
            module docstring), so a busy pool pays nothing.
        connect_timeout_s: How long opening one database connection may take.
        statement_timeout_s: The longest one statement may run before the server (or, for SQLite,
            the driver) cancels it with :class:`~hookline.exceptions.StatementTimeout`; None: no limit.
    """

    pool_size: int = DEFAULT_POOL_SIZE
    max_overflow: int = DEFAULT_MAX_OVERFLOW
    pool_timeout_s: float = DEFAULT_POOL_TIMEOUT_S
    pool_recycle_s: float = DEFAULT_POOL_RECYCLE_S
    pool_pre_ping: bool = DEFAULT_POOL_PRE_PING
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    statement_timeout_s: float | None = None

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
            InvalidConnection: a value has the wrong type or is out of range (the message names it).
        """

        def pick(name: str) -> Any:
            value = overrides.get(name)
            return extras.get(name) if value is None else value

        def integer(name: str, minimum: int) -> int | None:
            value = pick(name)
            return (
                None
                if value is None
                else parse_int(value, name=name, minimum=minimum, conn_id=conn_id)
            )

        def number(name: str, minimum: float) -> float | None:
            value = pick(name)
            return (
                None
                if value is None
                else parse_float(value, name=name, minimum=minimum, conn_id=conn_id)
            )

        values: dict[str, Any] = {
            "pool_size": integer("pool_size", 1),
            "max_overflow": integer("max_overflow", -1),
            "pool_timeout_s": number("pool_timeout_s", 0.0),
            "pool_recycle_s": number("pool_recycle_s", -1.0),
            "connect_timeout_s": number("connect_timeout_s", 0.001),
            "statement_timeout_s": number("statement_timeout_s", 0.001),
        }
        ping = pick("pool_pre_ping")
        values["pool_pre_ping"] = (
            default_pool_pre_ping
            if ping is None
            else parse_bool(ping, name="pool_pre_ping", conn_id=conn_id)
        )
        return cls(**{k: v for k, v in values.items() if v is not None})

    @property
    def capacity(self) -> int | None:
        """How many connections the pool may hold at once (None: no limit)."""
        return None if self.max_overflow < 0 else self.pool_size + self.max_overflow

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


def needs_ping(
    dbapi_conn: Any,
    info: Mapping[str, Any],
    now: float | None = None,
    *,
    check_socket: bool = True,
) -> bool:
    """Whether a pooled connection about to be handed out must be pinged (see the module docstring).

    Args:
        dbapi_conn: The DB-API connection.
        info: The pool entry's ``info`` dict (holds :data:`LAST_CHECKIN_KEY`).
        now: ``time.monotonic()`` (default: now).
        check_socket: Look at the socket (a ``poll`` system call). A caller that sends its
            statement again on a new connection when the server had ended the session (see
            ``Dialect.dropped_before_statement``) skips it: the retry covers what it would find.
    """
    last = info.get(LAST_CHECKIN_KEY)
    if last is None:
        return False  # opened for this checkout
    if (time.monotonic() if now is None else now) - last > PRE_PING_IDLE_S:
        return True
    if not check_socket:
        return False
    fd = _socket_fd(dbapi_conn)
    return fd is None or _has_input(fd)
