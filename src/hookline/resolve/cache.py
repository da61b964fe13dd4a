"""The connection cache in front of the secrets chain: fast hits, bounded staleness, one call per miss.

:class:`CachedResolver` keeps resolved connections in a dict. Behaviour (settings in
:class:`~hookline.config.CacheSettings`):

* **TTL with jitter**: an entry lives ``ttl_seconds * (1 - ttl_jitter_ratio * U[0, 1))``, so
  ``ttl_seconds`` stays an upper bound while entries resolved together expire apart.
* **Negative cache**: "not found" is remembered for ``negative_ttl_seconds``; the cached
  :class:`~hookline.exceptions.ConnectionNotFound` keeps the original trace.
* **Stale if error**: when a refresh finds nothing because backends were unavailable, the expired
  value is served for up to ``stale_if_error_seconds`` after its expiry (a warning is logged, without
  secrets, and ``stats.stale_served`` counts it); the backends are asked again every
  ``error_retry_seconds``. After the window, the lookup fails. Variables follow the same rule,
  through the same code (:meth:`CachedResolver._stale_retry_at`, with ``kind="variable"``).
* **Single flight**: N threads missing the same id cost one chain lookup; the others wait for it.
* **Writes invalidate at once**: writes through the chain (or this resolver) drop the entry; a lookup
  racing with a write never stores the pre-write value.
* **Other processes**: ``watchable`` backends (the metastore) are polled through
  ``change_counter_if_open()`` at most every ``change_check_interval_seconds``; when a counter
  moved, the whole cache is dropped. None means "not opened yet, no information" (a metastore that
  every lookup so far was answered before is neither opened nor created just to be watched); once it
  reports a value, the cache is dropped once, since what it holds may predate that first value.
* **Fork-safe**: a forked child (Celery prefork, multiprocessing) gets fresh locks, so a lock held by
  a parent thread at fork time cannot deadlock it.

The hit path takes no lock: a dict lookup, one clock read and two comparisons. Counters in
:attr:`CachedResolver.stats` are exact for misses and backend calls; hit counters are updated without
a lock and may undercount slightly under heavy thread contention.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from hookline.config import CacheSettings
from hookline.connection import Connection
from hookline.events import CacheHit, CacheMiss, EventBus, Kind, StaleServed, default_bus
from hookline.exceptions import BackendUnavailable, ConnectionNotFound, ConnectionUnresolved
from hookline.resolve.chain import SecretsChain
from hookline.resolve.trace import LookupResult, LookupTrace, not_found_error
from hookline.resolve.variables import VariableCache

__all__ = ["CacheStats", "CachedResolver"]

log = logging.getLogger(__name__)


class _Entry(NamedTuple):
    """One cached answer. A NamedTuple rather than a dataclass: the hit path reads two fields,
    and tuple field access is the cheapest attribute read Python has (benchmark row
    "get_connection from an env var, warm")."""

    expires_at: float
    conn: Connection | None  # None: a cached "not found"
    trace: LookupTrace | None  # kept for a cached miss only, to re-raise it with its trace
    message: str  # the not-found message of a cached miss, else ""
    stale_until: float
    source: str


@dataclasses.dataclass(frozen=True, slots=True)
class CacheStats:
    """A snapshot of the cache counters.

    Attributes:
        hits: Lookups answered from a cached connection.
        negative_hits: Lookups answered from a cached "not found".
        misses: Lookups that had to ask the chain (or wait for another thread asking it).
        backend_calls: Chain lookups made (one per single-flight group).
        stale_served: Refreshes that failed and served an expired value instead.
        invalidations: Explicit or write-triggered invalidations.
        change_resets: Times the cache was dropped because a backend's change counter moved.
        entries: Entries held now (positive and negative).
    """

    hits: int
    negative_hits: int
    misses: int
    backend_calls: int
    stale_served: int
    invalidations: int
    change_resets: int
    entries: int


_new_error = ConnectionNotFound.__new__


def _not_found(conn_id: str, trace: LookupTrace | None, message: str) -> ConnectionNotFound:
    """``ConnectionNotFound(conn_id, trace, message=message)`` built without running ``__init__``
    (its cooperative ``super().__init__`` chain costs more than the rest of a negative hit). A test
    pins that both forms are identical."""
    error = _new_error(ConnectionNotFound, message)
    error.conn_id = conn_id
    error.trace = trace
    error.message = message
    return error


class _Flight:
    """One in-progress chain lookup that other threads wait for.

    ``_done`` is a lock held from creation until :meth:`finish` (a plain lock is several times
    cheaper to create than a ``threading.Event``, and every miss creates a flight).
    """

    __slots__ = ("_done", "conn", "error", "generation")

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self._done = threading.Lock()
        self._done.acquire()
        self.conn: Connection | None = None
        self.error: BaseException | None = None

    def wait(self) -> None:
        """Block until the leader called :meth:`finish`."""
        with self._done:
            pass

    def finish(self) -> None:
        """Release the waiters (called once, by the leader)."""
        self._done.release()


_instances: weakref.WeakSet[CachedResolver] = weakref.WeakSet()


def _reinit_after_fork() -> None:
    for cache in list(_instances):
        cache._after_fork_in_child()


os.register_at_fork(after_in_child=_reinit_after_fork)


class CachedResolver:
    """A cache in front of a :class:`~hookline.resolve.SecretsChain`.

    Args:
        chain: The chain to ask on a miss. Its writes invalidate this cache.
        settings: TTLs and bounds.
        clock: Monotonic clock in seconds (tests inject a fake one).
        rng: Uniform random numbers in [0, 1), for TTL jitter (tests inject a fixed one).
        bus: Where :class:`~hookline.events.CacheHit`, :class:`~hookline.events.CacheMiss` and
            :class:`~hookline.events.StaleServed` go (default: the process-wide bus).
    """

    def __init__(
        self,
        chain: SecretsChain,
        settings: CacheSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        bus: EventBus | None = None,
    ) -> None:
        self.chain = chain
        self._bus = bus if bus is not None else default_bus
        self.settings = settings = settings or CacheSettings()
        self._clock = clock
        self._rng = rng
        self._entries: dict[str, _Entry] = {}
        self._flights: dict[str, _Flight] = {}
        self._lock = threading.Lock()
        self._check_lock = threading.Lock()
        self._generation = 0
        self._counters: list[tuple[str, Callable[[], int | None]]] = [
            (backend.name, backend.change_counter_if_open)
            for backend in chain.backends
            if backend.watchable
        ]
        # Last value per backend; None: the backend could not tell yet (not opened).
        self._baseline: dict[str, int | None] = {}
        # Hit path compares against this; inf when no backend can report changes.
        self._check_due = 0.0 if self._counters else math.inf
        self._hits = 0
        self._negative_hits = 0
        self._misses = 0
        self._backend_calls = 0
        self._stale_served = 0
        self._invalidations = 0
        self._change_resets = 0
        chain.add_write_listener(self.invalidate)
        # Variables: their own entries (a variable never answers for a connection of the same
        # name), the same settings; dropped with the connections when a change counter moves.
        self.variables = VariableCache(
            chain.lookup_variable,
            settings,
            clock=clock,
            rng=rng,
            bus=self._bus,
            stale=self._stale_retry_at,
        )
        chain.add_variable_listener(self.variables.invalidate)
        _instances.add(self)

    def _after_fork_in_child(self) -> None:
        """Fresh locks and no in-flight lookups in a forked child (a parent thread may have held
        them at fork time); cached entries stay valid."""
        self._lock = threading.Lock()
        self._check_lock = threading.Lock()
        self._flights = {}
        self.variables.after_fork()

    def __repr__(self) -> str:
        return f"CachedResolver({self.chain!r}, entries={len(self._entries)})"

    # -- the hot path ---------------------------------------------------------------------------

    def get_connection(self, conn_id: str, *, fresh: bool = False) -> Connection:
        """Return the connection for ``conn_id``, from memory when the entry is still valid.

        Args:
            conn_id: The connection id.
            fresh: Ask the backends even if a valid entry exists (after an authentication failure);
                the answer replaces the entry.

        Raises:
            ConnectionNotFound: no backend holds it (possibly remembered from a recent lookup).
            InvalidConnection, DecryptionError, BackendPermissionDenied: from the chain.
        """
        entry = self._entries.get(conn_id)
        if entry is not None and not fresh:
            now = self._clock()
            if now < entry.expires_at and now < self._check_due:
                conn = entry.conn
                if conn is not None and not self._bus.active:
                    self._hits += 1  # the hot path, inlined: no call, no event to build
                    return conn
                return self._serve(conn_id, entry)
        return self._load(conn_id, fresh)

    def find_connection(self, conn_id: str) -> Connection | None:
        """Like :meth:`get_connection`, but None when no backend holds ``conn_id``."""
        try:
            return self.get_connection(conn_id)
        except ConnectionNotFound:
            return None

    # -- misses ---------------------------------------------------------------------------------

    def _load(self, conn_id: str, fresh: bool) -> Connection:
        now = self._clock()
        if now >= self._check_due:
            self._check_changes(now)
        with self._lock:
            entry = self._entries.get(conn_id)
            if entry is not None and not fresh and now < entry.expires_at and now < self._check_due:
                return self._serve(conn_id, entry)  # another thread refreshed it meanwhile
            self._misses += 1
            if self._bus.active:
                self._bus.emit(CacheMiss(conn_id=conn_id, fresh=fresh))
            flight = None if fresh else self._flights.get(conn_id)
            leader = flight is None or flight.generation != self._generation
            if leader:
                flight = _Flight(self._generation)
                if not fresh:
                    self._flights[conn_id] = flight
        assert flight is not None
        if not leader:
            flight.wait()
            if flight.error is not None:
                error = flight.error
                if isinstance(error, ConnectionUnresolved):
                    raise ConnectionUnresolved(
                        conn_id, error.trace, message=error.message, backend=error.backend
                    )
                if isinstance(error, ConnectionNotFound):
                    raise ConnectionNotFound(conn_id, error.trace, message=error.message)
                raise flight.error
            assert flight.conn is not None
            return flight.conn
        try:
            conn = self._fetch(conn_id, flight, entry)
        except BaseException as exc:
            flight.error = exc
            raise
        else:
            flight.conn = conn
            return conn
        finally:
            with self._lock:
                if self._flights.get(conn_id) is flight:
                    del self._flights[conn_id]
            flight.finish()

    def _serve(self, conn_id: str, entry: _Entry) -> Connection:
        """Answer from a valid entry: the connection, or its cached "not found" raised again."""
        conn = entry.conn
        bus = self._bus
        if conn is not None:
            self._hits += 1
            if bus.active:
                bus.emit(CacheHit(conn_id=conn_id))
            return conn
        self._negative_hits += 1
        if bus.active:
            bus.emit(CacheHit(conn_id=conn_id, negative=True))
        raise _not_found(conn_id, entry.trace, entry.message)

    def _fetch(self, conn_id: str, flight: _Flight, old: _Entry | None) -> Connection:
        """Ask the chain (leader of a flight) and store the answer unless a write intervened."""
        settings = self.settings
        with self._lock:
            self._backend_calls += 1
        try:
            result = self.chain.lookup(conn_id)
        except BackendUnavailable as exc:  # a chain that raises instead of tracing
            stale = self._stale(conn_id, flight, old, [exc.backend or "the chain"])
            if stale is not None:
                return stale
            raise
        except BaseException:
            self._drop(conn_id, flight)
            raise
        now = self._clock()
        if result.connection is not None:
            ttl_s = settings.ttl_seconds * (1.0 - settings.ttl_jitter_ratio * self._rng())
            expires = now + ttl_s
            self._store(
                conn_id,
                flight,
                _Entry(
                    expires_at=expires,
                    conn=result.connection,
                    trace=None,
                    message="",
                    stale_until=expires + settings.stale_if_error_seconds,
                    source=result.source or "",
                ),
            )
            return result.connection
        down = result.trace.unavailable
        if down:
            stale = self._stale(conn_id, flight, old, down)
            if stale is not None:
                return stale
        error = not_found_error(result.trace)
        if isinstance(error, ConnectionUnresolved):
            self._drop(conn_id, flight)  # unknown is not absent: never negative-cache it
            raise error
        expires = now + settings.negative_ttl_seconds
        self._store(
            conn_id, flight, _Entry(expires, None, result.trace, error.message, expires, "")
        )
        raise error

    def _stale(
        self, conn_id: str, flight: _Flight, old: _Entry | None, down: list[str]
    ) -> Connection | None:
        """Serve ``old`` past its TTL while its window lasts; None when there is nothing to serve."""
        if old is None or old.conn is None:
            return None
        retry_at = self._stale_retry_at("connection", conn_id, old.source, down, old.stale_until)
        if retry_at is None:
            return None
        self._store(conn_id, flight, old._replace(expires_at=retry_at, message=""))
        return old.conn

    def _stale_retry_at(
        self,
        kind: Kind,
        key: str,
        source: str,
        down: Sequence[str],
        stale_until: float,
    ) -> float | None:
        """The stale-if-error decision shared by connections and variables.

        None when the window (``stale_until``) is over; else the stale value is served: counted in
        ``stats.stale_served``, announced with a :class:`~hookline.events.StaleServed` of ``kind``
        and a warning (no value in it), and the time its entry should be asked for again
        (``error_retry_seconds`` from now, not past the window) is returned.
        """
        now = self._clock()
        if now >= stale_until:
            return None
        settings = self.settings
        with self._lock:
            self._stale_served += 1
        if self._bus.active:
            self._bus.emit(
                StaleServed(
                    conn_id=key,
                    source=source,
                    down=tuple(down),
                    stale_for_s=max(0.0, now - (stale_until - settings.stale_if_error_seconds)),
                    kind=kind,
                )
            )
        log.warning(
            "serving cached %s %r from %s past its TTL: %s could not answer; "
            "stale for at most %.1f s more",
            kind,
            key,
            source or "?",
            ", ".join(down),
            stale_until - now,
        )
        return min(now + settings.error_retry_seconds, stale_until)

    def _store(self, conn_id: str, flight: _Flight, entry: _Entry) -> None:
        with self._lock:
            if flight.generation != self._generation:
                return  # a write or reset happened during the lookup: do not keep older data
            entries = self._entries
            if conn_id not in entries and len(entries) >= self.settings.max_entries:
                self._evict(self._clock())
            self._entries[conn_id] = entry

    def _evict(self, now: float) -> None:
        """Drop entries past their stale window; if still full, the oldest quarter (lock held)."""
        entries = self._entries
        keep = {k: e for k, e in entries.items() if e.stale_until > now}
        if len(keep) >= self.settings.max_entries:
            drop = max(1, len(keep) // 4)
            for key in list(keep)[:drop]:
                del keep[key]
        self._entries = keep

    def _drop(self, conn_id: str, flight: _Flight) -> None:
        with self._lock:
            if flight.generation == self._generation:
                self._entries.pop(conn_id, None)

    # -- cross-process changes -------------------------------------------------------------------

    def _check_changes(self, now: float) -> None:
        """Poll the backends' change counters (one thread at a time; others go on)."""
        if not self._check_lock.acquire(blocking=False):
            return
        try:
            if now < self._check_due:
                return
            self._check_due = now + self.settings.change_check_interval_seconds
            moved: list[str] = []
            for name, counter in self._counters:
                try:
                    value = counter()
                except Exception as exc:
                    log.debug("change counter of %s failed: %s", name, type(exc).__name__)
                    continue
                if value is None and name not in self._baseline:
                    self._baseline[name] = None  # not opened yet: nothing to compare
                    continue
                known = name in self._baseline
                previous = self._baseline.get(name)
                self._baseline[name] = value
                if known and previous != value:
                    moved.append(name)
            if moved:
                log.debug("change counter moved in %s: dropping the cache", ", ".join(moved))
                with self._lock:
                    self._change_resets += 1
                self._reset(count=False)
        finally:
            self._check_lock.release()

    # -- invalidation and writes -----------------------------------------------------------------

    def invalidate(self, conn_id: str | None = None) -> None:
        """Forget ``conn_id`` (None: everything). In-flight lookups will not store their answer."""
        if conn_id is None:
            self._reset(count=True)
            return
        with self._lock:
            self._generation += 1
            self._invalidations += 1
            self._entries.pop(conn_id, None)

    def _reset(self, *, count: bool) -> None:
        with self._lock:
            self._generation += 1
            if count:
                self._invalidations += 1
            self._entries = {}
        self.variables.invalidate()

    def lookup(self, conn_id: str) -> LookupResult:
        """Ask the chain directly, bypassing (and not changing) the cache; for traces."""
        return self.chain.lookup(conn_id)

    def set_connection(self, conn: Connection, *, overwrite: bool = True) -> None:
        """Store ``conn`` through the chain; the cache forgets it at once."""
        self.chain.set_connection(conn, overwrite=overwrite)

    def delete_connection(self, conn_id: str) -> bool:
        """Delete ``conn_id`` through the chain; the cache forgets it at once."""
        return self.chain.delete_connection(conn_id)

    def list_connections(self, **kwargs: Any) -> list[tuple[str, Connection]]:
        """Every listable connection of the chain (see :meth:`SecretsChain.list_connections`)."""
        return self.chain.list_connections(**kwargs)

    # -- variables -------------------------------------------------------------------------------

    def get_variable(self, key: str, *, fresh: bool = False) -> str:
        """The stored text of variable ``key``, from memory while its entry is valid (see
        :class:`~hookline.resolve.variables.VariableCache`).

        Raises:
            VariableNotFound: no backend holds it (possibly remembered from a recent lookup).
            VariableUnresolved: nobody that answered holds it, but a backend could not answer.
            InvalidVariable, DecryptionError, BackendPermissionDenied: from the chain.
        """
        now = self._clock()
        if now >= self._check_due:
            self._check_changes(now)
        return self.variables.get(key, fresh=fresh)

    def find_variable(self, key: str, *, fresh: bool = False) -> str | None:
        """Like :meth:`get_variable`, but None when no backend holds ``key``.

        Raises:
            VariableUnresolved: nobody that answered holds it, but a backend could not answer.
        """
        now = self._clock()
        if now >= self._check_due:
            self._check_changes(now)
        return self.variables.find(key, fresh=fresh)

    def close(self) -> None:
        """Stop listening to the chain's writes, forget everything and close the chain."""
        self.chain.remove_write_listener(self.invalidate)
        self.chain.remove_variable_listener(self.variables.invalidate)
        self._reset(count=False)
        self.chain.close()

    @property
    def stats(self) -> CacheStats:
        """A snapshot of the counters."""
        return CacheStats(
            hits=self._hits,
            negative_hits=self._negative_hits,
            misses=self._misses,
            backend_calls=self._backend_calls,
            stale_served=self._stale_served,
            invalidations=self._invalidations,
            change_resets=self._change_resets,
            entries=len(self._entries),
        )
