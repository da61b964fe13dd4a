"""Variables in the SQLite metastore: encrypted at rest, atomic bulk writes, keys, migration from 0002,
listing with unreadable rows, and cache invalidation across processes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

import hookline
from hookline.config import CacheSettings
from hookline.exceptions import (
    DecryptionError,
    InvalidVariable,
    KeyNotConfigured,
    ListingIncomplete,
    VariableNotFound,
)
from hookline.resolve import SecretsChain
from hookline.resolve.cache import CachedResolver
from hookline.secrets.metastore import MetastoreBackend
from hookline.secrets.metastore.keys import fingerprint, generate_key
from hookline.secrets.metastore.migrations import HEAD_REVISION, SCRIPT_LOCATION

CANARY = "c4n4ry-V4r-S3cret!"


@pytest.fixture
def key() -> str:
    return generate_key()


@pytest.fixture
def store(tmp_path: Path, key: str) -> Iterator[MetastoreBackend]:
    backend = MetastoreBackend(fernet_keys=key, home=tmp_path / "home")
    yield backend
    backend.close()


def raw_variables(db: Path) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(db) as raw:
        return list(raw.execute('select "key", val, key_id from variable order by "key"'))


def test_set_get_delete_and_encryption_at_rest(store: MetastoreBackend, key: str) -> None:
    assert store.get_variable("x") is None  # no database yet: absent
    store.set_variable("api_password", CANARY)
    store.set_variable("region", "eu-west-1")
    assert store.get_variable("api_password") == CANARY
    assert store.schema_revision() == HEAD_REVISION
    rows = raw_variables(store.home / "hookline.db")
    assert [r[0] for r in rows] == ["api_password", "region"]
    assert all(r[2] == fingerprint(key) for r in rows)
    assert all(CANARY not in r[1] and "eu-west-1" not in r[1] for r in rows)
    assert CANARY.encode() not in (store.home / "hookline.db").read_bytes()
    assert store.delete_variable("region") is True
    assert store.delete_variable("region") is False
    assert list(store.list_variables()) == [("api_password", CANARY)]


def test_overwrite_false_refuses_and_names_every_existing_key(store: MetastoreBackend) -> None:
    store.set_variables([("a", "1"), ("b", "2")])
    with pytest.raises(InvalidVariable) as info:
        store.set_variables([("a", "x"), ("b", "y"), ("c", "z")], overwrite=False)
    assert "2 variables already exist ('a', 'b')" in str(info.value)
    assert dict(store.list_variables()) == {"a": "1", "b": "2"}  # nothing written, not even c


def test_bulk_write_is_one_transaction(store: MetastoreBackend) -> None:
    store.set_variable("a", "old")
    counter = store.change_counter()
    store.set_variables([("a", "new"), ("b", "2"), ("c", "3")])
    assert store.change_counter() == counter + 1
    assert dict(store.list_variables()) == {"a": "new", "b": "2", "c": "3"}
    with pytest.raises(InvalidVariable, match="NUL"):
        store.set_variables([("d", "ok"), ("e", "bad\x00")])
    with pytest.raises(InvalidVariable, match="more than once"):
        store.set_variables([("d", "1"), ("d", "2")])
    assert "d" not in dict(store.list_variables())


def test_a_wrong_key_cannot_read_or_write(tmp_path: Path, store: MetastoreBackend) -> None:
    store.set_variable("db_token", CANARY)
    other = MetastoreBackend(fernet_keys=generate_key(), home=store.home)
    try:
        with pytest.raises(DecryptionError) as info:
            other.get_variable("db_token")
        assert "variable 'db_token'" in str(info.value)
        assert CANARY not in str(info.value)
        with pytest.raises(DecryptionError, match="refusing to store variable 'x'"):
            other.set_variable("x", "1")
        with pytest.raises(ListingIncomplete) as listing:
            list(other.list_variables())
        assert [f.conn_id for f in listing.value.failures] == ["db_token"]
    finally:
        other.close()


def test_key_rotation_order_old_key_still_reads(store: MetastoreBackend, key: str) -> None:
    store.set_variable("a", "1")
    rotated = MetastoreBackend(fernet_keys=f"{generate_key()},{key}", home=store.home)
    try:
        assert rotated.get_variable("a") == "1"
    finally:
        rotated.close()


def test_no_key_is_generated_while_variables_exist(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = MetastoreBackend(home=home)
    first.set_variable("a", "1")  # generates the home key file: the metastore was empty
    first.close()
    (home / "fernet.key").unlink()
    second = MetastoreBackend(home=home)
    try:
        with pytest.raises(KeyNotConfigured) as info:
            second.set_variable("b", "2")
        assert "0 connection(s) and 1 variable(s)" in str(info.value)
        assert not (home / "fernet.key").exists()
    finally:
        second.close()


def test_a_database_at_0002_holds_no_variable_until_the_first_write(
    tmp_path: Path, key: str
) -> None:
    db = tmp_path / "old.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
    engine.dispose()
    db.chmod(0o600)
    tmp_path.chmod(0o700)
    store = MetastoreBackend(f"sqlite:///{db}", fernet_keys=key)
    try:
        assert store.schema_revision() == "0002"
        assert store.get_variable("a") is None
        assert list(store.list_variables()) == []
        store.set_variable("a", "1")
        assert store.schema_revision() == HEAD_REVISION
        assert store.get_variable("a") == "1"
    finally:
        store.close()


def test_the_cache_drops_variables_another_process_changed(
    store: MetastoreBackend, key: str
) -> None:
    store.set_variable("x", "1")
    resolver = CachedResolver(
        SecretsChain([store]), CacheSettings(change_check_interval_seconds=0.0)
    )
    writer = MetastoreBackend(fernet_keys=key, home=store.home)  # "another process"
    try:
        assert resolver.get_variable("x") == "1"
        writer.set_variable("x", "2")
        assert resolver.get_variable("x") == "2"
    finally:
        writer.close()


def test_through_the_configured_default_chain(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("HOOKLINE_FERNET_KEY", key)
    monkeypatch.setenv("HOOKLINE_SECRETS__BACKENDS", "env,metastore")
    hookline.set_variable("limits", {"rows": 5}, serialize_json=True)
    assert hookline.get_variable("limits", deserialize_json=True) == {"rows": 5}
    monkeypatch.setenv("HOOKLINE_VAR_LIMITS", '{"rows": 1}')  # env comes first in the chain
    assert hookline.get_variable("limits", deserialize_json=True, fresh=True) == {"rows": 1}
    assert hookline.delete_variable("limits") is True
    monkeypatch.delenv("HOOKLINE_VAR_LIMITS")
    with pytest.raises(VariableNotFound):
        hookline.get_variable("limits", fresh=True)


def test_rotate_keys_moves_variables_to_the_new_key(store: MetastoreBackend, key: str) -> None:
    store.set_variables([("a", "1"), ("api_token", CANARY)])
    new = generate_key()
    rotated = MetastoreBackend(fernet_keys=f"{new},{key}", home=store.home)
    only_new = MetastoreBackend(fernet_keys=new, home=store.home)
    try:
        seen: list[int] = []
        assert rotated.rotate_keys(batch_size=1, progress=seen.append) == 2
        assert seen == [1, 2]
        assert {r[2] for r in raw_variables(store.home / "hookline.db")} == {fingerprint(new)}
        assert only_new.get_variable("api_token") == CANARY
        assert rotated.rotate_keys() == 0  # resumable: nothing left under the old key
    finally:
        rotated.close()
        only_new.close()


def test_a_connection_write_is_refused_under_a_key_that_cannot_read_the_variables(
    store: MetastoreBackend,
) -> None:
    from hookline import Connection

    store.set_variable("a", "1")
    other = MetastoreBackend(fernet_keys=generate_key(), home=store.home)
    try:
        with pytest.raises(DecryptionError, match="refusing to store connection 'c'"):
            other.set_connection(Connection(conn_id="c", conn_type="http", host="h"))
    finally:
        other.close()
