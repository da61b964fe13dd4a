"""Tests for the SQLite metastore backend: storage, encryption at rest, keys, rotation, errors."""

from __future__ import annotations

import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from hookline import (
    BackendUnavailable,
    ConfigurationError,
    Connection,
    DecryptionError,
    InvalidConnection,
    masking,
)
from hookline.secrets.metastore import MetastoreBackend
from hookline.secrets.metastore.keys import fingerprint, generate_key
from hookline.secrets.metastore.migrations import HEAD_REVISION, SCRIPT_LOCATION

CANARY = "c4n4ry-S3cret!"
EXTRA_CANARY = "c4n4ry-T0ken-extra"


def make_conn(conn_id: str = "warehouse", password: str | None = CANARY) -> Connection:
    return Connection(
        conn_id=conn_id,
        conn_type="postgres",
        description="the warehouse",
        host="db.example.com",
        login="alice",
        password=password,
        schema="app",
        port=5432,
        extra={"sslmode": "require", "api_token": EXTRA_CANARY},
    )


def raw_rows(db: Path) -> list[dict[str, object]]:
    with sqlite3.connect(db) as raw:
        raw.row_factory = sqlite3.Row
        return [dict(r) for r in raw.execute("select * from connection order by conn_id")]


@pytest.fixture
def key() -> str:
    return generate_key()


@pytest.fixture
def backend(tmp_path: Path, key: str) -> Iterator[MetastoreBackend]:
    store = MetastoreBackend(fernet_keys=key, home=tmp_path / "home")
    yield store
    store.close()


def test_default_database_is_sqlite_in_hookline_home(isolated_hookline: Path) -> None:
    """With no URL and no key, first use creates $HOOKLINE_HOME/hookline.db and a 0600 key file."""
    store = MetastoreBackend()
    assert not isolated_hookline.exists()  # nothing happens before first use
    store.set_connection(make_conn())
    assert (isolated_hookline / "hookline.db").is_file()
    key_file = isolated_hookline / "fernet.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert store.schema_revision() == HEAD_REVISION
    assert store.lookup_keys("warehouse") == ["hookline.db:connection/warehouse"]
    assert store.keyring.fingerprints == (fingerprint(key_file.read_text().strip()),)
    store.close()


def test_round_trip_keeps_every_field(backend: MetastoreBackend) -> None:
    """A stored connection reads back equal, as a Connection and as JSON text."""
    conn = make_conn()
    backend.set_connection(conn)
    assert backend.get_connection("warehouse") == conn
    value = backend.get_conn_value("warehouse")
    assert value is not None
    assert Connection.from_json(value, conn_id="warehouse") == conn
    assert Connection.from_text(value, conn_id="warehouse").description == "the warehouse"


def test_absent_id_is_none(backend: MetastoreBackend) -> None:
    """A missing id gives None, not an error (absent and failed stay distinct)."""
    assert backend.get_conn_value("nope") is None
    assert backend.get_connection("nope") is None


def test_connection_with_only_a_type_needs_no_key(tmp_path: Path) -> None:
    """A connection with no text field but its type is stored in clear, with no key id (and no key
    file is generated for it); one with a host is encrypted."""
    store = MetastoreBackend(home=tmp_path / "home")
    store.set_connection(Connection(conn_id="bare", conn_type="http"))
    assert store.get_connection("bare") == Connection(conn_id="bare", conn_type="http")
    row = raw_rows(store.home / "hookline.db")[0]
    assert (row["key_id"], row["payload"]) == (None, None)
    assert not (store.home / "fernet.key").exists()
    store.close()


def test_every_text_field_is_encrypted_at_rest(backend: MetastoreBackend, key: str) -> None:
    """The raw row holds none of host, login, password, schema, description, extra (one Fernet
    token in payload); key_id is the key's fingerprint; conn_type and port stay in clear."""
    backend.set_connection(make_conn())
    rows = raw_rows(backend.home / "hookline.db")
    text = repr(rows)
    for plain in (CANARY, EXTRA_CANARY, "sslmode", "alice", "db.example.com", "the warehouse"):
        assert plain not in text
    assert rows[0]["key_id"] == fingerprint(key)
    assert (rows[0]["conn_type"], rows[0]["port"]) == ("postgres", 5432)
    assert all(rows[0][c] is None for c in ("host", "login", "password", "schema", "extra"))


def test_duplicate_without_overwrite_raises_already_exists(backend: MetastoreBackend) -> None:
    """overwrite=False refuses an existing id and leaves the stored value alone."""
    backend.set_connection(make_conn())
    with pytest.raises(InvalidConnection, match="already exists") as info:
        backend.set_connection(make_conn(password="other-pass"), overwrite=False)
    assert CANARY not in str(info.value)
    assert info.value.conn_id == "warehouse"
    conn = backend.get_connection("warehouse")
    assert conn is not None
    assert conn.password == CANARY


def test_overwrite_replaces_and_cache_does_not_serve_old_value(backend: MetastoreBackend) -> None:
    """Overwriting changes the stored value; the decrypted-row cache never returns the old one."""
    backend.set_connection(make_conn())
    assert backend.get_connection("warehouse") is not None
    backend.set_connection(make_conn(password="new-password"))
    conn = backend.get_connection("warehouse")
    assert conn is not None
    assert conn.password == "new-password"


def test_delete_reports_whether_it_existed(backend: MetastoreBackend) -> None:
    """delete_connection returns True once, then False; the id is gone."""
    backend.set_connection(make_conn())
    assert backend.delete_connection("warehouse") is True
    assert backend.delete_connection("warehouse") is False
    assert backend.get_conn_value("warehouse") is None


def test_list_connections_is_sorted_and_decrypted(backend: MetastoreBackend) -> None:
    """list_connections yields every stored connection by conn_id."""
    for conn_id in ("b", "a", "c"):
        backend.set_connection(make_conn(conn_id))
    listed = list(backend.list_connections())
    assert [c.conn_id for c in listed] == ["a", "b", "c"]
    assert all(c.password == CANARY for c in listed)


def test_change_counter_bumps_on_every_write_across_instances(
    backend: MetastoreBackend, key: str
) -> None:
    """Each successful write bumps the counter; a second instance on the same db sees it."""
    other = MetastoreBackend(fernet_keys=key, home=backend.home)
    start = other.change_counter()
    backend.set_connection(make_conn())
    assert other.change_counter() == start + 1
    backend.set_connection(make_conn(password="changed"))
    assert other.change_counter() == start + 2
    with pytest.raises(InvalidConnection):
        backend.set_connection(make_conn(), overwrite=False)
    assert backend.delete_connection("missing") is False
    assert other.change_counter() == start + 2
    backend.delete_connection("warehouse")
    assert other.change_counter() == start + 3
    other.close()


def test_connection_without_conn_id_is_rejected(backend: MetastoreBackend) -> None:
    """Storing a connection needs a conn_id."""
    with pytest.raises(InvalidConnection, match="conn_id"):
        backend.set_connection(Connection(conn_type="http", password=CANARY))


def test_wrong_key_raises_decryption_error_naming_conn_id_and_keys(
    backend: MetastoreBackend, key: str
) -> None:
    """Reading with another key names the conn_id, the writing key id and the keys tried."""
    backend.set_connection(make_conn())
    wrong = generate_key()
    reader = MetastoreBackend(fernet_keys=wrong, home=backend.home)
    for call in (reader.get_conn_value, reader.get_connection):
        with pytest.raises(DecryptionError) as info:
            call("warehouse")
        message = str(info.value)
        assert "'warehouse'" in message
        assert fingerprint(wrong) in message
        assert fingerprint(key) in message
        assert info.value.conn_id == "warehouse"
        for secret in (CANARY, EXTRA_CANARY, key, wrong):
            assert secret not in message
    reader.close()


def test_rotation_then_read_with_only_the_new_key(backend: MetastoreBackend, key: str) -> None:
    """keys=new,old then rotate_keys: every row reads with the new key alone; a rerun does nothing."""
    for i in range(7):
        backend.set_connection(make_conn(f"c{i}"))
    backend.set_connection(Connection(conn_id="plain", conn_type="http"))
    before = raw_rows(backend.home / "hookline.db")
    new = generate_key()
    both = MetastoreBackend(fernet_keys=[new, key], home=backend.home)
    seen: list[int] = []
    assert both.rotate_keys(batch_size=3, progress=seen.append) == 7
    assert seen == [3, 6, 7]
    assert both.rotate_keys() == 0
    after = raw_rows(backend.home / "hookline.db")
    tokens = [r["payload"] for r in before if r["conn_id"] != "plain"]
    assert tokens != [r["payload"] for r in after if r["conn_id"] != "plain"]
    assert {r["key_id"] for r in after if r["conn_id"] != "plain"} == {fingerprint(new)}
    only_new = MetastoreBackend(fernet_keys=new, home=backend.home)
    assert [c.password for c in only_new.list_connections() if c.conn_id != "plain"] == [CANARY] * 7
    with pytest.raises(DecryptionError):
        MetastoreBackend(fernet_keys=key, home=backend.home).get_connection("c0")
    assert both.rotate_keys(force=True) == 7
    both.close()
    only_new.close()


def test_rotation_stops_on_an_unknown_key_and_keeps_done_batches(
    backend: MetastoreBackend, key: str
) -> None:
    """A row no configured key opens stops rotation with DecryptionError; earlier batches stay."""
    for i in range(4):
        backend.set_connection(make_conn(f"a{i}"))
    stranger = MetastoreBackend(fernet_keys=[generate_key(), key], home=backend.home)
    stranger.set_connection(make_conn("z-foreign"))  # under a key the rotation will not have
    new = generate_key()
    rotating = MetastoreBackend(fernet_keys=[new, key], home=backend.home)
    with pytest.raises(DecryptionError, match="z-foreign") as info:
        rotating.rotate_keys(batch_size=2)
    assert CANARY not in str(info.value)
    assert MetastoreBackend(fernet_keys=new, home=backend.home).get_connection("a3") is not None
    rotating.close()
    stranger.close()


def test_rotate_keys_rejects_bad_batch_size(backend: MetastoreBackend) -> None:
    """batch_size must be positive."""
    with pytest.raises(ConfigurationError, match="batch_size"):
        backend.rotate_keys(batch_size=0)


def test_malformed_key_is_configuration_error_at_construction(tmp_path: Path) -> None:
    """An explicit malformed key fails at once, without its text in the message."""
    with pytest.raises(ConfigurationError) as info:
        MetastoreBackend(fernet_keys=CANARY, home=tmp_path)
    assert CANARY not in str(info.value)


def test_home_under_a_regular_file_is_configuration_error(tmp_path: Path) -> None:
    """A HOOKLINE_HOME that cannot be created (a file in the way; fails as root too)."""
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    store = MetastoreBackend(fernet_keys=generate_key(), home=blocker / "home")
    for call in (lambda: store.get_conn_value("x"), lambda: store.set_connection(make_conn())):
        with pytest.raises(ConfigurationError, match="cannot create or use HOOKLINE_HOME") as info:
            call()
        assert str(blocker / "home") in str(info.value)


def test_home_that_is_a_file_is_configuration_error(tmp_path: Path) -> None:
    """HOOKLINE_HOME pointing at a regular file is refused with a clear message."""
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    with pytest.raises(ConfigurationError, match="HOOKLINE_HOME"):
        MetastoreBackend(fernet_keys=generate_key(), home=blocker).set_connection(make_conn())


def test_write_to_a_read_only_home_is_configuration_error_and_reads_find_nothing() -> None:
    """A read-only HOOKLINE_HOME (/proc/self refuses new files even to root): reads create nothing
    and find nothing; a write is a ConfigurationError naming the home."""
    store = MetastoreBackend(fernet_keys=generate_key(), home="/proc/self")
    assert store.get_conn_value("x") is None
    assert list(store.list_connections()) == []
    with pytest.raises(ConfigurationError, match="not writable") as info:
        store.set_connection(make_conn())
    assert "/proc/self" in str(info.value)
    assert not isinstance(info.value, BackendUnavailable)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_is_refused(url: str) -> None:
    """An in-memory database would be empty on every connection: refuse it clearly."""
    with pytest.raises(ConfigurationError, match="in-memory"):
        MetastoreBackend(url, fernet_keys=generate_key())


def test_invalid_url_is_configuration_error() -> None:
    """A malformed URL gives ConfigurationError."""
    with pytest.raises(ConfigurationError, match="URL"):
        MetastoreBackend("not a url", fernet_keys=generate_key())


def test_repr_and_lookup_keys_hide_the_database_password() -> None:
    """A PostgreSQL URL's password never shows in repr or lookup keys (nothing connects yet)."""
    store = MetastoreBackend(
        f"postgresql://app:{CANARY}@127.0.0.1:5999/appdb", fernet_keys=generate_key()
    )
    assert CANARY not in repr(store)
    assert "postgresql+psycopg" in repr(store)
    assert store.lookup_keys("x") == ["127.0.0.1:5999/appdb:connection/x"]
    assert CANARY not in repr(store.lookup_keys("x"))


def test_url_secrets_are_masked_in_repr_and_in_driver_errors() -> None:
    """A password given as a query parameter (``?password=``, libpq accepts it) or URL-quoted is
    hidden in repr, and the URL's secrets are registered, so a driver message quoting them (or a
    traceback of the chained SDK error) is masked too; a bad port is a ConfigurationError."""
    quoted = quote(CANARY, safe="")
    store = MetastoreBackend(
        f"postgresql://app:{quoted}@127.0.0.1:5999/appdb?sslpassword={quoted}&password=Pw7",
        fernet_keys=generate_key(),
    )
    text = repr(store)
    for leaked in (CANARY, quoted, "Pw7"):
        assert leaked not in text
    assert "sslpassword=***" in text
    assert (
        masking.redact(f"driver said: bad password {CANARY!r}") == "driver said: bad password '***'"
    )
    with pytest.raises(ConfigurationError, match="not a valid SQLAlchemy URL") as info:
        MetastoreBackend(f"postgresql://app:{quoted}@h:port/db", fernet_keys=generate_key())
    assert CANARY not in str(info.value)
    assert quoted not in str(info.value)


def test_explicit_sqlite_url(tmp_path: Path) -> None:
    """An explicit sqlite:/// URL is used as given."""
    db = tmp_path / "custom.db"
    store = MetastoreBackend(f"sqlite:///{db}", fernet_keys=generate_key(), home=tmp_path)
    store.set_connection(make_conn())
    assert db.is_file()
    assert store.lookup_keys("a") == ["custom.db:connection/a"]
    store.close()


def test_head_revision_constant_matches_the_migration_scripts() -> None:
    """HEAD_REVISION (checked without importing Alembic at run time) is the scripts' head."""
    from alembic.script import ScriptDirectory

    assert ScriptDirectory(SCRIPT_LOCATION).get_current_head() == HEAD_REVISION


def test_concurrent_first_use_migrates_once(tmp_path: Path) -> None:
    """Eight backends racing to create the same database all succeed (migrations are locked)."""
    key = generate_key()
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            store = MetastoreBackend(fernet_keys=key, home=tmp_path / "race")
            store.set_connection(make_conn(f"c{i}"))
            store.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = MetastoreBackend(fernet_keys=key, home=tmp_path / "race")
    assert len(list(store.list_connections())) == 8
    assert store.change_counter() == 8
    store.close()


def test_threads_read_while_a_writer_updates(backend: MetastoreBackend) -> None:
    """Readers in 8 threads always see a value that was written, never an error or a torn row."""
    written = [f"pw-{i:04d}-value" for i in range(40)]
    backend.set_connection(make_conn(password=written[0]))
    errors: list[BaseException] = []
    seen: set[str] = set()

    def reader() -> None:
        try:
            for _ in range(150):
                conn = backend.get_connection("warehouse")
                assert conn is not None
                assert conn.password in written
                seen.add(str(conn.password))
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
    final = backend.get_connection("warehouse")
    assert final is not None
    assert final.password == written[-1]
    assert seen <= set(written)


def test_close_then_reuse_reconnects(backend: MetastoreBackend) -> None:
    """close() releases connections; the backend still works afterwards."""
    backend.set_connection(make_conn())
    backend.close()
    assert backend.get_connection("warehouse") is not None


def test_reading_without_any_key_is_decryption_error_and_generates_no_key(
    backend: MetastoreBackend,
) -> None:
    """Encrypted rows with no key configured: DecryptionError, and no useless key file is made."""
    backend.set_connection(make_conn())
    keyless = MetastoreBackend(home=backend.home)
    with pytest.raises(DecryptionError, match="no Fernet key is configured") as info:
        keyless.get_connection("warehouse")
    assert info.value.conn_id == "warehouse"
    assert CANARY not in str(info.value)
    assert not (backend.home / "fernet.key").exists()
    with pytest.raises(ConfigurationError, match="no Fernet key is configured"):
        keyless.rotate_keys()
    assert not (backend.home / "fernet.key").exists()
    keyless.close()


def test_explicit_sqlite_url_in_missing_directory_is_configuration_error(tmp_path: Path) -> None:
    """An explicit SQLite path whose directory is missing names that directory."""
    db = tmp_path / "no-such-dir" / "x.db"
    store = MetastoreBackend(f"sqlite:///{db}", fernet_keys=generate_key())
    assert store.get_conn_value("x") is None  # nothing stored yet: reads create nothing
    with pytest.raises(ConfigurationError, match="the directory of") as info:
        store.set_connection(make_conn())
    assert str(db) in str(info.value)
    assert not db.parent.exists()
