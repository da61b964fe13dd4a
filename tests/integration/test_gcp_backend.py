"""GcpSecretManagerBackend against the drongo fake run as a standalone server (REST transport).

What every remote backend shares (reads, path traversal, lookup patterns, caching, outages,
deadlines, SDK logs) runs over all of them in tests/integration/test_remote_contract.py.

Each test writes under its own random prefix on the session server. Tests that stop the server start
their own with ``gcp_fake_factory``. The key-file test uses a freshly generated service-account
key (the client signs its own JWTs, so no token endpoint is needed).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

import hookline
from hookline.cli.app import app
from hookline.exceptions import (
    BackendUnavailable,
    ConfigurationError,
)
from hookline.resolve import SecretsChain
from hookline.resolve import default as resolver
from hookline.secrets.gcp import GcpSecretManagerBackend
from tests.servers.gcp_fake import GcpFakeServer

CANARY = "c4n4ry-S3cret!"


@pytest.fixture
def prefix() -> str:
    """A fresh, valid secret-id prefix per test."""
    return f"t{uuid.uuid4().hex[:10]}-connections"


@pytest.fixture
def backends() -> Iterator[list[GcpSecretManagerBackend]]:
    """Collects backends built by a test and closes them afterwards."""
    made: list[GcpSecretManagerBackend] = []
    yield made
    for backend in made:
        backend.close()


def add_secret(server: GcpFakeServer, secret_id: str, *values: str) -> None:
    client = server.client()
    parent = f"projects/{server.project_id}"
    client.create_secret(
        request={
            "parent": parent,
            "secret_id": secret_id,
            "secret": {"replication": {"automatic": {}}},
        }
    )
    for value in values:
        client.add_secret_version(
            request={"parent": f"{parent}/secrets/{secret_id}", "payload": {"data": value.encode()}}
        )


def make(
    server: GcpFakeServer, backends: list[GcpSecretManagerBackend], **kwargs: Any
) -> GcpSecretManagerBackend:
    settings: dict[str, Any] = {
        "project_id": server.project_id,
        "anonymous": True,
        "transport": "rest",
        "api_endpoint": server.endpoint,
    }
    settings.update(kwargs)
    backend = GcpSecretManagerBackend(**settings)
    backends.append(backend)
    return backend


def test_uri_json_and_missing(
    gcp_fake_server: GcpFakeServer, backends: list[GcpSecretManagerBackend], prefix: str
) -> None:
    """URI and JSON secrets become Connections; a missing secret is None (no error)."""
    add_secret(gcp_fake_server, f"{prefix}-db", f"postgres://u:{CANARY}@db:5432/app")
    add_secret(
        gcp_fake_server,
        f"{prefix}-api",
        json.dumps({"conn_type": "http", "host": "api.example", "password": CANARY}),
    )
    b = make(gcp_fake_server, backends, connections_prefix=prefix)
    db = b.get_connection("db")
    assert db is not None
    assert (db.conn_type, db.host, db.port, db.password) == ("postgres", "db", 5432, CANARY)
    api = b.get_connection("api")
    assert api is not None
    assert (api.conn_type, api.host) == ("http", "api.example")
    assert b.get_conn_value("missing") is None
    assert b.lookup_keys("db") == [f"{prefix}-db"]
    assert b.stats()["errors"] == 0
    assert CANARY not in repr(b)


def test_latest_or_pinned_version(
    gcp_fake_server: GcpFakeServer, backends: list[GcpSecretManagerBackend], prefix: str
) -> None:
    """version='latest' reads the newest version; a pinned version reads that one."""
    add_secret(gcp_fake_server, f"{prefix}-db", "sqlite:///v1.db", "sqlite:///v2.db")
    assert make(gcp_fake_server, backends, connections_prefix=prefix).get_conn_value("db") == (
        "sqlite:///v2.db"
    )
    pinned = make(gcp_fake_server, backends, connections_prefix=prefix, version=1)
    assert pinned.get_conn_value("db") == "sqlite:///v1.db"


def test_ids_that_cannot_be_secret_ids_cost_no_call(
    gcp_fake_server: GcpFakeServer, backends: list[GcpSecretManagerBackend]
) -> None:
    """Ids with characters Secret Manager refuses (like '.') are skipped without an API call."""
    b = make(gcp_fake_server, backends)
    assert not b.handles("my.conn")
    assert b.get_conn_value("my.conn") is None
    result = SecretsChain([b]).lookup("my.conn")
    assert result.trace.steps[0].outcome == "skipped"
    assert b.stats()["api_calls"] == 0
    assert b.lookup_keys("db") == ["airflow-connections-db"]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"connections_prefix": "airflow/connections"}, "must match"),
        ({"sep": "."}, "must match"),
        ({"transport": "http"}, "transport"),
        ({"version": "newest"}, "version"),
        ({"anonymous": True, "key_path": "/nonexistent.json"}, "at most one"),
    ],
)
def test_invalid_settings_are_rejected(kwargs: dict[str, Any], needle: str) -> None:
    """Prefix and separator are validated as Airflow does, and so are transport and version."""
    with pytest.raises(ConfigurationError, match=needle):
        GcpSecretManagerBackend(project_id="p", **kwargs)


def test_missing_project_is_a_configuration_error(
    gcp_fake_server: GcpFakeServer, backends: list[GcpSecretManagerBackend]
) -> None:
    """Without project_id and credentials naming one, the first lookup says how to fix it."""
    b = make(gcp_fake_server, backends, project_id=None)
    with pytest.raises(ConfigurationError, match="project_id"):
        b.get_conn_value("db")


def test_disabled_version_is_unavailable_not_absent(
    gcp_fake_server: GcpFakeServer, backends: list[GcpSecretManagerBackend], prefix: str
) -> None:
    """A secret whose version is disabled fails (not retried) instead of pretending it is absent."""
    add_secret(gcp_fake_server, f"{prefix}-db", CANARY)
    name = f"projects/{gcp_fake_server.project_id}/secrets/{prefix}-db/versions/1"
    gcp_fake_server.client().disable_secret_version(request={"name": name})
    b = make(gcp_fake_server, backends, connections_prefix=prefix, version=1)
    with pytest.raises(BackendUnavailable) as info:
        b.get_conn_value("db")
    assert "1 attempt(s)" in str(info.value)
    assert CANARY not in str(info.value)


def test_prefetch_lists_then_accesses(
    gcp_fake_server: GcpFakeServer, backends: list[GcpSecretManagerBackend], prefix: str
) -> None:
    """prefetch() costs one ListSecrets page plus one access per connection under the prefix."""
    for n in range(3):
        add_secret(gcp_fake_server, f"{prefix}-c{n}", f"http://h{n}")
    add_secret(gcp_fake_server, f"x{prefix}-other", "http://other")
    b = make(gcp_fake_server, backends, connections_prefix=prefix)
    assert b.prefetch() == {"c0": "http://h0", "c1": "http://h1", "c2": "http://h2"}
    assert b.stats()["api_calls"] == 4
    conns = list(b.list_connections())
    assert [c.conn_id for c in conns] == ["c0", "c1", "c2"]


# -- service-account key file -----------------------------------------------------------------------


def write_service_account_key(directory: Path, project_id: str) -> Path:
    """A service-account JSON key with a fresh RSA key (the client signs its own JWTs with it)."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    key_file = directory / "sa.json"
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": project_id,
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "hookline@hookline-test.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": "http://127.0.0.1:9/token",
            }
        )
    )
    return key_file


def test_key_file_credentials_load_once(
    gcp_fake_server: GcpFakeServer,
    backends: list[GcpSecretManagerBackend],
    prefix: str,
    tmp_path: Path,
) -> None:
    """A service-account key file is loaded once for many lookups and names the project.

    The client signs its own JWTs with the key (no token exchange), so this runs offline.
    """
    key_file = write_service_account_key(tmp_path, gcp_fake_server.project_id)
    add_secret(gcp_fake_server, f"{prefix}-db", "sqlite://")
    b = make(
        gcp_fake_server,
        backends,
        project_id=None,
        anonymous=False,
        key_path=str(key_file),
        connections_prefix=prefix,
    )
    for _ in range(5):
        assert b.get_conn_value("db") == "sqlite://"
    assert b.project_id == gcp_fake_server.project_id
    assert b.stats()["logins"] == 1
    assert b.stats()["api_calls"] == 5


# -- the documented configuration, end to end ----------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "remote_backends.md"


def doc_snippet(name: str) -> str:
    """The TOML block after ``<!-- snippet: name -->`` in docs/remote_backends.md."""
    text = DOCS.read_text()
    start = text.index("```toml\n", text.index(f"<!-- snippet: {name} -->")) + len("```toml\n")
    return text[start : text.index("```", start)]


def test_documented_configuration_end_to_end(
    gcp_fake_server: GcpFakeServer,
    monkeypatch: pytest.MonkeyPatch,
    isolated_hookline: Path,
    tmp_path: Path,
) -> None:
    """The docs' hookline.toml (project, key file and endpoint from the environment) resolves a
    connection through hookline.get_connection and the CLI's connections get/list, redacted."""
    conn_id = f"warehouse_{uuid.uuid4().hex[:8]}"
    add_secret(
        gcp_fake_server, f"airflow-connections-{conn_id}", f"postgres://u:{CANARY}@db:5432/app"
    )
    isolated_hookline.mkdir(parents=True, exist_ok=True)
    (isolated_hookline / "hookline.toml").write_text(doc_snippet("gcp_secret_manager"))
    key_file = write_service_account_key(tmp_path, gcp_fake_server.project_id)
    env = "HOOKLINE_SECRETS__BACKEND__GCP_SECRET_MANAGER__"
    monkeypatch.setenv(f"{env}PROJECT_ID", gcp_fake_server.project_id)
    monkeypatch.setenv(f"{env}KEY_PATH", str(key_file))
    monkeypatch.setenv(f"{env}API_ENDPOINT", gcp_fake_server.endpoint)
    try:
        assert hookline.get_connection(conn_id).password == CANARY
        got = CliRunner().invoke(app, ["connections", "get", conn_id])
        assert got.exit_code == 0, got.output
        assert conn_id in got.stdout
        assert CANARY not in got.stdout
        listed = CliRunner().invoke(app, ["connections", "list"])
        assert listed.exit_code == 0, listed.output
        assert conn_id in listed.stdout
        assert CANARY not in listed.stdout
    finally:
        previous = resolver.swap_default_resolver(None)
        close = getattr(previous, "close", None)
        if callable(close):
            close()
