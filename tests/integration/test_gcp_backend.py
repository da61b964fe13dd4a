"""GcpSecretManagerBackend against the drongo fake run as a standalone server (REST transport).

Each test writes under its own random prefix on the session server. Tests that stop the server start
their own with ``gcp_fake_factory``. The key-file test uses a freshly generated service-account
key (the client signs its own JWTs, so no token endpoint is needed).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

import hookline
from hookline.cli.app import app
from hookline.config import CacheSettings
from hookline.connection import Connection
from hookline.exceptions import (
    BackendUnavailable,
    ConfigurationError,
    ConnectionUnresolved,
)
from hookline.resolve import SecretsChain
from hookline.resolve import default as resolver
from hookline.resolve.cache import CachedResolver
from hookline.secrets.env import EnvBackend
from hookline.secrets.gcp import GcpSecretManagerBackend
from tests.servers.gcp_fake import GcpFakeServer
from tests.servers.tcp_proxy import TcpProxy

CANARY = "c4n4ry-S3cret!"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


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


def test_thousand_cached_lookups_cost_one_call(
    gcp_fake_server: GcpFakeServer, backends: list[GcpSecretManagerBackend], prefix: str
) -> None:
    """1,000 lookups of one id within the cache TTL make exactly one access call."""
    add_secret(gcp_fake_server, f"{prefix}-db", "sqlite://")
    b = make(gcp_fake_server, backends, connections_prefix=prefix)
    resolver = CachedResolver(SecretsChain([b]), CacheSettings(ttl_seconds=300))
    for _ in range(1000):
        resolver.get_connection("db")
    assert b.stats()["api_calls"] == 1


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


# -- failures -------------------------------------------------------------------------------------


def test_server_stopped_mid_run_stale_then_unavailable(
    gcp_fake_factory: Callable[[], GcpFakeServer],
    backends: list[GcpSecretManagerBackend],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After the server stops, cached values are served within the stale window, then lookups fail
    saying the backend could not answer; the backend itself raises BackendUnavailable."""
    server = gcp_fake_factory()
    add_secret(server, "airflow-connections-db", f"postgres://u:{CANARY}@h/db")
    b = make(server, backends, deadline_s=2, max_attempts=2)
    clock = FakeClock()
    resolver = CachedResolver(
        SecretsChain([b]),
        CacheSettings(
            ttl_seconds=60, ttl_jitter_ratio=0, stale_if_error_seconds=120, error_retry_seconds=5
        ),
        clock=clock,
    )
    first = resolver.get_connection("db")
    server.stop()
    clock.now += 61
    with caplog.at_level(logging.WARNING, logger="hookline.resolve.cache"):
        assert resolver.get_connection("db") == first
    assert "past its TTL" in caplog.text
    clock.now += 200
    with pytest.raises(ConnectionUnresolved) as info:  # an outage, not absence
        resolver.get_connection("db")
    assert "gcp_secret_manager could not answer" in str(info.value)
    with pytest.raises(BackendUnavailable) as direct:
        b.get_conn_value("db")
    assert "gcp_secret_manager backend unavailable" in str(direct.value)
    assert CANARY not in str(direct.value)


def test_chain_falls_through_when_the_server_is_down(
    gcp_fake_factory: Callable[[], GcpFakeServer],
    backends: list[GcpSecretManagerBackend],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the fake stopped, the chain answers from the next backend holding the id."""
    server = gcp_fake_factory()
    b = make(server, backends, deadline_s=1, max_attempts=2)
    server.stop()
    monkeypatch.setenv("AIRFLOW_CONN_FALLBACK", "sqlite://")
    result = SecretsChain([b, EnvBackend()]).lookup("fallback")
    assert result.connection == Connection.from_uri("sqlite://", conn_id="fallback")
    assert [s.outcome for s in result.trace.steps] == ["unavailable", "hit"]


def test_deadline_holds_when_the_server_does_not_answer(
    gcp_fake_server: GcpFakeServer,
    backends: list[GcpSecretManagerBackend],
    tcp_proxy_factory: Callable[..., TcpProxy],
) -> None:
    """Behind a black-holing proxy, the lookup gives up at the deadline."""
    proxy = tcp_proxy_factory(gcp_fake_server.port, mode="blackhole")
    b = make(gcp_fake_server, backends, api_endpoint=proxy.url, deadline_s=0.5)
    with pytest.raises(BackendUnavailable) as info:
        b.get_conn_value("db")
    assert "no answer before the deadline" in str(info.value)


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
