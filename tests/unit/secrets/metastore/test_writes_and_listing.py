"""Bulk writes (one transaction), refused values (NUL characters) and listings that never drop a row
silently, on the SQLite metastore. The same behaviour on PostgreSQL, and under SIGKILL, is tested in
tests/integration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hookline import Connection, DecryptionError, InvalidConnection
from hookline.exceptions import ListingIncomplete
from hookline.resolve import SecretsChain
from hookline.secrets.env import EnvBackend
from hookline.secrets.metastore import MetastoreBackend
from hookline.secrets.metastore.keys import generate_key

CANARY = "wr1tes-C4n4ry!"


def conn(conn_id: str, host: str = "db") -> Connection:
    return Connection(conn_id=conn_id, conn_type="postgres", host=host, password=CANARY)


@pytest.fixture
def store(tmp_path: Path) -> MetastoreBackend:
    return MetastoreBackend(fernet_keys=generate_key(), home=tmp_path / "home")


def ids(store: MetastoreBackend) -> list[str]:
    return [c.conn_id or "" for c in store.list_connections()]


def test_set_connections_writes_all_in_one_transaction(store: MetastoreBackend) -> None:
    """Inserts and updates together, one counter bump; reads back equal."""
    store.set_connection(conn("a", "old"))
    before = store.change_counter()
    batch = [conn("a", "new"), *(conn(f"n{i:04d}") for i in range(1200))]
    store.set_connections(batch)
    assert store.change_counter() == before + 1
    assert len(ids(store)) == 1201
    assert store.get_connection("a") == conn("a", "new")
    assert store.transactional is True


def test_set_connections_without_overwrite_names_every_existing_id_and_writes_nothing(
    store: MetastoreBackend,
) -> None:
    """overwrite=False with some ids present: InvalidConnection naming them; no row written."""
    store.set_connections([conn("a"), conn("b")])
    with pytest.raises(InvalidConnection, match="2 connections already exist") as info:
        store.set_connections([conn("new"), conn("a"), conn("b")], overwrite=False)
    assert "'a'" in str(info.value)
    assert "'b'" in str(info.value)
    assert "Nothing was written" in str(info.value)
    assert ids(store) == ["a", "b"]
    with pytest.raises(InvalidConnection, match="connection 'a' already exists") as one:
        store.set_connection(conn("a"), overwrite=False)
    assert one.value.conn_id == "a"


def test_set_connections_rejects_repeated_ids_and_writes_nothing(store: MetastoreBackend) -> None:
    """The same id twice in one batch is ambiguous: refused before anything is written."""
    with pytest.raises(InvalidConnection, match="more than once") as info:
        store.set_connections([conn("a"), conn("b"), conn("a")])
    assert "'a'" in str(info.value)
    assert ids(store) == []


@pytest.mark.parametrize("field", ["host", "login", "password", "schema", "description"])
def test_nul_character_is_invalid_connection_naming_the_field(
    store: MetastoreBackend, field: str
) -> None:
    """A NUL in any text field: InvalidConnection naming the field (never the value), nothing
    written, even when the bad connection comes last in a batch."""
    bad = Connection(conn_id="bad", conn_type="http", **{field: f"x\x00{CANARY}"})
    with pytest.raises(InvalidConnection) as info:
        store.set_connections([conn("good"), bad])
    message = str(info.value)
    assert f"the {field} contains a NUL character" in message
    assert CANARY not in message
    assert info.value.conn_id == "bad"
    assert ids(store) == []


def test_list_connections_reports_each_undecryptable_row(tmp_path: Path) -> None:
    """Rows under a key this reader does not have are not dropped silently: every readable row is
    yielded, then ListingIncomplete names each unreadable conn_id and why (no secret)."""
    home = tmp_path / "home"
    mine, theirs = generate_key(), generate_key()
    MetastoreBackend(fernet_keys=mine, home=home).set_connections([conn("a"), conn("c")])
    MetastoreBackend(fernet_keys=[theirs, mine], home=home).set_connections([conn("b"), conn("d")])
    reader = MetastoreBackend(fernet_keys=mine, home=home)
    listed: list[str] = []
    with pytest.raises(ListingIncomplete) as info:
        listed.extend(c.conn_id or "" for c in reader.list_connections())
    assert listed == ["a", "c"]
    assert info.value.conn_ids == ("b", "d")
    assert all(isinstance(f.error, DecryptionError) for f in info.value.failures)
    assert all(f.backend == "metastore" for f in info.value.failures)
    message = str(info.value)
    assert "2 connection(s) could not be read" in message
    assert "'b'" in message
    assert "'d'" in message
    assert CANARY not in message
    assert mine not in message
    assert theirs not in message


def test_a_malformed_row_is_reported_too(tmp_path: Path) -> None:
    """A row whose stored data is damaged (a conn_type hookline refuses) is a failure of its own."""
    store = MetastoreBackend(fernet_keys=generate_key(), home=tmp_path / "home")
    store.set_connections([conn("a"), conn("b")])
    with sqlite3.connect(store.home / "hookline.db") as raw:
        raw.execute("update connection set conn_type = '!!' where conn_id = 'b'")
    with pytest.raises(ListingIncomplete) as info:
        list(store.list_connections())
    assert info.value.conn_ids == ("b",)
    assert isinstance(info.value.failures[0].error, InvalidConnection)


def test_chain_listing_through_the_metastore_is_loud_unless_partial_is_asked(
    tmp_path: Path,
) -> None:
    """Through the chain: no on_error raises ListingIncomplete; with on_error the readable rows of
    every backend are returned and the metastore's error names the unreadable ids."""
    home = tmp_path / "home"
    mine = generate_key()
    MetastoreBackend(fernet_keys=mine, home=home).set_connection(conn("a"))
    MetastoreBackend(fernet_keys=[generate_key(), mine], home=home).set_connection(conn("b"))
    chain = SecretsChain(
        [
            EnvBackend(environ={"HOOKLINE_CONN_E": "http://e"}),
            MetastoreBackend(fernet_keys=mine, home=home),
        ]
    )
    with pytest.raises(ListingIncomplete) as info:
        chain.list_connections()
    assert info.value.conn_ids == ("b",)
    errors: list[tuple[str, Exception]] = []
    found = chain.list_connections(on_error=lambda name, exc: errors.append((name, exc)))
    assert [(name, c.conn_id) for name, c in found] == [("env", "e"), ("metastore", "a")]
    assert [name for name, _ in errors] == ["metastore"]
    error = errors[0][1]
    assert isinstance(error, ListingIncomplete)
    assert error.conn_ids == ("b",)
    chain.close()
