"""The metastore's stageable contract (pending versions, schema 0003) and its rotation ledger."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from hookline import Connection
from hookline.exceptions import RotationError
from hookline.secrets.metastore import MetastoreBackend
from hookline.secrets.metastore.keys import generate_key

CANARY = "Canary0ldStag1ngPassword"
NEW = "Canary1NewStag1ngPassword"


def make_conn(password: str = CANARY) -> Connection:
    return Connection(
        conn_id="app", conn_type="postgres", host="db", login="app", password=password, port=5432,
    )  # fmt: skip


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[MetastoreBackend]:
    store = MetastoreBackend(fernet_keys=generate_key(), home=tmp_path / "home")
    store.set_connection(make_conn())
    yield store
    store.close()


def test_pending_is_staged_beside_current_and_promoted(backend: MetastoreBackend) -> None:
    assert backend.stageable
    assert backend.get_pending("app") is None
    counter = backend.change_counter()
    backend.put_pending(make_conn(NEW), token="t1", step="create")
    backend.put_pending(make_conn(NEW), token="t1", step="set")
    pending = backend.get_pending("app")
    assert pending is not None
    assert (pending.token, pending.step, pending.connection.password) == ("t1", "set", NEW)
    assert backend.get_connection("app") == make_conn()  # lookups keep the current version
    backend.promote_pending("app", "t1")
    backend.promote_pending("app", "t1")  # idempotent
    assert backend.get_connection("app") == make_conn(NEW)
    assert backend.get_pending("app") is None
    assert backend.last_rotated_at("app") is not None
    assert backend.change_counter() > counter


def test_pending_is_encrypted_at_rest(backend: MetastoreBackend) -> None:
    backend.put_pending(make_conn(NEW), token="t1", step="create")
    assert backend._path is not None
    raw = backend._path.read_bytes()
    with sqlite3.connect(backend._path) as db:
        rows = db.execute("select * from connection_pending").fetchall()
    assert len(rows) == 1
    assert NEW not in repr(rows)
    assert NEW.encode() not in raw


def test_second_token_is_refused_and_discard_is_idempotent(backend: MetastoreBackend) -> None:
    backend.put_pending(make_conn(NEW), token="t1", step="create")
    with pytest.raises(RotationError) as caught:
        backend.put_pending(make_conn("Other0nePassword1234"), token="t2", step="create")
    assert caught.value.step == "create"
    assert "another rotation" in str(caught.value)
    assert NEW not in str(caught.value)
    backend.discard_pending("app", "t2")  # not the pending token: nothing happens
    assert backend.get_pending("app") is not None
    backend.discard_pending("app", "t1")
    backend.discard_pending("app", "t1")
    assert backend.get_pending("app") is None
    assert backend.get_connection("app") == make_conn()


def test_promoting_an_unknown_token_fails(backend: MetastoreBackend) -> None:
    with pytest.raises(RotationError) as caught:
        backend.promote_pending("app", "nope")
    assert caught.value.step == "finish"


def test_deleting_a_connection_drops_its_pending_version(backend: MetastoreBackend) -> None:
    backend.put_pending(make_conn(NEW), token="t1", step="test")
    assert backend.delete_connection("app")
    assert backend.get_pending("app") is None


def test_ledger_and_no_database_yet(tmp_path: Path) -> None:
    store = MetastoreBackend(fernet_keys=generate_key(), home=tmp_path / "empty")
    assert store.get_pending("app") is None
    assert store.last_rotated_at("app") is None
    store.discard_pending("app", "t")  # nothing to discard, nothing created
    assert store._path is not None
    assert not store._path.exists()
    store.record_rotation("app", "t", 123.0)
    store.record_rotation("app", "t2", 456.0)
    assert store.last_rotated_at("app") == 456.0
    store.close()
