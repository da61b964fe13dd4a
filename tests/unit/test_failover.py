"""Circuit breakers and failover groups (hookline.failover), with a fake clock and fake members."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from hookline import failover
from hookline.events import BreakerChanged, EventBus, FailoverSwitched
from hookline.exceptions import (
    AuthenticationFailed,
    BackendUnavailable,
    ConfigurationError,
    HookConnectionError,
    HookError,
)
from hookline.failover import BreakerSettings, CircuitBreaker, FailoverGroup
from hookline.testing import capture_events


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _fresh_breakers() -> Iterator[None]:
    failover.reset_breakers()
    yield
    failover.reset_breakers()


def test_breaker_opens_after_threshold_and_half_opens_after_timeout() -> None:
    """Closed counts consecutive failures, opens at the threshold, refuses calls while open, lets
    one trial through after reset_timeout_s, and closes on the trial's success."""
    clock = Clock()
    bus = EventBus()
    events: list[object] = []
    bus.subscribe(events.append)
    breaker = CircuitBreaker(
        "vault#1", BreakerSettings(failure_threshold=3, reset_timeout_s=5), bus=bus, clock=clock
    )
    assert breaker.allow()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "closed"
    assert breaker.failures == 2
    breaker.record_failure()
    assert breaker.state == "open"
    assert not breaker.allow()
    clock.now += 4.9
    assert not breaker.allow()
    assert not breaker.probe_due()
    clock.now += 0.2
    assert breaker.probe_due()
    assert breaker.allow()  # the trial call
    assert breaker.state == "half_open"
    assert not breaker.allow()  # only one trial at a time
    breaker.record_success()
    assert breaker.state == "closed"
    assert [e.state for e in events if isinstance(e, BreakerChanged)] == [
        "open",
        "half_open",
        "closed",
    ]
    assert breaker.open_count == 1


def test_breaker_success_resets_the_count_and_half_open_failure_reopens() -> None:
    """A success while closed resets the count; a failed trial opens the breaker again."""
    clock = Clock()
    breaker = CircuitBreaker(
        "b", BreakerSettings(failure_threshold=2, reset_timeout_s=1), clock=clock
    )
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"
    breaker.record_failure()
    assert breaker.state == "open"
    clock.now += 1
    assert breaker.begin_probe()
    breaker.record_failure()
    assert breaker.state == "open"
    assert breaker.open_count == 2
    assert not breaker.allow()


def test_breaker_success_of_a_call_started_before_opening_keeps_it_open() -> None:
    """An in-flight call that succeeds after the breaker opened says nothing about now."""
    breaker = CircuitBreaker("b", BreakerSettings(failure_threshold=1))
    breaker.record_failure()
    breaker.record_success()
    assert breaker.state == "open"
    breaker.reset()
    assert breaker.state == "closed"
    breaker.force_open()
    assert breaker.state == "open"


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"failure_threshold": 0}, "failure_threshold must be an integer >= 1"),
        ({"reset_timeout_s": "soon"}, "reset_timeout_s must be a number"),
        ({"probe_interval_s": 0}, "probe_interval_s must be a number > 0"),
        ({"colour": "red"}, "unknown breaker setting(s) colour"),
    ],
)
def test_breaker_settings_reject_bad_values(values: dict[str, object], fragment: str) -> None:
    """Bad breaker settings are a ConfigurationError naming the setting."""
    with pytest.raises(ConfigurationError) as info:
        BreakerSettings.from_mapping(values, where="group")
    assert fragment in str(info.value)


def test_breaker_settings_accept_text_numbers() -> None:
    """Settings from the environment arrive as text and are converted."""
    settings = BreakerSettings.from_mapping({"failure_threshold": "2", "reset_timeout_s": "0.5"})
    assert settings == BreakerSettings(failure_threshold=2, reset_timeout_s=0.5)


class Member:
    def __init__(self, name: str) -> None:
        self.name = name
        self.down = False
        self.calls = 0
        self.error: Exception | None = None

    def __call__(self) -> str:
        self.calls += 1
        if self.down:
            raise HookConnectionError(f"{self.name} refused the connection")
        if self.error is not None:
            raise self.error
        return self.name


def _group(*members: Member, **kwargs: object) -> FailoverGroup[Member]:
    settings = kwargs.pop("settings", BreakerSettings(failure_threshold=2, reset_timeout_s=60))
    return FailoverGroup("g", [(m.name, m) for m in members], settings=settings, **kwargs)  # type: ignore[arg-type]


def test_group_fails_over_within_one_call_and_emits_failover_switched() -> None:
    """An outage on the first member moves the same call to the next one; the switch is an event."""
    a, b = Member("a"), Member("b")
    group = _group(a, b)
    assert group.call(lambda m: m()) == "a"
    a.down = True
    with capture_events() as events:
        assert group.call(lambda m: m()) == "b"
    switched = [e for e in events if isinstance(e, FailoverSwitched)]
    assert len(switched) == 1
    assert (switched[0].group, switched[0].from_member, switched[0].to_member) == ("g", "a", "b")
    assert "unavailable: a" in switched[0].reason
    assert group.current == "b"


def test_group_skips_a_member_whose_breaker_opened() -> None:
    """After failure_threshold outages the member is no longer asked at all."""
    a, b = Member("a"), Member("b")
    group = _group(a, b)
    a.down = True
    for _ in range(5):
        assert group.call(lambda m: m()) == "b"
    assert a.calls == 2  # the threshold, then never again while open
    assert group.members[0].breaker.state == "open"
    assert [m.name for m in group.ordered()] == ["b", "a"]


def test_group_does_not_repeat_a_non_repeatable_call() -> None:
    """A call that may have been carried out is raised after the outage is counted."""
    a, b = Member("a"), Member("b")
    group = _group(a, b)
    a.down = True
    with pytest.raises(HookConnectionError):
        group.call(lambda m: m(), repeatable=False)
    assert b.calls == 0
    assert group.members[0].breaker.failures == 1


@pytest.mark.parametrize(
    "error",
    [AuthenticationFailed("bad password"), HookError("syntax error at or near 'selct'")],
    ids=["auth", "bad-query"],
)
def test_group_never_fails_over_on_an_answer(error: Exception) -> None:
    """Rejected credentials or a bad query are answers: raised, not retried elsewhere, and the
    member counts as up."""
    a, b = Member("a"), Member("b")
    a.error = error
    group = _group(a, b)
    with pytest.raises(type(error)):
        group.call(lambda m: m())
    assert b.calls == 0
    assert group.members[0].breaker.failures == 0


def test_group_with_every_member_down_raises_a_typed_error_listing_them() -> None:
    """When nobody answers, the error says what was tried and the limits in force."""
    a, b = Member("a"), Member("b")
    a.down = b.down = True
    group = _group(a, b)
    with pytest.raises(BackendUnavailable) as info:
        group.call(lambda m: m(), unavailable=BackendUnavailable)
    message = str(info.value)
    assert "tried a, b" in message
    assert "reset_timeout_s=60" in message
    assert isinstance(info.value.__cause__, HookConnectionError)


def test_group_orders_by_latency_bucket_then_configured_order() -> None:
    """Members within one latency bucket keep configured order; a much slower one goes last."""
    a, b, c = Member("a"), Member("b"), Member("c")
    group = _group(a, b, c, settings=BreakerSettings(latency_bucket_s=0.05))
    group.members[0].observe(0.30)
    group.members[1].observe(0.01)
    assert [m.name for m in group.ordered()] == ["a", "b", "c"]  # warm-up calls only
    for member, latency in zip(group.members, (0.30, 0.01, 0.02), strict=True):
        member.observe(latency)
    assert [m.name for m in group.ordered()] == ["a", "b", "c"]  # c not measured yet
    group.members[2].observe(0.02)
    assert [m.name for m in group.ordered()] == ["b", "c", "a"]


def test_group_rejects_no_members_and_duplicates() -> None:
    """A group needs members with distinct names."""
    with pytest.raises(ConfigurationError, match="at least one member"):
        FailoverGroup("g", [])
    with pytest.raises(ConfigurationError, match="listed twice: a"):
        FailoverGroup("g", [("a", 1), ("a", 2)])


def test_background_probe_brings_a_member_back_off_the_callers_path() -> None:
    """With a probe, callers never try an open member; the prober thread closes its breaker when
    it answers again, and traffic returns to it (it is first in configured order)."""
    a, b = Member("a"), Member("b")
    probes: list[str] = []

    def probe(member: Member) -> None:
        probes.append(member.name)
        if member.down:
            raise HookConnectionError("still down")

    settings = BreakerSettings(failure_threshold=1, reset_timeout_s=0.05, probe_interval_s=0.02)
    group = _group(a, b, settings=settings, probe=probe)
    try:
        a.down = True
        assert group.call(lambda m: m()) == "b"
        calls_while_down = a.calls
        deadline = time.monotonic() + 2
        while len(probes) < 2 and time.monotonic() < deadline:
            assert group.call(lambda m: m()) == "b"
            time.sleep(0.01)
        assert a.calls == calls_while_down  # probed, never called by a caller
        a.down = False
        deadline = time.monotonic() + 5
        while group.members[0].breaker.state != "closed" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert group.members[0].breaker.state == "closed"
        assert group.call(lambda m: m()) == "a"
    finally:
        group.close()
    assert set(probes) == {"a"}


def test_shared_breakers_come_from_the_process_registry() -> None:
    """Groups with shared_breakers use breaker_for(name): the health checker sees the same one."""
    group = FailoverGroup("g", [("db_us", 1), ("db_eu", 2)], shared_breakers=True)
    assert group.members[0].breaker is failover.breaker_for("db_us")
    assert failover.find_breaker("db_eu") is group.members[1].breaker
    assert failover.find_breaker("nope") is None
    assert set(failover.breakers()) == {"db_us", "db_eu"}


def test_breaker_is_thread_safe_under_concurrent_failures() -> None:
    """Many threads failing at once open the breaker exactly once."""
    breaker = CircuitBreaker("b", BreakerSettings(failure_threshold=5))
    barrier = threading.Barrier(8)

    def fail() -> None:
        barrier.wait()
        for _ in range(100):
            breaker.record_failure()

    threads = [threading.Thread(target=fail) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert breaker.state == "open"
    assert breaker.open_count == 1
