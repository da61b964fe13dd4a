"""The chain and cache over the real metastore: SQLite files shared by instances and processes, and a
real PostgreSQL server. Other writers' changes are seen once the change counter is checked."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import hookline
from hookline.config import CacheSettings
from hookline.connection import Connection
from hookline.exceptions import ConnectionNotFound, DecryptionError
from hookline.resolve import SecretsChain
from hookline.resolve import default as resolver
from hookline.resolve.cache import CachedResolver
from hookline.secrets.env import EnvBackend
from hookline.secrets.metastore import MetastoreBackend
from hookline.secrets.metastore.keys import generate_key
from tests.servers.postgres import PostgresServer
from tests.unit.resolve.test_concurrency import LOOKUPS, READERS, run_readers_and_writer

CANARY = "c4n4ry-S3cret!"


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def conn(host: str, conn_id: str = "wh") -> Connection:
    return Connection(conn_id=conn_id, conn_type="postgres", host=host, password=CANARY)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "shared-home"


@pytest.fixture
def key() -> str:
    return generate_key()


@pytest.fixture
def pair(home: Path, key: str) -> Iterator[tuple[CachedResolver, MetastoreBackend, FakeClock]]:
    """Process A's cached resolver and process B's metastore, on the same SQLite file."""
    mine = MetastoreBackend(home=home, fernet_keys=key)
    theirs = MetastoreBackend(home=home, fernet_keys=key)
    clock = FakeClock()
    cached = CachedResolver(
        SecretsChain([EnvBackend(environ={}), mine]),
        CacheSettings(change_check_interval_seconds=0.25),
        clock=clock,
    )
    try:
        yield cached, theirs, clock
    finally:
        cached.close()
        theirs.close()


def test_other_instance_changes_are_seen_after_the_interval(
    pair: tuple[CachedResolver, MetastoreBackend, FakeClock],
) -> None:
    """Updates, creations and deletions by another writer show up once the counter is checked,
    and not before (the cache really serves from memory in between)."""
    cached, theirs, clock = pair
    theirs.set_connection(conn("v1"))
    assert cached.get_connection("wh").host == "v1"
    with pytest.raises(ConnectionNotFound):
        cached.get_connection("later")
    theirs.set_connection(conn("v2"))
    theirs.set_connection(conn("created", "later"))
    clock.now += 0.1
    assert cached.get_connection("wh").host == "v1"
    with pytest.raises(ConnectionNotFound):
        cached.get_connection("later")
    clock.now += 0.2
    assert cached.get_connection("wh").host == "v2"
    assert cached.get_connection("later").host == "created"
    assert theirs.delete_connection("wh") is True
    clock.now += 0.3
    with pytest.raises(ConnectionNotFound) as exc_info:
        cached.get_connection("wh")
    assert "hookline.db:connection/wh" in str(exc_info.value)
    assert CANARY not in str(exc_info.value)
    assert cached.stats.change_resets == 2


def test_other_process_write_is_seen(
    pair: tuple[CachedResolver, MetastoreBackend, FakeClock], home: Path, key: str
) -> None:
    """A write by a separate Python process moves the counter this process checks."""
    cached, theirs, clock = pair
    theirs.set_connection(conn("before"))
    assert cached.get_connection("wh").host == "before"
    script = textwrap.dedent(
        f"""
        from hookline.connection import Connection
        from hookline.secrets.metastore import MetastoreBackend
        store = MetastoreBackend(home={str(home)!r}, fernet_keys={key!r})
        store.set_connection(Connection(conn_id="wh", conn_type="postgres", host="from-child"))
        store.close()
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    clock.now += 1.0
    assert cached.get_connection("wh").host == "from-child"


def test_cold_lookup_traces_env_then_metastore(home: Path) -> None:
    """A cold lookup asks env, then the metastore, and the trace shows both with their keys."""
    store = MetastoreBackend(home=home)
    chain = SecretsChain([EnvBackend(environ={}), store])
    try:
        store.set_connection(conn("db"))
        result = chain.lookup("wh")
        assert [(s.backend, s.outcome) for s in result.trace.steps] == [
            ("env", "absent"),
            ("metastore", "hit"),
        ]
        assert result.trace.steps[1].keys == ["hookline.db:connection/wh"]
        assert result.connection is not None
        assert result.connection.password == CANARY
        assert CANARY not in str(result.trace)
    finally:
        chain.close()


def test_wrong_key_is_a_decryption_error_through_chain_and_cache(home: Path, key: str) -> None:
    """A value no configured key decrypts raises DecryptionError (no fall-through, not cached);
    the trace records it as invalid and nothing shows the secret."""
    writer = MetastoreBackend(home=home, fernet_keys=key)
    writer.set_connection(conn("db"))
    writer.close()
    reader = MetastoreBackend(home=home, fernet_keys=generate_key())
    cached = CachedResolver(
        SecretsChain([reader, EnvBackend(environ={"HOOKLINE_CONN_WH": "http://e"})])
    )
    try:
        for _ in range(2):
            with pytest.raises(DecryptionError) as exc_info:
                cached.get_connection("wh")
            assert exc_info.value.conn_id == "wh"
            assert CANARY not in str(exc_info.value)
        trace = exc_info.value.trace  # type: ignore[attr-defined]
        assert [step.outcome for step in trace.steps] == ["invalid"]
        assert "DecryptionError" in trace.steps[0].detail
        assert CANARY not in str(trace)
        assert cached.stats.backend_calls == 2
    finally:
        cached.close()


def test_concurrent_reads_during_writes_on_sqlite(home: Path) -> None:
    """16 threads x 1,000 cached lookups while a thread writes to the SQLite metastore."""
    store = MetastoreBackend(home=home)
    chain = SecretsChain([EnvBackend(environ={}), store])
    cached = CachedResolver(chain, CacheSettings(change_check_interval_seconds=0.01))
    try:
        errors, reads, writes = run_readers_and_writer(chain.set_connection, cached.get_connection)
    finally:
        cached.close()
    assert errors == []
    assert reads == READERS * LOOKUPS
    assert writes > 0


def test_default_resolver_uses_env_then_metastore(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no configuration, hookline.get_connection reads env then the home's metastore, and
    writes through default_chain() are visible at once."""
    monkeypatch.setenv("HOOKLINE_CONN_FROM_ENV", "http://env-host")
    chain = resolver.default_chain()
    assert [b.name for b in chain.backends] == ["env", "metastore"]
    chain.set_connection(conn("stored"))
    assert hookline.get_connection("wh").host == "stored"
    assert hookline.get_connection("from_env").host == "env-host"
    chain.set_connection(conn("updated"))
    assert hookline.get_connection("wh").host == "updated"
    with pytest.raises(ConnectionNotFound) as exc_info:
        hookline.get_connection("nope")
    message = str(exc_info.value)
    assert "HOOKLINE_CONN_NOPE" in message
    assert "hookline.db:connection/nope" in message
    default = resolver.default_resolver()
    assert isinstance(default, CachedResolver)
    default.close()


def test_two_instances_on_postgres_see_each_others_writes(postgres_server: PostgresServer) -> None:
    """The same cross-process bound holds on a shared PostgreSQL metastore."""
    database = postgres_server.create_database(postgres_server.unique_name("chain"))
    url = postgres_server.url(database)
    key = generate_key()
    mine = MetastoreBackend(url, fernet_keys=key)
    theirs = MetastoreBackend(url, fernet_keys=key)
    clock = FakeClock()
    cached = CachedResolver(SecretsChain([mine]), CacheSettings(), clock=clock)
    try:
        theirs.set_connection(conn("pg-v1"))
        assert cached.get_connection("wh").host == "pg-v1"
        theirs.set_connection(conn("pg-v2"))
        assert cached.get_connection("wh").host == "pg-v1"
        clock.now += 0.3
        assert cached.get_connection("wh").host == "pg-v2"
        assert cached.stats.change_resets == 1
    finally:
        cached.close()
        theirs.close()
