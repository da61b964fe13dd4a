"""Resolving connections from environment variables through ``hookline.get_connection``.

Only the public behaviour is tested (``get_connection`` / ``find_connection``), not the resolver's
internals: ``HOOKLINE_CONN_<ID>`` first, then Airflow's ``AIRFLOW_CONN_<ID>``, each holding a URI or
JSON (a value starting with ``{`` after whitespace). The conftest clears these variables per test.
"""

from __future__ import annotations

import json
import traceback

import pytest

import hookline
from hookline import Connection, ConnectionNotFound, InvalidConnection

CANARY = "c4n4ry-S3cret!"
PG_URI = "postgresql://username:password%21@ec2.compute.com:5432/the_database"


def test_airflow_env_var_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow's test_using_env_var: AIRFLOW_CONN_TEST_URI is read for conn_id `test_uri`."""
    monkeypatch.setenv("AIRFLOW_CONN_TEST_URI", PG_URI)
    conn = hookline.get_connection("test_uri")
    assert conn.conn_id == "test_uri"
    assert (conn.conn_type, conn.host, conn.schema, conn.login, conn.password, conn.port) == (
        "postgres",
        "ec2.compute.com",
        "the_database",
        "username",
        "password!",
        5432,
    )


def test_airflow_env_var_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow's test_using_unix_socket_env_var: no login, password or port."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_TEST_URI_NO_CREDS", "postgresql://ec2.compute.com/the_database"
    )
    conn = hookline.get_connection("test_uri_no_creds")
    assert (conn.host, conn.schema, conn.login, conn.password, conn.port) == (
        "ec2.compute.com",
        "the_database",
        None,
        None,
        None,
    )


def test_hookline_env_var_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    """HOOKLINE_CONN_<ID> holds a URI."""
    monkeypatch.setenv(
        "HOOKLINE_CONN_WAREHOUSE", "postgres://alice:s%40cret@db:5432/app?sslmode=require"
    )
    conn = hookline.get_connection("warehouse")
    assert conn == Connection.from_uri(
        "postgres://alice:s%40cret@db:5432/app?sslmode=require", conn_id="warehouse"
    )
    assert conn.password == "s@cret"


@pytest.mark.parametrize("prefix", ["HOOKLINE_CONN_", "AIRFLOW_CONN_"])
@pytest.mark.parametrize("padding", ["", "  ", "\n\t "])
def test_env_var_json(monkeypatch: pytest.MonkeyPatch, prefix: str, padding: str) -> None:
    """A value starting with `{` (after whitespace) is JSON, in both prefixes."""
    value = json.dumps(
        {"conn_type": "postgresql", "host": "db", "port": "5432", "extra": {"sslmode": "require"}}
    )
    monkeypatch.setenv(f"{prefix}JSON_DB", padding + value)
    conn = hookline.get_connection("json_db")
    assert (conn.conn_id, conn.conn_type, conn.host, conn.port) == (
        "json_db",
        "postgres",
        "db",
        5432,
    )
    assert conn.extra_dejson == {"sslmode": "require"}


def test_env_var_uri_with_leading_whitespace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Surrounding whitespace around a URI value is ignored."""
    monkeypatch.setenv("AIRFLOW_CONN_SPACED", "  \n mysql://u:p@h:3306/db \n")
    conn = hookline.get_connection("spaced")
    assert (conn.conn_type, conn.host, conn.port, conn.schema) == ("mysql", "h", 3306, "db")


def test_hookline_prefix_wins_over_airflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """When both variables exist, HOOKLINE_CONN_<ID> is used."""
    monkeypatch.setenv("AIRFLOW_CONN_BOTH", "postgres://airflow-host/db")
    monkeypatch.setenv("HOOKLINE_CONN_BOTH", "postgres://hookline-host/db")
    assert hookline.get_connection("both").host == "hookline-host"


def test_airflow_env_var_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow's test_env_var_priority: the env var defines the connection when set."""
    assert hookline.find_connection("other_db") is None
    monkeypatch.setenv(
        "AIRFLOW_CONN_AIRFLOW_DB",
        "postgresql://username:password@ec2.compute.com:5432/the_database",
    )
    conn = hookline.get_connection("airflow_db")
    assert (conn.host, conn.login, conn.password, conn.port) == (
        "ec2.compute.com",
        "username",
        "password",
        5432,
    )


@pytest.mark.parametrize("conn_id", ["my_db", "My_Db", "MY_DB"])
def test_conn_id_is_upper_cased_for_the_variable(
    monkeypatch: pytest.MonkeyPatch, conn_id: str
) -> None:
    """The id is upper-cased to name the variable; the connection keeps the id it was asked for."""
    monkeypatch.setenv("HOOKLINE_CONN_MY_DB", "sqlite://")
    conn = hookline.get_connection(conn_id)
    assert conn.conn_id == conn_id
    assert conn.conn_type == "sqlite"


def test_dashes_and_dots_are_kept_in_the_variable_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only case changes: `my-db.v2` is read from HOOKLINE_CONN_MY-DB.V2 (as Airflow does)."""
    monkeypatch.setenv("HOOKLINE_CONN_MY-DB.V2", "http://h")
    assert hookline.get_connection("my-db.v2").host == "h"
    assert hookline.find_connection("my_db_v2") is None


def test_not_found_names_the_variables_looked_at() -> None:
    """A missing id raises ConnectionNotFound, a KeyError whose message names both variables."""
    with pytest.raises(ConnectionNotFound) as info:
        hookline.get_connection("missing_db")
    exc = info.value
    assert isinstance(exc, KeyError)
    assert exc.conn_id == "missing_db"
    message = str(exc)
    assert "'missing_db'" in message
    assert "HOOKLINE_CONN_MISSING_DB" in message
    assert "AIRFLOW_CONN_MISSING_DB" in message


def test_find_connection_returns_none_when_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """find_connection gives None instead of raising, and the connection when present."""
    assert hookline.find_connection("nowhere") is None
    monkeypatch.setenv("HOOKLINE_CONN_SOMEWHERE", "http://h")
    found = hookline.find_connection("somewhere")
    assert found is not None
    assert found.host == "h"


@pytest.mark.parametrize("conn_id", ["", "bad id", "a;b", "x" * 251])
def test_invalid_conn_id_raises_invalid_connection(conn_id: str) -> None:
    """An invalid id is an InvalidConnection (a ValueError), not "not found"."""
    with pytest.raises(InvalidConnection) as info:
        hookline.get_connection(conn_id)
    assert not isinstance(info.value, ConnectionNotFound)
    assert isinstance(info.value, ValueError)
    assert "conn_id" in str(info.value)


def test_malformed_env_value_is_invalid_and_keeps_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A malformed stored URI raises InvalidConnection naming the id, without the password."""
    monkeypatch.setenv("AIRFLOW_CONN_BROKEN", f"postgres://user:{CANARY}@db:54x2/app")
    with pytest.raises(InvalidConnection) as info:
        hookline.get_connection("broken")
    text = "".join(traceback.format_exception(info.value))
    assert "port" in str(info.value)
    assert "broken" in str(info.value)
    assert "c4n4ry" not in text
    assert "S3cret" not in text


def test_malformed_env_json_is_invalid_and_keeps_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Malformed stored JSON raises InvalidConnection without echoing the text."""
    monkeypatch.setenv("HOOKLINE_CONN_BROKEN_JSON", '{"password": "' + CANARY + '", "port": ')
    with pytest.raises(InvalidConnection) as info:
        hookline.get_connection("broken_json")
    assert "not valid JSON" in str(info.value)
    assert "c4n4ry" not in "".join(traceback.format_exception(info.value))
