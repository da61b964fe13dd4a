"""What a fresh process pays for its first lookup: only what the answering backend needs.

A lookup answered by the environment must not import SQLAlchemy, Alembic or cryptography (the
metastore's machinery), nor the CLI's libraries, and must not open or create the metastore database.
Each check runs in a fresh interpreter, since the test process has imported everything already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from hookline import Connection
from hookline.config import CacheSettings
from hookline.resolve import SecretsChain
from hookline.resolve.cache import CachedResolver
from hookline.secrets.env import EnvBackend
from hookline.secrets.metastore import DB_FILE_NAME, MetastoreBackend
from hookline.secrets.metastore.keys import generate_key

CANARY = "c4n4ry-S3cret!"
HEAVY = (
    "sqlalchemy", "alembic", "cryptography", "sqlite3", "typer", "rich", "httpx", "yaml", "click",
)  # fmt: skip


def _run(code: str, home: Path, **env: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter with a clean hookline environment; return its JSON."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HOOKLINE_", "AIRFLOW_"))}
    clean.update(HOOKLINE_HOME=str(home), **env)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=clean,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert CANARY not in proc.stdout + proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


LOOKUP = """
    import json, sys
    import hookline
    conn = hookline.get_connection("from_env")
    heavy = sorted({m.split(".")[0] for m in sys.modules} & set(%r))
    print(json.dumps({"host": conn.host, "heavy": heavy}))
"""


@pytest.mark.parametrize("var", ["AIRFLOW_CONN_FROM_ENV", "HOOKLINE_CONN_FROM_ENV"])
def test_env_answered_lookup_imports_no_database_or_cli_libraries(tmp_path: Path, var: str) -> None:
    """get_connection answered by env: no SQLAlchemy, Alembic, cryptography, sqlite3, typer, rich,
    httpx or yaml in sys.modules afterwards, and $HOOKLINE_HOME/hookline.db is not created."""
    home = tmp_path / "home"
    out = _run(LOOKUP % (HEAVY,), home, **{var: f"postgres://u:{CANARY}@env-host:5432/db"})
    assert out == {"host": "env-host", "heavy": []}
    assert not (home / DB_FILE_NAME).exists()
    assert not home.exists()  # nothing created under HOOKLINE_HOME either


def test_env_answered_lookup_does_not_open_an_existing_metastore(tmp_path: Path) -> None:
    """With a metastore already on disk, an env-answered lookup still leaves SQLAlchemy unimported
    (the cache's change-counter poll does not open the database)."""
    home = tmp_path / "home"
    store = MetastoreBackend(home=home, fernet_keys=generate_key())
    store.set_connection(Connection(conn_id="stored", conn_type="http", host="db-host"))
    store.close()
    out = _run(LOOKUP % (HEAVY,), home, HOOKLINE_CONN_FROM_ENV="http://env-host")
    assert out == {"host": "env-host", "heavy": []}


def test_metastore_lookup_in_fresh_process_imports_neither_sqlalchemy_nor_alembic(
    tmp_path: Path,
) -> None:
    """The first lookup env cannot answer reads the stored row from SQLite with the stdlib sqlite3:
    SQLAlchemy and Alembic stay unimported (cryptography is needed to decrypt the row)."""
    home = tmp_path / "home"
    key = generate_key()
    store = MetastoreBackend(home=home, fernet_keys=key)
    store.set_connection(
        Connection(conn_id="stored", conn_type="postgres", host="db-host", password=CANARY)
    )
    store.close()
    code = """
        import json, os, sys
        import hookline
        conn = hookline.get_connection("stored")
        loaded = sorted({m.split(".")[0] for m in sys.modules} & {"sqlalchemy", "alembic", "cryptography"})
        print(json.dumps({"host": conn.host, "ok": conn.password == os.environ["EXPECTED"],
                          "loaded": loaded}))
    """
    out = _run(code, home, HOOKLINE_FERNET_KEY=key, EXPECTED=CANARY)
    assert out == {"host": "db-host", "ok": True, "loaded": ["cryptography"]}


def test_default_metastore_construction_and_reads_create_nothing(tmp_path: Path) -> None:
    """Building the backend with the default URL creates nothing and reports no change counter
    until it is used; reads (lookups, listing, the counter) create nothing either: only the first
    write creates the home and the database."""
    home = tmp_path / "home"
    store = MetastoreBackend(home=home)
    try:
        assert not home.exists()
        assert store.change_counter_if_open() is None
        assert store.get_connection("absent") is None
        assert list(store.list_connections()) == []
        assert store.change_counter_if_open() == store.change_counter() == 0
        assert store.schema_revision() is None
        assert not home.exists()
        assert store.url.database == str(home / DB_FILE_NAME)
        store.set_connection(Connection(conn_id="c", conn_type="http"))
        assert (home / DB_FILE_NAME).exists()
        assert store.change_counter() == 1
    finally:
        store.close()


def test_cache_ignores_an_unopened_metastore_then_drops_once_it_opens(tmp_path: Path) -> None:
    """The cache polls change_counter_if_open(): None is no information (no reset, no database);
    the first value after that drops the cache once, later polls compare values as usual."""
    home = tmp_path / "home"
    now = [0.0]
    store = MetastoreBackend(home=home, fernet_keys=generate_key())
    env = EnvBackend(environ={"HOOKLINE_CONN_E": "http://env-host"})
    cached = CachedResolver(
        SecretsChain([env, store]),
        CacheSettings(change_check_interval_seconds=1.0),
        clock=lambda: now[0],
    )
    try:
        assert cached.get_connection("e").host == "env-host"
        now[0] += 2
        assert cached.get_connection("e").host == "env-host"  # a hit: no poll on the hit path
        now[0] += 2
        cached.invalidate("e")
        assert cached.get_connection("e").host == "env-host"  # a miss polls: still unopened
        assert not home.exists()
        assert cached.stats.change_resets == 0
        cached.find_connection("only_in_db")  # opens the metastore (creating nothing)
        assert not home.exists()
        assert store.change_counter_if_open() == 0
        now[0] += 2
        cached.invalidate("e")
        cached.get_connection("e")
        assert cached.stats.change_resets == 1  # first value seen: what was cached may predate it
        now[0] += 2
        cached.invalidate("e")
        cached.get_connection("e")
        assert cached.stats.change_resets == 1  # unchanged counter: no reset
    finally:
        cached.close()
