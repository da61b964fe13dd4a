"""hookline.metrics: Prometheus and OpenTelemetry listeners fed by events; exporters and mounts."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import wsgiref.simple_server
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

import hookline
from hookline import Connection, events, failover, health, metrics
from hookline.exceptions import BackendUnavailable, HookConnectionError
from hookline.resolve import SecretsChain
from hookline.resolve.cache import CachedResolver
from hookline.resolve.default import use_resolver
from hookline.secrets.remote import ErrorKind, RemoteBackend, Verdict
from hookline.secrets.replica import ReplicaGroup
from hookline.testing import InMemoryBackend

CANARY = "canary-Zq81xKp-secret"
CANARY_URI = f"postgres://app:{CANARY}@db.example:5432/app?api_key={CANARY}"


@pytest.fixture
def registry() -> Iterator[CollectorRegistry]:
    failover.reset_breakers()
    target = CollectorRegistry()
    yield target
    metrics.disable(target)
    failover.reset_breakers()


def _scrape(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def _value(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.rsplit(" ", 1)[0] == series:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{series} not in exposition:\n{text}")


def _sample(text: str, metric: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return _value(text, f"{metric}{{{wanted}}}")


class FakeRemote(RemoteBackend):
    """A RemoteBackend whose 'store' is a dict: real retry loop, counters and deadline."""

    name = "fake_remote"

    def __init__(self, data: dict[str, str], **kwargs: Any) -> None:
        super().__init__(connections_prefix="", max_attempts=1, **kwargs)
        self.data = data
        self.down = False

    def _create_client(self) -> Any:
        return self

    def _read(self, client: Any, key: str) -> str | None:
        return self._api(lambda: self._answer(key))

    def _answer(self, key: str) -> str | None:
        if self.down:
            raise ConnectionRefusedError(f"refused, token {CANARY}")
        return self.data.get(key)

    def _list(self, client: Any) -> dict[str, str]:
        return dict(self.data)

    def _classify(self, exc: BaseException) -> Verdict:
        if isinstance(exc, ConnectionRefusedError):
            return Verdict(ErrorKind.RETRY, "ConnectionRefusedError")
        return super()._classify(exc)


def test_every_metric_name_starts_with_hookline() -> None:
    """The fixed catalogue and the scrape-time API counters all start with ``hookline_``."""
    assert all(name.startswith("hookline_") for name in metrics.METRICS)
    assert all(name.startswith("hookline_") for name, _ in metrics.API_STATS.values())


def test_enable_returns_the_registry_and_counts_lookups_and_cache(
    registry: CollectorRegistry,
) -> None:
    """Cache hits, misses and chain lookups become counters, by backend and outcome, with a
    latency histogram per backend; conn_ids are not labels by default."""
    assert metrics.enable(registry) is registry
    assert metrics.enable(registry) is registry  # idempotent
    backend = InMemoryBackend({"db": "postgres://u:p@h/d"}, name="memory")
    resolver = CachedResolver(SecretsChain([backend]))
    with use_resolver(resolver):
        hookline.get_connection("db")
        hookline.get_connection("db")
        hookline.get_connection("db")
    text = _scrape(registry)
    assert _sample(text, "hookline_cache_hits_total", conn_id="", kind="positive") == 2
    assert _sample(text, "hookline_cache_misses_total", conn_id="") == 1
    assert _sample(text, "hookline_lookups_total", conn_id="", outcome="hit") == 1
    assert _sample(text, "hookline_backend_lookups_total", backend="memory", outcome="hit") == 1
    assert _sample(text, "hookline_backend_call_seconds_count", backend="memory") == 1
    assert 'conn_id="db"' not in text


def test_conn_id_labels_only_for_configured_ids(registry: CollectorRegistry) -> None:
    """With a set of ids, only those become label values; the rest count under conn_id=""."""
    metrics.enable(registry, conn_id_labels={"db"})
    backend = InMemoryBackend({"db": "postgres://u:p@h/d", "other": "postgres://u:p@h/e"})
    resolver = CachedResolver(SecretsChain([backend]))
    with use_resolver(resolver):
        for conn_id in ("db", "db", "other", "other"):
            hookline.get_connection(conn_id)
    text = _scrape(registry)
    assert _sample(text, "hookline_cache_hits_total", conn_id="db", kind="positive") == 1
    assert _sample(text, "hookline_cache_hits_total", conn_id="", kind="positive") == 1
    assert 'conn_id="other"' not in text


def test_pool_gauges_only_for_labelled_connections(registry: CollectorRegistry) -> None:
    """Pool size gauges exist per labelled connection; unlabelled checkouts only count."""
    metrics.enable(registry, conn_id_labels=True)
    events.default_bus.emit(
        events.PoolCheckout(conn_id="wh", wait_s=0.002, size=5, checked_out=3, overflow=1)
    )
    text = _scrape(registry)
    assert _sample(text, "hookline_pool_size", conn_id="wh") == 5
    assert _sample(text, "hookline_pool_checked_out", conn_id="wh") == 3
    assert _sample(text, "hookline_pool_overflow", conn_id="wh") == 1
    assert _sample(text, "hookline_pool_checkout_wait_seconds_count", conn_id="wh") == 1


def test_breakers_failovers_health_and_api_calls(registry: CollectorRegistry) -> None:
    """A replica group losing its primary shows as breaker state, a failover, replica answers and
    API calls per replica (read from stats() at scrape time)."""
    data = {"db": "postgres://u:p@h/d"}
    primary, secondary = FakeRemote(data), FakeRemote(data)
    group = ReplicaGroup(
        [primary, secondary], name="vault", failure_threshold=1, reset_timeout_s=60
    )
    chain = SecretsChain([group])
    metrics.enable(registry, chains=[chain])
    try:
        chain.lookup("db")
        primary.down = True
        chain.lookup("db")
        chain.lookup("db")
        text = _scrape(registry)
    finally:
        chain.close()
    assert _sample(text, "hookline_breaker_state", name="vault#1") == 2
    assert _sample(text, "hookline_breaker_transitions_total", name="vault#1", state="open") == 1
    assert (
        _sample(
            text,
            "hookline_failovers_total",
            group="vault",
            from_member="vault#1",
            to_member="vault#2",
        )
        == 1
    )
    assert _sample(text, "hookline_replica_answers_total", backend="vault", replica="vault#2") == 2
    assert _sample(text, "hookline_backend_api_calls_total", backend="vault#1") == 2
    assert _sample(text, "hookline_backend_api_calls_total", backend="vault#2") == 2
    assert _sample(text, "hookline_backend_api_errors_total", backend="vault#1") == 1


def test_no_secret_in_any_label_or_value(registry: CollectorRegistry) -> None:
    """Canary: a password, sensitive extra and backend errors holding the canary go through every
    path that emits events; the exposition never holds it."""
    metrics.enable(registry, conn_id_labels=True)
    data = {"db": CANARY_URI}
    primary, secondary = FakeRemote(data), FakeRemote(data)
    group = ReplicaGroup([primary, secondary], name="vault", failure_threshold=1)
    resolver = CachedResolver(SecretsChain([group, InMemoryBackend({"db2": CANARY_URI})]))
    try:
        with use_resolver(resolver):
            assert hookline.get_connection("db").password == CANARY
            primary.down = True
            hookline.get_connection("db", fresh=True)
            hookline.get_connection("db2")
            hookline.get_connection("db2")
        bus = events.default_bus
        bus.emit(events.CredentialsRefreshed(conn_id="db", hook="PostgresHook", changed=True))
        bus.emit(events.StaleServed(conn_id="db", source="vault", down=("vault",), stale_for_s=1.0))
        bus.emit(events.ConnectionWritten(conn_id="db", backend="metastore", action="set"))
        bus.emit(
            events.RotationStep(conn_id="db", step="set", outcome="ok", strategy="alternating")
        )
        bus.emit(events.AuditWriteFailed(sink="file", error="OSError"))
        with hookline.testing.override_connections(
            {"h": Connection(conn_type="nope", password=CANARY)}
        ):
            health.check_connections(["h"], timeout_s=5)
        text = _scrape(registry)
    finally:
        resolver.close()
    assert CANARY not in text
    assert "hookline_audit_write_failures_total" in text
    assert _sample(text, "hookline_health_checks_total", conn_id="h", outcome="failed") == 1
    assert _sample(text, "hookline_connection_up", conn_id="h") == 0


def test_disable_unsubscribes_and_unregisters(registry: CollectorRegistry) -> None:
    """After disable, events no longer count and the registry is empty of hookline metrics."""
    metrics.enable(registry)
    listeners = len(events.default_bus.listeners)
    metrics.disable(registry)
    assert len(events.default_bus.listeners) == listeners - 1
    assert "hookline_" not in _scrape(registry)
    metrics.disable(registry)  # twice is harmless


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_mount_wsgi_serves_metrics_beside_the_app(registry: CollectorRegistry) -> None:
    """A real WSGI server (wsgiref): /metrics is the exposition, other paths reach the app."""
    metrics.enable(registry)
    events.default_bus.emit(events.CacheHit(conn_id="x"))

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"the app"]

    server = wsgiref.simple_server.make_server(
        "127.0.0.1", 0, metrics.mount_wsgi(app, registry=registry),
        handler_class=_QuietHandler,
    )  # fmt: skip
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        scraped = httpx.get(f"{base}/metrics", timeout=5)
        other = httpx.get(f"{base}/orders", timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    assert scraped.status_code == 200
    assert 'hookline_cache_hits_total{conn_id="",kind="positive"} 1.0' in scraped.text
    assert other.text == "the app"


class _QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_mount_asgi_serves_metrics_beside_the_app(registry: CollectorRegistry) -> None:
    """A real ASGI server (uvicorn): /metrics is the exposition, other paths reach the app."""
    import uvicorn

    metrics.enable(registry)
    events.default_bus.emit(events.CacheHit(conn_id="x", negative=True))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"the app"})

    port = _free_port()
    config = uvicorn.Config(
        metrics.mount_asgi(app, registry=registry),
        host="127.0.0.1", port=port, log_level="warning", lifespan="off",
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        other = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert 'hookline_cache_hits_total{conn_id="",kind="negative"} 1.0' in scraped.text
    assert other.text == "the app"


def test_serve_binds_loopback_and_answers(registry: CollectorRegistry) -> None:
    """The standalone exporter listens on 127.0.0.1 by default."""
    metrics.enable(registry)
    port = _free_port()
    server, _ = metrics.serve(port, registry=registry)
    try:
        assert server.server_address[0] == "127.0.0.1"
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    assert "hookline_lookups_total" in response.text


def test_opentelemetry_instruments_record_the_same_events() -> None:
    """enable_otel records counters and histograms on an SDK MeterProvider (in-memory reader)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    data = {"db": "postgres://u:p@h/d"}
    remote = FakeRemote(data)
    chain = SecretsChain([remote])
    stop = metrics.enable_otel(provider, chains=[chain])
    try:
        chain.lookup("db")
        events.default_bus.emit(events.CacheHit(conn_id="db"))
        events.default_bus.emit(events.BreakerChanged(name="vault#1", state="open"))
        remote.down = True
        with pytest.raises(BackendUnavailable):
            remote.get_conn_value("db")
    finally:
        stop()
        chain.close()
    found: dict[str, list[Any]] = {}
    data_out = reader.get_metrics_data()
    assert data_out is not None
    for resource in data_out.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found[metric.name] = list(metric.data.data_points)
    assert all(name.startswith("hookline_") for name in found)
    assert found["hookline_cache_hits"][0].value == 1
    assert found["hookline_backend_lookups"][0].attributes == {
        "backend": "fake_remote",
        "outcome": "hit",
    }
    assert found["hookline_backend_call_seconds"][0].count == 1
    assert found["hookline_breaker_state"][0].value == 2
    calls = {p.attributes["backend"]: p.value for p in found["hookline_backend_api_calls"]}
    assert calls == {"fake_remote": 2}


def test_failed_probe_and_hook_errors_never_reach_labels(registry: CollectorRegistry) -> None:
    """Group names and member names are labels; error messages (which may quote secrets) never."""
    metrics.enable(registry)
    group = failover.FailoverGroup(
        "grp", [("m1", 1), ("m2", 2)], settings=failover.BreakerSettings(failure_threshold=1)
    )

    def call(target: int) -> int:
        if target == 1:
            raise HookConnectionError(f"refused, password {CANARY}")
        return target

    assert group.call(call) == 2
    text = _scrape(registry)
    assert CANARY not in text
    assert _sample(text, "hookline_breaker_state", name="m1") == 2


def test_cache_hits_counted_per_thread_add_up(registry: CollectorRegistry) -> None:
    """Cache hits are counted without a lock, in one cell per thread; a scrape sums them all,
    also for threads that have ended."""
    metrics.enable(registry)
    barrier = threading.Barrier(4)

    def hit() -> None:
        barrier.wait()
        for index in range(2500):
            events.default_bus.emit(events.CacheHit(conn_id="x", negative=index % 5 == 0))

    threads = [threading.Thread(target=hit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    text = _scrape(registry)
    assert _sample(text, "hookline_cache_hits_total", conn_id="", kind="positive") == 8000
    assert _sample(text, "hookline_cache_hits_total", conn_id="", kind="negative") == 2000
