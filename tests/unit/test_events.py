"""Events: what the resolver emits, listener isolation, no secret in any event, and the testing helpers."""

from __future__ import annotations

import asyncio
import dataclasses
import threading

import pytest

import hookline
from hookline import events
from hookline.events import (
    CacheHit,
    CacheMiss,
    ConnectionWritten,
    Event,
    EventBus,
    LookupDone,
    StaleServed,
)
from hookline.exceptions import BackendUnavailable, ConnectionNotFound, InvalidConnection
from hookline.resolve.cache import CachedResolver
from hookline.resolve.chain import SecretsChain
from hookline.secrets.env import EnvBackend
from hookline.testing import InMemoryBackend, capture_events, override_connections

CANARY = "canary-evt-5f0c1d"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _resolver(
    bus: EventBus, clock: FakeClock | None = None
) -> tuple[CachedResolver, InMemoryBackend]:
    backend = InMemoryBackend({"wh": f"postgres://u:{CANARY}@db/app", "bad": "not a uri"})
    chain = SecretsChain([EnvBackend(environ={}), backend], bus=bus)
    kwargs = {"clock": clock} if clock is not None else {}
    return CachedResolver(chain, bus=bus, rng=lambda: 0.0, **kwargs), backend


def test_miss_then_hits_emit_in_order_and_carry_no_secret() -> None:
    """A miss emits CacheMiss then LookupDone (with each backend's outcome); each hit one CacheHit."""
    bus = EventBus()
    cached, _ = _resolver(bus)
    with capture_events(bus) as seen:
        cached.get_connection("wh")
        cached.get_connection("wh")
        cached.get_connection("wh")
    assert [type(e) for e in seen] == [CacheMiss, LookupDone, CacheHit, CacheHit]
    done = seen[1]
    assert isinstance(done, LookupDone)
    assert done.outcome == "hit"
    assert done.source == "memory"
    assert done.backends == (("env", "absent"), ("memory", "hit"))
    assert all(CANARY not in repr(event) for event in seen)
    assert all(dataclasses.is_dataclass(event) for event in seen)


def test_negative_hit_and_absent_lookup() -> None:
    bus = EventBus()
    cached, _ = _resolver(bus)
    with capture_events(bus) as seen:
        for _ in range(2):
            with pytest.raises(ConnectionNotFound):
                cached.get_connection("ghost")
    assert [type(e) for e in seen] == [CacheMiss, LookupDone, CacheHit]
    assert isinstance(seen[1], LookupDone)
    assert seen[1].outcome == "absent"
    assert isinstance(seen[2], CacheHit)
    assert seen[2].negative


def test_error_lookup_and_writes_are_events() -> None:
    """A stored value that cannot be read ends in LookupDone(outcome='error'); writes and deletes
    through the chain emit ConnectionWritten."""
    bus = EventBus()
    cached, _ = _resolver(bus)
    with capture_events(bus) as seen:
        with pytest.raises(InvalidConnection):
            cached.get_connection("bad")
        cached.set_connection(hookline.Connection(conn_id="new", conn_type="http", host="h"))
        assert cached.delete_connection("new")
    kinds = [(type(e).__name__, getattr(e, "outcome", getattr(e, "action", ""))) for e in seen]
    assert kinds == [
        ("CacheMiss", ""),
        ("LookupDone", "error"),
        ("ConnectionWritten", "set"),
        ("ConnectionWritten", "delete"),
    ]


def test_stale_served_is_an_event() -> None:
    bus = EventBus()
    clock = FakeClock()
    cached, backend = _resolver(bus, clock)
    cached.get_connection("wh")
    backend.fail_with = BackendUnavailable("down", backend="memory")
    clock.now += cached.settings.ttl_seconds + 1
    with capture_events(bus) as seen:
        cached.get_connection("wh")
    stale = [e for e in seen if isinstance(e, StaleServed)]
    assert len(stale) == 1
    assert stale[0].source == "memory"
    assert stale[0].down == ("memory",)
    assert stale[0].stale_for_s == pytest.approx(1.0)


def test_a_failing_listener_never_breaks_a_lookup(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    cached, _ = _resolver(bus)

    def broken(event: Event) -> None:
        raise RuntimeError(CANARY)

    bus.subscribe(broken)
    assert cached.get_connection("wh").host == "db"
    assert "event listener" in caplog.text
    assert CANARY not in caplog.text


def test_unsubscribe_makes_the_bus_idle_again() -> None:
    bus = EventBus()
    assert not bus.active
    remove = bus.subscribe(lambda event: None)
    assert bus.active
    remove()
    assert not bus.active
    assert bus.listeners == ()


def test_capture_events_uses_the_process_bus_by_default() -> None:
    with override_connections({"svc": "http://h"}), capture_events() as seen:
        chain = hookline.resolve.default.default_chain()
        chain.set_connection(hookline.Connection(conn_id="x", conn_type="http", host="h"))
    assert [type(e) for e in seen] == [ConnectionWritten]
    assert not events.default_bus.active


def test_override_connections_is_scoped_to_its_thread() -> None:
    """An override in one thread is invisible to another (a ContextVar, not a process global)."""
    inside = threading.Event()
    release = threading.Event()
    seen_by_other: list[object] = []

    def hold_override() -> None:
        with override_connections({"scoped_only": "http://inside"}):
            inside.set()
            release.wait(5)

    holder = threading.Thread(target=hold_override)
    holder.start()
    try:
        assert inside.wait(5)
        seen_by_other.append(hookline.find_connection("scoped_only"))
    finally:
        release.set()
        holder.join(5)
    assert seen_by_other == [None]


def test_override_connections_is_scoped_to_its_asyncio_task() -> None:
    async def main() -> tuple[str | None, object]:
        started = asyncio.Event()
        done = asyncio.Event()

        async def overriding() -> str | None:
            with override_connections({"task_only": "http://task"}):
                started.set()
                await done.wait()
                return hookline.get_connection("task_only").host

        task = asyncio.create_task(overriding())
        await started.wait()
        other = hookline.find_connection("task_only")
        done.set()
        return await task, other

    host, other = asyncio.run(main())
    assert host == "task"
    assert other is None
