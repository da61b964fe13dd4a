"""Retiring the metastore's Fernet key in the middle of a credential rotation, on real PostgreSQL.

The metastore itself lives on PostgreSQL; a single-user rotation of a real role is SIGKILLed part
way, ``hookline keys rotate`` moves every row (the pending version included) to a new key, the old
key is dropped from the configuration, and a re-run of the rotation resumes and finishes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from hookline import Connection
from hookline.hooks.sql import PostgresHook
from hookline.hooks.sql.engines import dispose_all
from hookline.resolve import default as resolver
from hookline.rotation import Rotator
from hookline.secrets.metastore import MetastoreBackend
from hookline.secrets.metastore.keys import fingerprint, generate_key
from tests.servers.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "hookline"
CANARY = "Canary0ldPassw0rdKeyRetire"
VARIABLE = "Canary1VariableKeyRetire"
CONN_ID = "pgretire"


@pytest.fixture(autouse=True)
def _pools() -> Iterator[None]:
    yield
    dispose_all()


def _metastore() -> MetastoreBackend:
    backend = next(b for b in resolver.default_chain().backends if b.name == "metastore")
    assert isinstance(backend, MetastoreBackend)
    return backend


def _reset() -> None:
    """Close the default metastore's pooled connections, then rebuild from configuration."""
    _metastore().close()
    resolver.set_default_resolver(None)


def _can_login(server: PostgresServer, conn: Connection) -> bool:
    try:
        psycopg.connect(
            host=server.host, port=server.port, dbname=conn.schema, user=conn.login,
            password=conn.password, connect_timeout=5,
        ).close()  # fmt: skip
    except psycopg.OperationalError:
        return False
    return True


def _key_ids(server: PostgresServer, database: str) -> set[str]:
    with psycopg.connect(
        host=server.host, port=server.port, dbname=database, user=server.superuser,
        password=server.superuser_password,
    ) as db:  # fmt: skip
        return {
            str(row[0])
            for table in ("connection", "connection_pending", "variable")
            for row in db.execute(f"SELECT key_id FROM {table}").fetchall()
        }


@pytest.mark.parametrize("kill_at", ["alter", "set", "test"])
def test_keys_rotated_mid_rotation_old_key_dropped_rotation_resumes(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch, kill_at: str
) -> None:
    role = postgres_server.unique_name("retire")
    postgres_server.create_database(role, owner_password=CANARY)
    store_db = postgres_server.create_database(postgres_server.unique_name("retiremeta"))
    old_key, new_key = generate_key(), generate_key()
    monkeypatch.setenv("HOOKLINE_METASTORE__URL", postgres_server.url(store_db))
    monkeypatch.setenv("HOOKLINE_FERNET_KEY", old_key)
    resolver.set_default_resolver(None)
    old = Connection(
        conn_id=CONN_ID, conn_type="postgres", host=postgres_server.host,
        port=postgres_server.port, login=role, password=CANARY, schema=role,
    )  # fmt: skip
    resolver.default_chain().set_connection(old)
    _metastore().set_variable("retire_var", VARIABLE)
    _metastore().close()

    child = subprocess.run(
        [sys.executable, "-m", "tests.integration._rotation_worker", "kill", kill_at, CONN_ID],
        cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert child.returncode == -9, child.stderr[-2000:]
    assert _key_ids(postgres_server, store_db) == {fingerprint(old_key)}

    rotated = subprocess.run(
        [str(SCRIPT), "keys", "rotate", "--batch-size", "1"],
        env={**os.environ, "HOOKLINE_FERNET_KEY": f"{new_key},{old_key}", "COLUMNS": "200"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert rotated.returncode == 0, rotated.stderr[-2000:]
    # the connection, its pending version, the variable
    assert "Re-encrypted 3 rows" in rotated.stdout
    assert _key_ids(postgres_server, store_db) == {fingerprint(new_key)}
    for text in (rotated.stdout, rotated.stderr):
        assert CANARY not in text
        assert VARIABLE not in text

    _reset()
    monkeypatch.setenv("HOOKLINE_FERNET_KEY", new_key)  # the old key is retired
    pending = _metastore().get_pending(CONN_ID)
    assert pending is not None
    # Usable while the rotation waits: the hook falls back to the pending version if needed.
    assert PostgresHook(postgres_conn_id=CONN_ID).get_first("select 1") == (1,)
    result = Rotator().rotate(CONN_ID)
    assert result.resumed_from == pending.step
    current = _metastore().get_connection(CONN_ID)
    assert current is not None
    assert current.password == pending.connection.password != CANARY
    assert _metastore().get_pending(CONN_ID) is None
    assert _can_login(postgres_server, current)
    assert not _can_login(postgres_server, old)
    assert _metastore().get_variable("retire_var") == VARIABLE
    assert _key_ids(postgres_server, store_db) == {fingerprint(new_key)}
    _reset()
    assert PostgresHook(postgres_conn_id=CONN_ID).get_first("select current_user") == (role,)
    _metastore().close()
