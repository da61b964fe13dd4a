"""The metastore backend against a real PostgreSQL server started by the test suite."""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from hookline import BackendUnavailable, Connection, DecryptionError, InvalidConnection
from hookline.exceptions import KeyNotConfigured, ListingIncomplete
from hookline.secrets.metastore import MetastoreBackend
from hookline.secrets.metastore.keys import FERNET_KEY_ENV, fingerprint, generate_key
from hookline.secrets.metastore.migrations import HEAD_REVISION
from tests.servers._proc import free_port
from tests.servers.postgres import PG_BIN, PostgresServer

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


def raw_rows(server: PostgresServer, database: str) -> list[dict[str, object]]:
    with psycopg.connect(server.url(database, driver="postgresql"), row_factory=dict_row) as raw:
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
    """The stored row holds no text field in clear; key_id is the key's fingerprint."""
    backend.set_connection(make_conn())
    rows = raw_rows(postgres_server, database)
    for plain in (CANARY, "api_token", "alice"):
        assert plain not in repr(rows)
    assert rows[0]["key_id"] == fingerprint(key)


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
    assert {row["key_id"] for row in raw_rows(postgres_server, database)} == {fingerprint(new)}
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


# -- issue 12.3: credentials inside host (and every text field) are not stored in clear ----------

HOST_TOKEN = "pg-h0st-T0ken-C4n4ry"


def test_no_credential_in_clear_in_a_pg_dump_or_the_echo_log(
    postgres_server: PostgresServer,
    database: str,
    key: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A host with userinfo, a login that is an API key and the other text fields: neither a full
    pg_dump of the database nor SQLAlchemy's echo log (parameters included) holds any of them."""
    caplog.set_level(logging.DEBUG)
    url = postgres_server.url(database, user=database, password=DB_PASSWORD)
    store = MetastoreBackend(url, fernet_keys=key, echo="debug")
    secret_fields = {
        "host": f"https://bob:{HOST_TOKEN}@api.example.com",
        "login": "pg-l0gin-ap1-k3y-C4n4ry",
        "schema": "pg-sch3ma-C4n4ry",
        "description": "pg-d3scr-C4n4ry",
    }
    conn = Connection(conn_id="api", conn_type="http", password=CANARY, **secret_fields)
    store.set_connection(conn)
    store.set_connections([conn.replace(conn_id="api2"), conn.replace(conn_id="api3")])
    assert store.get_connection("api") == conn
    store.close()
    dump = tmp_path / "dump.sql"
    subprocess.run(
        [str(PG_BIN / "pg_dump"), "-h", postgres_server.host, "-p", str(postgres_server.port),
         "-U", postgres_server.superuser, "-f", str(dump), database],
        env={**os.environ, "PGPASSWORD": postgres_server.superuser_password},
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    text = dump.read_text()
    assert "COPY public.connection" in text
    assert "INSERT INTO connection" in caplog.text  # the echo log was captured
    for haystack in (text, caplog.text):
        for value in (HOST_TOKEN, CANARY, "api.example.com", *secret_fields.values()):
            assert value not in haystack


# -- issue 12.10: a NUL character is a typed InvalidConnection, not an outage --------------------


@pytest.mark.parametrize("field", ["host", "login", "password", "schema", "description"])
def test_nul_character_is_invalid_connection_on_postgres(
    backend: MetastoreBackend, field: str
) -> None:
    """A NUL in a field: InvalidConnection naming the field (no "connect timeout" outage), nothing
    written, and the backend keeps working."""
    bad = Connection(conn_id="bad", conn_type="http", **{field: f"x\x00{CANARY}"})
    with pytest.raises(InvalidConnection) as info:
        backend.set_connections([make_conn("good"), bad])
    assert f"the {field} contains a NUL character" in str(info.value)
    assert "timeout" not in str(info.value)
    assert CANARY not in str(info.value)
    assert list(backend.list_connections()) == []
    backend.set_connection(make_conn())
    assert backend.get_connection("warehouse") is not None


# -- issue 13.3: one shared metastore, one key -----------------------------------------------------


def test_two_machines_never_split_a_shared_metastore_across_keys(
    postgres_server: PostgresServer,
    database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two machines (two HOOKLINE_HOMEs) on one PostgreSQL metastore:

    * without a configured key, a write is KeyNotConfigured saying how to share one, and nothing
      is generated (not even when the home holds a fernet.key of its own SQLite metastore);
    * machine A stores rows under key K1; machine B, configured with K2, is refused on write
      (DecryptionError naming both fingerprints), its reads fail per row, and its listing raises
      ListingIncomplete naming every row instead of showing an empty table;
    * once B gets K1 through a key file, both read and write everything.
    """
    url = postgres_server.url(database, user=database, password=DB_PASSWORD)
    home_a, home_b = tmp_path / "machine-a", tmp_path / "machine-b"
    monkeypatch.delenv(FERNET_KEY_ENV, raising=False)

    # No key anywhere: refused, nothing generated.
    keyless = MetastoreBackend(url, home=home_a)
    with pytest.raises(KeyNotConfigured) as info:
        keyless.set_connection(make_conn("a1"))
    message = str(info.value)
    assert "does not generate" in message
    assert "hookline keys generate" in message
    assert FERNET_KEY_ENV in message
    assert "key_file" in message
    assert not home_a.exists()
    # A home key file (a local SQLite's key) is not taken for the shared database either.
    local = MetastoreBackend(home=home_a)
    local.set_connection(make_conn("local"))
    local.close()
    assert (home_a / "fernet.key").exists()
    with pytest.raises(KeyNotConfigured):
        MetastoreBackend(url, home=home_a).set_connection(make_conn("a1"))
    with psycopg.connect(postgres_server.url(database, driver="postgresql")) as raw:
        assert raw.execute("select to_regclass('connection')").fetchone() == (None,)
    keyless.close()

    k1, k2 = generate_key(), generate_key()
    monkeypatch.setenv(FERNET_KEY_ENV, k1)
    machine_a = MetastoreBackend(url, home=home_a)
    machine_a.set_connections([make_conn("a1"), make_conn("a2")])
    monkeypatch.setenv(FERNET_KEY_ENV, k2)
    machine_b = MetastoreBackend(url, home=home_b)
    with pytest.raises(DecryptionError) as refused:
        machine_b.set_connection(make_conn("b1"))
    assert fingerprint(k1) in str(refused.value)
    assert fingerprint(k2) in str(refused.value)
    assert CANARY not in str(refused.value)
    with pytest.raises(DecryptionError):
        machine_b.get_connection("a1")
    with pytest.raises(ListingIncomplete) as listing:
        list(machine_b.list_connections())
    assert listing.value.conn_ids == ("a1", "a2")
    assert {row["key_id"] for row in raw_rows(postgres_server, database)} == {fingerprint(k1)}
    machine_b.close()

    monkeypatch.delenv(FERNET_KEY_ENV)
    shared = tmp_path / "shared.key"
    shared.write_text(k1 + "\n")
    shared.chmod(0o600)
    machine_b = MetastoreBackend(url, home=home_b, key_file=shared)
    machine_b.set_connection(make_conn("b1"))
    assert [c.conn_id for c in machine_a.list_connections()] == ["a1", "a2", "b1"]
    assert [c.conn_id for c in machine_b.list_connections()] == ["a1", "a2", "b1"]
    machine_a.close()
    machine_b.close()


def _race_write(
    store: MetastoreBackend, name: str, barrier: threading.Barrier, outcomes: list[str]
) -> None:
    barrier.wait()
    try:
        store.set_connection(make_conn(name))
        outcomes.append("stored")
    except DecryptionError:
        outcomes.append("refused")


def test_first_writes_of_two_machines_at_once_end_under_one_key(
    postgres_server: PostgresServer, database: str
) -> None:
    """Both machines write their first row into the empty table at the same moment, each under its
    own key: the advisory lock serializes the key checks, so exactly one succeeds, every round."""
    url = postgres_server.url(database, user=database, password=DB_PASSWORD)
    admin = psycopg.connect(postgres_server.url(database, driver="postgresql"), autocommit=True)
    first = MetastoreBackend(url, fernet_keys=generate_key())
    first.set_connection(Connection(conn_id="schema", conn_type="http"))
    first.close()
    for _round in range(5):
        admin.execute("DELETE FROM connection")
        stores = [MetastoreBackend(url, fernet_keys=generate_key()) for _ in range(2)]
        for store in stores:
            store.change_counter()  # connected and ready before the race
        barrier = threading.Barrier(2)
        outcomes: list[str] = []
        threads = [
            threading.Thread(target=_race_write, args=(s, f"m{i}", barrier, outcomes))
            for i, s in enumerate(stores)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(outcomes) == ["refused", "stored"]
        assert len({row["key_id"] for row in raw_rows(postgres_server, database)}) == 1
        for store in stores:
            store.close()
    admin.close()
