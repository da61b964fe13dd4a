"""Variables in the metastore on a real PostgreSQL server started by the suite: encrypted rows,
atomic bulk writes under concurrency, key checks, and the cache across two backends."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest

from hookline.config import CacheSettings
from hookline.exceptions import DecryptionError, InvalidVariable, VariableNotFound
from hookline.resolve import SecretsChain
from hookline.resolve.cache import CachedResolver
from hookline.secrets.metastore import MetastoreBackend
from hookline.secrets.metastore.keys import fingerprint, generate_key
from hookline.secrets.metastore.migrations import HEAD_REVISION
from tests.servers.postgres import PostgresServer

CANARY = "c4n4ry-V4r-S3cret!"
DB_PASSWORD = "db-c4n4ry-Pw!"


@pytest.fixture
def url(postgres_server: PostgresServer) -> str:
    name = postgres_server.unique_name("vars")
    database = postgres_server.create_database(name, owner_password=DB_PASSWORD)
    return postgres_server.url(database, user=database, password=DB_PASSWORD)


@pytest.fixture
def key() -> str:
    return generate_key()


@pytest.fixture
def store(url: str, key: str) -> Iterator[MetastoreBackend]:
    backend = MetastoreBackend(url, fernet_keys=key)
    yield backend
    backend.close()


def test_round_trip_encrypted_at_rest(
    store: MetastoreBackend, key: str, postgres_server: PostgresServer
) -> None:
    assert store.get_variable("a") is None  # no schema yet
    store.set_variables([("api_secret", CANARY), ("region", "eu-west-1")])
    assert store.schema_revision() == HEAD_REVISION
    assert store.get_variable("api_secret") == CANARY
    assert list(store.list_variables()) == [("api_secret", CANARY), ("region", "eu-west-1")]
    database = store.url.database
    assert database is not None
    with psycopg.connect(postgres_server.url(database, driver="postgresql")) as raw:
        rows = raw.execute('select "key", val, key_id from variable order by "key"').fetchall()
    assert [r[0] for r in rows] == ["api_secret", "region"]
    assert all(CANARY not in r[1] and r[2] == fingerprint(key) for r in rows)
    assert store.delete_variable("region") is True
    assert store.get_variable("region") is None


def test_overwrite_false_is_all_or_nothing(store: MetastoreBackend) -> None:
    store.set_variable("a", "1")
    with pytest.raises(InvalidVariable, match="variable 'a' already exists"):
        store.set_variables([("new", "x"), ("a", "2")], overwrite=False)
    assert store.get_variable("new") is None
    assert store.get_variable("a") == "1"


def test_concurrent_bulk_writers_never_interleave(url: str, key: str) -> None:
    """Two processes' worth of backends each write the same 50 keys with their own value: every
    key ends with the value of one writer (the last transaction), never a mix."""
    backends = [MetastoreBackend(url, fernet_keys=key) for _ in range(2)]
    keys = [f"k{i:02d}" for i in range(50)]
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            for _ in range(5):
                backends[index].set_variables([(k, f"writer{index}") for k in keys])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert errors == []
        values = {value for _, value in backends[0].list_variables()}
        assert len(values) == 1
    finally:
        for backend in backends:
            backend.close()


def test_a_machine_with_another_key_is_refused(url: str, store: MetastoreBackend) -> None:
    store.set_variable("db_token", CANARY)
    other = MetastoreBackend(url, fernet_keys=generate_key())
    try:
        with pytest.raises(DecryptionError) as info:
            other.get_variable("db_token")
        assert CANARY not in str(info.value)
        with pytest.raises(DecryptionError, match="refusing to store"):
            other.set_variable("x", "1")
    finally:
        other.close()


def test_cached_resolver_sees_writes_from_another_backend(url: str, key: str) -> None:
    reader = MetastoreBackend(url, fernet_keys=key)
    writer = MetastoreBackend(url, fernet_keys=key)
    resolver = CachedResolver(
        SecretsChain([reader]), CacheSettings(change_check_interval_seconds=0.0)
    )
    try:
        writer.set_variable("x", "1")
        assert resolver.get_variable("x") == "1"
        writer.set_variable("x", "2")
        assert resolver.get_variable("x") == "2"
        writer.delete_variable("x")
        with pytest.raises(VariableNotFound):
            resolver.get_variable("x")
    finally:
        resolver.close()
        writer.close()
