"""The metastore backend against a real PostgreSQL server started by the test suite."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import psycopg
import pytest

from hookline import BackendUnavailable, Connection, DecryptionError, InvalidConnection
from hookline.secrets.metastore import MetastoreBackend
from hookline.secrets.metastore.keys import fingerprint, generate_key
from hookline.secrets.metastore.migrations import HEAD_REVISION
from tests.servers._proc import free_port
from tests.servers.postgres import PostgresServer

CANARY = "c4n4ry-S3cret!"
DB_PASSWORD = "db-c4n4ry-Pw!"


def make_conn(conn_id: str = "warehouse", password: str = CANARY) -> Connection:
    return Connection(
        conn_id=conn_id, conn_type="postgres", host="db", login="alice", password=password,
        schema="app", port=5432, extra={"api_token": "tok-" + password},
    )  # fmt: skip


@pytest.fixture
def database(postgres_server: PostgresServer) -> str:
    """A fresh database owned by a login role of the same name (password DB_PASSWORD)."""
    name = postgres_server.unique_name("meta")
    return postgres_server.create_database(name, owner_password=DB_PASSWORD)


@pytest.fixture
def key() -> str:
    return generate_key()


@pytest.fixture
def backend(postgres_server: PostgresServer, database: str, key: str) -> Iterator[MetastoreBackend]:
    url = postgres_server.url(database, user=database, password=DB_PASSWORD)
    store = MetastoreBackend(url, fernet_keys=key)
    yield store
    store.close()


def raw_rows(server: PostgresServer, database: str) -> list[tuple[object, ...]]:
    with psycopg.connect(server.url(database, driver="postgresql")) as raw:
        return raw.execute("select * from connection order by conn_id").fetchall()


def test_round_trip_and_schema_on_postgres(backend: MetastoreBackend) -> None:
    """set/get/list/delete work on PostgreSQL; the schema is created by the migrations."""
    conn = make_conn()
    backend.set_connection(conn)
    assert backend.get_connection("warehouse") == conn
    value = backend.get_conn_value("warehouse")
    assert value is not None
    assert Connection.from_json(value, conn_id="warehouse") == conn
    assert backend.schema_revision() == HEAD_REVISION
    assert [c.conn_id for c in backend.list_connections()] == ["warehouse"]
    assert backend.delete_connection("warehouse") is True
    assert backend.get_conn_value("warehouse") is None


def test_plain_postgresql_scheme_uses_psycopg(
    postgres_server: PostgresServer, database: str, key: str
) -> None:
    """postgresql:// (no driver) is read as postgresql+psycopg://."""
    url = postgres_server.url(database, user=database, password=DB_PASSWORD, driver="postgresql")
    store = MetastoreBackend(url, fernet_keys=key)
    store.set_connection(make_conn())
    assert store.get_connection("warehouse") is not None
    store.close()


def test_encrypted_at_rest_on_postgres(
    backend: MetastoreBackend, postgres_server: PostgresServer, database: str, key: str
) -> None:
    """The stored row holds no password or extra in clear; key_id is the key's fingerprint."""
    backend.set_connection(make_conn())
    rows = raw_rows(postgres_server, database)
    assert CANARY not in repr(rows)
    assert "api_token" not in repr(rows)
    assert rows[0][-1] == fingerprint(key)


def test_duplicate_and_counter_on_postgres(
    backend: MetastoreBackend, postgres_server: PostgresServer, database: str, key: str
) -> None:
    """overwrite=False refuses duplicates; every write bumps the counter seen by other instances."""
    other = MetastoreBackend(
        postgres_server.url(database, user=database, password=DB_PASSWORD), fernet_keys=key
    )
    start = other.change_counter()
    backend.set_connection(make_conn())
    with pytest.raises(InvalidConnection, match="already exists"):
        backend.set_connection(make_conn(), overwrite=False)
    backend.set_connection(make_conn(password="second-pw"))
    assert other.change_counter() == start + 2
    conn = other.get_connection("warehouse")
    assert conn is not None
    assert conn.password == "second-pw"
    other.close()


def test_wrong_key_on_postgres(
    backend: MetastoreBackend, postgres_server: PostgresServer, database: str
) -> None:
    """Another process with a different key gets DecryptionError naming the id and key ids."""
    backend.set_connection(make_conn())
    wrong = generate_key()
    reader = MetastoreBackend(
        postgres_server.url(database, user=database, password=DB_PASSWORD), fernet_keys=wrong
    )
    with pytest.raises(DecryptionError) as info:
        reader.get_connection("warehouse")
    assert "'warehouse'" in str(info.value)
    assert fingerprint(wrong) in str(info.value)
    assert CANARY not in str(info.value)
    reader.close()


def test_rotation_on_postgres(
    backend: MetastoreBackend, postgres_server: PostgresServer, database: str, key: str
) -> None:
    """Rotation in batches with row locks; afterwards the new key alone reads everything."""
    for i in range(12):
        backend.set_connection(make_conn(f"c{i:02d}", password=f"{CANARY}-{i}"))
    url = postgres_server.url(database, user=database, password=DB_PASSWORD)
    new = generate_key()
    rotating = MetastoreBackend(url, fernet_keys=[new, key])
    assert rotating.rotate_keys(batch_size=5) == 12
    only_new = MetastoreBackend(url, fernet_keys=new)
    assert [c.password for c in only_new.list_connections()] == [f"{CANARY}-{i}" for i in range(12)]
    assert {row[-1] for row in raw_rows(postgres_server, database)} == {fingerprint(new)}
    rotating.close()
    only_new.close()


def test_concurrent_first_use_on_postgres(
    postgres_server: PostgresServer, database: str, key: str
) -> None:
    """Six backends migrating the same empty database at once all succeed (advisory lock)."""
    url = postgres_server.url(database, user=database, password=DB_PASSWORD)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            store = MetastoreBackend(url, fernet_keys=key)
            store.set_connection(make_conn(f"w{i}"))
            store.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = MetastoreBackend(url, fernet_keys=key)
    assert store.change_counter() == 6
    store.close()


def test_reads_survive_terminated_server_connections(
    backend: MetastoreBackend, postgres_server: PostgresServer, database: str
) -> None:
    """After the server kills every session, the next read reconnects instead of failing."""
    backend.set_connection(make_conn())
    assert backend.get_connection("warehouse") is not None
    postgres_server.execute(
        "select pg_terminate_backend(pid) from pg_stat_activity "
        f"where datname = '{database}' and pid <> pg_backend_pid()"
    )
    assert backend.get_connection("warehouse") is not None
    backend.set_connection(make_conn(password="after-kill"))  # the write pool pre-pings
    conn = backend.get_connection("warehouse")
    assert conn is not None
    assert conn.password == "after-kill"


def test_threads_read_while_writer_updates_on_postgres(backend: MetastoreBackend) -> None:
    """Eight reader threads see only written values while another thread keeps updating."""
    written = [f"pw-{i:03d}-value" for i in range(20)]
    backend.set_connection(make_conn(password=written[0]))
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(60):
                conn = backend.get_connection("warehouse")
                assert conn is not None
                assert conn.password in written
        except BaseException as exc:
            errors.append(exc)

    def writer() -> None:
        for password in written[1:]:
            backend.set_connection(make_conn(password=password))

    threads = [threading.Thread(target=reader) for _ in range(8)]
    threads.append(threading.Thread(target=writer))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_unreachable_postgres_is_backend_unavailable() -> None:
    """A closed port gives BackendUnavailable naming host:port, without the password."""
    port = free_port()  # nothing listens there
    store = MetastoreBackend(
        f"postgresql+psycopg://app:{DB_PASSWORD}@127.0.0.1:{port}/appdb",
        fernet_keys=generate_key(),
        connect_timeout_s=2,
    )
    for call in (store.get_conn_value, store.get_connection):
        with pytest.raises(BackendUnavailable) as info:
            call("warehouse")
        message = str(info.value)
        assert f"127.0.0.1:{port}" in message
        assert "connect timeout 2 s" in message
        assert DB_PASSWORD not in message
        assert info.value.backend == "metastore"
        assert info.value.__cause__ is not None
    with pytest.raises(BackendUnavailable):
        store.set_connection(make_conn())
    with pytest.raises(BackendUnavailable):
        store.change_counter()
    store.close()


def test_wrong_database_password_is_backend_unavailable_without_the_password(
    postgres_server: PostgresServer, database: str
) -> None:
    """Authentication failure is reported with host:port and user, never the password tried."""
    bad = "wr0ng-c4n4ry-pw"
    store = MetastoreBackend(
        postgres_server.url(database, user=database, password=bad), fernet_keys=generate_key()
    )
    with pytest.raises(BackendUnavailable) as info:
        store.get_conn_value("x")
    message = str(info.value)
    assert bad not in message
    assert f"{postgres_server.host}:{postgres_server.port}" in message
    assert "password authentication failed" in message
    store.close()


def test_forked_child_reconnects_and_leaves_parent_session_alone(backend: MetastoreBackend) -> None:
    """A forked child opens its own connections; the parent's pooled session keeps working."""
    backend.set_connection(make_conn())
    assert backend.get_connection("warehouse") is not None  # parent now holds an idle reader
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 1
        try:
            conn = backend.get_connection("warehouse")
            code = 0 if conn is not None and conn.password == CANARY else 2
            backend.close()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    for _ in range(3):
        conn = backend.get_connection("warehouse")
        assert conn is not None
        assert conn.password == CANARY
