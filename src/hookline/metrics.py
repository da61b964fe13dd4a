"""Metrics you can scrape: a Prometheus exposition and OpenTelemetry instruments, fed by events.

:func:`enable` subscribes a listener to :mod:`hookline.events` and returns the Prometheus registry
(``prometheus_client``, extra ``metrics``); :func:`enable_otel` does the same for an OpenTelemetry
``MeterProvider`` (extra ``otel``). Nothing in a hot path calls them: lookups, the cache, pools,
hooks, breakers and health checks emit events, and the listener turns each into a counter, a
histogram observation or a gauge. Remote backends' API-call counters (what AWS and GCP bill) are
read from their ``stats()`` when the registry is scraped.

Every metric name starts with ``hookline_``. Labels hold backend, replica, group and hook names,
outcomes and error type names: never a secret value, never an error message. Connection ids are
labels only when configured (``conn_id_labels=True`` or a set of ids; others count under
``conn_id=""``), since one series per id can overwhelm a Prometheus server; the health checker's
connections, configured one by one, are always labelled.

Serving: ``hookline metrics serve --port 9464`` runs a standalone exporter (127.0.0.1 by default);
:func:`wsgi_app` / :func:`asgi_app` give the exporter as an app, and :func:`mount_wsgi` /
:func:`mount_asgi` put it at ``/metrics`` in front of yours.

Example:
    >>> registry = hookline.metrics.enable()  # doctest: +SKIP
    >>> app = hookline.metrics.mount_asgi(my_app)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from hookline import masking
from hookline.events import (
    AuditWriteFailed,
    BreakerChanged,
    CacheHit,
    CacheMiss,
    ConnectionWritten,
    CredentialsRefreshed,
    Event,
    EventBus,
    FailoverSwitched,
    HealthChecked,
    LookupDone,
    PoolCheckout,
    RotationStep,
    StaleServed,
    default_bus,
)
from hookline.exceptions import MissingDependency

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from hookline.resolve.chain import SecretsChain
    from hookline.secrets.base import SecretsBackend

__all__ = [
    "METRICS",
    "MetricsListener",
    "asgi_app",
    "disable",
    "enable",
    "enable_otel",
    "mount_asgi",
    "mount_wsgi",
    "serve",
    "wsgi_app",
]

ConnIdLabels = bool | Collection[str]
Record = Callable[[float], None]

#: Every metric fed by events: name -> (kind, help, label names). ``_total`` counters keep it.
#: Kind ``cells`` is a counter kept by the listener itself, per thread (see ``_CacheHitCells``).
METRICS: Final[dict[str, tuple[str, str, tuple[str, ...]]]] = {
    "hookline_lookups_total": (
        "counter", "Lookups through the secrets chain, by outcome", ("conn_id", "outcome"),
    ),
    "hookline_backend_lookups_total": (
        "counter", "What each secrets backend answered", ("backend", "outcome"),
    ),
    "hookline_backend_call_seconds": (
        "histogram", "Time a secrets backend took to answer one lookup", ("backend",),
    ),
    "hookline_replica_answers_total": (
        "counter", "Lookups answered by each replica of a replica group", ("backend", "replica"),
    ),
    "hookline_cache_hits_total": (
        "cells", "Lookups answered from the cache (kind: positive, negative)", ("conn_id", "kind"),
    ),
    "hookline_cache_misses_total": (
        "counter", "Lookups the cache passed to the secrets chain", ("conn_id",),
    ),
    "hookline_cache_stale_served_total": (
        "counter", "Expired values served while backends were down", ("conn_id", "source"),
    ),
    "hookline_connection_writes_total": (
        "counter", "Connections set, deleted, imported or changed", ("backend", "action"),
    ),
    "hookline_credential_refreshes_total": (
        "counter", "Re-resolutions after an authentication failure", ("conn_id", "hook", "changed"),
    ),
    "hookline_pool_checkouts_total": ("counter", "Pooled connections handed out", ("conn_id",)),
    "hookline_pool_checkout_wait_seconds": (
        "histogram", "Time waited for a pooled connection", ("conn_id",),
    ),
    "hookline_pool_size": ("gauge", "Pool size (labelled connections only)", ("conn_id",)),
    "hookline_pool_checked_out": (
        "gauge", "Connections checked out (labelled connections only)", ("conn_id",),
    ),
    "hookline_pool_overflow": (
        "gauge", "Connections beyond the pool size (labelled connections only)", ("conn_id",),
    ),
    "hookline_rotation_steps_total": (
        "counter", "Credential rotation steps", ("step", "outcome", "strategy"),
    ),
    "hookline_failovers_total": (
        "counter", "Switches from one member of a group to another", ("group", "from_member", "to_member"),
    ),
    "hookline_breaker_state": (
        "gauge", "Circuit breaker state: 0 closed, 1 half-open, 2 open", ("name",),
    ),
    "hookline_breaker_transitions_total": (
        "counter", "Circuit breaker state changes", ("name", "state"),
    ),
    "hookline_health_checks_total": (
        "counter", "Connection tests run by the health checker", ("conn_id", "outcome"),
    ),
    "hookline_health_check_seconds": (
        "histogram", "Duration of connection tests", ("conn_id",),
    ),
    "hookline_connection_up": (
        "gauge", "1 when the last connection test passed, else 0", ("conn_id",),
    ),
    "hookline_audit_write_failures_total": (
        "counter", "Audit records that could not be written", ("sink", "error"),
    ),
}  # fmt: skip

#: Remote backends' counters, read from ``stats()`` at scrape time: stats key -> (name, help).
API_STATS: Final = {
    "api_calls": ("hookline_backend_api_calls", "API calls made to a remote secrets store"),
    "errors": ("hookline_backend_api_errors", "Failed API calls to a remote secrets store"),
    "retries": ("hookline_backend_api_retries", "Retried API calls to a remote secrets store"),
    "timeouts": ("hookline_backend_api_timeouts", "API calls abandoned at the deadline"),
    "logins": ("hookline_backend_logins", "Logins to a remote secrets store"),
}
_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_BREAKER_VALUE: Final = {"closed": 0.0, "half_open": 1.0, "open": 2.0}
_POSITIVE: Final = ("", "positive")
_NEGATIVE: Final = ("", "negative")


class _Sink:
    """Where measurements go: returns a recording function for one metric and label values."""

    def bind(self, name: str, labels: tuple[str, ...]) -> Record:
        raise NotImplementedError


class MetricsListener:
    """Turns events into measurements on a sink (Prometheus or OpenTelemetry).

    Args:
        sink: Where measurements go.
        conn_id_labels: True: every conn_id is a label value; a collection: only those; False:
            none (their measurements count under ``conn_id=""``).
    """

    def __init__(self, sink: _Sink, conn_id_labels: ConnIdLabels = False) -> None:
        self._sink = sink
        self._all_ids = conn_id_labels is True
        self._ids: frozenset[str] = (
            frozenset(conn_id_labels) if not isinstance(conn_id_labels, bool) else frozenset()
        )
        self._bound: dict[tuple[str, tuple[str, ...]], Record] = {}
        self._bind_lock = threading.Lock()
        self._handlers: dict[type[Event], Callable[[Any], None]] = {
            CacheMiss: self._cache_miss,
            LookupDone: self._lookup_done,
            StaleServed: self._stale,
            ConnectionWritten: self._written,
            CredentialsRefreshed: self._refreshed,
            PoolCheckout: self._checkout,
            RotationStep: self._rotation,
            FailoverSwitched: self._failover,
            BreakerChanged: self._breaker,
            HealthChecked: self._health,
            AuditWriteFailed: self._audit,
        }
        self._labelled = bool(self._all_ids or self._ids)
        self._local = threading.local()
        self._cells: list[dict[tuple[str, str], int]] = []

    def __call__(self, event: Event) -> None:
        # The hot path is a cache hit: counted in this thread's own cell, without a lock (only
        # this thread writes it; a scrape sums the cells). Speed, behind a name: see
        # cache_hit_counts and the benchmark row "cached get_connection, metrics listener on".
        if event.__class__ is CacheHit:
            try:
                cell = self._local.cell
            except AttributeError:
                cell = self._new_cell()
            if self._labelled:
                key = (self._conn(event.conn_id), "negative" if event.negative else "positive")
                cell[key] = cell.get(key, 0) + 1
            else:
                cell[_NEGATIVE if event.negative else _POSITIVE] += 1
            return
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _new_cell(self) -> dict[tuple[str, str], int]:
        cell = {_POSITIVE: 0, _NEGATIVE: 0}
        self._local.cell = cell
        with self._bind_lock:
            self._cells.append(cell)
        return cell

    def cache_hit_counts(self) -> dict[tuple[str, str], int]:
        """Cache hits counted so far, by ``(conn_id label, kind)``, summed over threads."""
        with self._bind_lock:
            cells = list(self._cells)
        totals = {_POSITIVE: 0, _NEGATIVE: 0}
        for cell in cells:
            for _ in range(10):  # a labelled cell may grow while it is read: read it again
                try:
                    items = list(cell.items())
                except RuntimeError:
                    continue
                break
            else:
                items = []
            for key, count in items:
                totals[key] = totals.get(key, 0) + count
        return totals

    def _record(self, name: str, labels: tuple[str, ...]) -> Record:
        key = (name, labels)
        record = self._bound.get(key)
        if record is None:
            with self._bind_lock:
                record = self._bound.get(key)
                if record is None:
                    safe = tuple(str(masking.redact(value)) for value in labels)
                    record = self._bound[key] = self._sink.bind(name, safe)
        return record

    def _add(self, name: str, *labels: str, amount: float = 1.0) -> None:
        self._record(name, labels)(amount)

    def _conn(self, conn_id: str | None) -> str:
        if conn_id is None:
            return ""
        if self._all_ids or conn_id in self._ids:
            return conn_id
        return ""

    # -- handlers ---------------------------------------------------------------------------------

    def _cache_miss(self, event: CacheMiss) -> None:
        self._add("hookline_cache_misses_total", self._conn(event.conn_id))

    def _lookup_done(self, event: LookupDone) -> None:
        self._add("hookline_lookups_total", self._conn(event.conn_id), event.outcome)
        timings = event.timings
        for index, (backend, outcome) in enumerate(event.backends):
            self._add("hookline_backend_lookups_total", backend, outcome)
            if outcome != "skipped" and index < len(timings):
                self._add("hookline_backend_call_seconds", backend, amount=timings[index])
        if event.replica and event.source:
            self._add("hookline_replica_answers_total", event.source, event.replica)

    def _stale(self, event: StaleServed) -> None:
        self._add("hookline_cache_stale_served_total", self._conn(event.conn_id), event.source)

    def _written(self, event: ConnectionWritten) -> None:
        self._add("hookline_connection_writes_total", event.backend, event.action)

    def _refreshed(self, event: CredentialsRefreshed) -> None:
        changed = "true" if event.changed else "false"
        self._add(
            "hookline_credential_refreshes_total", self._conn(event.conn_id), event.hook, changed
        )

    def _checkout(self, event: PoolCheckout) -> None:
        conn_id = self._conn(event.conn_id)
        self._add("hookline_pool_checkouts_total", conn_id)
        self._add("hookline_pool_checkout_wait_seconds", conn_id, amount=event.wait_s)
        if conn_id:  # a gauge summed over unrelated pools means nothing
            self._add("hookline_pool_size", conn_id, amount=event.size)
            self._add("hookline_pool_checked_out", conn_id, amount=event.checked_out)
            self._add("hookline_pool_overflow", conn_id, amount=event.overflow)

    def _rotation(self, event: RotationStep) -> None:
        self._add("hookline_rotation_steps_total", event.step, event.outcome, event.strategy)

    def _failover(self, event: FailoverSwitched) -> None:
        self._add("hookline_failovers_total", event.group, event.from_member, event.to_member)

    def _breaker(self, event: BreakerChanged) -> None:
        self._add("hookline_breaker_state", event.name, amount=_BREAKER_VALUE[event.state])
        self._add("hookline_breaker_transitions_total", event.name, event.state)

    def _health(self, event: HealthChecked) -> None:
        outcome = "ok" if event.ok else "failed"
        self._add("hookline_health_checks_total", event.conn_id, outcome)
        self._add("hookline_health_check_seconds", event.conn_id, amount=event.elapsed_s)
        self._add("hookline_connection_up", event.conn_id, amount=1.0 if event.ok else 0.0)

    def _audit(self, event: AuditWriteFailed) -> None:
        self._add("hookline_audit_write_failures_total", event.sink, event.error)


# -- remote backends' API counters, read at scrape time ---------------------------------------


def _remote_backends(chains: Iterable[SecretsChain]) -> Iterator[tuple[str, dict[str, float]]]:
    """``(backend name, stats)`` of every remote backend (replicas included) of ``chains`` and of
    the process default resolver's chain, when it has been built."""
    from hookline.resolve.cache import CachedResolver
    from hookline.resolve.chain import SecretsChain
    from hookline.resolve.default import current_resolver
    from hookline.secrets.remote import RemoteBackend
    from hookline.secrets.replica import ReplicaGroup

    found: list[SecretsChain] = list(chains)
    resolver = current_resolver()
    if isinstance(resolver, CachedResolver):
        found.append(resolver.chain)
    elif isinstance(resolver, SecretsChain):
        found.append(resolver)
    seen: set[int] = set()

    def walk(backend: SecretsBackend) -> Iterator[tuple[str, dict[str, float]]]:
        if id(backend) in seen:
            return
        seen.add(id(backend))
        if isinstance(backend, RemoteBackend):
            yield backend.name, backend.stats()
        elif isinstance(backend, ReplicaGroup):
            for replica in backend.replicas:
                yield from walk(replica)

    for chain in found:
        for backend in chain.backends:
            yield from walk(backend)


# -- Prometheus -------------------------------------------------------------------------------


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:
        raise MissingDependency(
            "prometheus_client", "metrics", purpose="Prometheus metrics"
        ) from exc
    return prometheus_client


class _PrometheusSink(_Sink):
    def __init__(self, registry: CollectorRegistry) -> None:
        prom = _prometheus()
        self.metrics: dict[str, Any] = {}
        for name, (kind, text, labels) in METRICS.items():
            if kind == "cells":
                continue  # exposed by _ApiCollector from the listener's own counts
            if kind == "counter":
                metric = prom.Counter(name.removesuffix("_total"), text, labels, registry=registry)
            elif kind == "histogram":
                metric = prom.Histogram(name, text, labels, registry=registry, buckets=_BUCKETS)
            else:
                metric = prom.Gauge(name, text, labels, registry=registry)
            self.metrics[name] = metric

    def bind(self, name: str, labels: tuple[str, ...]) -> Record:
        kind = METRICS[name][0]
        child = self.metrics[name].labels(*labels)
        if kind == "counter":
            return child.inc  # type: ignore[no-any-return]
        if kind == "histogram":
            return child.observe  # type: ignore[no-any-return]
        return child.set  # type: ignore[no-any-return]


class _ApiCollector:
    """A prometheus_client collector, read at scrape time: the listener's cache-hit counts and
    remote backends' ``stats()`` counters."""

    def __init__(self, chains: Sequence[SecretsChain], listener: MetricsListener) -> None:
        self._chains = tuple(chains)
        self._listener = listener

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily

        name = "hookline_cache_hits_total"
        _, text, labels = METRICS[name]
        hits = CounterMetricFamily(name.removesuffix("_total"), text, labels=list(labels))
        for (conn_id, kind), count in sorted(self._listener.cache_hit_counts().items()):
            hits.add_metric([conn_id, kind], float(count))
        yield hits

        families = {
            key: CounterMetricFamily(name, text, labels=["backend"])
            for key, (name, text) in API_STATS.items()
        }
        for backend, stats in _remote_backends(self._chains):
            label = str(masking.redact(backend))
            for key, family in families.items():
                family.add_metric([label], float(stats.get(key, 0)))
        yield from families.values()

    def describe(self) -> list[Any]:
        return []  # registered without a dry-run collect (it would build nothing, but read stats)


_enabled_lock = threading.Lock()
_enabled: dict[int, tuple[CollectorRegistry, Callable[[], None], list[Any]]] = {}


def enable(
    registry: CollectorRegistry | None = None,
    *,
    conn_id_labels: ConnIdLabels = False,
    chains: Sequence[SecretsChain] = (),
    bus: EventBus | None = None,
) -> CollectorRegistry:
    """Subscribe the Prometheus listener and return its registry (a second call returns it again).

    Args:
        registry: Where the metrics live (default: ``prometheus_client.REGISTRY``).
        conn_id_labels: Connection ids as label values: True for all, a collection for those ids
            only, False for none (the default; see the module docstring).
        chains: Secrets chains whose remote backends' API counters to export, besides the
            process default resolver's.
        bus: The event bus to listen on (default: the process-wide one).

    Raises:
        MissingDependency: prometheus_client is not installed (``pip install 'hookline[metrics]'``).
    """
    prom = _prometheus()
    target: CollectorRegistry = registry if registry is not None else prom.REGISTRY
    with _enabled_lock:
        if id(target) in _enabled:
            return target
        sink = _PrometheusSink(target)
        listener = MetricsListener(sink, conn_id_labels)
        collector = _ApiCollector(chains, listener)
        target.register(collector)
        unsubscribe = (bus if bus is not None else default_bus).subscribe(listener)
        _enabled[id(target)] = (target, unsubscribe, [*sink.metrics.values(), collector])
    return target


def disable(registry: CollectorRegistry | None = None) -> None:
    """Unsubscribe the listener of ``registry`` (default: the global one) and drop its metrics."""
    prom = _prometheus()
    target = registry if registry is not None else prom.REGISTRY
    with _enabled_lock:
        entry = _enabled.pop(id(target), None)
    if entry is None:
        return
    _, unsubscribe, collectors = entry
    unsubscribe()
    for collector in collectors:
        target.unregister(collector)


def wsgi_app(registry: CollectorRegistry | None = None) -> Callable[..., Any]:
    """The exporter as a WSGI app (serves the registry's exposition on any path)."""
    prom = _prometheus()
    app: Callable[..., Any] = prom.make_wsgi_app(
        registry if registry is not None else prom.REGISTRY
    )
    return app


def asgi_app(registry: CollectorRegistry | None = None) -> Callable[..., Any]:
    """The exporter as an ASGI app (serves the registry's exposition on any path)."""
    prom = _prometheus()
    app: Callable[..., Any] = prom.make_asgi_app(
        registry if registry is not None else prom.REGISTRY
    )
    return app


def mount_wsgi(
    app: Callable[..., Any], path: str = "/metrics", registry: CollectorRegistry | None = None
) -> Callable[..., Any]:
    """A WSGI app that serves the metrics at ``path`` and passes every other request to ``app``."""
    exporter = wsgi_app(registry)

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO", "") == path:
            return exporter(environ, start_response)
        return app(environ, start_response)

    return dispatch


def mount_asgi(
    app: Callable[..., Any], path: str = "/metrics", registry: CollectorRegistry | None = None
) -> Callable[..., Any]:
    """An ASGI app that serves the metrics at ``path`` and passes everything else to ``app``."""
    exporter = asgi_app(registry)

    async def dispatch(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") == "http" and scope.get("path") == path:
            await exporter(scope, receive, send)
        else:
            await app(scope, receive, send)

    return dispatch


def serve(
    port: int, host: str = "127.0.0.1", registry: CollectorRegistry | None = None
) -> tuple[Any, threading.Thread]:
    """Serve the exposition on ``host:port`` from a daemon thread; return ``(server, thread)``.

    Stop it with ``server.shutdown()``. Binds the loopback interface unless told otherwise.
    """
    prom = _prometheus()
    target = registry if registry is not None else prom.REGISTRY
    server, thread = prom.start_http_server(port, addr=host, registry=target)
    return server, thread


# -- OpenTelemetry ----------------------------------------------------------------------------


class _OtelSink(_Sink):
    def __init__(self, meter_provider: Any) -> None:
        try:
            from opentelemetry import metrics as otel_metrics
        except ImportError as exc:
            raise MissingDependency(
                "opentelemetry-sdk", "otel", purpose="OpenTelemetry metrics"
            ) from exc
        provider = (
            meter_provider if meter_provider is not None else otel_metrics.get_meter_provider()
        )
        meter = provider.get_meter("hookline")
        self.meter = meter
        self.instruments: dict[str, Any] = {}
        for name, (kind, text, _) in METRICS.items():
            short = name.removesuffix("_total")
            if kind == "cells":
                continue  # an observable counter over the listener's own counts
            if kind == "counter":
                instrument = meter.create_counter(short, description=text)
            elif kind == "histogram":
                unit = "s" if name.endswith("_seconds") else ""
                instrument = meter.create_histogram(short, unit=unit, description=text)
            else:
                instrument = meter.create_gauge(short, description=text)
            self.instruments[name] = instrument

    def bind(self, name: str, labels: tuple[str, ...]) -> Record:
        kind, _, label_names = METRICS[name]
        attributes = dict(zip(label_names, labels, strict=True))
        instrument = self.instruments[name]
        method = {"counter": "add", "histogram": "record", "gauge": "set"}[kind]
        bound: Record = functools.partial(getattr(instrument, method), attributes=attributes)
        return bound


def enable_otel(
    meter_provider: Any = None,
    *,
    conn_id_labels: ConnIdLabels = False,
    chains: Sequence[SecretsChain] = (),
    bus: EventBus | None = None,
) -> Callable[[], None]:
    """Record the same metrics as OpenTelemetry instruments; return a function that stops it.

    Instrument names are the Prometheus names without ``_total`` (an OpenTelemetry Prometheus
    exporter adds it back); remote backends' API counters are observable counters.

    Args:
        meter_provider: The SDK ``MeterProvider`` (default: the global one).
        conn_id_labels: As for :func:`enable`.
        chains: As for :func:`enable`.
        bus: The event bus to listen on (default: the process-wide one).

    Raises:
        MissingDependency: opentelemetry is not installed (``pip install 'hookline[otel]'``).
    """
    sink = _OtelSink(meter_provider)
    from opentelemetry.metrics import CallbackOptions, Observation

    def observe(key: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            return [
                Observation(float(stats.get(key, 0)), {"backend": str(masking.redact(name))})
                for name, stats in _remote_backends(chains)
            ]

        return callback

    for key, (name, text) in API_STATS.items():
        sink.meter.create_observable_counter(name, callbacks=[observe(key)], description=text)
    listener = MetricsListener(sink, conn_id_labels)

    def hits(options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(float(count), {"conn_id": conn_id, "kind": kind})
            for (conn_id, kind), count in listener.cache_hit_counts().items()
        ]

    hits_name = "hookline_cache_hits_total"
    sink.meter.create_observable_counter(
        hits_name.removesuffix("_total"), callbacks=[hits], description=METRICS[hits_name][1]
    )
    return (bus if bus is not None else default_bus).subscribe(listener)
