"""Side-by-side operations on connections: the same inputs given to hookline and to Airflow.

Every operation has one factory per side, registered in :data:`OPS` as
``name -> (kind, {"hookline": factory, "airflow": factory})``. ``kind`` is ``"calls"`` (the factory
returns a callable timed over many calls), ``"once"`` (timed once: the first call in a fresh
process) or ``"value"`` (the factory measures and returns its own samples).

Standard library only at module level: the Airflow side runs in the isolated Airflow interpreter
and each factory imports what it needs.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from typing import Any

__all__ = [
    "ENV_CONN_ID",
    "INPUT_JSON",
    "INPUT_URI",
    "META_CONN_ID",
    "MISSING_CONN_ID",
    "OPS",
    "memory_uris",
    "rss_bytes",
]

INPUT_URI = "postgres://alice:s3cr3t-pw@db.example.com:5432/app?sslmode=require&connect_timeout=10"
INPUT_JSON = (
    '{"conn_type": "postgres", "host": "db.example.com", "login": "alice", '
    '"password": "s3cr3t-pw", "schema": "app", "port": 5432, '
    '"extra": {"sslmode": "require", "connect_timeout": "10"}}'
)
#: Set by the orchestrator as ``AIRFLOW_CONN_BENCH_ENV=INPUT_URI`` for both sides.
ENV_CONN_ID = "bench_env"
#: Stored in each side's metastore (hookline SQLite / Airflow ``airflow db migrate`` SQLite).
META_CONN_ID = "bench_meta"
MISSING_CONN_ID = "bench_missing"
MEMORY_COUNT = 10_000

Factory = Callable[[dict[str, Any]], Callable[[], object]]


def rss_bytes() -> int:
    """Resident set size of this process, from /proc/self/statm."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        resident_pages = int(fh.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def memory_uris(count: int = MEMORY_COUNT) -> list[tuple[str, str]]:
    """``count`` distinct (conn_id, URI) pairs, the same on both sides."""
    return [
        (
            f"conn_{i:05d}",
            f"postgres://user{i}:pw-{i}-s3cr3t@host{i}.example.com:5432/db{i}?sslmode=require",
        )
        for i in range(count)
    ]


# ---------------------------------------------------------------- hookline side


def _hl_uri_parse(params: dict[str, Any]) -> Callable[[], object]:
    from hookline import Connection

    def op() -> object:
        return Connection.from_uri(INPUT_URI, conn_id="bench")

    return op


def _hl_uri_render(params: dict[str, Any]) -> Callable[[], object]:
    """Render from scratch: hookline memoizes ``get_uri()`` per object, so the memo is cleared
    before every call (the clearing is inside the timed call, against hookline)."""
    from hookline import Connection

    conn = Connection.from_uri(INPUT_URI, conn_id="bench")
    get_uri = conn.get_uri
    if "_uri" not in getattr(Connection, "__slots__", ()):
        return get_uri
    clear = object.__setattr__

    def op() -> object:
        clear(conn, "_uri", None)
        return get_uri()

    return op


def _hl_uri_render_repeat(params: dict[str, Any]) -> Callable[[], object]:
    from hookline import Connection

    return Connection.from_uri(INPUT_URI, conn_id="bench").get_uri


def _hl_json_parse(params: dict[str, Any]) -> Callable[[], object]:
    from hookline import Connection

    def op() -> object:
        return Connection.from_json(INPUT_JSON, conn_id="bench")

    return op


def _hl_get_env(params: dict[str, Any]) -> Callable[[], object]:
    import hookline

    get = hookline.get_connection

    def op() -> object:
        return get(ENV_CONN_ID)

    return op


def _hl_not_found(params: dict[str, Any]) -> Callable[[], object]:
    import hookline

    get = hookline.get_connection
    not_found = hookline.ConnectionNotFound

    def op() -> object:
        try:
            get(MISSING_CONN_ID)
        except not_found:
            return None
        raise AssertionError("bench_missing was found")

    return op


def _hl_metastore(params: dict[str, Any]) -> Callable[[], object]:
    from hookline import Connection
    from hookline.secrets.metastore import MetastoreBackend

    backend = MetastoreBackend(fernet_keys=[params["fernet_key"]], home=params["hookline_home"])
    backend.set_connection(Connection.from_uri(INPUT_URI, conn_id=META_CONN_ID))

    def op() -> object:
        conn = backend.get_connection(META_CONN_ID)
        assert conn is not None
        return conn

    return op


def _hl_memory(params: dict[str, Any], samples: int) -> list[float]:
    from hookline import Connection

    uris = memory_uris()
    Connection.from_uri(INPUT_URI, conn_id="warm")
    gc.collect()
    before = rss_bytes()
    held = {conn_id: Connection.from_uri(uri, conn_id=conn_id) for conn_id, uri in uris}
    gc.collect()
    after = rss_bytes()
    assert len(held) == len(uris)
    return [(after - before) / 1e6]


# ---------------------------------------------------------------- Airflow side


def _af_uri_parse(params: dict[str, Any]) -> Callable[[], object]:
    from airflow.sdk import Connection  # type: ignore[import-not-found, unused-ignore]

    def op() -> object:
        return Connection(conn_id="bench", uri=INPUT_URI)

    return op


def _af_uri_parse_orm(params: dict[str, Any]) -> Callable[[], object]:
    from airflow.models.connection import Connection  # type: ignore[import-not-found, unused-ignore]

    def op() -> object:
        return Connection(conn_id="bench", uri=INPUT_URI)

    return op


def _af_uri_render(params: dict[str, Any]) -> Callable[[], object]:
    from airflow.sdk import Connection  # type: ignore[import-not-found, unused-ignore]

    conn = Connection(conn_id="bench", uri=INPUT_URI)

    def op() -> object:
        return conn.get_uri()

    return op


def _af_json_parse(params: dict[str, Any]) -> Callable[[], object]:
    from airflow.sdk import Connection  # type: ignore[import-not-found, unused-ignore]

    def op() -> object:
        return Connection.from_json(INPUT_JSON, conn_id="bench")

    return op


def _af_get_env(params: dict[str, Any]) -> Callable[[], object]:
    from airflow.sdk import BaseHook  # type: ignore[import-not-found, unused-ignore]

    get = BaseHook.get_connection

    def op() -> object:
        return get(ENV_CONN_ID)

    return op


def _af_not_found(params: dict[str, Any]) -> Callable[[], object]:
    from airflow.sdk import BaseHook  # type: ignore[import-not-found, unused-ignore]
    from airflow.sdk.exceptions import AirflowNotFoundException  # type: ignore[import-not-found, unused-ignore]

    get = BaseHook.get_connection

    def op() -> object:
        try:
            get(MISSING_CONN_ID)
        except AirflowNotFoundException:
            return None
        raise AssertionError("bench_missing was found")

    return op


def _af_metastore(params: dict[str, Any]) -> Callable[[], object]:
    from airflow.models.connection import Connection  # type: ignore[import-not-found, unused-ignore]

    get = Connection.get_connection_from_secrets

    def op() -> object:
        return get(META_CONN_ID)

    return op


def _af_memory(params: dict[str, Any], samples: int) -> list[float]:
    from airflow.sdk import Connection  # type: ignore[import-not-found, unused-ignore]

    uris = memory_uris()
    Connection(conn_id="warm", uri=INPUT_URI)
    gc.collect()
    before = rss_bytes()
    held = {conn_id: Connection(conn_id=conn_id, uri=uri) for conn_id, uri in uris}
    gc.collect()
    after = rss_bytes()
    assert len(held) == len(uris)
    return [(after - before) / 1e6]


OPS: dict[str, tuple[str, dict[str, Any]]] = {
    "uri_parse": ("calls", {"hookline": _hl_uri_parse, "airflow": _af_uri_parse}),
    "uri_parse_orm": ("calls", {"hookline": _hl_uri_parse, "airflow": _af_uri_parse_orm}),
    "uri_render": ("calls", {"hookline": _hl_uri_render, "airflow": _af_uri_render}),
    "uri_render_repeat": ("calls", {"hookline": _hl_uri_render_repeat, "airflow": _af_uri_render}),
    "json_parse": ("calls", {"hookline": _hl_json_parse, "airflow": _af_json_parse}),
    "get_env_cold": ("once", {"hookline": _hl_get_env, "airflow": _af_get_env}),
    "get_env_warm": ("calls", {"hookline": _hl_get_env, "airflow": _af_get_env}),
    "not_found": ("calls", {"hookline": _hl_not_found, "airflow": _af_not_found}),
    "metastore": ("calls", {"hookline": _hl_metastore, "airflow": _af_metastore}),
    "memory_10k": ("value", {"hookline": _hl_memory, "airflow": _af_memory}),
}
