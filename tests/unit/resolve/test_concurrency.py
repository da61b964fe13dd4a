"""Concurrency: 16 reader threads x 1,000 lookups while a writer keeps updating connections.

No error, no torn read (every field of a read comes from the same written version), and every read
is a value that was written.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable

import pytest

import hookline
from hookline.config import CacheSettings
from hookline.connection import Connection
from hookline.resolve import SecretsChain
from hookline.resolve import default as resolver
from hookline.resolve.cache import CachedResolver
from hookline.secrets.env import EnvBackend
from hookline.testing import InMemoryBackend, override_connections

READERS = 16
LOOKUPS = 1_000
IDS = ("alpha", "beta", "gamma", "delta")


def version(conn_id: str, number: int) -> Connection:
    """Version ``number`` of ``conn_id``: every field carries the number, so mixing shows."""
    return Connection(
        conn_id=conn_id,
        conn_type="postgres",
        host=f"{conn_id}-host-{number}",
        login=f"user-{number}",
        password=f"c4n4ry-S3cret-{number}",
        schema=f"db{number}",
        port=1000 + number % 60000,
        extra={"version": number},
    )


def run_readers_and_writer(
    write: Callable[[Connection], None], read: Callable[[str], Connection]
) -> tuple[list[BaseException], int, int]:
    """Run the readers against ``read`` while one thread writes new versions with ``write``."""
    written: set[Connection] = set()
    written_lock = threading.Lock()
    for conn_id in IDS:
        first = version(conn_id, 0)
        written.add(first)
        write(first)
    errors: list[BaseException] = []
    readers_done = threading.Event()
    writes = 0
    reads = 0
    count_lock = threading.Lock()
    start = threading.Barrier(READERS + 1)

    def writer() -> None:
        nonlocal writes
        number = 0
        start.wait()
        try:
            while not readers_done.is_set():
                number += 1
                conn = version(IDS[number % len(IDS)], number)
                with written_lock:
                    written.add(conn)  # recorded before anyone can read it
                write(conn)
                writes += 1
        except BaseException as exc:
            errors.append(exc)

    def reader(index: int) -> None:
        nonlocal reads
        start.wait()
        done = 0
        try:
            for i in range(LOOKUPS):
                conn_id = IDS[(index + i) % len(IDS)]
                conn = read(conn_id)
                number = conn.extra["version"]
                assert conn.conn_id == conn_id
                assert conn == version(conn_id, number), "torn read"
                with written_lock:
                    assert conn in written, "read a value that was never written"
                done += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            with count_lock:
                reads += done

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(READERS)]
    write_thread = threading.Thread(target=writer)
    write_thread.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    readers_done.set()
    write_thread.join()
    return errors, reads, writes


@pytest.mark.parametrize("ttl_seconds", [300.0, 0.0005])
def test_cached_reads_during_writes(ttl_seconds: float) -> None:
    """Through the cache (long TTL: invalidation does the work; tiny TTL: expiry and single flight
    run constantly), every read is whole and was written."""
    backend = InMemoryBackend()
    chain = SecretsChain([EnvBackend(environ={}), backend])
    cached = CachedResolver(chain, CacheSettings(ttl_seconds=ttl_seconds))
    resolver.set_default_resolver(cached)
    errors, reads, writes = run_readers_and_writer(chain.set_connection, hookline.get_connection)
    assert errors == []
    assert reads == READERS * LOOKUPS
    assert writes > 0
    stats = cached.stats
    assert stats.invalidations >= writes
    assert stats.backend_calls <= stats.misses


def test_uncached_chain_reads_during_writes() -> None:
    """The bare chain is just as safe under concurrent writes."""
    backend = InMemoryBackend()
    chain = SecretsChain([backend])
    errors, reads, writes = run_readers_and_writer(chain.set_connection, chain.get_connection)
    assert errors == []
    assert reads == READERS * LOOKUPS
    assert writes > 0


def test_override_resolver_reads_during_writes() -> None:
    """override_connections is safe to use from many threads that run in its context (it is a
    ContextVar: threads see it only when they run in a copy of the context that opened it)."""
    with override_connections() as backend:
        context = contextvars.copy_context()

        def get_in_context(conn_id: str) -> Connection:
            return context.copy().run(hookline.get_connection, conn_id)

        errors, reads, _ = run_readers_and_writer(backend.set_connection, get_in_context)
    assert errors == []
    assert reads == READERS * LOOKUPS
