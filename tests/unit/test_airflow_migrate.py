"""Unit tests of :mod:`hookline.airflow_migrate` on small hand-made databases in Airflow's layouts.

The real thing (databases made by Airflow 2.10.5 and 3.3.2 themselves) is tested in
``tests/integration/test_airflow_migrate.py``; these cover the rules and every typed error fast.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from hookline import airflow_migrate as migrate
from hookline.connection import Connection
from hookline.exceptions import (
    AirflowDatabaseError,
    AirflowMigrationError,
    ConfigurationError,
    DecryptionError,
    KeyNotConfigured,
)
from tests.unit.cli.support import MemoryBackend

KEY = Fernet.generate_key().decode()
CANARY = "CANARYunit-pw-77"

AIRFLOW3_CONNECTION = """CREATE TABLE connection (id INTEGER PRIMARY KEY, conn_id VARCHAR(250) NOT
NULL UNIQUE, conn_type VARCHAR(500) NOT NULL, description VARCHAR(5000), host VARCHAR(500), schema
VARCHAR(500), login TEXT, port INTEGER, team_name VARCHAR(50), password TEXT, extra TEXT,
is_encrypted BOOLEAN NOT NULL, is_extra_encrypted BOOLEAN NOT NULL)"""
AIRFLOW3_VARIABLE = """CREATE TABLE variable (id INTEGER PRIMARY KEY, "key" VARCHAR(250) NOT NULL
UNIQUE, val TEXT NOT NULL, description TEXT, is_encrypted BOOLEAN NOT NULL, team_name VARCHAR(50))"""


def _db(
    tmp_path: Path,
    rows: Sequence[tuple[object, ...]],
    variables: Sequence[tuple[object, ...]] = (),
) -> str:
    path = tmp_path / "airflow.db"
    db = sqlite3.connect(path)
    db.execute(AIRFLOW3_CONNECTION)
    db.execute(AIRFLOW3_VARIABLE)
    db.executemany(
        "insert into connection (conn_id, conn_type, host, login, password, port, extra, "
        "is_encrypted, is_extra_encrypted, team_name) values (?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    db.executemany(
        'insert into variable ("key", val, is_encrypted, team_name) values (?,?,?,?)', variables
    )
    db.commit()
    db.close()
    return f"sqlite:///{path}"


def _enc(text: str) -> str:
    return Fernet(KEY.encode()).encrypt(text.encode()).decode()


def test_plain_and_encrypted_rows_are_read(tmp_path: Path) -> None:
    url = _db(
        tmp_path,
        [
            (
                "plain",
                "postgres",
                "h",
                "u",
                "pw-plain1",
                5432,
                '{"sslmode": "require"}',
                0,
                0,
                None,
            ),
            (
                "enc",
                "http",
                "api",
                "svc",
                _enc(CANARY),
                None,
                _enc('{"token": "t0k3n-xyz"}'),
                1,
                1,
                None,
            ),
        ],
        [("v_plain", "hello", 0, None), ("api_secret", _enc("CANARYvar-9"), 1, None)],
    )
    conns = migrate.read_connections(url, migrate.airflow_fernet(KEY, environ={}))
    assert [c.conn_id for c in conns] == ["enc", "plain"]
    assert conns[0].password == CANARY
    assert conns[0].extra_dejson == {"token": "t0k3n-xyz"}
    assert conns[1].port == 5432
    variables = migrate.read_variables(url, migrate.airflow_fernet(KEY, environ={}))
    assert [(v.key, v.value) for v in variables] == [
        ("api_secret", "CANARYvar-9"),
        ("v_plain", "hello"),
    ]
    assert "CANARYvar-9" not in repr(variables)


def test_rows_hookline_cannot_hold_are_all_listed_without_values(tmp_path: Path) -> None:
    url = _db(
        tmp_path,
        [
            ("bad extra", "http", None, None, CANARY, None, "not json", 0, 0, None),
            ("list_extra", "http", None, None, None, None, "[1, 2]", 0, 0, None),
            ("team_conn", "http", None, None, None, None, None, 0, 0, "blue"),
        ],
    )
    with pytest.raises(AirflowMigrationError) as caught:
        migrate.read_connections(url, migrate.airflow_fernet(None, environ={}))
    problems = "\n".join(caught.value.problems)
    assert len(caught.value.problems) == 3
    assert "'bad extra'" in problems
    assert "list_extra" in problems
    assert "does not parse as a dictionary" in problems
    assert "belongs to Airflow team 'blue'" in problems
    assert "3 Airflow connection(s) cannot be imported" in str(caught.value)
    assert CANARY not in problems + str(caught.value)


def test_team_rows_are_imported_with_ignore_teams(tmp_path: Path) -> None:
    url = _db(
        tmp_path,
        [("team_conn", "http", "h", None, None, None, None, 0, 0, "blue")],
        [("team_var", "x", 0, "blue")],
    )
    fernet = migrate.airflow_fernet(None, environ={})
    with pytest.raises(AirflowMigrationError) as caught:
        migrate.read_variables(url, fernet)
    assert caught.value.problems[0].startswith("variable 'team_var' belongs to Airflow team")
    assert [c.conn_id for c in migrate.read_connections(url, fernet, ignore_teams=True)] == [
        "team_conn"
    ]
    assert [v.key for v in migrate.read_variables(url, fernet, ignore_teams=True)] == ["team_var"]


def test_a_wrong_key_is_a_decryption_error_naming_the_connection(tmp_path: Path) -> None:
    other = Fernet.generate_key().decode()
    url = _db(tmp_path, [("enc", "http", None, None, _enc(CANARY), None, None, 1, 0, None)])
    with pytest.raises(DecryptionError) as caught:
        migrate.read_connections(url, migrate.airflow_fernet(other, environ={}))
    assert caught.value.conn_id == "enc"
    assert "cannot decrypt the password of Airflow connection 'enc'" in str(caught.value)
    for secret in (CANARY, other, KEY):
        assert secret not in str(caught.value)
    with pytest.raises(KeyNotConfigured, match="Airflow connection 'enc' is encrypted"):
        migrate.read_connections(url, migrate.airflow_fernet(None, environ={}))


def test_keys_come_from_the_argument_the_environment_or_airflow_cfg(tmp_path: Path) -> None:
    cfg = tmp_path / "airflow.cfg"
    cfg.write_text(f"[core]\nfernet_key = {KEY}\ndags_folder = %(x)s\n")
    assert migrate.airflow_fernet(KEY, environ={}).source == "--airflow-fernet-key"
    env = {"AIRFLOW__CORE__FERNET_KEY": f"{KEY}, {Fernet.generate_key().decode()}"}
    from_env = migrate.airflow_fernet(None, environ=env)
    assert from_env.describe() == "2 Airflow Fernet keys from AIRFLOW__CORE__FERNET_KEY"
    assert migrate.airflow_fernet(None, environ={"AIRFLOW_HOME": str(tmp_path)}).configured
    assert migrate.airflow_fernet(None, environ={"AIRFLOW_CONFIG": str(cfg)}).configured
    assert not migrate.airflow_fernet(None, environ={}).configured
    assert KEY not in repr(from_env)


def test_a_malformed_key_is_a_configuration_error_without_the_key() -> None:
    with pytest.raises(ConfigurationError) as caught:
        migrate.airflow_fernet(f"{KEY},not-a-key-CANARY", environ={})
    assert "Airflow Fernet key #2 of 2 (from --airflow-fernet-key) is malformed" in str(
        caught.value
    )
    assert "CANARY" not in str(caught.value)


@pytest.mark.parametrize(
    ("make_url", "message"),
    [
        (lambda p: f"sqlite:///{p / 'missing.db'}", "does not exist"),
        (lambda p: "sqlite://", "names no SQLite file"),
        (lambda p: "oracle://u:CANARYpw1@h/x", "hookline reads Airflow databases on SQLite"),
        (lambda p: "::not a url CANARYpw1", "is not a SQLAlchemy URL"),
        (lambda p: f"sqlite:///{p / 'empty.db'}", "has no 'connection' table"),
        (lambda p: f"sqlite:///{p / 'old.db'}", "has no column(s) conn_type, host"),
        (lambda p: f"sqlite:///{p / 'junk.db'}", "file is not a database"),
    ],
)
def test_an_unreadable_database_is_a_typed_error(
    make_url: object, message: str, tmp_path: Path
) -> None:
    sqlite3.connect(tmp_path / "empty.db").execute("create table t (x)").connection.commit()
    sqlite3.connect(tmp_path / "old.db").execute(
        "create table connection (conn_id text, schema text, login text, password text, port int)"
    ).connection.commit()
    (tmp_path / "junk.db").write_bytes(b"CANARYpw1" * 200)
    url = make_url(tmp_path)  # type: ignore[operator]
    with pytest.raises(AirflowDatabaseError) as caught:
        migrate.read_connections(url, migrate.airflow_fernet(None, environ={}))
    assert message in str(caught.value)
    assert "CANARYpw1" not in str(caught.value)
    assert "CANARYpw1" not in caught.value.url
    assert not (tmp_path / "missing.db").exists()


def test_plans_say_add_change_unchanged_or_conflict_and_never_a_value() -> None:
    backend = MemoryBackend()
    same = Connection("same", conn_type="http", host="h", password=CANARY)
    backend.data["same"] = same
    backend.data["diff"] = Connection("diff", conn_type="http", host="old", password="old-pw-1")
    incoming = [
        same,
        Connection("diff", conn_type="http", host="new", password=CANARY),
        Connection("new", conn_type="fs"),
    ]
    plan = migrate.plan_connections(incoming, backend, overwrite=False)
    assert [(e.name, e.action, e.fields) for e in plan.entries] == [
        ("diff", "conflict", ("host", "password")),
        ("new", "add", ()),
        ("same", "unchanged", ()),
    ]
    with pytest.raises(AirflowMigrationError, match="1 connection"):
        migrate.check_plan(plan)
    assert CANARY not in "\n".join(plan.lines())
    overwrite = migrate.plan_connections(incoming, backend, overwrite=True)
    assert overwrite.to_write == ["diff", "new"]
    migrate.check_plan(overwrite)
    variables = [migrate.AirflowVariable("a", "1"), migrate.AirflowVariable("b", CANARY)]
    stored = {"a": "1", "b": "other"}
    var_plan = migrate.plan_variables(variables, stored.get, overwrite=False)
    assert [(e.name, e.action) for e in var_plan.entries] == [("a", "unchanged"), ("b", "conflict")]
    assert CANARY not in "\n".join(var_plan.lines())
