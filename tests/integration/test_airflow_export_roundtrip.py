"""And back: ``hookline connections export`` files import into a real Airflow 3.3.2.

Each file format hookline writes (JSON, YAML, env with URIs, env with JSON) is given to
``airflow connections import``; ``airflow connections get -o json`` must then show every field as
hookline holds it, special characters, nested extras, booleans and nulls included. (Env files with
``--serialization-format json`` are left out: Airflow 3.3.2's ``connections import`` reads every
env value as a URI, so it cannot read its own JSON env exports either.)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from hookline.connection import Connection
from hookline.secrets.metastore import MetastoreBackend
from tests.servers.airflow_meta import AirflowInstall, run_airflow
from tests.unit.cli.support import run

pytestmark = pytest.mark.timeout(900)

CONNECTIONS = (
    Connection(
        conn_id="weird_http",
        conn_type="http",
        description='Desc ✓ "quoted"',
        host="api.example.com",
        login="us er@x",
        password='p@ss:w/rd?#&=%+ü "q"',
        schema="https",
        port=8443,
        extra={
            "api_key": "k3y/+=",
            "timeout": 30,
            "verify": False,
            "nested": {"a": [1, 2.5], "b": None},
            "s": "a=b&c",
        },
    ),
    Connection(
        conn_id="pg_unicode",
        conn_type="postgres",
        host="db.internal",
        login="app",
        password="pässwörd-✓:/@",
        schema="sales/eu",
        port=5432,
        extra={"sslmode": "require", "application_name": "hookline"},
    ),
    Connection(
        conn_id="aws.role-1",
        conn_type="aws",
        login="AKIAEXAMPLE",
        password="wJalr/XUtnFEMI+K7MDENG==",
        extra={"region_name": "eu-west-1", "role_arn": "arn:aws:iam::1:role/x"},
    ),
)


@pytest.fixture(scope="module")
def migrated_home(
    airflow3_install: AirflowInstall, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A migrated Airflow 3.3.2 SQLite home, copied per format."""
    home = tmp_path_factory.mktemp("airflow-roundtrip")
    run_airflow(airflow3_install, home, f"sqlite:///{home / 'airflow.db'}", "", ("db", "migrate"))
    return home


def _airflow_get(install: AirflowInstall, home: Path, url: str, conn_id: str) -> dict[str, Any]:
    out = run_airflow(install, home, url, "", ("connections", "get", conn_id, "-o", "json"))
    rows = json.loads(out[out.index("[") :])
    assert len(rows) == 1
    return dict(rows[0])


def _uri_extra(uri: str) -> dict[str, Any]:
    query = dict(parse_qsl(urlsplit(uri).query, keep_blank_values=True))
    return dict(json.loads(query["__extra__"])) if "__extra__" in query else query


@pytest.mark.parametrize(
    ("fmt", "serialization"),
    [("json", "uri"), ("yaml", "uri"), ("env", "uri")],
)
def test_hookline_export_files_import_into_airflow_unchanged(
    fmt: str,
    serialization: str,
    airflow3_install: AirflowInstall,
    migrated_home: Path,
    tmp_path: Path,
) -> None:
    backend = MetastoreBackend()
    backend.set_connections(CONNECTIONS)
    backend.close()
    export = tmp_path / f"connections.{fmt}"
    result = run(
        "connections", "export", str(export), "--show-secrets",
        "--serialization-format", serialization,
    )  # fmt: skip
    assert result.exit_code == 0, result.output

    home = tmp_path / "airflow-home"
    home.mkdir()
    shutil.copy2(migrated_home / "airflow.db", home / "airflow.db")
    url = f"sqlite:///{home / 'airflow.db'}"
    out = run_airflow(airflow3_install, home, url, "", ("connections", "import", str(export)))
    for conn in CONNECTIONS:
        assert f"Imported connection {conn.conn_id}" in out

    for conn in CONNECTIONS:
        got = _airflow_get(airflow3_install, home, url, str(conn.conn_id))
        # a URI cannot tell an absent host or schema from an empty one: Airflow reads ""
        uri_form = fmt == "env"
        assert got["conn_type"] == conn.conn_type
        assert (got["host"] or None if uri_form else got["host"]) == conn.host
        assert got["login"] == conn.login
        assert got["password"] == conn.password
        assert (got["schema"] or None if uri_form else got["schema"]) == conn.schema
        assert got["port"] == (str(conn.port) if conn.port is not None else None)
        if not uri_form:  # a URI has no description
            assert got["description"] == conn.description
        # `get -o json` prints extra values as strings; its URI holds the exact JSON
        assert _uri_extra(got["get_uri"]) == conn.extra_dejson
        assert got["get_uri"] == conn.get_uri()
