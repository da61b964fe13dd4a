"""One metastore, one key: when a key may be generated, and writes that would split the store.

Rules (issue 13.3 / 12.2): a key file is generated only for a SQLite metastore that holds no rows; a
write refuses to add a row under a key that cannot read the rows already stored; a missing key file
is never silently regenerated while rows exist. (PostgreSQL, which never generates a key, is tested
against a real server in tests/integration/test_metastore_postgres.py.)
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hookline import Connection, DecryptionError
from hookline.exceptions import ConfigurationError, KeyNotConfigured
from hookline.secrets.metastore import MetastoreBackend
from hookline.secrets.metastore.keys import fingerprint, generate_key

CANARY = "k3y-rul3s-C4n4ry!"


def conn(conn_id: str, password: str | None = CANARY) -> Connection:
    return Connection(conn_id=conn_id, conn_type="postgres", host="db", password=password)


def row_count(home: Path) -> int:
    with sqlite3.connect(home / "hookline.db") as raw:
        return int(raw.execute("select count(*) from connection").fetchone()[0])


def test_first_write_to_an_empty_sqlite_metastore_generates_the_key_file(tmp_path: Path) -> None:
    """No key anywhere and no rows: the first write generates <home>/fernet.key (0600) and uses it."""
    home = tmp_path / "home"
    store = MetastoreBackend(home=home)
    store.set_connection(conn("a"))
    key = (home / "fernet.key").read_text().strip()
    assert store.keyring.primary_fingerprint == fingerprint(key)
    assert MetastoreBackend(fernet_keys=key, home=home).get_connection("a") == conn("a")
    store.close()


def test_missing_key_file_is_not_regenerated_while_rows_exist(tmp_path: Path) -> None:
    """The key file is lost after rows were stored: the next write raises KeyNotConfigured (saying
    how many rows, to restore the key), generates nothing and writes nothing; reads say the same."""
    home = tmp_path / "home"
    first = MetastoreBackend(home=home)
    first.set_connection(conn("a"))
    first.close()
    (home / "fernet.key").unlink()
    store = MetastoreBackend(home=home)
    with pytest.raises(KeyNotConfigured) as info:
        store.set_connection(conn("b"))
    message = str(info.value)
    assert "holds 1 connection(s)" in message
    assert "restore the key file" in message
    assert "HOOKLINE_FERNET_KEY" in message
    assert CANARY not in message
    assert not (home / "fernet.key").exists()
    assert row_count(home) == 1
    with pytest.raises(DecryptionError, match="no Fernet key is configured"):
        store.get_connection("a")
    assert not (home / "fernet.key").exists()
    store.close()


def test_rows_without_secrets_also_forbid_generating_a_key(tmp_path: Path) -> None:
    """Even a metastore whose rows hold no encrypted field (only a conn_type) gets no new key."""
    home = tmp_path / "home"
    store = MetastoreBackend(home=home)
    store.set_connection(Connection(conn_id="typed", conn_type="http"))
    assert not (home / "fernet.key").exists()
    with pytest.raises(KeyNotConfigured, match="holds 1 connection"):
        store.set_connection(conn("b"))
    assert not (home / "fernet.key").exists()
    store.close()


def test_a_write_under_a_key_that_cannot_read_the_rows_is_refused(tmp_path: Path) -> None:
    """Machine B (another key) writing to machine A's store: DecryptionError naming both key
    fingerprints and what to do; nothing is written (single and bulk writes)."""
    home = tmp_path / "home"
    key_a, key_b = generate_key(), generate_key()
    a = MetastoreBackend(fernet_keys=key_a, home=home)
    a.set_connection(conn("a1"))
    a.set_connection(conn("a2"))
    b = MetastoreBackend(fernet_keys=key_b, home=home)
    for write in (
        lambda: b.set_connection(conn("b1")),
        lambda: b.set_connections([conn("b1"), conn("b2")]),
        lambda: b.set_connection(conn("a1", password="replaced")),
    ):
        with pytest.raises(DecryptionError) as info:
            write()
        message = str(info.value)
        assert "refusing to store" in message
        assert fingerprint(key_a) in message
        assert fingerprint(key_b) in message
        assert "(2 rows)" in message
        assert "keys rotate" in message
        assert "Nothing was written" in message
        for secret in (CANARY, "replaced", key_a, key_b):
            assert secret not in message
        assert info.value.key_ids == (fingerprint(key_b),)
    assert row_count(home) == 2
    assert a.get_connection("a1") == conn("a1")
    a.close()
    b.close()


def test_a_key_ring_holding_the_old_key_may_write(tmp_path: Path) -> None:
    """'new,old' (a rotation in progress) reads every row, so it may add rows; rotation then moves
    them all under the new key and the new key alone may write."""
    home = tmp_path / "home"
    old, new = generate_key(), generate_key()
    MetastoreBackend(fernet_keys=old, home=home).set_connection(conn("a"))
    both = MetastoreBackend(fernet_keys=[new, old], home=home)
    both.set_connection(conn("b"))
    assert both.rotate_keys() == 1
    only_new = MetastoreBackend(fernet_keys=new, home=home)
    only_new.set_connection(conn("c"))
    assert [c.conn_id for c in only_new.list_connections()] == ["a", "b", "c"]
    both.close()
    only_new.close()


def test_connections_without_encrypted_fields_are_written_under_any_key(tmp_path: Path) -> None:
    """A row with nothing to encrypt adds no key, so it is not refused (and not checked)."""
    home = tmp_path / "home"
    MetastoreBackend(fernet_keys=generate_key(), home=home).set_connection(conn("a"))
    other = MetastoreBackend(fernet_keys=generate_key(), home=home)
    other.set_connection(Connection(conn_id="typed-only", conn_type="http"))
    assert row_count(home) == 2
    other.close()


def test_configured_key_file_is_used_and_never_generated(tmp_path: Path) -> None:
    """key_file= names the shared key; a missing one is a ConfigurationError, never created."""
    key = generate_key()
    key_file = tmp_path / "shared.key"
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    store = MetastoreBackend(home=tmp_path / "home", key_file=key_file)
    store.set_connection(conn("a"))
    assert store.keyring.primary_fingerprint == fingerprint(key)
    assert not (tmp_path / "home" / "fernet.key").exists()
    store.close()
    missing = tmp_path / "missing.key"
    with pytest.raises(ConfigurationError, match="does not exist") as info:
        MetastoreBackend(home=tmp_path / "home2", key_file=missing).set_connection(conn("a"))
    assert "never generates" in str(info.value)
    assert not missing.exists()
