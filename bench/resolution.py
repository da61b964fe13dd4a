"""hookline-only rows for the secrets chain and its cache (issue 4's budgets).

* cached ``get_connection`` and negative-cached miss through the default resolver, alone, with one
  no-op event listener, and with the Prometheus metrics listener on;
* cold lookup env -> SQLite metastore: the first lookup of distinct ids stored only in the
  metastore, through the default (cached) resolver, each call timed on its own;
* single flight: 8 threads missing the same id on a backend that takes 20 ms, backend calls counted,
  against the bare chain (no cache) under the same load;
* thread scaling: 1, 2, 4 and 8 threads doing cached lookups, total throughput;
* resident memory of 10,000 entries in the cache.

Every factory runs in a fresh hookline worker process (:mod:`bench.worker`).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from typing import Any

from bench import processes
from bench.connection_ops import ENV_CONN_ID, INPUT_URI, MISSING_CONN_ID, memory_uris, rss_bytes
from bench.processes import Side
from bench.report import Row, Target

__all__ = ["OPS", "rows"]

THREAD_COUNTS = (1, 2, 4, 8)
CONTROL_COUNTS = (1, 8)
SLOW_BACKEND_S = 0.02


def _cached_resolver() -> Any:
    """The process-wide default resolver, which must be hookline's cache."""
    from hookline.resolve.cache import CachedResolver
    from hookline.resolve.default import default_resolver

    resolver = default_resolver()
    if not isinstance(resolver, CachedResolver):
        raise ImportError(f"not built: default resolver is {type(resolver).__name__}, not cached")
    return resolver


def _cached_get(params: dict[str, Any]) -> Callable[[], object]:
    import hookline

    _cached_resolver()
    get = hookline.get_connection
    get(ENV_CONN_ID)

    def op() -> object:
        return get(ENV_CONN_ID)

    return op


def _cached_get_listened(params: dict[str, Any]) -> Callable[[], object]:
    """A cache hit with one no-op event listener subscribed: every hit builds and emits a
    ``CacheHit`` event (the cost an audit or metrics listener adds to the hot path)."""
    import hookline
    from hookline import events

    _cached_resolver()
    events.subscribe(lambda event: None)
    get = hookline.get_connection
    get(ENV_CONN_ID)

    def op() -> object:
        return get(ENV_CONN_ID)

    return op


def _cached_get_metrics(params: dict[str, Any]) -> Callable[[], object]:
    """A cache hit with the Prometheus metrics listener on (``hookline.metrics.enable``): every
    hit builds a ``CacheHit`` event and increments ``hookline_cache_hits_total``."""
    import hookline
    from hookline import metrics

    try:
        from prometheus_client import CollectorRegistry
    except ImportError as exc:
        raise ImportError("not built: prometheus_client (extra 'metrics') is missing") from exc
    _cached_resolver()
    metrics.enable(CollectorRegistry())
    get = hookline.get_connection
    get(ENV_CONN_ID)

    def op() -> object:
        return get(ENV_CONN_ID)

    return op


def _cached_get_audit(params: dict[str, Any]) -> Callable[[], object]:
    """A cache hit with the audit log on (file sink in the bench's temporary home, background
    writer running): every hit builds a ``CacheHit`` event and bumps the writer's per-conn_id
    counter."""
    import os
    from pathlib import Path

    import hookline
    from hookline import audit

    _cached_resolver()
    logs = Path(params["hookline_home"]) / f"audit-{os.getpid()}"
    audit.enable(
        audit.AuditSettings(enabled=True, directory=str(logs), aggregate_interval_seconds=1.0),
        home=params["hookline_home"],
    )
    get = hookline.get_connection
    get(ENV_CONN_ID)

    def op() -> object:
        return get(ENV_CONN_ID)

    return op


def _negative_get(params: dict[str, Any]) -> Callable[[], object]:
    import hookline

    _cached_resolver()
    get = hookline.get_connection
    not_found = hookline.ConnectionNotFound

    def op() -> object:
        try:
            get(MISSING_CONN_ID)
        except not_found:
            return None
        raise AssertionError("found a missing id")

    return op


BENCH_VARIABLE = "bench_var"


def _cached_variable(params: dict[str, Any]) -> Callable[[], object]:
    """``hookline.get_variable`` on a cache hit (the value from ``AIRFLOW_VAR_BENCH_VAR``)."""
    import os

    import hookline

    os.environ[f"AIRFLOW_VAR_{BENCH_VARIABLE.upper()}"] = '{"rows": 500}'
    _cached_resolver()
    get = hookline.get_variable
    get(BENCH_VARIABLE)

    def op() -> object:
        return get(BENCH_VARIABLE)

    return op


def _negative_variable(params: dict[str, Any]) -> Callable[[], object]:
    """``hookline.get_variable(missing, default)`` after the first miss (negative-cached)."""
    import hookline

    _cached_resolver()
    get = hookline.get_variable
    get(MISSING_CONN_ID, None)

    def op() -> object:
        return get(MISSING_CONN_ID, None)

    return op


def _cold_chain(params: dict[str, Any], samples: int) -> list[float]:
    """First lookups of distinct ids held only by the metastore (env asked first, absent)."""
    import hookline
    from hookline import Connection
    from hookline.secrets.metastore import MetastoreBackend

    count = max(samples, 20)
    warm = 10
    writer = MetastoreBackend(fernet_keys=[params["fernet_key"]], home=params["hookline_home"])
    ids = [f"bench_cold_{i:05d}" for i in range(count + warm)]
    for conn_id in ids:
        writer.set_connection(Connection.from_uri(INPUT_URI, conn_id=conn_id))
    writer.close()
    resolver = _cached_resolver()
    if [b.name for b in resolver.chain.backends][:2] != ["env", "metastore"]:
        raise RuntimeError(f"unexpected default chain {resolver.chain!r}")
    get = hookline.get_connection
    perf = time.perf_counter
    out: list[float] = []
    for i, conn_id in enumerate(ids):
        start = perf()
        get(conn_id)
        elapsed = perf() - start
        if i >= warm:
            out.append(elapsed)
    return out


def _slow_chain(calls: list[int]) -> Any:
    from hookline.resolve import SecretsChain
    from hookline.secrets.base import SecretsBackend

    class SlowBackend(SecretsBackend):
        name = "slow"

        def get_conn_value(self, conn_id: str) -> str | None:
            calls.append(1)
            time.sleep(SLOW_BACKEND_S)
            return INPUT_URI

    return SecretsChain([SlowBackend()])


def _concurrent_misses(resolver: Any, conn_id: str, threads: int) -> float:
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            resolver.get_connection(conn_id)
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - start


def _single_flight(cached: bool) -> Callable[[dict[str, Any], int], list[float]]:
    def factory(params: dict[str, Any], samples: int) -> list[float]:
        from hookline.resolve.cache import CachedResolver

        out: list[float] = []
        for i in range(max(3, samples // 10)):
            calls: list[int] = []
            chain = _slow_chain(calls)
            resolver = CachedResolver(chain) if cached else chain
            _concurrent_misses(resolver, f"bench_sf_{i}", 8)
            out.append(float(len(calls)))
        return out

    return factory


def _throughput(
    fn: Callable[[str], object], threads: int, per_thread: int, repeats: int
) -> list[float]:
    """Total calls per second of ``threads`` threads each calling ``fn`` ``per_thread`` times."""
    out: list[float] = []
    for _ in range(repeats):
        barrier = threading.Barrier(threads + 1)

        def worker(barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            for _ in range(per_thread):
                fn(ENV_CONN_ID)

        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for t in pool:
            t.start()
        barrier.wait()
        start = time.perf_counter()
        for t in pool:
            t.join()
        out.append(threads * per_thread / (time.perf_counter() - start))
    return out


def _thread_scaling(
    counts: tuple[int, ...], control: bool = False
) -> Callable[[dict[str, Any], int], list[float]]:
    """Cached ``get_connection`` from each number of threads in ``counts``; with ``control``, a plain
    dict lookup behind a function call instead (what the interpreter itself does under the GIL).

    The thread counts are measured interleaved in one process (one repeat of each per round, the
    order reversed every other round), so a slower stretch of a shared machine hits them alike.
    Returns one sample per count per round, flat: ``[round 1: counts..., round 2: counts..., ...]``
    (see :func:`_split_scaling`).
    """

    def factory(params: dict[str, Any], samples: int) -> list[float]:
        import hookline

        fn: Callable[[str], object]
        if control:
            table = {ENV_CONN_ID: object()}

            def lookup(conn_id: str) -> object:
                return table.get(conn_id)

            fn = lookup
        else:
            _cached_resolver()
            fn = hookline.get_connection
        fn(ENV_CONN_ID)
        per_thread = max(2_000, samples * 250)
        out: list[float] = []
        for rnd in range(11 if samples >= 50 else 2):
            order = counts if rnd % 2 == 0 else tuple(reversed(counts))
            got = {n: _throughput(fn, n, per_thread, 1)[0] for n in order}
            out += [got[n] for n in counts]
        return out

    return factory


def _split_scaling(res: list[float] | str, counts: tuple[int, ...]) -> dict[int, list[float] | str]:
    """Per thread count, the samples of a :func:`_thread_scaling` run (or its error text)."""
    if isinstance(res, str):
        return dict.fromkeys(counts, res)
    return {n: res[i :: len(counts)] for i, n in enumerate(counts)}


def _cache_memory(params: dict[str, Any], samples: int) -> list[float]:
    """RSS delta of 10,000 entries in a CachedResolver (values parsed from URIs on demand)."""
    from hookline.resolve import SecretsChain
    from hookline.resolve.cache import CachedResolver
    from hookline.secrets.base import SecretsBackend

    uris = dict(memory_uris())

    class UriBackend(SecretsBackend):
        name = "uris"

        def get_conn_value(self, conn_id: str) -> str | None:
            return uris.get(conn_id)

    resolver = CachedResolver(SecretsChain([UriBackend()]))
    warm = "conn_99999"
    uris[warm] = INPUT_URI
    resolver.get_connection(warm)
    gc.collect()
    before = rss_bytes()
    for conn_id in list(uris):
        resolver.get_connection(conn_id)
    gc.collect()
    after = rss_bytes()
    return [(after - before) / 1e6]


OPS: dict[str, tuple[str, dict[str, Any]]] = {
    "cached_get": ("calls", {"hookline": _cached_get}),
    "cached_get_listened": ("calls", {"hookline": _cached_get_listened}),
    "cached_get_metrics": ("calls", {"hookline": _cached_get_metrics}),
    "cached_get_audit": ("calls", {"hookline": _cached_get_audit}),
    "negative_get": ("calls", {"hookline": _negative_get}),
    "cached_variable": ("calls", {"hookline": _cached_variable}),
    "negative_variable": ("calls", {"hookline": _negative_variable}),
    "cold_chain": ("value", {"hookline": _cold_chain}),
    "single_flight": ("value", {"hookline": _single_flight(True)}),
    "no_single_flight": ("value", {"hookline": _single_flight(False)}),
    "cache_memory": ("value", {"hookline": _cache_memory}),
    "thread_scaling": ("value", {"hookline": _thread_scaling(THREAD_COUNTS)}),
    "control_thread_scaling": ("value", {"hookline": _thread_scaling(CONTROL_COUNTS, True)}),
}


def _one(hl: Side, op: str, params: dict[str, Any], samples: int, warmup: int) -> list[float] | str:
    got = processes.run_worker(
        hl, [{"module": __name__, "op": op, "params": params}], samples=samples, warmup=warmup
    )[op]
    return list(got["samples"]) if "samples" in got else str(got["error"])


def rows(hl: Side, af: Side | None, s: Any) -> list[Row]:
    """Measure every op, each in its own fresh worker process, and build the rows (hookline only:
    ``af`` is unused)."""
    g = "Secrets chain and cache (hookline only)"
    params = {"fernet_key": hl.env["HOOKLINE_FERNET_KEY"], "hookline_home": hl.env["HOOKLINE_HOME"]}
    res = {op: _one(hl, op, params, s.samples, s.warmup) for op in OPS}
    out: list[Row] = []

    def add(name: str, hl_res: Any, other: Any = None, label: str = "", **kw: Any) -> None:
        row = Row(group=g, name=name, other_label=label, **kw)
        row.set_side("hookline", hl_res)
        row.set_side("other", other)
        out.append(row)

    add(
        "cached get_connection",
        res["cached_get"],
        target=Target("≤ 2 µs", max_value=2e-6),
        note="`hookline.get_connection(id)` on a cache hit (default resolver: cache over env -> metastore).",
    )
    add(
        "cached get_connection, one event listener",
        res["cached_get_listened"],
        res["cached_get"],
        "no listener",
        target=Target("≤ +1 µs over no listener", max_added=1e-6),
        note="the same cache hit with one no-op listener subscribed to `hookline.events`: each hit builds a frozen `CacheHit` event and calls the listener (what an audit or metrics listener costs on the hot path). Compared with the row above, measured in its own process.",
    )
    add(
        "cached get_connection, metrics listener on",
        res["cached_get_metrics"],
        res["cached_get"],
        "metrics off",
        target=Target("≤ +1 µs over metrics off", max_added=1e-6),
        note="the same cache hit after `hookline.metrics.enable()` (Prometheus listener on a fresh registry): each hit builds a `CacheHit` event and increments `hookline_cache_hits_total`. Compared with the plain cached row, each measured in its own process.",
    )
    add(
        "cached get_connection, audit log on",
        res["cached_get_audit"],
        res["cached_get"],
        "audit off",
        target=Target("≤ +2 µs over audit off", max_added=2e-6),
        note="the same cache hit after `hookline.audit.enable()` (file sink, background writer flushing every 0.2 s, cache hits aggregated per conn_id and written every second): each hit builds a `CacheHit` event and the audit listener bumps a per-conn_id counter; nothing is written on the calling thread. Compared with the plain cached row, each measured in its own process.",
    )
    add(
        "negative-cached miss",
        res["negative_get"],
        target=Target("≤ 2 µs", max_value=2e-6),
        note="`get_connection` of an id nobody holds, after the first miss; exception caught.",
    )
    add(
        "cached get_variable",
        res["cached_variable"],
        res["cached_get"],
        "cached get_connection",
        target=Target("≤ 2 µs", max_value=2e-6),
        note="`hookline.get_variable(key)` on a cache hit (value from `AIRFLOW_VAR_BENCH_VAR`; the variables cache of the default resolver).",
    )
    add(
        "negative-cached get_variable with a default",
        res["negative_variable"],
        target=Target("≤ 2 µs", max_value=2e-6),
        note="`get_variable(missing, None)` after the first miss: the cached 'not found' returns the default without building an exception.",
    )
    add(
        "cold lookup env -> SQLite metastore",
        res["cold_chain"],
        target=Target("≤ 100 µs", max_value=100e-6),
        note="first lookup of distinct ids stored only in the SQLite metastore (Fernet-encrypted), through the default cached resolver: env asked (absent), then the metastore; every call timed on its own, first 10 discarded.",
    )
    add(
        "single-flight: backend calls for 8 concurrent misses",
        res["single_flight"],
        res["no_single_flight"],
        "chain without cache",
        unit="calls",
        target=Target("1 call", max_value=1),
        note=f"8 threads released by a barrier look up the same new id; the backend takes {SLOW_BACKEND_S * 1000:.0f} ms and counts its calls. Compared with the bare chain (no cache) under the same load.",
    )
    add(
        "10,000 cached connections, resident memory",
        res["cache_memory"],
        unit="MB",
        target=Target("≤ 20 MB", max_value=20),
        note="RSS delta of a fresh process after 10,000 distinct ids were resolved into a `CachedResolver` (values parsed from URIs on demand, so only the cache holds them).",
    )
    scaling = _split_scaling(res["thread_scaling"], THREAD_COUNTS)
    control = _split_scaling(res["control_thread_scaling"], CONTROL_COUNTS)
    for n in THREAD_COUNTS:
        # GIL-bound: total throughput cannot grow with threads, so the budget is "no collapse":
        # within measurement noise (5%) of one thread passes.
        target = Target("≥ 1 thread's (±5% noise)", min_ratio=0.95) if n == 8 else None
        add(
            f"cached lookups, {n} thread{'s' if n > 1 else ''} (total throughput)",
            scaling[n],
            scaling[1] if n > 1 else None,
            "1 thread",
            unit="ops/s",
            higher_is_better=True,
            target=target,
            note=""
            if n < 8
            else "N threads each do the same number of cached `get_connection` calls; throughput = all calls / wall time, median of repeats; the thread counts run interleaved in one process. GIL-bound: equal throughput means no lock convoy (a contended lock would make 8 threads slower than 1); the target passes at ≥ 0.95x of 1 thread (measurement noise), and the control row below shows plain `dict.get` is also 1.0x.",
        )
    add(
        "control: dict lookup in a function, 8 threads (total throughput)",
        control[8],
        control[1],
        "1 thread",
        unit="ops/s",
        higher_is_better=True,
        note="the same harness around `dict.get` in a Python function, without hookline: how total throughput moves from 1 to 8 threads under the GIL on this machine.",
    )
    return out
