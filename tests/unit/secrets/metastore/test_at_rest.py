"""What the SQLite metastore file holds: no credential in clear, in any field, in any file or log.

A ``strings``-like scan of the raw bytes of the database and its WAL for canary values put in every
text field (a URL host's userinfo above all, issue 12.3), SQLAlchemy's echo log of the writes, and
the upgrade of a database written by the 0001 layout (host, login, schema, description in clear).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from hookline import Connection
from hookline.secrets.metastore import MetastoreBackend
from hookline.secrets.metastore.keys import KeyRing, fingerprint, generate_key
from hookline.secrets.metastore.migrations import HEAD_REVISION, SCRIPT_LOCATION

HOST_TOKEN = "h0st-T0ken-C4n4ry"
CANARIES = {
    "host": f"https://bob:{HOST_TOKEN}@api.example.com",
    "login": "l0gin-ap1-k3y-C4n4ry",
    "password": "p4ssw0rd-C4n4ry",
    "schema": "sch3ma-C4n4ry",
    "description": "d3scr1pt10n-C4n4ry",
}
EXTRA_CANARY = "3xtra-C4n4ry"


def canary_conn(conn_id: str = "api") -> Connection:
    return Connection(
        conn_id=conn_id, conn_type="http", port=443, extra={"x_token": EXTRA_CANARY}, **CANARIES
    )


def file_bytes(db: Path) -> bytes:
    """Every byte SQLite keeps for the database: the file, its WAL and shared-memory index."""
    data = b""
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = db.with_name(db.name + suffix)
        if path.exists():
            data += path.read_bytes()
    return data


def assert_no_canary(data: str | bytes) -> None:
    raw = data.encode() if isinstance(data, str) else data
    for value in (HOST_TOKEN, EXTRA_CANARY, *CANARIES.values()):
        assert value.encode() not in raw, value


def test_no_field_is_in_clear_in_the_database_files(tmp_path: Path) -> None:
    """Write, overwrite and read back a connection with a canary in every text field: the raw
    bytes of hookline.db (and -wal, -shm) never hold one; conn_type and port stay readable."""
    store = MetastoreBackend(fernet_keys=generate_key(), home=tmp_path / "home")
    store.set_connection(canary_conn())
    store.set_connection(canary_conn().replace(port=8443))
    store.set_connections([canary_conn(f"bulk{i}") for i in range(3)])
    assert store.get_connection("api") == canary_conn().replace(port=8443)
    db = store.home / "hookline.db"
    data = file_bytes(db)
    assert_no_canary(data)
    assert b"api.example.com" not in data
    with sqlite3.connect(db) as raw:
        assert raw.execute(
            "select conn_type, port from connection where conn_id='api'"
        ).fetchone() == (
            "http",
            8443,
        )
    store.close()


def test_sqlalchemy_echo_log_never_shows_a_credential(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With echo=True (statements and parameters logged), writes, reads and a rotation log only
    ciphertext."""
    caplog.set_level(logging.DEBUG)
    key = generate_key()
    store = MetastoreBackend(fernet_keys=key, home=tmp_path / "home", echo="debug")
    store.set_connection(canary_conn())
    store.set_connections([canary_conn("b"), canary_conn("c")])
    assert store.get_connection("api") == canary_conn()
    list(store.list_connections())
    MetastoreBackend(fernet_keys=[generate_key(), key], home=store.home, echo="debug").rotate_keys()
    assert "INSERT INTO connection" in caplog.text  # the echo log was captured
    assert_no_canary(caplog.text)
    store.close()


def _legacy_database(db: Path, ring: KeyRing, conns: list[Connection]) -> None:
    """A database at revision 0001 with rows in the 0001 layout, as hookline 0.1 wrote them."""
    engine = sa.create_engine(f"sqlite:///{db}")
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        for c in conns:
            conn.execute(
                sa.text(
                    "INSERT INTO connection (conn_id, conn_type, description, host, schema, login,"
                    " password, port, extra, key_id) VALUES (:id, :type, :desc, :host, :schema,"
                    " :login, :pw, :port, :extra, :key_id)"
                ),
                {
                    "id": c.conn_id, "type": c.conn_type, "desc": c.description, "host": c.host,
                    "schema": c.schema, "login": c.login, "port": c.port,
                    "pw": ring.encrypt(c.password) if c.password else None,
                    "extra": ring.encrypt(c.extra_json) if c.extra_json else None,
                    "key_id": ring.primary_fingerprint,
                },
            )  # fmt: skip
    engine.dispose()


def test_rows_of_the_0001_layout_are_read_then_encrypted_by_the_first_write(
    tmp_path: Path,
) -> None:
    """A 0001 database is read as it is (reads never migrate); the first write upgrades it to the
    head revision and moves every old row into an encrypted payload: no canary left in the file."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    db = home / "hookline.db"
    key = generate_key()
    _legacy_database(db, KeyRing([key]), [canary_conn("old1"), canary_conn("old2")])
    assert HOST_TOKEN.encode() in file_bytes(db)  # the 0001 layout kept the host in clear
    store = MetastoreBackend(fernet_keys=key, home=home)
    assert store.get_connection("old1") == canary_conn("old1")
    assert store.schema_revision() == "0001"  # reading did not migrate
    store.set_connection(canary_conn("new"))
    assert store.schema_revision() == HEAD_REVISION
    assert [c.conn_id for c in store.list_connections()] == ["new", "old1", "old2"]
    assert all(c == canary_conn(c.conn_id or "") for c in store.list_connections())
    store.close()
    assert_no_canary(file_bytes(db))
    with sqlite3.connect(db) as raw:
        assert {r[0] for r in raw.execute("select key_id from connection")} == {fingerprint(key)}


def test_old_rows_without_a_key_stay_readable_until_keys_rotate(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Upgraded by a write that has no key for the old rows: they keep their 0001 layout (a warning
    says to run `hookline keys rotate`), stay readable with their key, and rotate converts them."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    db = home / "hookline.db"
    key = generate_key()
    _legacy_database(db, KeyRing([key]), [canary_conn("old")])
    MetastoreBackend(home=home).set_connection(Connection(conn_id="typed", conn_type="http"))
    assert "keys rotate" in caplog.text
    store = MetastoreBackend(fernet_keys=key, home=home)
    assert store.schema_revision() == HEAD_REVISION
    assert store.get_connection("old") == canary_conn("old")
    assert store.rotate_keys() == 1
    assert store.rotate_keys() == 0
    assert store.get_connection("old") == canary_conn("old")
    store.close()
    assert_no_canary(file_bytes(db))
