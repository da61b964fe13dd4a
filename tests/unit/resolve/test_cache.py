"""The cache in front of the chain: TTL and jitter, negative cache, stale-if-error, single flight,
invalidation on write, cross-process change counters; and the default resolver wiring."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

import hookline
from hookline.config import CacheSettings
from hookline.connection import Connection
from hookline.exceptions import (
    BackendPermissionDenied,
    BackendUnavailable,
    ConnectionNotFound,
    ConnectionUnresolved,
    InvalidConnection,
)
from hookline.resolve import SecretsChain
from hookline.resolve import default as resolver
from hookline.resolve.cache import CachedResolver
from hookline.secrets.env import EnvBackend
from hookline.testing import InMemoryBackend, override_connections

CANARY = "c4n4ry-S3cret!"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def conn(host: str, conn_id: str = "wh") -> Connection:
    return Connection(
        conn_id=conn_id, conn_type="postgres", host=host, login="alice", password=CANARY
    )


def make(
    backend: InMemoryBackend | None = None, *, rng: float = 0.0, **settings: float
) -> tuple[CachedResolver, InMemoryBackend, FakeClock]:
    backend = backend if backend is not None else InMemoryBackend({"wh": conn("h1")})
    clock = FakeClock()
    cache_settings = CacheSettings(**settings)  # type: ignore[arg-type]
    cached = CachedResolver(SecretsChain([backend]), cache_settings, clock=clock, rng=lambda: rng)
    return cached, backend, clock


def test_hit_is_served_from_memory() -> None:
    """The second lookup is answered without asking the backend; counters say so."""
    cached, backend, _ = make()
    first = cached.get_connection("wh")
    assert cached.get_connection("wh") is first
    assert backend.calls == 1
    stats = cached.stats
    assert (stats.hits, stats.misses, stats.backend_calls, stats.entries) == (1, 1, 1, 1)


def test_ttl_expiry_with_fake_clock() -> None:
    """An entry is served until ttl_seconds have passed, then the backend is asked again."""
    cached, backend, clock = make(ttl_seconds=60.0)
    cached.get_connection("wh")
    backend.set_connection(conn("h2"))  # behind the cache's back
    clock.advance(59.9)
    assert cached.get_connection("wh").host == "h1"
    clock.advance(0.2)
    assert cached.get_connection("wh").host == "h2"
    assert backend.calls == 2


@pytest.mark.parametrize(
    ("rng", "expires_after_s"), [(0.0, 100.0), (0.5, 75.0), (0.999999, 50.0001)]
)
def test_jitter_shortens_ttl_within_bounds(rng: float, expires_after_s: float) -> None:
    """Lifetime is ttl * (1 - ratio * U): never longer than ttl, never shorter than ttl*(1-ratio)."""
    cached, backend, clock = make(rng=rng, ttl_seconds=100.0, ttl_jitter_ratio=0.5)
    cached.get_connection("wh")
    clock.advance(expires_after_s - 0.01)
    cached.get_connection("wh")
    assert backend.calls == 1
    clock.advance(0.02)
    cached.get_connection("wh")
    assert backend.calls == 2


def test_jitter_with_real_random_stays_in_bounds() -> None:
    """With the real random source, every entry's lifetime lies in [ttl*(1-ratio), ttl]."""
    backend = InMemoryBackend({f"c{i}": f"http://h{i}" for i in range(200)})
    clock = FakeClock()
    cached = CachedResolver(
        SecretsChain([backend]), CacheSettings(ttl_seconds=10.0, ttl_jitter_ratio=0.2), clock=clock
    )
    for i in range(200):
        cached.get_connection(f"c{i}")
    lifetimes = [entry[0] - clock.now for entry in cached._entries.values()]
    assert all(8.0 <= life <= 10.0 for life in lifetimes)
    assert max(lifetimes) - min(lifetimes) > 0.5  # they really are spread


def test_negative_cache_keeps_trace_and_expires() -> None:
    """A miss is remembered for negative_ttl_seconds with its trace, then asked again."""
    cached, backend, clock = make(negative_ttl_seconds=5.0)
    with pytest.raises(ConnectionNotFound) as first:
        cached.get_connection("missing")
    with pytest.raises(ConnectionNotFound) as second:
        cached.get_connection("missing")
    assert backend.calls == 1
    assert second.value is not first.value
    assert second.value.trace is first.value.trace
    assert str(second.value) == str(first.value)
    assert "memory:missing" in str(second.value)
    assert cached.stats.negative_hits == 1
    clock.advance(5.1)
    with pytest.raises(ConnectionNotFound):
        cached.get_connection("missing")
    assert backend.calls == 2


def test_write_through_chain_clears_negative_entry() -> None:
    """Creating a connection that was cached as missing makes it visible at once."""
    cached, _, _ = make()
    with pytest.raises(ConnectionNotFound):
        cached.get_connection("new")
    cached.set_connection(conn("fresh-host", "new"))
    assert cached.get_connection("new").host == "fresh-host"
    cached.chain.set_connection(conn("newer-host", "new"))
    assert cached.get_connection("new").host == "newer-host"
    assert cached.delete_connection("new") is True
    with pytest.raises(ConnectionNotFound):
        cached.get_connection("new")
    assert cached.stats.invalidations == 3


def test_explicit_invalidation() -> None:
    """invalidate(id) drops one entry, invalidate() all of them."""
    backend = InMemoryBackend({"a": "http://a", "b": "http://b"})
    cached, _, _ = make(backend)
    cached.get_connection("a")
    cached.get_connection("b")
    cached.invalidate("a")
    assert cached.stats.entries == 1
    cached.invalidate()
    assert cached.stats.entries == 0
    cached.get_connection("a")
    assert backend.calls == 3


def test_stale_if_error_window_then_failure(caplog: pytest.LogCaptureFixture) -> None:
    """While the backend is down, the expired value is served (warned, counted, retried every
    error_retry_seconds) until stale_if_error_seconds after expiry; then the lookup fails."""
    cached, backend, clock = make(
        ttl_seconds=10.0, stale_if_error_seconds=30.0, error_retry_seconds=5.0
    )
    original = cached.get_connection("wh")
    backend.fail_with = BackendUnavailable("503 Service Unavailable", backend="memory")
    clock.advance(11.0)
    with caplog.at_level(logging.WARNING, logger="hookline.resolve.cache"):
        assert cached.get_connection("wh") is original
    assert backend.calls == 2
    assert cached.stats.stale_served == 1
    assert "serving cached connection 'wh' from memory past its TTL" in caplog.text
    assert "memory could not answer" in caplog.text
    assert CANARY not in caplog.text
    clock.advance(4.0)  # inside the retry interval: no backend call
    assert cached.get_connection("wh") is original
    assert backend.calls == 2
    clock.advance(2.0)  # retry: still down, still inside the window
    assert cached.get_connection("wh") is original
    assert backend.calls == 3
    clock.advance(24.5)  # 41.5 s after the lookup: the window (expiry 10 s + 30 s) is over
    with pytest.raises(BackendUnavailable) as exc_info:
        cached.get_connection("wh")
    assert isinstance(exc_info.value, ConnectionUnresolved)
    assert not isinstance(exc_info.value, ConnectionNotFound)  # an outage is not absence
    assert exc_info.value.backend == "memory"
    assert "memory could not answer, so it may be defined there" in str(exc_info.value)
    assert CANARY not in str(exc_info.value)
    backend.fail_with = None
    clock.advance(60.0)
    assert cached.get_connection("wh") == original


def test_unresolved_is_not_negative_cached_and_not_absent() -> None:
    """Nothing found while a backend is down is ConnectionUnresolved (a BackendUnavailable and a
    ConnectionNotFound): never negative-cached, and find_connection raises instead of None."""
    down = InMemoryBackend({}, name="down")
    down.fail_with = BackendUnavailable("timed out", backend="down")
    empty = InMemoryBackend({}, name="empty")
    cached = CachedResolver(SecretsChain([empty, down]), CacheSettings(), clock=FakeClock())
    for _ in range(3):
        with pytest.raises(ConnectionUnresolved) as exc_info:
            cached.get_connection("wh")
    assert down.calls == 3  # asked every time: unknown is not cached as absent
    assert cached.stats.negative_hits == 0
    assert exc_info.value.backend == "down"
    with pytest.raises(BackendUnavailable):
        cached.find_connection("wh")
    down.fail_with = None
    assert cached.find_connection("wh") is None  # now genuinely absent


def test_stale_value_is_replaced_when_backend_recovers() -> None:
    """After an outage, the first successful refresh replaces the stale value."""
    cached, backend, clock = make(ttl_seconds=10.0, error_retry_seconds=1.0)
    cached.get_connection("wh")
    backend.fail_with = BackendUnavailable("down", backend="memory")
    clock.advance(10.5)
    assert cached.get_connection("wh").host == "h1"
    backend.fail_with = None
    backend.set_connection(conn("h2"))
    clock.advance(1.1)
    assert cached.get_connection("wh").host == "h2"


def test_deny_during_refresh_is_not_hidden_by_stale_value() -> None:
    """A permission deny is authoritative: the cached value is dropped, not served stale."""
    cached, backend, clock = make(ttl_seconds=10.0)
    cached.get_connection("wh")
    backend.fail_with = BackendPermissionDenied("revoked", backend="memory")
    clock.advance(11.0)
    with pytest.raises(BackendPermissionDenied):
        cached.get_connection("wh")
    assert cached.stats.entries == 0
    assert cached.stats.stale_served == 0


def test_invalid_stored_value_propagates_and_is_not_cached() -> None:
    """A malformed stored value raises InvalidConnection on every lookup."""
    backend = InMemoryBackend({"wh": "{not json"})
    cached, _, _ = make(backend)
    for _ in range(2):
        with pytest.raises(InvalidConnection) as exc_info:
            cached.get_connection("wh")
        assert exc_info.value.conn_id == "wh"
    assert backend.calls == 2


def test_fresh_bypasses_and_refreshes_the_entry() -> None:
    """fresh=True asks the backend even with a valid entry, and the answer replaces it."""
    cached, backend, _ = make()
    cached.get_connection("wh")
    backend.set_connection(conn("rotated"))
    assert cached.get_connection("wh").host == "h1"
    assert cached.get_connection("wh", fresh=True).host == "rotated"
    assert cached.get_connection("wh").host == "rotated"
    assert backend.calls == 2


@pytest.mark.parametrize("present", [True, False])
def test_single_flight_one_backend_call_for_many_threads(present: bool) -> None:
    """16 threads missing the same id at once cause one backend call; all get the same answer."""
    backend = InMemoryBackend({"wh": conn("h1")} if present else {})
    backend.delay_s = 0.2
    cached = CachedResolver(SecretsChain([backend]))
    barrier = threading.Barrier(16)
    results: list[object] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        try:
            value: object = cached.get_connection("wh")
        except ConnectionNotFound as exc:
            value = exc
        with lock:
            results.append(value)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert backend.calls == 1
    assert cached.stats.backend_calls == 1
    assert len(results) == 16
    if present:
        assert all(isinstance(r, Connection) and r.host == "h1" for r in results)
    else:
        assert all(isinstance(r, ConnectionNotFound) for r in results)
        assert len({id(r) for r in results}) == 16  # each thread gets its own exception


class GatedBackend(InMemoryBackend):
    """Reads the value, then waits for the test to open the gate before returning it."""

    def __init__(self) -> None:
        super().__init__({"wh": conn("old")})
        self.read_done = threading.Event()
        self.gate = threading.Event()

    def get_connection(self, conn_id: str) -> Connection | None:
        value = super().get_connection(conn_id)
        self.read_done.set()
        self.gate.wait(10)
        return value


def test_write_during_lookup_does_not_store_the_old_value() -> None:
    """A lookup that read the old value before a write returns it, but never caches it."""
    backend = GatedBackend()
    cached = CachedResolver(SecretsChain([backend]))
    seen: list[str | None] = []
    reader = threading.Thread(target=lambda: seen.append(cached.get_connection("wh").host))
    reader.start()
    assert backend.read_done.wait(10)
    cached.set_connection(conn("new"))
    backend.gate.set()
    reader.join()
    assert seen == ["old"]
    assert cached.get_connection("wh").host == "new"


class SharedStore:
    """What two processes sharing a metastore see: one dict and one change counter."""

    def __init__(self) -> None:
        self.counter = 0


class CountedBackend(InMemoryBackend):
    """An in-memory backend exposing the shared store's change counter."""

    def __init__(self, store: SharedStore, data: dict[str, Connection | str]) -> None:
        super().__init__(data)
        self.store = store
        self.counter_calls = 0
        self.counter_fails = False

    watchable = True

    def change_counter_if_open(self) -> int | None:
        self.counter_calls += 1
        if self.counter_fails:
            raise BackendUnavailable("database is locked", backend=self.name)
        return self.store.counter


def test_change_counter_drops_cache_within_interval() -> None:
    """A change made elsewhere is seen once change_check_interval_seconds have passed."""
    store = SharedStore()
    backend = CountedBackend(store, {"wh": conn("h1"), "other": conn("o1", "other")})
    cached, _, clock = make(backend, change_check_interval_seconds=0.25)
    assert cached.get_connection("wh").host == "h1"
    cached.get_connection("other")
    # another process writes: the data and the counter change, our cache was not told
    backend._data["wh"] = conn("h2")
    store.counter += 1
    clock.advance(0.2)
    assert cached.get_connection("wh").host == "h1"  # bounded staleness: not checked yet
    clock.advance(0.1)
    assert cached.get_connection("wh").host == "h2"
    assert cached.stats.change_resets == 1
    checks = backend.counter_calls
    clock.advance(0.1)
    for _ in range(100):
        cached.get_connection("wh")
    assert backend.counter_calls == checks  # at most one check per interval


def test_failing_change_counter_keeps_the_cache() -> None:
    """When the counter cannot be read, cached values keep being served."""
    store = SharedStore()
    backend = CountedBackend(store, {"wh": conn("h1")})
    cached, _, clock = make(backend)
    cached.get_connection("wh")
    backend.counter_fails = True
    clock.advance(1.0)
    assert cached.get_connection("wh").host == "h1"
    assert backend.calls == 1
    assert cached.stats.change_resets == 0


def test_max_entries_evicts_expired_then_oldest() -> None:
    """The cache never holds more than max_entries."""
    backend = InMemoryBackend({f"c{i}": f"http://h{i}" for i in range(50)})
    cached, _, _ = make(backend, max_entries=10)
    for i in range(50):
        cached.get_connection(f"c{i}")
        assert cached.stats.entries <= 10
    assert cached.get_connection("c49").host == "h49"


def test_close_stops_listening_and_closes_chain() -> None:
    """After close, writes through the chain no longer touch the closed cache."""
    cached, _, _ = make()
    cached.get_connection("wh")
    cached.close()
    assert cached.stats.entries == 0
    cached.chain.set_connection(conn("h3"))
    assert cached.stats.invalidations == 0


# -- the default resolver -------------------------------------------------------------------------


def test_default_resolver_is_a_cache_over_the_configured_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """hookline.get_connection builds a CachedResolver from settings on first use."""
    monkeypatch.setenv("HOOKLINE_SECRETS__BACKENDS", "env")
    monkeypatch.setenv("HOOKLINE_CONN_WH", "postgres://alice:c4n4ry-S3cret%21@db:5432/app")
    found = hookline.get_connection("wh")
    assert found.password == CANARY
    default = resolver.default_resolver()
    assert isinstance(default, CachedResolver)
    assert resolver.default_chain() is default.chain
    assert isinstance(default.chain.backends[0], EnvBackend)
    monkeypatch.setenv("HOOKLINE_CONN_WH", "postgres://bob@db2/app")
    assert hookline.get_connection("wh").host == "db"  # cached
    assert hookline.get_connection("wh", fresh=True).host == "db2"
    monkeypatch.setenv("HOOKLINE_CONN_WH", "postgres://carol@db3/app")
    assert hookline.get_connection("wh").host == "db2"  # cached again
    assert hookline.get_connection("wh", force_refresh=True).host == "db3"  # the recipe's name
    assert hookline.find_connection("nope") is None
    with pytest.raises(ConnectionNotFound, match="HOOKLINE_CONN_NOPE"):
        hookline.get_connection("nope")
    with pytest.raises(InvalidConnection, match="forbidden characters"):
        hookline.get_connection("no spaces")


def test_cache_disabled_gives_the_bare_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    """[cache] enabled = false resolves through the chain itself."""
    monkeypatch.setenv("HOOKLINE_SECRETS__BACKENDS", "env")
    monkeypatch.setenv("HOOKLINE_CACHE__ENABLED", "false")
    default = resolver.default_resolver()
    assert isinstance(default, SecretsChain)
    assert resolver.default_chain() is default


def test_override_connections_replaces_and_restores(tmp_path: Path) -> None:
    """override_connections resolves only the given connections and restores the previous resolver."""
    before = InMemoryBackend({"wh": "http://before"})
    resolver.set_default_resolver(SecretsChain([before]))
    with override_connections(conn("fake"), {"api": "http://api.example.com"}) as backend:
        assert hookline.get_connection("wh").host == "fake"
        assert hookline.get_connection("api").host == "api.example.com"
        with pytest.raises(ConnectionNotFound):
            hookline.get_connection("other")
        resolver.default_chain().set_connection(conn("written", "other"))
        assert backend.get_connection("other") is not None
        with override_connections({"wh": "http://inner"}):
            assert hookline.get_connection("wh").host == "inner"
        assert hookline.get_connection("wh").host == "fake"
        assert backend.lookups["wh"] == 2
    assert hookline.get_connection("wh").host == "before"


def test_override_connections_rejects_bad_items() -> None:
    """Connections without an id, and non-mappings, are refused."""
    with (
        pytest.raises(InvalidConnection, match="conn_id"),
        override_connections(Connection(host="h")),
    ):
        pass
    with pytest.raises(TypeError, match="not list"), override_connections([1]):  # type: ignore[arg-type]
        pass


def test_fast_not_found_matches_the_constructor() -> None:
    """The negative-hit fast path builds exactly what ConnectionNotFound(...) builds."""
    from hookline.resolve import LookupTrace
    from hookline.resolve.cache import _not_found

    trace = LookupTrace("x")
    fast = _not_found("x", trace, "connection 'x' is not defined")
    slow = ConnectionNotFound("x", trace, message="connection 'x' is not defined")
    assert type(fast) is type(slow)
    assert fast.args == slow.args
    assert vars(fast) == vars(slow)
    assert str(fast) == str(slow)
    assert repr(fast) == repr(slow)


def test_forked_child_does_not_inherit_a_held_lock() -> None:
    """A child forked while a parent thread holds the cache lock can still resolve misses."""
    import os
    import time

    cached = CachedResolver(SecretsChain([InMemoryBackend({"a": "http://a", "b": "http://b"})]))
    cached.get_connection("a")
    with cached._lock:
        pid = os.fork()
        if pid == 0:  # child: a miss needs the lock
            try:
                ok = cached.get_connection("b").host == "b" and cached.get_connection("a").host
                os._exit(0 if ok else 1)
            except BaseException:
                os._exit(2)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:  # a deadlocked child: kill it and fail
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("forked child deadlocked on the cache lock")
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(status) == 0
