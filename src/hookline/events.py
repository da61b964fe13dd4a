"""Events: what happened inside hookline, as small frozen records passed to listeners.

A listener is any ``Callable[[Event], None]``, subscribed to an :class:`EventBus` (like structlog
processors, or logging handlers). Audit logs, metrics and health checks are listeners; no hot path
calls any of them by name. Events never carry a secret: connection ids, backend names, outcomes,
timings and fingerprints only.

Emitting costs nothing when nobody listens: emitters check :attr:`EventBus.active` (a plain
attribute) before building an event. A listener that raises is logged and skipped; it never breaks
the lookup or the query that emitted the event.

Tests use :func:`hookline.testing.capture_events`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from hookline.exceptions import AuditUnavailable

__all__ = [
    "AuditWriteFailed",
    "BreakerChanged",
    "CacheHit",
    "CacheMiss",
    "ConnectionWritten",
    "CredentialsRefreshed",
    "Event",
    "EventBus",
    "FailoverSwitched",
    "HealthChecked",
    "KeysRotated",
    "Kind",
    "Listener",
    "LookupDone",
    "PoolCheckout",
    "RotationStep",
    "StaleServed",
    "default_bus",
    "fingerprint",
    "set_fingerprint_key",
    "subscribe",
    "unsubscribe",
]

log = logging.getLogger(__name__)

#: What a lookup, cache or write event is about.
Kind = Literal["connection", "variable"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every event.

    Attributes:
        at: Wall-clock time of the event, in seconds since the epoch.
    """

    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True, kw_only=True)
class LookupDone(Event):
    """A lookup went through the secrets chain (a cache miss, or no cache).

    Attributes:
        conn_id: The id looked up.
        source: The backend that answered, or None.
        outcome: ``hit``, ``absent`` (nobody holds it), ``unresolved`` (absent while a backend was
            down), or ``error`` (invalid value, denied, decryption failure).
        backends: ``(backend, outcome)`` for each backend asked, in order.
        elapsed_s: Time spent in the backends.
        fingerprint: :func:`fingerprint` of the connection served (its URI), "" when none.
        timings: Time spent in each backend of ``backends``, in the same order (seconds).
        replica: The replica of a replica group that answered (empty when none did, or when the
            answering backend is not a replica group).
        kind: What was looked up: ``connection`` (``conn_id`` is its id) or ``variable``
            (``conn_id`` is the variable key; the fingerprint is of its value).
    """

    conn_id: str
    source: str | None
    outcome: Literal["hit", "absent", "unresolved", "error"]
    backends: tuple[tuple[str, str], ...] = ()
    elapsed_s: float = 0.0
    fingerprint: str = ""
    timings: tuple[float, ...] = ()
    replica: str = ""
    kind: Kind = "connection"


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheHit(Event):
    """A lookup was answered from the cache (``negative``: a cached "not found"; ``kind``:
    ``connection`` or ``variable``, whose key is in ``conn_id``)."""

    conn_id: str
    negative: bool = False
    kind: Kind = "connection"


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheMiss(Event):
    """A lookup was not in the cache (or expired, or ``fresh=True``) and asks the chain
    (``kind``: ``connection`` or ``variable``, whose key is in ``conn_id``)."""

    conn_id: str
    fresh: bool = False
    kind: Kind = "connection"


@dataclass(frozen=True, slots=True, kw_only=True)
class StaleServed(Event):
    """A refresh failed because backends were down, and an expired value was served.

    Attributes:
        conn_id: The id (a variable's key when ``kind`` is ``variable``).
        source: The backend that answered originally.
        down: The backends that could not answer.
        stale_for_s: How long past its expiry the value is.
        kind: ``connection`` or ``variable``.
    """

    conn_id: str
    source: str
    down: tuple[str, ...]
    stale_for_s: float
    kind: Kind = "connection"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionWritten(Event):
    """A connection was stored, deleted or imported through a chain.

    Attributes:
        conn_id: The id written (None: many, for an import or an external change).
        backend: The backend written to.
        action: ``set``, ``delete``, ``import`` or ``changed`` (noticed, not made here).
        kind: ``connection``, or ``variable`` (``conn_id`` is then the variable key).
    """

    conn_id: str | None
    backend: str
    action: Literal["set", "delete", "import", "changed"]
    kind: Kind = "connection"


@dataclass(frozen=True, slots=True, kw_only=True)
class CredentialsRefreshed(Event):
    """A hook re-resolved its connection after an authentication failure, or a backend of dynamic
    credentials (``vault_dynamic``) issued new ones to replace the current ones.

    Attributes:
        conn_id: The connection.
        hook: The hook class name (the backend's name when a backend issued new credentials).
        changed: Whether the connection changed (new credentials were found).
    """

    conn_id: str
    hook: str
    changed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolCheckout(Event):
    """A pooled connection was handed out.

    Attributes:
        conn_id: The connection (or the engine's label when built from a Connection without id).
        wait_s: Time spent waiting for it.
        size: The pool's size; ``checked_out`` and ``overflow`` as the pool reports them now.
    """

    conn_id: str
    wait_s: float
    size: int
    checked_out: int
    overflow: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RotationStep(Event):
    """A credential rotation step ran (``create``, ``set``, ``test``, ``finish``)."""

    conn_id: str
    step: str
    outcome: Literal["ok", "failed", "skipped"]
    strategy: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class KeysRotated(Event):
    """A backend's stored values were re-encrypted with its newest key (``hookline keys rotate``).

    Attributes:
        backend: The backend whose rows were re-encrypted.
        rows: How many rows were re-encrypted.
    """

    backend: str
    rows: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FailoverSwitched(Event):
    """A replica group or connection group switched from one member to another."""

    group: str
    from_member: str
    to_member: str
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerChanged(Event):
    """A circuit breaker changed state (``closed``, ``open``, ``half_open``)."""

    name: str
    state: Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthChecked(Event):
    """A health check tested a connection (``hookline.health``).

    Attributes:
        conn_id: The connection tested.
        ok: Whether the system answered with these credentials.
        elapsed_s: How long the test took (the time limit when it timed out).
        error: The error's type name when it failed (never its message), else empty.
    """

    conn_id: str
    ok: bool
    elapsed_s: float
    error: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditWriteFailed(Event):
    """An audit record could not be written (emitted by audit sinks).

    Attributes:
        sink: The audit sink's name.
        error: The error's type name (never its message).
    """

    sink: str
    error: str


Listener = Callable[[Event], None]

# Fingerprints let listeners tell values apart (did the password change?) without holding them. They
# are keyed, so a fingerprint cannot be brute-forced back into a short password; the key is random per
# process unless an owner of stable fingerprints (the audit log) sets it.
_fingerprint_key = secrets.token_bytes(32)


def set_fingerprint_key(key: bytes) -> None:
    """Use ``key`` for :func:`fingerprint` from now on (the audit log sets its own key)."""
    global _fingerprint_key
    _fingerprint_key = key


def fingerprint(value: str) -> str:
    """A keyed, non-reversible fingerprint of ``value`` (16 hex characters)."""
    return hmac.new(
        _fingerprint_key, value.encode("utf-8", "surrogatepass"), hashlib.sha256
    ).hexdigest()[:16]


class EventBus:
    """An ordered set of listeners. Subscribing is thread-safe; emitting takes no lock.

    Attributes:
        active: True while at least one listener is subscribed; emitters check it before building
            an event, so an idle bus costs one attribute read.
    """

    __slots__ = ("_listeners", "_lock", "active")

    def __init__(self) -> None:
        self._listeners: tuple[Listener, ...] = ()
        self._lock = threading.Lock()
        self.active = False

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add ``listener``; return a function that removes it again."""
        with self._lock:
            self._listeners = (*self._listeners, listener)
            self.active = True
        return lambda: self.unsubscribe(listener)

    def unsubscribe(self, listener: Listener) -> None:
        """Remove ``listener`` (unknown listeners are ignored)."""
        with self._lock:
            self._listeners = tuple(item for item in self._listeners if item is not listener)
            self.active = bool(self._listeners)

    @property
    def listeners(self) -> tuple[Listener, ...]:
        """The listeners, in the order they are called."""
        return self._listeners

    def emit(self, event: Event) -> None:
        """Call every listener with ``event``; a listener that raises is logged and skipped.

        Raises:
            AuditUnavailable: an audit listener in fail-closed mode cannot record the event: the
                operation that emitted it must fail rather than happen unrecorded.
        """
        for listener in self._listeners:
            try:
                listener(event)
            except AuditUnavailable:
                raise
            except Exception as exc:
                log.warning(
                    "event listener %r failed on %s: %s",
                    listener,
                    type(event).__name__,
                    type(exc).__name__,
                )


#: The process-wide bus: resolvers, hooks and pools emit here unless given another one.
default_bus = EventBus()


def subscribe(listener: Listener) -> Callable[[], None]:
    """Subscribe ``listener`` to the process-wide bus; return a function that unsubscribes it."""
    return default_bus.subscribe(listener)


def unsubscribe(listener: Listener) -> None:
    """Unsubscribe ``listener`` from the process-wide bus."""
    default_bus.unsubscribe(listener)
