"""Pooled SQLAlchemy engines shared inside a process: one per ``(connection, options)``.

A SQL hook asks :func:`acquire_engine` for a :class:`SharedEngine` instead of creating an engine:
every hook of the same connection and options in a process then shares one engine and its pool.

**No secret in an engine.** The key is ``(source, conn_id, EngineSpec)``; an :class:`EngineSpec` holds
the SQLAlchemy URL *without login and password*, the :class:`~hookline.hooks.sql.pooling.PoolOptions`
and the driver arguments that are not secret. Credentials enter through SQLAlchemy's ``do_connect``
event (the pattern SQLAlchemy documents for dynamic credentials): each time the pool opens a DB
connection, the event asks the engine's :class:`CredentialSource` for the current connection (the
resolver for a hook built from a conn_id, the latest :class:`~hookline.Connection` handed in for a hook
built from one) and passes its login and password to the driver, in a copy of the connect arguments
that the engine does not keep. No pool, key, URL, repr or log line holds a password or a hash of one.

**Rotation: generation-based soft invalidation.** Every DB connection remembers the credential
generation it was opened with. When a hook's credentials are refreshed after an
:class:`~hookline.exceptions.AuthenticationFailed` (or a different Connection object is handed in),
:meth:`SharedEngine.renew` bumps the generation: connections checked out at that moment finish their
work undisturbed; at their next checkout, connections of an older generation are replaced by new ones
opened with the new credentials (SQLAlchemy's soft invalidation, done from the ``checkout`` event).

**Parking (speed).** See :class:`_ParkingQueuePool` and :meth:`SharedEngine.borrow`: an idle
connection a hook used last stays checked out in a small per-engine stack, so the next lone
statement skips SQLAlchemy's checkout and checkin (about 4 µs each way); any other checkout that
finds the pool empty takes parked connections back first, so parking never exhausts a pool.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import PoolProxiedConnection, QueuePool, StaticPool

from hookline.connection import Connection
from hookline.events import PoolCheckout, default_bus
from hookline.hooks.sql.pooling import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_MAX_OVERFLOW,
    DEFAULT_POOL_PRE_PING,
    DEFAULT_POOL_RECYCLE_S,
    DEFAULT_POOL_SIZE,
    DEFAULT_POOL_TIMEOUT_S,
    LAST_CHECKIN_KEY,
    POOL_OPTION_KEYS,
    PRE_PING_IDLE_S,
    PoolOptions,
    needs_ping,
    pool_timeout_error,
)

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_MAX_OVERFLOW",
    "DEFAULT_POOL_PRE_PING",
    "DEFAULT_POOL_RECYCLE_S",
    "DEFAULT_POOL_SIZE",
    "DEFAULT_POOL_TIMEOUT_S",
    "GENERATION_KEY",
    "LAST_CHECKIN_KEY",
    "POOL_OPTION_KEYS",
    "PRE_PING_IDLE_S",
    "CredentialSource",
    "EngineSpec",
    "PoolOptions",
    "SharedEngine",
    "acquire_engine",
    "dispose_all",
    "dispose_engines",
    "engine_count",
    "needs_ping",
    "pool_timeout_error",
    "shared_engines",
]

log = logging.getLogger(__name__)

#: Key in a pooled connection's ``info`` dict: the credential generation it was opened with.
GENERATION_KEY: Final = "hookline_generation"
#: Key in a pooled connection's ``info`` dict: ``time.monotonic()`` when it was opened.
OPENED_KEY: Final = "hookline_opened"


@dataclass(frozen=True, slots=True)
class EngineSpec:
    """What a shared engine is built from: nothing secret, so it can be part of its key.

    Attributes:
        url: The SQLAlchemy URL without login and password (``postgresql+psycopg://db:5432/app``).
        options: Pool and connect settings.
        connect_args: The driver's connect arguments that are not secret, as canonical JSON text
            (sorted keys); secret ones (``sslpassword``, ...) come with the credentials.
        static: One shared connection (SQLite ``:memory:``) instead of a QueuePool.
    """

    url: str
    options: PoolOptions
    connect_args: str = "{}"
    static: bool = False

    @classmethod
    def build(
        cls,
        url: str,
        options: PoolOptions,
        connect_args: Mapping[str, Any],
        *,
        static: bool = False,
    ) -> EngineSpec:
        """A spec from live values (``connect_args`` must be JSON-serialisable)."""
        return cls(
            url, options, json.dumps(dict(connect_args), sort_keys=True, default=str), static
        )


class CredentialSource:
    """Where an engine's ``do_connect`` event finds the connection whose credentials it uses.

    Either *resolved* (``fetch`` is the resolver lookup of the conn_id, asked at each new DB
    connection, so the pool follows the secrets backend) or *given* (the latest Connection object a
    hook handed in, replaced through :meth:`offer`). Its repr names the kind only.

    ``fallback`` (resolved sources): called with the driver's error when a connect with the current
    credentials fails; it returns other credentials to try once (the pending version of a rotation
    in progress, see :mod:`hookline.rotation.fallback`) or None.
    """

    __slots__ = ("_fetch", "_given", "fallback", "kind")

    def __init__(
        self,
        *,
        fetch: Callable[[], Connection] | None = None,
        given: Connection | None = None,
        fallback: Callable[[BaseException], Connection | None] | None = None,
    ) -> None:
        if (fetch is None) == (given is None):
            raise ValueError("CredentialSource needs exactly one of fetch= and given=")
        self._fetch = fetch
        self._given = given
        self.fallback = fallback
        self.kind: Literal["resolved", "given"] = "resolved" if fetch is not None else "given"

    def current(self) -> Connection:
        """The connection whose credentials a new DB connection uses now."""
        if self._fetch is not None:
            return self._fetch()
        assert self._given is not None
        return self._given

    def offer(self, conn: Connection) -> bool:
        """Use ``conn``'s credentials from now on (given sources); True when they differ."""
        given = self._given
        if given is None or given is conn:
            return False
        changed = (given.login, given.password, given.extra) != (
            conn.login,
            conn.password,
            conn.extra,
        )
        self._given = conn
        return changed

    def __repr__(self) -> str:
        return f"CredentialSource({self.kind})"


class _ParkingQueuePool(QueuePool):
    """SQLAlchemy's QueuePool, except that a checkout which finds no idle connection in the queue
    first takes back one connection parked by the hooks (see :meth:`SharedEngine.borrow`): parked
    connections are idle, so a pool never waits, overflows or times out while one is parked."""

    _hookline_owner: SharedEngine | None = None

    def _do_get(self) -> Any:
        owner = self._hookline_owner
        if owner is not None and owner._parked and self.checkedin() == 0:
            owner.unpark_one()
        return super()._do_get()

    def recreate(self) -> QueuePool:
        pool = super().recreate()
        if isinstance(pool, _ParkingQueuePool):
            pool._hookline_owner = self._hookline_owner
        return pool


class SharedEngine:
    """One pooled engine of a connection: its credentials source, generation and parked connections.

    Attributes:
        label: The conn_id it serves (for messages and events).
        spec: What it was built from (no secret).
        engine: The SQLAlchemy engine (its URL holds no login or password).
        generation: The credential generation; connections opened under an older one are replaced
            at their next checkout.
    """

    def __init__(
        self,
        label: str,
        spec: EngineSpec,
        credentials: CredentialSource,
        *,
        driver_credentials: Callable[[Connection], dict[str, Any]],
        autocommit_setter: Callable[[Any, bool], None] | None = None,
        on_create: Callable[[Engine], None] | None = None,
        rotates: bool = True,
    ) -> None:
        self.label = label
        self._rotates = rotates
        self.spec = spec
        self.credentials = credentials
        self.generation = 0
        self._driver_credentials = driver_credentials
        self._set_autocommit = autocommit_setter
        self._parked: deque[PoolProxiedConnection] = deque()
        #: Most idle connections kept parked (``pool_size``; 0 turns parking off).
        self.park_limit = 0 if spec.static else spec.options.pool_size
        self._ping = spec.options.pool_pre_ping
        self._recycle_s = spec.options.pool_recycle_s
        self.engine = self._create(on_create)
        #: The driver's base error class (``psycopg.Error``, ``sqlite3.Error``, ...).
        self.dbapi_error: type[Exception] = self.engine.dialect.loaded_dbapi.Error

    def __repr__(self) -> str:
        return f"SharedEngine({self.label!r}, {self.spec.url!r}, generation={self.generation})"

    # -- creation ------------------------------------------------------------------------------------

    def _create(self, on_create: Callable[[Engine], None] | None) -> Engine:
        options = self.spec.options
        kwargs: dict[str, Any] = {
            "connect_args": json.loads(self.spec.connect_args),
            "hide_parameters": True,
            # Replaced by the cheaper checkout check below (see pooling.needs_ping).
            "pool_pre_ping": False,
        }
        if self.spec.static:
            kwargs["poolclass"] = StaticPool
        else:
            kwargs.update(
                poolclass=_ParkingQueuePool,
                pool_size=options.pool_size,
                max_overflow=options.max_overflow,
                pool_timeout=options.pool_timeout_s,
                pool_recycle=options.pool_recycle_s if options.pool_recycle_s >= 0 else -1,
            )
        engine = create_engine(self.spec.url, **kwargs)
        if isinstance(engine.pool, _ParkingQueuePool):
            engine.pool._hookline_owner = self
        event.listen(engine, "do_connect", self._do_connect)
        # A checkout listener costs every checkout: attach only what this engine needs.
        if self._ping:
            event.listen(engine, "checkin", _on_checkin)
        if self._ping or self._rotates:
            event.listen(engine, "checkout", self._on_checkout)
        if on_create is not None:
            on_create(engine)
        return engine

    def private_engine(self, engine_kwargs: Mapping[str, Any]) -> Engine:
        """A new, unshared engine from the same spec with extra ``create_engine`` arguments; its DB
        connections take their credentials the same way (the caller disposes it)."""
        kwargs: dict[str, Any] = {
            "connect_args": json.loads(self.spec.connect_args),
            "hide_parameters": True,
            **engine_kwargs,
        }
        engine = create_engine(self.spec.url, **kwargs)
        event.listen(engine, "do_connect", self._do_connect)
        return engine

    def _do_connect(
        self, dialect: Any, record: Any, cargs: tuple[Any, ...], cparams: dict[str, Any]
    ) -> Any:
        """SQLAlchemy's ``do_connect`` event: open the DB connection with the current credentials.

        The credentials go into a copy of ``cparams`` (the engine keeps the original for its next
        connection, so it never holds a password) and the connection is opened here.
        """
        generation = self.generation
        source = self.credentials
        params = {**cparams, **self._driver_credentials(source.current())}
        try:
            connection = dialect.connect(*cargs, **params)
        except Exception as exc:
            other = None if source.fallback is None else source.fallback(exc)
            if other is None:
                raise
            connection = dialect.connect(*cargs, **{**cparams, **self._driver_credentials(other)})
        if record is not None:
            record.info[GENERATION_KEY] = generation
            record.info[OPENED_KEY] = time.monotonic()
        return connection

    def _on_checkout(self, dbapi_conn: Any, record: Any, proxy: Any) -> None:
        """Replace a pooled connection from an older credential generation, or (with pre-ping)
        one that fails the cheap check of :func:`~hookline.hooks.sql.pooling.needs_ping`."""
        info = record.info
        if info.get(GENERATION_KEY, self.generation) != self.generation:
            raise sa_exc.DisconnectionError("opened with credentials that were since renewed")
        if self._ping and needs_ping(dbapi_conn, info) and not self._alive(dbapi_conn):
            # The pool invalidates this connection and checks out a new one in its place.
            raise sa_exc.DisconnectionError("pooled connection failed its pre-ping")

    def _alive(self, dbapi_conn: Any) -> bool:
        dialect = self.engine.dialect
        try:
            return bool(dialect.do_ping(dbapi_conn))
        except dialect.loaded_dbapi.Error as exc:
            if not dialect.is_disconnect(exc, dbapi_conn, None):
                raise
            return False

    # -- credentials ---------------------------------------------------------------------------------

    def renew(self) -> None:
        """The credentials changed: connections opened before are replaced at their next checkout
        (checked-out ones finish first); parked ones are closed now."""
        self.generation += 1
        log.info("credentials of %r renewed: pooled connections reconnect at next use", self.label)
        self.release_parked(invalidate=True)

    def offer(self, conn: Connection) -> None:
        """Hand in the Connection a hook holds: for a *given* source with other credentials, it
        becomes the current one and the generation is bumped (see :meth:`renew`)."""
        if self.credentials.offer(conn):
            self.renew()

    # -- checkout, parking -----------------------------------------------------------------------------

    def checkout(self) -> PoolProxiedConnection:
        """A DB connection from the pool (SQLAlchemy's checkout; driver errors propagate as they are)."""
        if not default_bus.active:
            return self.engine.raw_connection()
        started = time.perf_counter()
        fairy = self.engine.raw_connection()
        self.emit_checkout(time.perf_counter() - started)
        return fairy

    def borrow(self, autocommit: bool = False, *, retries: bool = False) -> PoolProxiedConnection:
        """A DB connection for one hook call: a parked one if any passes its checks, else
        :meth:`checkout`. With an autocommit setter (PostgreSQL), it comes in the asked mode.
        ``retries``: the caller sends its statement again on a new connection when the server had
        ended the session, so a parked connection's socket need not be looked at.

        Speed trick: a parked connection skips SQLAlchemy's checkout (queue, record, proxy object,
        events), which costs more than a SQLite statement; the checks it still gets are the ones the
        ``checkout`` event runs (generation, recycle age, cheap pre-ping)."""
        fairy = self._take_parked(check_socket=not retries)
        setter = self._set_autocommit
        if fairy is None:
            fairy = self.checkout()
            if setter is not None and autocommit:
                setter(fairy.dbapi_connection, True)
        else:
            if default_bus.active:
                self.emit_checkout(0.0)
            if setter is not None and not autocommit:
                setter(fairy.dbapi_connection, False)
        return fairy

    def _take_parked(self, *, check_socket: bool = True) -> PoolProxiedConnection | None:
        parked = self._parked
        while parked:
            try:
                fairy = parked.pop()
            except IndexError:  # another thread took the last one
                return None
            info = fairy.info
            if info.get(GENERATION_KEY, self.generation) != self.generation or (
                self._recycle_s >= 0 and time.monotonic() - info[OPENED_KEY] > self._recycle_s
            ):
                fairy.invalidate()
                continue
            dbapi_conn = fairy.dbapi_connection
            if (
                self._ping
                and needs_ping(dbapi_conn, info, check_socket=check_socket)
                and not self._alive(dbapi_conn)
            ):
                fairy.invalidate()
                continue
            return fairy
        return None

    def give_back(self, fairy: PoolProxiedConnection, *, autocommit: bool, clean: bool) -> None:
        """Return a connection :meth:`borrow` gave: parked when ``clean`` (no transaction open, not
        lost) and there is room, else to the pool (which resets it). ``autocommit`` is the mode it
        is in now."""
        setter = self._set_autocommit
        if fairy.info.get(GENERATION_KEY, self.generation) != self.generation:
            fairy.invalidate()  # opened with credentials since renewed, and no longer in use
            return
        if clean and len(self._parked) < self.park_limit:
            if setter is not None and not autocommit:
                setter(fairy.dbapi_connection, True)
            if self._ping:  # as the checkin listener, attached with pre-ping only
                fairy.info[LAST_CHECKIN_KEY] = time.monotonic()
            self._parked.append(fairy)
            return
        if setter is not None and autocommit:
            setter(fairy.dbapi_connection, False)
        fairy.close()

    def unpark_one(self) -> bool:
        """Return one parked connection to the pool (in the pool's mode); False when none is parked."""
        try:
            fairy = self._parked.pop()
        except IndexError:
            return False
        try:
            if self._set_autocommit is not None:
                self._set_autocommit(fairy.dbapi_connection, False)
        except Exception:
            fairy.invalidate()
            return True
        fairy.close()
        return True

    def release_parked(self, *, invalidate: bool = False) -> int:
        """Return (or with ``invalidate``, close) every parked connection; how many there were."""
        count = 0
        while True:
            if invalidate:
                try:
                    fairy = self._parked.pop()
                except IndexError:
                    return count
                fairy.invalidate()
            elif not self.unpark_one():
                return count
            count += 1

    @property
    def parked(self) -> int:
        """How many idle connections are parked (checked out of the pool, ready for the next call)."""
        return len(self._parked)

    def status(self) -> dict[str, int]:
        """Counts of the pool: ``size``, ``checked_out``, ``checked_in``, ``overflow`` (parked
        connections count as checked in: they are idle)."""
        pool: Any = self.engine.pool
        if not hasattr(pool, "checkedout"):
            return {"size": 1, "checked_out": 0, "checked_in": 1, "overflow": 0}
        parked = len(self._parked)
        return {
            "size": pool.size(),
            "checked_out": pool.checkedout() - parked,
            "checked_in": pool.checkedin() + parked,
            "overflow": pool.overflow(),
        }

    def emit_checkout(self, wait_s: float) -> None:
        """Emit :class:`~hookline.events.PoolCheckout` (callers check ``default_bus.active`` first)."""
        status = self.status()
        default_bus.emit(
            PoolCheckout(
                conn_id=self.label,
                wait_s=wait_s,
                size=status["size"],
                checked_out=status["checked_out"],
                overflow=status["overflow"],
            )
        )

    def dispose(self) -> None:
        """Close parked and idle connections; checked-out ones close when returned."""
        self.release_parked()
        self.engine.dispose()

    def _forget_after_fork(self) -> None:
        # The parent's sockets must not be touched: keep its parked connections referenced forever
        # (a collected one would be closed, ending the parent's session) and drop the pool unclosed.
        _FORK_ORPHANS.extend(self._parked)
        self._parked.clear()
        self.engine.dispose(close=False)


def _on_checkin(dbapi_conn: Any, record: Any) -> None:
    if dbapi_conn is not None:
        record.info[LAST_CHECKIN_KEY] = time.monotonic()


_EngineKey = tuple[str, str, EngineSpec]

_lock = threading.Lock()
_engines: dict[_EngineKey, SharedEngine] = {}
_FORK_ORPHANS: list[Any] = []


def acquire_engine(
    conn_id: str,
    spec: EngineSpec,
    credentials: Callable[[], CredentialSource],
    *,
    driver_credentials: Callable[[Connection], dict[str, Any]],
    autocommit_setter: Callable[[Any, bool], None] | None = None,
    on_create: Callable[[Engine], None] | None = None,
    rotates: bool = True,
) -> SharedEngine:
    """Return the process-wide engine for ``(credential source kind, conn_id, spec)``, creating it once.

    Args:
        conn_id: The connection the engine serves.
        spec: URL without credentials, options, non-secret driver arguments.
        credentials: Builds the :class:`CredentialSource` of a new engine (called once per engine).
        driver_credentials: The driver keyword arguments carrying a connection's credentials
            (``user``, ``password``, secret driver options), passed at each DB connect.
        autocommit_setter: Switches a DB connection's autocommit flag without a round trip (parked
            connections wait in autocommit mode), or None.
        on_create: Called with a newly created engine (to attach event listeners).
        rotates: Whether the connection has credentials that can change (not SQLite).
    """
    source = credentials()
    key: _EngineKey = (source.kind, conn_id, spec)
    shared = _engines.get(key)
    if shared is not None:
        return shared
    with _lock:
        shared = _engines.get(key)
        if shared is None:
            shared = SharedEngine(
                conn_id,
                spec,
                source,
                driver_credentials=driver_credentials,
                autocommit_setter=autocommit_setter,
                on_create=on_create,
                rotates=rotates,
            )
            _engines[key] = shared
        return shared


def shared_engines(conn_id: str | None = None) -> list[SharedEngine]:
    """The shared engines (of ``conn_id`` only, when given)."""
    with _lock:
        return [e for k, e in _engines.items() if conn_id is None or k[1] == conn_id]


def dispose_engines(conn_id: str) -> int:
    """Dispose and forget every engine of ``conn_id``; returns how many there were."""
    with _lock:
        keys = [k for k in _engines if k[1] == conn_id]
        engines = [_engines.pop(k) for k in keys]
    for shared in engines:
        shared.dispose()
    return len(keys)


def dispose_all() -> None:
    """Dispose and forget every shared engine (tests, shutdown)."""
    with _lock:
        engines = list(_engines.values())
        _engines.clear()
    for shared in engines:
        shared.dispose()


def engine_count(conn_id: str | None = None) -> int:
    """How many shared engines exist (for ``conn_id`` only, when given)."""
    with _lock:
        return sum(1 for k in _engines if conn_id is None or k[1] == conn_id)


def _after_fork_in_child() -> None:
    # A forked child must not use the parent's sockets: keep the engines (hooks hold them) but give
    # each a fresh, empty pool.
    global _lock
    _lock = threading.Lock()
    for shared in list(_engines.values()):
        shared._forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
