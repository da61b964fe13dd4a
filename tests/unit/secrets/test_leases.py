"""Unit tests of the lease manager: renew, re-issue before max_ttl, grace, revoke, failures.

An in-memory engine (:class:`FakeEngine`) stands in for Vault's database engine: it issues leases with
a TTL and a max TTL on a fake clock, caps renewals at the max TTL and forgets revoked or expired
leases. The real engine (OpenBao + PostgreSQL) is exercised in tests/integration/test_vault_dynamic.py.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest

from hookline.exceptions import BackendPermissionDenied, BackendUnavailable, ConfigurationError
from hookline.secrets.leases import IssuedLease, LeaseManager, short_lease_id

CANARY = "c4n4ry-S3cret!"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeEngine:
    """Leases with ``ttl`` and ``max_ttl`` on ``clock``; ``fail`` scripts errors per call kind."""

    def __init__(self, clock: Clock, ttl: float = 15, max_ttl: float = 25) -> None:
        self.clock = clock
        self.ttl = ttl
        self.max_ttl = max_ttl
        self.leases: dict[str, tuple[float, float]] = {}  # id -> (issued_at, expires_at)
        self.revoked: list[str] = []
        self.renewals: list[str] = []
        self.fail: dict[str, list[Exception]] = {"issue": [], "renew": [], "revoke": []}
        self.count = 0

    def _maybe_fail(self, kind: str) -> None:
        if self.fail[kind]:
            raise self.fail[kind].pop(0)

    def issue(self, conn_id: str) -> IssuedLease:
        self._maybe_fail("issue")
        self.count += 1
        lease_id = f"database/creds/{conn_id}/lease{self.count:04d}"
        now = self.clock()
        self.leases[lease_id] = (now, now + self.ttl)
        return IssuedLease(
            lease_id=lease_id,
            duration_s=self.ttl,
            renewable=True,
            login=f"v-user-{self.count}",
            password=f"{CANARY}-{self.count}",
        )

    def renew(self, lease_id: str, increment_s: float) -> IssuedLease:
        self._maybe_fail("renew")
        now = self.clock()
        known = self.leases.get(lease_id)
        if known is None or known[1] <= now:
            return IssuedLease(lease_id=lease_id, duration_s=0, renewable=False)
        issued_at = known[0]
        granted = min(increment_s, issued_at + self.max_ttl - now)
        self.leases[lease_id] = (issued_at, now + granted)
        self.renewals.append(lease_id)
        return IssuedLease(lease_id=lease_id, duration_s=granted, renewable=True)

    def revoke(self, lease_id: str) -> None:
        self._maybe_fail("revoke")
        self.leases.pop(lease_id, None)
        self.revoked.append(lease_id)


def _manager(engine: FakeEngine, clock: Clock, **kwargs: object) -> LeaseManager:
    changes: list[str] = []
    manager = LeaseManager(engine, ["wh"], on_change=changes.append, clock=clock, **kwargs)  # type: ignore[arg-type]
    manager._ensure_thread = lambda: None  # type: ignore[method-assign] # driven by tick()
    manager.changes = changes  # type: ignore[attr-defined]
    return manager


def _run_until(manager: LeaseManager, clock: Clock, end: float) -> None:
    """Advance the fake clock from due time to due time, ticking, until ``end``."""
    while True:
        due = manager.tick()
        if due > end:
            clock.now = end
            manager.tick()
            return
        clock.now = max(clock.now, due)


def test_renews_at_two_thirds_then_reissues_before_max_ttl_and_revokes_after_grace() -> None:
    clock = Clock()
    engine = FakeEngine(clock)
    manager = _manager(engine, clock)
    first = manager.credentials("wh")
    assert first.login == "v-user-1"
    assert manager.tick() == pytest.approx(1010.0)  # 2/3 of 15 s

    _run_until(manager, clock, 1010.0)
    assert engine.renewals == [first.lease_id]
    assert first.expires_at == pytest.approx(1025.0)

    _run_until(manager, clock, 1022.0)  # 25 s max: a capped renewal at 20, re-issue at 25 - 3.75
    second = manager.credentials("wh")
    assert second.login == "v-user-2"
    assert second.issued_at == pytest.approx(1021.25)
    assert first.capped
    assert manager.changes == ["wh"]  # type: ignore[attr-defined]
    assert engine.revoked == []  # the old user lives on during the grace period

    _run_until(manager, clock, 1025.0)  # revoked just before the old lease ends; settle re-notified
    assert engine.revoked == [first.lease_id]
    assert manager.changes == ["wh", "wh"]  # type: ignore[attr-defined]
    stats = manager.stats()
    assert (stats["issued"], stats["reissued"], stats["revoked"], stats["failures"]) == (2, 1, 1, 0)
    assert stats["renewed"] == 2


def test_revoke_grace_shortens_the_old_lease_life() -> None:
    clock = Clock()
    engine = FakeEngine(clock)
    manager = _manager(engine, clock, revoke_grace_s=0.5)
    first = manager.credentials("wh")
    _run_until(manager, clock, 1021.5)
    assert manager.credentials("wh").lease_id != first.lease_id
    _run_until(manager, clock, 1021.8)
    assert engine.revoked == [first.lease_id]


def test_a_lease_that_cannot_be_renewed_is_reissued_before_its_end() -> None:
    clock = Clock()
    engine = FakeEngine(clock, ttl=8, max_ttl=8)
    manager = _manager(engine, clock, reissue_before_s=2.0)
    first = manager.credentials("wh")
    _run_until(manager, clock, 1006.5)
    assert manager.credentials("wh").lease_id != first.lease_id


def test_renewal_failures_are_retried_with_backoff_and_logged_without_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    engine = FakeEngine(clock)
    manager = _manager(engine, clock, retry_initial_s=1.0)
    lease = manager.credentials("wh")
    engine.fail["renew"] = [
        BackendUnavailable(f"vault unreachable (server echoed {lease.password})", backend="x"),
        BackendUnavailable("vault unreachable", backend="x"),
    ]
    with caplog.at_level(logging.DEBUG, logger="hookline"):
        clock.now = 1010.0
        next_due = manager.tick()
        assert 1011.0 <= next_due <= 1011.25  # first retry after 1 s (+ up to 25 % jitter)
        clock.now = next_due
        next_due = manager.tick()
        assert 2.0 <= next_due - clock.now <= 2.5  # then 2 s (+ up to 25 % jitter)
        clock.now = next_due
        manager.tick()
    assert engine.renewals == [lease.lease_id]
    assert manager.stats()["failures"] == 2
    assert manager.credentials("wh") is lease  # the current credentials stayed in use
    assert "renewal of the lease of 'wh' failed (BackendUnavailable" in caplog.text
    assert CANARY not in caplog.text
    assert lease.lease_id not in caplog.text  # lease ids are logged shortened


def test_a_lease_the_engine_forgot_is_reissued_at_once() -> None:
    clock = Clock()
    engine = FakeEngine(clock)
    manager = _manager(engine, clock)
    first = manager.credentials("wh")
    engine.leases.clear()  # revoked behind our back
    clock.now = 1010.0
    manager.tick()
    manager.tick()
    assert manager.credentials("wh").lease_id != first.lease_id
    assert manager.changes == ["wh"]  # type: ignore[attr-defined]


def test_an_expired_lease_is_reissued_by_the_lookup_or_the_typed_error_raised() -> None:
    clock = Clock()
    engine = FakeEngine(clock)
    manager = _manager(engine, clock)
    first = manager.credentials("wh")
    clock.now = 1016.0  # no thread ran: the lease expired
    engine.fail["issue"] = [BackendPermissionDenied("vault refused access", backend="x")]
    with pytest.raises(BackendPermissionDenied, match="refused access") as info:
        manager.credentials("wh")
    assert CANARY not in str(info.value)
    second = manager.credentials("wh")
    assert second.lease_id != first.lease_id


def test_close_revokes_every_lease_and_refuses_lookups() -> None:
    clock = Clock()
    engine = FakeEngine(clock)
    manager = _manager(engine, clock, revoke_grace_s=100)
    first = manager.credentials("wh")
    _run_until(manager, clock, 1022.0)
    second = manager.credentials("wh")
    manager.close()
    assert sorted(engine.revoked) == sorted([first.lease_id, second.lease_id])
    assert manager.leases() == []
    manager.close()  # twice is fine
    clock.now = 2000.0
    with pytest.raises(ConfigurationError, match="closed"):
        manager.credentials("wh")


def test_failed_revocations_are_retried() -> None:
    clock = Clock()
    engine = FakeEngine(clock)
    manager = _manager(engine, clock, revoke_grace_s=0, retry_initial_s=1.0)
    first = manager.credentials("wh")
    engine.fail["revoke"] = [BackendUnavailable("down", backend="x")]
    _run_until(manager, clock, 1021.5)
    assert engine.revoked == []
    _run_until(manager, clock, 1023.0)
    assert engine.revoked == [first.lease_id]


def test_repr_of_a_lease_holds_no_password() -> None:
    clock = Clock()
    manager = _manager(FakeEngine(clock), clock)
    lease = manager.credentials("wh")
    assert CANARY not in repr(lease)
    assert CANARY not in repr(manager.leases())
    assert short_lease_id(lease.lease_id) == "database/creds/wh/…0001"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"renew_fraction": 1.0}, "renew_fraction must be between 0 and 1"),
        ({"reissue_before_s": -1}, "reissue_before_s must be >= 0"),
        ({"revoke_grace_s": -1}, "revoke_grace_s must be >= 0"),
        ({"retry_initial_s": 0}, "retry_initial_s"),
    ],
)
def test_bad_settings_are_configuration_errors(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        LeaseManager(FakeEngine(Clock()), ["wh"], **kwargs)  # type: ignore[arg-type]


def test_the_background_thread_renews_and_reissues_on_the_real_clock() -> None:
    """Short leases (1.5 s, max 3 s) on the monotonic clock: the thread keeps them current."""

    class RealClock(Clock):
        def __call__(self) -> float:
            return time.monotonic()

    clock = RealClock()
    engine = FakeEngine(clock, ttl=1.5, max_ttl=3.0)
    changed = threading.Event()
    manager = LeaseManager(
        engine,  # type: ignore[arg-type]
        ["wh"],
        reissue_before_s=0.3,
        settle_s=0.05,
        on_change=lambda conn_id: changed.set(),
        clock=clock,
    )
    try:
        first = manager.credentials("wh")
        assert changed.wait(5.0)
        assert engine.renewals
        assert engine.renewals[0] == first.lease_id
        assert manager.credentials("wh").lease_id != first.lease_id
    finally:
        manager.close()
    assert engine.leases == {}  # everything revoked


def test_the_tick_that_reissues_schedules_the_settle_and_the_revocation() -> None:
    """The thread sleeps until the returned time: it must include the work the re-issue created."""
    clock = Clock()
    engine = FakeEngine(clock, ttl=8, max_ttl=8)
    manager = _manager(engine, clock, reissue_before_s=2.0, settle_s=0.25)
    manager.credentials("wh")
    clock.now = 1006.0
    assert manager.tick() == pytest.approx(1006.0)  # a capped renewal: re-issue due now
    assert manager.tick() == pytest.approx(1006.25)  # the settle notification
    clock.now = 1006.25
    assert manager.tick() == pytest.approx(1007.5)  # the old lease's revocation


class _CloseFirst:
    """A state lock that lets ``close()`` run to the end between a lookup's "is it closed?"
    check and its taking of the lock (the interleaving of two threads, made deterministic)."""

    def __init__(self, manager: LeaseManager) -> None:
        self.manager = manager
        self.real = threading.Lock()
        self.raced = False

    def __enter__(self) -> None:
        if not self.raced:
            self.raced = True
            self.manager.close()
        self.real.acquire()

    def __exit__(self, *exc: object) -> None:
        self.real.release()


def test_a_lookup_racing_with_close_issues_no_lease_nobody_revokes() -> None:
    clock = Clock()
    engine = FakeEngine(clock)
    manager = _manager(engine, clock)
    manager._states["wh"].lock = _CloseFirst(manager)  # type: ignore[assignment]
    with pytest.raises(ConfigurationError, match="closed"):
        manager.credentials("wh")
    alive = [lease for lease in engine.leases if lease not in engine.revoked]
    assert alive == [], "a lease issued after close() is never revoked"
    assert manager.leases() == []


def test_a_background_tick_racing_with_close_issues_no_lease_nobody_revokes() -> None:
    clock = Clock()
    engine = FakeEngine(clock, ttl=15, max_ttl=15)
    manager = _manager(engine, clock)
    manager.credentials("wh")
    clock.now += 14.5  # the lease cannot be renewed past max_ttl: the tick re-issues
    manager._states["wh"].lock = _CloseFirst(manager)  # type: ignore[assignment]
    manager.tick()
    alive = [lease for lease in engine.leases if lease not in engine.revoked]
    assert alive == [], "a lease issued after close() is never revoked"


class _SlowCounts(dict[str, int]):
    """Counters whose read yields to other threads, so unlocked ``+=`` loses updates."""

    def __getitem__(self, key: str) -> int:
        value = super().__getitem__(key)
        time.sleep(0.0002)
        return value


def test_counters_lose_no_update_under_concurrency() -> None:
    """Lookups of different connections and the lease thread count concurrently (each under its
    own connection's lock): ``stats()`` must count every one."""
    clock = Clock()
    engine = FakeEngine(clock)
    manager = LeaseManager(engine, ["a", "b", "c", "d"], clock=clock)
    manager._ensure_thread = lambda: None  # type: ignore[method-assign]
    manager._counters = _SlowCounts(manager._counters)

    def revoke_many(conn_id: str) -> None:
        for _ in range(50):
            lease = manager.credentials(conn_id)
            manager._revoke(lease)

    threads = [threading.Thread(target=revoke_many, args=(c,)) for c in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert manager.stats()["revoked"] == 200
    manager.close(revoke=False)
