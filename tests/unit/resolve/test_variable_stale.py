"""Stale if error for variables: while backends are down, an expired cached value is served for up
to ``[cache] stale_if_error_seconds`` past its expiry, through the connection cache's own decision
(counter, ``StaleServed`` event with ``kind="variable"``, warning), retried every
``error_retry_seconds``; denials, invalid values and absent keys are never hidden by it."""

from __future__ import annotations

import logging
import threading

import pytest

import hookline
from hookline import masking
from hookline.config import CacheSettings
from hookline.events import StaleServed
from hookline.exceptions import (
    BackendPermissionDenied,
    BackendUnavailable,
    DecryptionError,
    VariableNotFound,
    VariableUnresolved,
)
from hookline.resolve import SecretsChain
from hookline.resolve import default as default_resolver
from hookline.resolve.cache import CachedResolver
from hookline.testing import InMemoryBackend, capture_events

CANARY = "c4n4ry-St4le-V4r!"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(*backends: InMemoryBackend, **settings: float) -> tuple[CachedResolver, FakeClock]:
    clock = FakeClock()
    resolver = CachedResolver(
        SecretsChain(list(backends)),
        CacheSettings(**settings),  # type: ignore[arg-type]
        clock=clock,
        rng=lambda: 0.0,
    )
    return resolver, clock


def down(backend: InMemoryBackend) -> None:
    backend.fail_with = BackendUnavailable(f"503 from vault (token {CANARY})", backend=backend.name)


def test_stale_window_retry_interval_then_failure(caplog: pytest.LogCaptureFixture) -> None:
    """Served stale (counted, announced, warned without the value), asked again only every
    error_retry_seconds, until stale_if_error_seconds past expiry; then VariableUnresolved."""
    backend = InMemoryBackend(name="vault", variables={"api_token": CANARY})
    resolver, clock = make(
        backend, ttl_seconds=10.0, stale_if_error_seconds=30.0, error_retry_seconds=5.0
    )
    assert resolver.get_variable("api_token") == CANARY
    down(backend)
    clock.now += 11.0
    with (
        caplog.at_level(logging.WARNING, logger="hookline.resolve.cache"),
        capture_events(resolver._bus) as events,
    ):
        assert resolver.get_variable("api_token") == CANARY
    assert backend.calls == 2
    assert resolver.stats.stale_served == 1
    stale = [event for event in events if isinstance(event, StaleServed)]
    assert len(stale) == 1
    assert stale[0].kind == "variable"
    assert stale[0].conn_id == "api_token"
    assert stale[0].source == "vault"
    assert stale[0].down == ("vault",)
    assert stale[0].stale_for_s == pytest.approx(1.0)
    assert CANARY not in repr(stale[0])
    assert "serving cached variable 'api_token' from vault past its TTL" in caplog.text
    assert "vault could not answer; stale for at most 29.0 s more" in caplog.text
    assert CANARY not in caplog.text
    clock.now += 4.0  # inside the retry interval: answered from memory
    assert resolver.get_variable("api_token") == CANARY
    assert backend.calls == 2
    clock.now += 2.0  # retried: still down, still inside the window
    assert resolver.find_variable("api_token") == CANARY
    assert backend.calls == 3
    assert resolver.stats.stale_served == 2
    clock.now += 24.5  # 41.5 s after the lookup: expiry (10 s) + window (30 s) is over
    with pytest.raises(VariableUnresolved) as info:
        resolver.get_variable("api_token")
    assert not isinstance(info.value, VariableNotFound)
    assert "vault could not answer, so it may be defined there" in str(info.value)
    assert CANARY not in str(info.value)
    assert resolver.stats.stale_served == 2


def test_the_value_is_replaced_when_the_backend_recovers() -> None:
    backend = InMemoryBackend(variables={"x": "1"})
    resolver, clock = make(backend, ttl_seconds=10.0, error_retry_seconds=1.0)
    resolver.get_variable("x")
    down(backend)
    clock.now += 10.5
    assert resolver.get_variable("x") == "1"
    backend.fail_with = None
    backend.set_variable("x", "2")
    clock.now += 1.1
    assert resolver.get_variable("x") == "2"


def test_a_lookup_that_raises_unavailable_is_served_stale_too() -> None:
    """A chain whose lookup raises BackendUnavailable (instead of tracing it) gets the same rule."""
    backend = InMemoryBackend(name="memory", variables={"x": "1"})
    resolver, clock = make(backend, ttl_seconds=10.0)
    resolver.get_variable("x")
    real = resolver.variables._lookup

    def raising(key: str) -> object:
        raise BackendUnavailable("the chain is down", backend="memory")

    resolver.variables._lookup = raising  # type: ignore[assignment]
    clock.now += 11.0
    assert resolver.get_variable("x") == "1"
    assert resolver.stats.stale_served == 1
    resolver.variables._lookup = real


@pytest.mark.parametrize(
    "error",
    [
        BackendPermissionDenied("revoked", backend="memory"),
        DecryptionError("no configured key matches it"),
    ],
)
def test_a_deny_or_an_unreadable_value_is_not_hidden_by_the_stale_value(
    error: Exception,
) -> None:
    """Authoritative answers drop the cached value: raised now, and not served later either."""
    backend = InMemoryBackend(variables={"x": CANARY})
    resolver, clock = make(backend, ttl_seconds=10.0)
    resolver.get_variable("x")
    backend.fail_with = error
    clock.now += 11.0
    with pytest.raises(type(error)):
        resolver.get_variable("x")
    assert resolver.stats.stale_served == 0
    assert len(resolver.variables) == 0
    down(backend)
    with pytest.raises(VariableUnresolved):
        resolver.get_variable("x")  # nothing left to serve


def test_a_cached_absence_is_never_served_stale() -> None:
    """Only values are served stale: an expired "not found" with the backend down is unresolved."""
    backend = InMemoryBackend()
    resolver, clock = make(backend, negative_ttl_seconds=5.0)
    with pytest.raises(VariableNotFound):
        resolver.get_variable("x")
    down(backend)
    clock.now += 6.0
    with pytest.raises(VariableUnresolved):
        resolver.get_variable("x")
    assert resolver.stats.stale_served == 0


def test_a_zero_window_serves_nothing_stale() -> None:
    backend = InMemoryBackend(variables={"x": "1"})
    resolver, clock = make(backend, ttl_seconds=10.0, stale_if_error_seconds=0.0)
    resolver.get_variable("x")
    down(backend)
    clock.now += 10.0
    with pytest.raises(VariableUnresolved):
        resolver.get_variable("x")
    assert resolver.stats.stale_served == 0


def test_another_backend_answering_is_not_stale() -> None:
    """A down first backend falls through to the next holder: a fresh answer, nothing stale."""
    first = InMemoryBackend(name="vault", variables={"x": "old"})
    second = InMemoryBackend(name="metastore", variables={"x": "other"})
    resolver, clock = make(first, second, ttl_seconds=10.0)
    assert resolver.get_variable("x") == "old"
    down(first)
    clock.now += 11.0
    assert resolver.get_variable("x") == "other"
    assert resolver.stats.stale_served == 0


def test_a_write_drops_the_stale_candidate() -> None:
    """After a delete through the chain, an outage cannot bring the deleted value back."""
    backend = InMemoryBackend(variables={"x": "1"})
    resolver, clock = make(backend, ttl_seconds=10.0)
    resolver.get_variable("x")
    resolver.chain.delete_variable("x")
    down(backend)
    clock.now += 11.0
    with pytest.raises(VariableUnresolved):
        resolver.get_variable("x")


def test_waiting_threads_get_the_stale_value_from_one_backend_call() -> None:
    backend = InMemoryBackend(variables={"x": "1"})
    resolver, clock = make(backend, ttl_seconds=10.0)
    resolver.get_variable("x")
    down(backend)
    backend.delay_s = 0.05
    clock.now += 11.0
    answers: list[str] = []
    threads = [
        threading.Thread(target=lambda: answers.append(resolver.get_variable("x")))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == ["1"] * 6
    assert backend.calls == 2
    assert resolver.stats.stale_served == 1


def test_hookline_get_variable_serves_stale_even_with_a_default() -> None:
    """Through the public API: the stale value, not the default and not an error."""
    backend = InMemoryBackend(name="vault", variables={"db_password": CANARY})
    resolver, clock = make(backend, ttl_seconds=10.0)
    default_resolver.set_default_resolver(resolver)
    try:
        assert hookline.get_variable("db_password") == CANARY
        down(backend)
        clock.now += 11.0
        assert hookline.get_variable("db_password", "fallback") == CANARY
        assert masking.redact(f"value={CANARY}") == "value=***"
    finally:
        default_resolver.set_default_resolver(None)


def test_connections_and_variables_share_the_stale_counter_and_setting() -> None:
    backend = InMemoryBackend({"wh": "postgres://u:p@h/db"}, name="vault", variables={"x": "1"})
    resolver, clock = make(backend, ttl_seconds=10.0, stale_if_error_seconds=30.0)
    resolver.get_connection("wh")
    resolver.get_variable("x")
    down(backend)
    clock.now += 11.0
    with capture_events(resolver._bus) as events:
        resolver.get_connection("wh")
        resolver.get_variable("x")
    kinds = [event.kind for event in events if isinstance(event, StaleServed)]
    assert kinds == ["connection", "variable"]
    assert resolver.stats.stale_served == 2
