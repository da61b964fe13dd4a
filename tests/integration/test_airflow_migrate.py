"""``connections import --from-airflow-db`` against metadata databases made by a real Airflow.

The databases (``tests/servers/airflow_meta.py``) come from ``airflow db migrate`` and Airflow's own
``connections add``/``import`` and ``variables set``/``import``, with rows in plaintext, under an old
key and under ``new,old``; the expected result is what Airflow itself exports from them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from hookline import airflow_migrate as migrate
from hookline.connection import Connection
from hookline.exceptions import AirflowDatabaseError, DecryptionError, KeyNotConfigured
from hookline.secrets.metastore import MetastoreBackend
from tests.servers.airflow_meta import (
    BULK,
    CANARIES,
    KEY_NEW,
    KEY_OLD,
    KEY_OTHER,
    AirflowMetaDb,
)
from tests.unit.cli.support import run

pytestmark = pytest.mark.timeout(900)

BOTH = f"{KEY_NEW},{KEY_OLD}"
DBS = ["airflow_meta_sqlite3", "airflow_meta_sqlite2", "airflow_meta_pg3"]


def _fields(conn: Connection) -> dict[str, Any]:
    return {
        "conn_type": conn.conn_type,
        "description": conn.description,
        "host": conn.host,
        "login": conn.login,
        "password": conn.password,
        "schema": conn.schema,
        "port": conn.port,
        "extra": conn.extra_dejson,
    }


def _expected(exported: dict[str, Any]) -> dict[str, Any]:
    fields = {k: exported[k] for k in ("conn_type", "description", "host", "login", "password")}
    fields.update(schema=exported["schema"], port=exported["port"])
    fields["extra"] = json.loads(exported["extra"]) if exported["extra"] else {}
    return fields


def _no_canary(*texts: str) -> None:
    for text in texts:
        for canary in CANARIES:
            assert canary not in text


def _stored() -> dict[str, Connection]:
    backend = MetastoreBackend()
    try:
        return {str(c.conn_id): c for c in backend.list_connections()}
    finally:
        backend.close()


@pytest.mark.parametrize("db_fixture", DBS)
def test_every_connection_arrives_as_airflow_itself_reads_it(
    db_fixture: str, request: pytest.FixtureRequest
) -> None:
    """Plaintext rows, rows under the old key and under new,old: all decrypted and stored, each
    equal field by field to ``airflow connections export`` of the same database."""
    db: AirflowMetaDb = request.getfixturevalue(db_fixture)
    result = run("connections", "import", "--from-airflow-db", db.url, "--airflow-fernet-key", BOTH)
    assert result.exit_code == 0, result.output
    assert f"Imported {BULK + 4} of {BULK + 4} Airflow connections" in result.stdout
    _no_canary(result.stdout, result.stderr)
    stored = _stored()
    assert set(stored) == set(db.expected_connections)
    for conn_id, exported in db.expected_connections.items():
        assert _fields(stored[conn_id]) == _expected(exported), conn_id
    assert stored["fields_mysql"].password == "CANARY p@ss:w/rd?#&=%+ü"
    assert stored["old_http"].extra_dejson["nested"] == {"a": [1, 2]}


@pytest.mark.parametrize("db_fixture", DBS)
def test_every_variable_is_read_as_airflow_itself_reads_it(
    db_fixture: str, request: pytest.FixtureRequest
) -> None:
    db: AirflowMetaDb = request.getfixturevalue(db_fixture)
    variables = migrate.read_variables(db.url, migrate.airflow_fernet(BOTH))
    assert len(variables) == len(db.expected_variables) == BULK + 4
    for variable in variables:
        exported = db.expected_variables[variable.key]
        if isinstance(exported, dict) and set(exported) == {"value", "description"}:  # 3.x form
            assert variable.description == exported["description"]
            exported = exported["value"]
        if not isinstance(exported, str):  # Airflow's export parses JSON values
            assert json.loads(variable.value) == exported
        else:
            assert variable.value == exported
    assert "CANARYnewvar42" not in repr(variables)


def test_dry_run_lists_the_plan_without_a_secret_and_writes_nothing(
    airflow_meta_sqlite3: AirflowMetaDb, isolated_hookline: Path
) -> None:
    db = airflow_meta_sqlite3
    args = ("connections", "import", "--from-airflow-db", db.url, "--airflow-fernet-key", BOTH)
    result = run(*args, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "  add        old_http" in result.stdout
    assert f"Dry run: {BULK + 4} to add, 0 to change, 0 unchanged" in result.stdout
    _no_canary(result.stdout, result.stderr)
    assert not (isolated_hookline / "hookline.db").exists()  # nothing written, not even a key
    assert not (isolated_hookline / "fernet.key").exists()

    # a real run, then one connection changed in hookline: the dry run says what would happen
    assert run(*args).exit_code == 0
    changed = run(
        "connections", "add", "old_http", "--uri", "http://x:CANARYold7c1x@h", "--overwrite"
    )
    assert changed.exit_code == 0, changed.output
    again = run(*args, "--dry-run")
    assert again.exit_code == 1  # the real run would fail: a conflict without --overwrite
    assert "  conflict   old_http" in again.stdout
    assert f"{BULK + 3} unchanged" in again.stdout
    assert (
        "old_http: description, host, login, password, schema, port, extra differ" in again.stderr
    )
    _no_canary(again.stdout, again.stderr)
    with_overwrite = run(*args, "--dry-run", "--overwrite")
    assert with_overwrite.exit_code == 0
    assert "  change     old_http" in with_overwrite.stdout
    assert _stored()["old_http"].password == "CANARYold7c1x"  # still nothing written


def test_conflicts_write_nothing_and_overwrite_replaces_only_what_differs(
    airflow_meta_sqlite2: AirflowMetaDb,
) -> None:
    db = airflow_meta_sqlite2
    args = ("connections", "import", "--from-airflow-db", db.url, "--airflow-fernet-key", BOTH)
    assert (
        run("connections", "add", "plain_pg", "--uri", "postgres://other@elsewhere/x").exit_code
        == 0
    )
    refused = run(*args)
    assert refused.exit_code == 1
    assert "1 connection(s) already exist in hookline with other values" in refused.stderr
    assert "plain_pg: host, login, password, schema, port, extra differ" in refused.stderr
    assert set(_stored()) == {"plain_pg"}  # all or nothing
    replaced = run(*args, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert f"({BULK + 3} added, 1 replaced, 0 unchanged)" in replaced.stdout
    assert _stored()["plain_pg"].password == "CANARYplain9f3"
    rerun = run(*args)  # identical rows are not conflicts: a migration can be re-run
    assert rerun.exit_code == 0, rerun.output
    assert f"Imported 0 of {BULK + 4}" in rerun.stdout


@pytest.mark.parametrize("db_fixture", ["airflow_meta_sqlite3", "airflow_meta_sqlite2"])
@pytest.mark.parametrize(
    ("keys", "error", "first"),
    [
        (KEY_NEW, DecryptionError, "old_http"),  # the old key is missing from the list
        (KEY_OTHER, DecryptionError, "bulk_0000"),  # a key of another installation
        ("", KeyNotConfigured, "bulk_0000"),  # encrypted rows, no key
    ],
    ids=["old-key-missing", "other-installation", "no-key"],
)
def test_a_wrong_key_names_the_connection_and_leaks_nothing(
    db_fixture: str,
    keys: str,
    error: type[Exception],
    first: str,
    request: pytest.FixtureRequest,
    isolated_hookline: Path,
) -> None:
    db: AirflowMetaDb = request.getfixturevalue(db_fixture)
    with pytest.raises(error) as caught:
        migrate.read_connections(db.url, migrate.airflow_fernet(keys, environ={}))
    message = str(caught.value)
    assert f"Airflow connection {first!r}" in message
    if isinstance(caught.value, DecryptionError):
        assert caught.value.conn_id == first
    _no_canary(message, repr(caught.value))
    for key in (KEY_NEW, KEY_OLD, KEY_OTHER):
        assert key not in message
    result = run("connections", "import", "--from-airflow-db", db.url, "--airflow-fernet-key", keys)
    assert result.exit_code == 1
    assert first in result.stderr
    assert "Traceback" not in result.output
    _no_canary(result.stdout, result.stderr)
    assert not (isolated_hookline / "hookline.db").exists()


def test_the_key_is_found_in_the_environment_and_in_airflow_cfg(
    airflow_meta_sqlite3: AirflowMetaDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = airflow_meta_sqlite3
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", BOTH)
    fernet = migrate.airflow_fernet()
    assert fernet.source == "AIRFLOW__CORE__FERNET_KEY"
    assert len(migrate.read_connections(db.url, fernet)) == BULK + 4
    monkeypatch.delenv("AIRFLOW__CORE__FERNET_KEY")
    home = tmp_path / "af-home"
    home.mkdir()
    (home / "airflow.cfg").write_text(f"[core]\nfernet_key = {BOTH}\nload_examples = False\n")
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    result = run("connections", "import", "--from-airflow-db", db.url, "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"2 Airflow Fernet keys from {home / 'airflow.cfg'} [core] fernet_key" in result.stdout


def test_the_airflow_database_is_not_written(airflow_meta_sqlite3: AirflowMetaDb) -> None:
    path = Path(airflow_meta_sqlite3.url.removeprefix("sqlite:///"))
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    result = run(
        "connections", "import", "--from-airflow-db", airflow_meta_sqlite3.url,
        "--airflow-fernet-key", BOTH,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert not Path(str(path) + "-journal").exists()


def test_an_unreadable_database_is_a_typed_error_without_the_password(
    airflow_meta_pg3: AirflowMetaDb, tmp_path: Path
) -> None:
    wrong = airflow_meta_pg3.url.replace("af-owner-pw", "CANARYwrongpw1")
    with pytest.raises(AirflowDatabaseError) as caught:
        migrate.read_connections(wrong, migrate.airflow_fernet(BOTH))
    assert "CANARYwrongpw1" not in str(caught.value)
    assert "password authentication failed" in str(caught.value)
    assert caught.value.url.count("***") == 1
    not_airflow = tmp_path / "other.db"
    import sqlite3

    sqlite3.connect(not_airflow).execute("create table t (x)").connection.commit()
    result = run("connections", "import", "--from-airflow-db", f"sqlite:///{not_airflow}")
    assert result.exit_code == 1
    assert "has no 'connection' table: it is not an Airflow metadata database" in result.stderr
    missing = run("connections", "import", "--from-airflow-db", f"sqlite:///{tmp_path}/none.db")
    assert missing.exit_code == 1
    assert "does not exist" in missing.stderr
    assert not (tmp_path / "none.db").exists()  # never created


@pytest.mark.parametrize("db_fixture", ["airflow_meta_sqlite3", "airflow_meta_pg3"])
def test_variables_import_from_airflow_db(db_fixture: str, request: pytest.FixtureRequest) -> None:
    """``variables import --from-airflow-db``: all variables stored, secrets never printed;
    conflicts fail, skip or overwrite as ``--action-on-existing-key`` says."""
    import hookline

    db: AirflowMetaDb = request.getfixturevalue(db_fixture)
    args = ("variables", "import", "--from-airflow-db", db.url, "--airflow-fernet-key", BOTH)
    dry = run(*args, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "  add        new_api_key" in dry.stdout
    _no_canary(dry.stdout, dry.stderr)
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert f"Imported {BULK + 4} of {BULK + 4} Airflow variables" in result.stdout
    _no_canary(result.stdout, result.stderr)
    assert hookline.get_variable("old_secret_token", fresh=True) == "CANARYoldvar81"
    assert hookline.get_variable("json_var", deserialize_json=True, fresh=True) == {
        "a": [1, 2],
        "b": "ü",
    }
    assert run("variables", "set", "plain_var", "changed").exit_code == 0
    conflict = run(*args)
    assert conflict.exit_code == 1
    assert "plain_var: value differs" in conflict.stderr
    skipped = run(*args, "-a", "skip")
    assert skipped.exit_code == 0, skipped.output
    assert "1 skipped" in skipped.stdout
    assert hookline.get_variable("plain_var", fresh=True) == "changed"
    replaced = run(*args, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert "(0 added, 1 replaced" in replaced.stdout
    assert hookline.get_variable("plain_var", fresh=True) == "plain value"
    _no_canary(conflict.stderr, skipped.stdout, replaced.stdout, replaced.stderr)
