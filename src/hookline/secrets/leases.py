"""Lease manager for dynamic credentials: renew before expiry, re-issue before ``max_ttl``, revoke.

A *lease* is a set of credentials a secrets engine issued for a limited time (Vault's/OpenBao's
database engine: ``<mount>/creds/<role>``). :class:`LeaseManager` keeps one current lease per
connection id and runs a background thread that, for each one:

* **renews** the lease when ``renew_fraction`` (default 2/3) of the time granted by the last issue or
  renewal has passed, asking for the lease's original duration again;
* **re-issues** new credentials when the lease's end is less than ``reissue_before_s`` away (default:
  a quarter of the lease's original duration, 1 s to 300 s). That happens when the engine stops
  extending it (``max_ttl`` reached: a renewal grants less than asked) or the lease is not
  renewable. The new lease becomes current at once, and ``on_change(conn_id)`` is called so the
  caller can point caches and connection pools at it;
* keeps the previous lease **alive for a grace period** so connections opened with it can finish:
  it is revoked ``revoke_grace_s`` after the re-issue, or shortly before it would expire anyway
  (the default, ``revoke_grace_s=None``: at its ``max_ttl``);
* on :meth:`LeaseManager.close` revokes every lease it holds.

Failures in the thread (the server is down, the token was refused) are logged with the error type
and hookline's own (secret-free) message, and retried with exponential backoff; the current
credentials stay in use while they are valid. A lease that expired without being replaced is
re-issued synchronously by the next :meth:`LeaseManager.credentials` call, which raises the
engine's typed error when that fails too.

The manager knows nothing about Vault: it talks to a :class:`LeaseApi` (the Vault backend implements
it; unit tests use an in-memory fake) and takes an injectable monotonic clock.
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from hookline import masking
from hookline.exceptions import ConfigurationError, HooklineError

__all__ = ["IssuedLease", "Lease", "LeaseApi", "LeaseManager", "short_lease_id"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IssuedLease:
    """What the engine answered to an issue or renewal request.

    Attributes:
        lease_id: The lease's id (``database/creds/<role>/<id>``).
        duration_s: Seconds granted from now.
        renewable: Whether the lease can be renewed.
        login: The user name (issues only; "" for a renewal).
        password: The password (issues only; never in repr).
    """

    lease_id: str
    duration_s: float
    renewable: bool
    login: str = ""
    password: str = field(default="", repr=False)


class LeaseApi(Protocol):
    """The three calls a :class:`LeaseManager` makes (each raises a hookline error on failure)."""

    def issue(self, conn_id: str) -> IssuedLease:
        """New credentials for ``conn_id`` (its configured role)."""
        ...

    def renew(self, lease_id: str, increment_s: float) -> IssuedLease:
        """Extend the lease; the answer's ``duration_s`` may be shorter than asked (``max_ttl``),
        and is 0 when the engine no longer knows the lease (expired or revoked)."""
        ...

    def revoke(self, lease_id: str) -> None:
        """Revoke the lease (revoking an unknown or expired lease is not an error)."""
        ...


def short_lease_id(lease_id: str) -> str:
    """A lease id shortened for logs: its path and the last 4 characters (``database/creds/ro/…AbCd``)."""
    path, _, tail = lease_id.rpartition("/")
    return f"{path}/…{tail[-4:]}" if path else f"…{lease_id[-4:]}"


@dataclass(slots=True)
class Lease:
    """One lease the manager holds (mutable: renewals move its end).

    Attributes:
        conn_id: The connection it serves.
        lease_id: The engine's lease id.
        login: The issued user name.
        password: The issued password (never in repr).
        ttl_s: The duration granted at issue (asked for again at each renewal).
        renewable: Whether the engine accepts renewals of it.
        issued_at: Clock time of the issue.
        granted_at: Clock time of the last issue or renewal.
        expires_at: Clock time the lease ends unless renewed.
        capped: A renewal granted less than asked: the lease reached its ``max_ttl``.
        renewals: Successful renewals so far.
        revoke_at: When a retired lease is revoked (inf while current).
    """

    conn_id: str
    lease_id: str
    login: str
    password: str = field(repr=False)
    ttl_s: float
    renewable: bool
    issued_at: float
    granted_at: float
    expires_at: float
    capped: bool = False
    renewals: int = 0
    revoke_at: float = math.inf


@dataclass(slots=True)
class _State:
    current: Lease | None = None
    retiring: list[Lease] = field(default_factory=list)
    failures: int = 0
    retry_at: float = 0.0
    settle_at: float = math.inf
    lock: threading.Lock = field(default_factory=threading.Lock)


_managers: weakref.WeakSet[LeaseManager] = weakref.WeakSet()


class LeaseManager:
    """Holds, renews, re-issues and revokes one lease per connection id (see the module docs).

    Args:
        api: Issues, renews and revokes leases.
        conn_ids: The connection ids it manages.
        name: Used in log messages and the thread name.
        renew_fraction: Renew after this fraction of the granted time (0 < f < 1).
        reissue_before_s: Re-issue when the lease ends in less than this (None: ttl/4, 1-300 s).
        revoke_grace_s: Revoke a replaced lease this long after the re-issue (None: just before it
            expires).
        settle_s: ``on_change(conn_id)`` is called a second time this long after a re-issue, so
            pools recycle connections a cache may have opened with the previous credentials.
        retry_initial_s, retry_max_s: Backoff of failed background calls.
        on_change: Called (from the thread) after a re-issue, and again after ``settle_s``.
        clock: Monotonic clock in seconds.
    """

    def __init__(
        self,
        api: LeaseApi,
        conn_ids: list[str],
        *,
        name: str = "leases",
        renew_fraction: float = 2 / 3,
        reissue_before_s: float | None = None,
        revoke_grace_s: float | None = None,
        settle_s: float = 1.0,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
        on_change: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < renew_fraction < 1:
            raise ConfigurationError(
                f"{name}: renew_fraction must be between 0 and 1, got {renew_fraction!r}"
            )
        for label, value in (
            ("reissue_before_s", reissue_before_s),
            ("revoke_grace_s", revoke_grace_s),
        ):
            if value is not None and value < 0:
                raise ConfigurationError(f"{name}: {label} must be >= 0, got {value!r}")
        if settle_s < 0 or retry_initial_s <= 0 or retry_max_s < retry_initial_s:
            raise ConfigurationError(
                f"{name}: need settle_s >= 0 and 0 < retry_initial_s <= retry_max_s"
            )
        self.api = api
        self.name = name
        self.renew_fraction = float(renew_fraction)
        self.reissue_before_s = reissue_before_s
        self.revoke_grace_s = revoke_grace_s
        self.settle_s = float(settle_s)
        self.retry_initial_s = float(retry_initial_s)
        self.retry_max_s = float(retry_max_s)
        self.on_change = on_change
        self._clock = clock
        self._states: dict[str, _State] = {conn_id: _State() for conn_id in conn_ids}
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._closed = False
        self._counters: dict[str, int] = dict.fromkeys(
            ("issued", "renewed", "reissued", "revoked", "failures"), 0
        )
        self._counters_lock = threading.Lock()
        _managers.add(self)

    # -- the hot path -----------------------------------------------------------------------------

    def credentials(self, conn_id: str) -> Lease:
        """The current lease of ``conn_id``; issued now when there is none or it expired.

        Raises:
            KeyError: ``conn_id`` is not managed here.
            BackendUnavailable, BackendPermissionDenied: issuing failed (from the api).
            ConfigurationError: the manager is closed.
        """
        state = self._states[conn_id]
        lease = state.current
        if lease is not None and lease.expires_at > self._clock():
            return lease
        if self._closed:
            raise ConfigurationError(f"{self.name}: the lease manager is closed")
        with state.lock:
            if self._closed:  # close() ran since the check above: nothing would revoke a new lease
                raise ConfigurationError(f"{self.name}: the lease manager is closed")
            lease = state.current
            if lease is None or lease.expires_at <= self._clock():
                lease = self._issue(conn_id, state, first=lease is None)
        self._ensure_thread()
        return lease

    def stats(self) -> dict[str, int]:
        """Counts: ``issued`` (all issues), ``renewed``, ``reissued`` (replacements of a current
        lease), ``revoked``, ``failures`` (failed background calls)."""
        with self._counters_lock:
            return dict(self._counters)

    def _count(self, name: str) -> None:
        # lookups of different conn_ids and the thread count at once (each under its own lock)
        with self._counters_lock:
            self._counters[name] += 1

    def leases(self) -> list[Lease]:
        """Every lease held now (current and retiring)."""
        held: list[Lease] = []
        for state in self._states.values():
            if state.current is not None:
                held.append(state.current)
            held.extend(state.retiring)
        return held

    # -- the work ---------------------------------------------------------------------------------

    def _margin(self, lease: Lease) -> float:
        if self.reissue_before_s is not None:
            return self.reissue_before_s
        return min(300.0, max(1.0, lease.ttl_s / 4))

    def _issue(self, conn_id: str, state: _State, *, first: bool) -> Lease:
        """Issue new credentials and make them current (state lock held)."""
        issued = self.api.issue(conn_id)
        masking.register(issued.password)
        now = self._clock()
        lease = Lease(
            conn_id=conn_id,
            lease_id=issued.lease_id,
            login=issued.login,
            password=issued.password,
            ttl_s=issued.duration_s,
            renewable=issued.renewable,
            issued_at=now,
            granted_at=now,
            expires_at=now + issued.duration_s if issued.duration_s > 0 else math.inf,
        )
        old = state.current
        state.current = lease
        state.failures = 0
        state.retry_at = 0.0
        self._count("issued")
        if old is not None:
            self._count("reissued")
            grace_end = max(now, old.expires_at - 0.5)
            if self.revoke_grace_s is not None:
                grace_end = min(grace_end, now + self.revoke_grace_s)
            old.revoke_at = grace_end
            state.retiring.append(old)
            state.settle_at = now + self.settle_s
            log.info(
                "%s: new credentials for %r (lease %s); lease %s is revoked in %.1f s",
                self.name,
                conn_id,
                short_lease_id(lease.lease_id),
                short_lease_id(old.lease_id),
                grace_end - now,
            )
        else:
            log.debug(
                "%s: credentials issued for %r (lease %s)",
                self.name,
                conn_id,
                short_lease_id(lease.lease_id),
            )
        self._wake.set()
        if not first and self.on_change is not None:
            self._notify(conn_id)
        return lease

    def _notify(self, conn_id: str) -> None:
        assert self.on_change is not None
        try:
            self.on_change(conn_id)
        except Exception as exc:  # a listener must not stop the lease work
            log.warning("%s: change listener failed for %r: %s", self.name, conn_id, _why(exc))

    def _renew(self, lease: Lease) -> None:
        answer = self.api.renew(lease.lease_id, lease.ttl_s)
        now = self._clock()
        if answer.duration_s <= 0:  # the engine no longer knows the lease: re-issue now
            log.warning(
                "%s: lease %s of %r is gone (expired or revoked); issuing new credentials",
                self.name,
                short_lease_id(lease.lease_id),
                lease.conn_id,
            )
            lease.capped = True
            lease.expires_at = now
            return
        lease.granted_at = now
        lease.expires_at = now + answer.duration_s
        lease.renewable = answer.renewable
        lease.capped = answer.duration_s < lease.ttl_s - 1.0
        lease.renewals += 1
        self._count("renewed")
        log.debug(
            "%s: lease %s of %r renewed for %.0f s%s",
            self.name,
            short_lease_id(lease.lease_id),
            lease.conn_id,
            answer.duration_s,
            " (max_ttl reached)" if lease.capped else "",
        )

    def _next_action(self, lease: Lease) -> tuple[str, float]:
        """("reissue" | "renew", when) for a current lease."""
        reissue_at = lease.expires_at - self._margin(lease)
        if not lease.renewable or lease.capped:
            return "reissue", reissue_at
        renew_at = lease.granted_at + self.renew_fraction * (lease.expires_at - lease.granted_at)
        if renew_at < reissue_at:
            return "renew", renew_at
        return "reissue", reissue_at

    def tick(self) -> float:
        """Do every piece of work that is due now; return the clock time of the next one."""
        next_due = math.inf
        for conn_id, state in self._states.items():
            with state.lock:
                next_due = min(next_due, self._tick_one(conn_id, state))
        return next_due

    def _tick_one(self, conn_id: str, state: _State) -> float:
        now = self._clock()
        if now >= state.settle_at:
            state.settle_at = math.inf
            if self.on_change is not None:
                self._notify(conn_id)
        for old in list(state.retiring):
            if now >= old.revoke_at:
                if self._revoke(old):
                    state.retiring.remove(old)
                else:
                    old.revoke_at = now + self._backoff(1)
        lease = state.current
        due = math.inf
        if lease is not None:
            action, due = self._next_action(lease)
            due = max(due, state.retry_at)
            if now >= due:
                self._act(conn_id, state, lease, action, now)
                action, due = self._next_action(state.current or lease)
                due = max(due, state.retry_at)
        # computed last: the action may have retired a lease or scheduled a settle notification
        revoke_due = min((old.revoke_at for old in state.retiring), default=math.inf)
        return min(due, state.settle_at, revoke_due)

    def _act(self, conn_id: str, state: _State, lease: Lease, action: str, now: float) -> None:
        try:
            if action == "renew":
                self._renew(lease)
            else:
                self._issue(conn_id, state, first=False)
        except HooklineError as exc:
            state.failures += 1
            self._count("failures")
            state.retry_at = now + self._backoff(state.failures)
            log.warning(
                "%s: %s of the lease of %r failed (%s); retrying in %.1f s",
                self.name,
                "renewal" if action == "renew" else "re-issue",
                conn_id,
                _why(exc),
                state.retry_at - now,
            )
        else:
            state.failures = 0
            state.retry_at = 0.0

    def _backoff(self, failures: int) -> float:
        base: float = min(self.retry_max_s, self.retry_initial_s * 2.0 ** (failures - 1))
        return base * (1 + 0.25 * random.random())  # noqa: S311 - jitter, not a secret

    def _revoke(self, lease: Lease) -> bool:
        try:
            self.api.revoke(lease.lease_id)
        except HooklineError as exc:
            self._count("failures")
            log.warning(
                "%s: revoking lease %s of %r failed (%s)",
                self.name,
                short_lease_id(lease.lease_id),
                lease.conn_id,
                _why(exc),
            )
            return False
        self._count("revoked")
        log.debug(
            "%s: lease %s of %r revoked", self.name, short_lease_id(lease.lease_id), lease.conn_id
        )
        return True

    # -- the thread -------------------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is not None or self._closed:
            return
        with self._thread_lock:
            if self._thread is None and not self._closed:
                thread = threading.Thread(
                    target=self._run, name=f"hookline-{self.name}-leases", daemon=True
                )
                self._thread = thread
                thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                next_due = self.tick()
            except Exception as exc:  # never let the thread die
                log.error("%s: lease thread error: %s", self.name, _why(exc))
                next_due = self._clock() + self.retry_initial_s
            self._wake.clear()
            wait_s = min(max(next_due - self._clock(), 0.01), 60.0)
            self._wake.wait(wait_s)

    def close(self, *, revoke: bool = True) -> None:
        """Stop the thread and (with ``revoke``) revoke every lease held. Safe to call twice."""
        self._closed = True
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        for state in self._states.values():
            with state.lock:
                held = [*state.retiring, *([state.current] if state.current else [])]
                state.current = None
                state.retiring = []
            if revoke:
                for lease in held:
                    self._revoke(lease)

    def _after_fork_in_child(self) -> None:
        # The parent owns its leases (and revokes them): the child forgets them without revoking
        # and issues its own on first use.
        self._thread = None
        self._thread_lock = threading.Lock()
        self._counters_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        for conn_id in list(self._states):
            self._states[conn_id] = _State()


def _why(exc: BaseException) -> str:
    """The error's type and hookline's message, masked (never the SDK's message text)."""
    if isinstance(exc, HooklineError):
        return f"{type(exc).__name__}: {masking.redact(str(exc))}"
    return type(exc).__name__


def _after_fork() -> None:
    for manager in list(_managers):
        manager._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
