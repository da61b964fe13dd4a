"""VaultBackend against a real OpenBao dev server: layouts, auth, renewal, denial, cost, TLS.

What every remote backend shares (reads, path traversal, lookup patterns, caching, outages,
deadlines, SDK logs) runs over all of them in tests/integration/test_remote_contract.py.

The session server (``openbao_server``) is configured once per module: an AppRole role and a userpass
user limited to ``secret/connections/*``, a KV v1 mount ``kv1``. Tests that stop a server start their
own with ``openbao_factory``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac
import pytest
from typer.testing import CliRunner

import hookline
from hookline import masking
from hookline.cli.app import app
from hookline.connection import Connection
from hookline.exceptions import (
    BackendPermissionDenied,
    BackendUnavailable,
    ConfigurationError,
    InvalidConnection,
)
from hookline.resolve import SecretsChain
from hookline.resolve import default as resolver
from hookline.secrets.env import EnvBackend
from hookline.secrets.vault import VaultBackend
from tests.servers.openbao import OpenBaoServer

CANARY = "c4n4ry-S3cret!"

READ_CONNECTIONS_POLICY = """
path "secret/data/connections/*" { capabilities = ["read"] }
path "secret/metadata/connections" { capabilities = ["list"] }
path "secret/metadata/connections/*" { capabilities = ["list"] }
"""


@dataclass
class VaultSetup:
    server: OpenBaoServer
    root: Any
    role_id: str
    secret_id: str
    username: str
    password: str


@pytest.fixture(scope="module")
def vault(openbao_server: OpenBaoServer) -> VaultSetup:
    """The session server with AppRole, userpass, a restricted policy and a KV v1 mount."""
    root = openbao_server.client()
    root.sys.create_or_update_policy("read-connections", READ_CONNECTIONS_POLICY)
    auth = root.sys.list_auth_methods()
    if "approle/" not in auth:
        root.sys.enable_auth_method("approle")
    if "userpass/" not in auth:
        root.sys.enable_auth_method("userpass")
    if "kv1/" not in root.sys.list_mounted_secrets_engines():
        root.sys.enable_secrets_engine("kv", path="kv1", options={"version": "1"})
    root.auth.approle.create_or_update_approle(
        "hookline", token_policies=["read-connections"], token_ttl="1h"
    )
    role_id = root.auth.approle.read_role_id("hookline")["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("hookline")["data"]["secret_id"]
    root.auth.userpass.create_or_update_user(
        "alice", password=CANARY, policies=["read-connections"]
    )
    return VaultSetup(openbao_server, root, role_id, secret_id, "alice", CANARY)


@pytest.fixture
def conn_id() -> str:
    """A fresh id per test, so tests sharing the session server do not see each other's data."""
    return f"c_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def backends() -> Iterator[list[VaultBackend]]:
    """Collects backends built by a test and closes them afterwards."""
    made: list[VaultBackend] = []
    yield made
    for backend in made:
        backend.close()


def put(root: Any, path: str, secret: dict[str, Any], mount: str = "secret") -> None:
    root.secrets.kv.v2.create_or_update_secret(path=path, secret=secret, mount_point=mount)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def approle_logins(root: Any) -> int:
    """Server side: how many live tokens were created by an AppRole login."""
    accessors = root.auth.token.list_accessors()["data"]["keys"]
    paths = [root.auth.token.lookup_accessor(a)["data"]["path"] for a in accessors]
    return sum(1 for p in paths if p == "auth/approle/login")


# -- layouts ----------------------------------------------------------------------------------


def test_kv2_conn_uri_and_fields(
    vault: VaultSetup, backends: list[VaultBackend], conn_id: str
) -> None:
    """A KV v2 secret with conn_uri, or with connection fields, becomes a Connection (Airflow layout)."""
    put(vault.root, f"connections/{conn_id}", {"conn_uri": f"postgres://u:{CANARY}@db:5432/app"})
    put(
        vault.root,
        f"connections/{conn_id}_f",
        {
            "conn_type": "mysql",
            "host": "h",
            "login": "bob",
            "password": CANARY,
            "port": 3306,
            "extra": {"ssl": True},
        },
    )
    b = VaultBackend(url=vault.server.url, token=vault.server.root_token)
    backends.append(b)
    conn = b.get_connection(conn_id)
    assert conn is not None
    assert (conn.conn_type, conn.host, conn.port, conn.password) == ("postgres", "db", 5432, CANARY)
    fields = b.get_connection(f"{conn_id}_f")
    assert fields is not None
    assert (fields.conn_type, fields.login, fields.port) == ("mysql", "bob", 3306)
    assert fields.extra_dejson == {"ssl": True}
    assert b.get_conn_value(f"{conn_id}_missing") is None
    assert b.lookup_keys(conn_id) == [f"connections/{conn_id}"]
    assert CANARY not in repr(b)


def test_kv1_mount(vault: VaultSetup, backends: list[VaultBackend], conn_id: str) -> None:
    """kv_engine_version=1 reads a KV v1 mount."""
    vault.root.secrets.kv.v1.create_or_update_secret(
        path=f"conns/{conn_id}", secret={"conn_uri": "http://api.example/v1"}, mount_point="kv1"
    )
    b = VaultBackend(
        url=vault.server.url,
        token=vault.server.root_token,
        mount_point="kv1",
        connections_path="conns/",
        kv_engine_version=1,
    )
    backends.append(b)
    assert b.get_conn_value(conn_id) == "http://api.example/v1"
    assert b.get_conn_value(f"{conn_id}_missing") is None


def test_mount_point_none_takes_the_first_segment(
    vault: VaultSetup, backends: list[VaultBackend], conn_id: str
) -> None:
    """With mount_point=None the first segment of connections_path is the mount (Airflow)."""
    put(vault.root, f"other/{conn_id}", {"conn_uri": "sqlite://"})
    b = VaultBackend(
        url=vault.server.url,
        token=vault.server.root_token,
        mount_point=None,
        connections_path="secret/other",
    )
    backends.append(b)
    assert b.get_conn_value(conn_id) == "sqlite://"


def test_bad_configuration_is_rejected() -> None:
    """Unknown auth types and missing AppRole ids raise ConfigurationError."""
    with pytest.raises(ConfigurationError, match="auth_type"):
        VaultBackend(url="http://127.0.0.1:1", auth_type="kerberos")
    with pytest.raises(ConfigurationError, match="role_id"):
        VaultBackend(url="http://127.0.0.1:1", auth_type="approle")
    with pytest.raises(ConfigurationError, match="kv_engine_version"):
        VaultBackend(url="http://127.0.0.1:1", kv_engine_version=3)


def test_tls_with_a_ca_bundle(
    openbao_factory: Callable[..., OpenBaoServer], backends: list[VaultBackend]
) -> None:
    """verify=<CA file> talks to an https server; without the CA the handshake fails at once
    (not retried) with BackendUnavailable naming the TLS problem."""
    server = openbao_factory(tls=True)
    put(server.client(), "connections/db", {"conn_uri": "sqlite://"})
    trusted = VaultBackend(url=server.url, token=server.root_token, verify=str(server.ca_path))
    backends.append(trusted)
    assert trusted.get_conn_value("db") == "sqlite://"
    untrusted = VaultBackend(url=server.url, token=server.root_token)
    backends.append(untrusted)
    with pytest.raises(BackendUnavailable, match="TLS handshake failed") as info:
        untrusted.get_conn_value("db")
    assert "1 attempt(s)" in str(info.value)


def test_namespace(
    openbao_factory: Callable[..., OpenBaoServer], backends: list[VaultBackend]
) -> None:
    """namespace= reads the KV mount inside that namespace; outside it the secret is absent."""
    server = openbao_factory()
    server.client().sys.create_namespace("team-a")
    inner = hvac.Client(url=server.url, token=server.root_token, namespace="team-a")
    inner.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    put(inner, "connections/db", {"conn_uri": "sqlite://"})
    scoped = VaultBackend(url=server.url, token=server.root_token, namespace="team-a")
    backends.append(scoped)
    assert scoped.get_conn_value("db") == "sqlite://"
    root = VaultBackend(url=server.url, token=server.root_token)
    backends.append(root)
    assert root.get_conn_value("db") is None


# -- authentication -----------------------------------------------------------------------------


def test_approle_logs_in_once_for_many_lookups(
    vault: VaultSetup, backends: list[VaultBackend], conn_id: str
) -> None:
    """AppRole logs in once per backend, not per lookup (Airflow PR #71756), seen server-side too."""
    for n in range(5):
        put(vault.root, f"connections/{conn_id}_{n}", {"conn_uri": f"http://h{n}"})
    before = approle_logins(vault.root)
    b = VaultBackend(
        url=vault.server.url,
        auth_type="approle",
        role_id=vault.role_id,
        secret_id=vault.secret_id,
    )
    backends.append(b)
    for _ in range(10):
        for n in range(5):
            assert b.get_conn_value(f"{conn_id}_{n}") == f"http://h{n}"
    assert b.stats()["logins"] == 1
    assert b.stats()["lookups"] == 50
    assert approle_logins(vault.root) == before + 1


def test_userpass_login(vault: VaultSetup, backends: list[VaultBackend], conn_id: str) -> None:
    """userpass logs in with username and password; the password never shows in repr."""
    put(vault.root, f"connections/{conn_id}", {"conn_uri": "sqlite://"})
    b = VaultBackend(
        url=vault.server.url,
        auth_type="userpass",
        username=vault.username,
        password=vault.password,
    )
    backends.append(b)
    assert b.get_conn_value(conn_id) == "sqlite://"
    assert b.stats()["logins"] == 1
    assert CANARY not in repr(b)


def test_token_is_renewed_before_it_expires(
    vault: VaultSetup, backends: list[VaultBackend], conn_id: str
) -> None:
    """A renewable token close to expiry is renewed (renew-self) once, not per lookup."""
    put(vault.root, f"connections/{conn_id}", {"conn_uri": "sqlite://"})
    token = vault.root.auth.token.create(policies=["read-connections"], ttl="1h", renewable=True)
    clock = FakeClock()
    b = VaultBackend(
        url=vault.server.url, token=token["auth"]["client_token"], renew_before_s=60, clock=clock
    )
    backends.append(b)
    assert b.get_conn_value(conn_id) == "sqlite://"
    clock.now += 1800
    assert b.get_conn_value(conn_id) == "sqlite://"
    assert b.stats()["renewals"] == 0
    clock.now += 1750  # less than renew_before_s left: the next call renews first
    for _ in range(5):
        assert b.get_conn_value(conn_id) == "sqlite://"
    assert b.stats()["renewals"] == 1
    assert b.stats()["errors"] == 0


def test_approle_logs_in_again_when_the_token_cannot_be_renewed(
    vault: VaultSetup, backends: list[VaultBackend], conn_id: str
) -> None:
    """A non-renewable (batch) AppRole token near expiry is replaced by exactly one new login."""
    vault.root.auth.approle.create_or_update_approle(
        "batch", token_policies=["read-connections"], token_ttl="1h", token_type="batch"
    )
    role_id = vault.root.auth.approle.read_role_id("batch")["data"]["role_id"]
    secret_id = vault.root.auth.approle.generate_secret_id("batch")["data"]["secret_id"]
    put(vault.root, f"connections/{conn_id}", {"conn_uri": "sqlite://"})
    clock = FakeClock()
    b = VaultBackend(
        url=vault.server.url,
        auth_type="approle",
        role_id=role_id,
        secret_id=secret_id,
        clock=clock,
    )
    backends.append(b)
    assert b.get_conn_value(conn_id) == "sqlite://"
    assert b.stats()["logins"] == 1
    clock.now += 3590
    for _ in range(5):
        assert b.get_conn_value(conn_id) == "sqlite://"
    assert b.stats()["logins"] == 2
    assert b.stats()["renewals"] == 0


# -- access denied ------------------------------------------------------------------------------


def test_restricted_token_is_denied_and_the_chain_stops(
    vault: VaultSetup, backends: list[VaultBackend], conn_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token whose policy does not cover the path gets BackendPermissionDenied; the chain stops."""
    put(vault.root, f"restricted/{conn_id}", {"conn_uri": f"postgres://u:{CANARY}@h/db"})
    token = vault.root.auth.token.create(policies=["read-connections"], ttl="1h")
    b = VaultBackend(
        url=vault.server.url, token=token["auth"]["client_token"], connections_path="restricted"
    )
    backends.append(b)
    with pytest.raises(BackendPermissionDenied) as info:
        b.get_conn_value(conn_id)
    assert "vault backend refused access" in str(info.value)
    assert CANARY not in str(info.value)
    assert isinstance(info.value.__cause__, hvac.exceptions.Forbidden)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", "sqlite://")
    chain = SecretsChain([b, EnvBackend()])
    with pytest.raises(BackendPermissionDenied):
        chain.lookup(conn_id)


def test_denied_approle_tries_one_new_login_then_stops(
    vault: VaultSetup, backends: list[VaultBackend], conn_id: str
) -> None:
    """For AppRole a 403 may be an expired token: one new login, then BackendPermissionDenied."""
    put(vault.root, f"restricted/{conn_id}", {"conn_uri": "sqlite://"})
    b = VaultBackend(
        url=vault.server.url,
        auth_type="approle",
        role_id=vault.role_id,
        secret_id=vault.secret_id,
        connections_path="restricted",
    )
    backends.append(b)
    with pytest.raises(BackendPermissionDenied):
        b.get_conn_value(conn_id)
    assert b.stats()["logins"] == 2


# -- cost ---------------------------------------------------------------------------------------


def test_prefetch_lists_a_prefix_in_one_list_plus_reads(
    vault: VaultSetup, backends: list[VaultBackend], conn_id: str
) -> None:
    """prefetch() returns every connection under the path: one LIST plus one read each."""
    path = f"warm_{conn_id}"
    for n in range(3):
        put(vault.root, f"{path}/c{n}", {"conn_uri": f"http://h{n}"})
    b = VaultBackend(url=vault.server.url, token=vault.server.root_token, connections_path=path)
    backends.append(b)
    b.get_conn_value("c0")  # builds the client first
    b.reset_stats()
    assert b.prefetch() == {"c0": "http://h0", "c1": "http://h1", "c2": "http://h2"}
    assert b.stats()["api_calls"] == 4
    assert [c.conn_id for c in b.list_connections()] == ["c0", "c1", "c2"]
    empty = VaultBackend(
        url=vault.server.url, token=vault.server.root_token, connections_path=f"none_{conn_id}"
    )
    backends.append(empty)
    assert empty.prefetch() == {}


# -- the documented configuration, end to end ----------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "remote_backends.md"


def doc_snippet(name: str) -> str:
    """The TOML block after ``<!-- snippet: name -->`` in docs/remote_backends.md."""
    text = DOCS.read_text()
    start = text.index("```toml\n", text.index(f"<!-- snippet: {name} -->")) + len("```toml\n")
    return text[start : text.index("```", start)]


def test_documented_configuration_end_to_end(
    vault: VaultSetup, monkeypatch: pytest.MonkeyPatch, isolated_hookline: Path
) -> None:
    """The docs' hookline.toml (plus env overrides for url and AppRole ids) resolves a connection
    through hookline.get_connection and the CLI's connections get/list, redacted."""
    conn_id = f"warehouse_{uuid.uuid4().hex[:8]}"
    put(vault.root, f"connections/{conn_id}", {"conn_uri": f"postgres://u:{CANARY}@db:5432/app"})
    isolated_hookline.mkdir(parents=True, exist_ok=True)
    (isolated_hookline / "hookline.toml").write_text(doc_snippet("vault"))
    monkeypatch.setenv("HOOKLINE_SECRETS__BACKEND__VAULT__URL", vault.server.url)
    monkeypatch.setenv("HOOKLINE_SECRETS__BACKEND__VAULT__ROLE_ID", vault.role_id)
    monkeypatch.setenv("HOOKLINE_SECRETS__BACKEND__VAULT__SECRET_ID", vault.secret_id)
    try:
        assert hookline.get_connection(conn_id).password == CANARY
        assert hookline.get_connection(conn_id).host == "db"
        got = CliRunner().invoke(app, ["connections", "get", conn_id])
        assert got.exit_code == 0, got.output
        assert conn_id in got.stdout
        assert CANARY not in got.stdout
        listed = CliRunner().invoke(app, ["connections", "list"])
        assert listed.exit_code == 0, listed.output
        assert conn_id in listed.stdout
        assert "vault" in listed.stdout
        assert CANARY not in listed.stdout
    finally:
        previous = resolver.swap_default_resolver(None)
        close = getattr(previous, "close", None)
        if callable(close):
            close()


def test_credentials_quoted_by_sdk_errors_are_masked(
    vault: VaultSetup, backends: list[VaultBackend], conn_id: str, tmp_path: Path
) -> None:
    """The token (given, or read from token_path) is registered for masking when the backend is
    built: requests echoes a header value it refuses ('Invalid ... in header value: ...'), and that
    SDK error is the ``__cause__`` printed with the BackendUnavailable's traceback."""
    import traceback

    bad_token = f"{CANARY}\nx"
    token_file = tmp_path / "token"
    token_file.write_text(f"{CANARY}-from-file\nsecond line\n")
    for kwargs in ({"token": bad_token}, {"token_path": str(token_file)}):
        masking.reset()
        b = VaultBackend(url=vault.server.url, deadline_s=2, **kwargs)
        backends.append(b)
        with pytest.raises(BackendUnavailable, match="InvalidHeader") as info:
            b.get_connection(conn_id)
        printed = "".join(traceback.format_exception(info.value))
        assert "header value" in printed  # the SDK did quote it
        masked = masking.redact(printed)
        assert CANARY not in masked
        assert "c4n4ry" not in masked
    masking.reset()
    VaultBackend(url=vault.server.url, auth_type="approle", role_id="r", secret_id=CANARY)
    assert masking.redact(f"secret id {CANARY}") == "secret id ***"


def test_cli_cannot_read_outside_connections_path(
    vault: VaultSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report's command, ``connections get 'warehouse/../../admin/rootdb' --show-secrets`` with a
    ``^warehouse`` lookup pattern, fails with an error naming the id and prints no secret, though
    OpenBao would normalise the path to ``secret/admin/rootdb`` (issue 12.1)."""
    root_secret = f"postgres://root:{CANARY}@admin-db/root"
    put(vault.root, "admin/rootdb", {"conn_uri": root_secret})
    put(vault.root, "connections/warehouse", {"conn_uri": "postgres://wh@db/wh"})
    monkeypatch.setenv("HOOKLINE_SECRETS__BACKENDS", "vault")
    monkeypatch.setenv("HOOKLINE_SECRETS__BACKEND__VAULT__URL", vault.server.url)
    monkeypatch.setenv("HOOKLINE_SECRETS__BACKEND__VAULT__TOKEN", vault.server.root_token)
    monkeypatch.setenv("HOOKLINE_SECRETS__BACKEND__VAULT__CONNECTIONS_LOOKUP_PATTERN", "^warehouse")
    try:
        got = CliRunner().invoke(
            app, ["connections", "get", "warehouse/../../admin/rootdb", "--show-secrets"]
        )
        assert got.exit_code != 0
        assert CANARY not in got.output
        assert "admin-db" not in got.output
        assert "cannot be looked up in the vault backend" in got.output
        ok = CliRunner().invoke(app, ["connections", "get", "warehouse"])
        assert ok.exit_code == 0, ok.output
    finally:
        previous = resolver.swap_default_resolver(None)
        if previous is not None:
            previous.close()


# -- writes, staging, variables (Vault-specific) ---------------------------------------------------

TOKEN = "f" * 32


def test_kv1_writes_staging_and_variables(
    vault: VaultSetup, backends: list[VaultBackend], conn_id: str
) -> None:
    """On a KV v1 mount: create-only, overwrite, delete, a pending version at the sibling path
    (invisible to lookups until promoted) and variables as ``{"value": ...}``."""
    path = f"k{uuid.uuid4().hex[:8]}"
    b = VaultBackend(
        url=vault.server.url,
        token=vault.server.root_token,
        mount_point="kv1",
        kv_engine_version=1,
        connections_path=path,
        variables_path=f"{path}-vars",
    )
    backends.append(b)
    conn = Connection(conn_id=conn_id, conn_type="postgres", host="h", password="old")
    b.set_connection(conn, overwrite=False)
    with pytest.raises(InvalidConnection, match="already exists"):
        b.set_connection(conn, overwrite=False)
    stored = vault.root.secrets.kv.v1.read_secret(path=f"{path}/{conn_id}", mount_point="kv1")
    assert stored["data"]["password"] == "old"  # Airflow's JSON fields, as Airflow reads them
    b.put_pending(conn.replace(password=CANARY), token=TOKEN, step="create")
    raw = vault.root.secrets.kv.v1.read_secret(path=f"{path}__pending/{conn_id}", mount_point="kv1")
    assert raw["data"]["step"] == "create"
    assert b.get_connection(conn_id) == conn
    b.promote_pending(conn_id, TOKEN)
    promoted = b.get_connection(conn_id)
    assert promoted is not None
    assert promoted.password == CANARY
    b.promote_pending(conn_id, TOKEN)
    assert b.delete_connection(conn_id) is True
    assert b.get_conn_value(conn_id) is None
    vault.root.secrets.kv.v1.create_or_update_secret(
        path=f"{path}-vars/greeting", secret={"value": "hi"}, mount_point="kv1"
    )
    assert b.get_variable("greeting") == "hi"
    b.set_variable("other", CANARY)
    stored_var = vault.root.secrets.kv.v1.read_secret(path=f"{path}-vars/other", mount_point="kv1")
    assert stored_var["data"] == {"value": CANARY}


def test_restricted_token_cannot_write_or_stage(
    vault: VaultSetup, backends: list[VaultBackend], conn_id: str
) -> None:
    """A token whose policy only reads gets BackendPermissionDenied on writes, deletes and
    staging, with no secret in the message; nothing is written."""
    put(vault.root, f"connections/{conn_id}", {"conn_uri": "postgres://u:old@h/db"})
    token = vault.root.auth.token.create(policies=["read-connections"], ttl="1h")
    b = VaultBackend(url=vault.server.url, token=token["auth"]["client_token"])
    backends.append(b)
    assert b.get_conn_value(conn_id) == "postgres://u:old@h/db"
    new = Connection(conn_id=conn_id, conn_type="postgres", host="h", password=CANARY)
    attempts: list[Callable[[], object]] = [
        lambda: b.set_connection(new),
        lambda: b.delete_connection(conn_id),
        lambda: b.put_pending(new, token=TOKEN, step="create"),
        lambda: b.set_variable("v", CANARY),
    ]
    for attempt in attempts:
        with pytest.raises(BackendPermissionDenied) as info:
            attempt()
        assert "vault backend refused access" in str(info.value)
        assert CANARY not in str(info.value)
    assert b.get_conn_value(conn_id) == "postgres://u:old@h/db"


def test_cli_writes_to_vault_only_when_named(
    vault: VaultSetup, monkeypatch: pytest.MonkeyPatch, isolated_hookline: Path, conn_id: str
) -> None:
    """With vault before the metastore in the chain, ``connections add`` writes to the metastore;
    ``--backend vault`` writes to Vault (read back by a Vault lookup), ``delete --backend vault``
    and ``import --backend vault`` too; no output holds the password."""
    monkeypatch.setenv("HOOKLINE_SECRETS__BACKENDS", "vault,metastore")
    monkeypatch.setenv("HOOKLINE_SECRETS__BACKEND__VAULT__URL", vault.server.url)
    monkeypatch.setenv("HOOKLINE_SECRETS__BACKEND__VAULT__TOKEN", vault.server.root_token)
    reader = VaultBackend(url=vault.server.url, token=vault.server.root_token)
    try:
        uri = f"postgres://u:{CANARY}@h/db"
        default = CliRunner().invoke(app, ["connections", "add", conn_id, "--uri", uri])
        assert default.exit_code == 0, default.output
        assert "to metastore" in default.stdout
        assert reader.get_conn_value(conn_id) is None
        named = CliRunner().invoke(
            app, ["connections", "add", f"{conn_id}_v", "--uri", uri, "--backend", "vault"]
        )
        assert named.exit_code == 0, named.output
        assert "to vault" in named.stdout
        got = reader.get_connection(f"{conn_id}_v")
        assert got is not None
        assert got.password == CANARY
        deleted = CliRunner().invoke(
            app, ["connections", "delete", f"{conn_id}_v", "--backend", "vault"]
        )
        assert deleted.exit_code == 0, deleted.output
        assert reader.get_conn_value(f"{conn_id}_v") is None
        file = isolated_hookline / "conns.json"
        file.write_text(json.dumps({f"{conn_id}_i": uri}))
        imported = CliRunner().invoke(
            app, ["connections", "import", str(file), "--backend", "vault"]
        )
        assert imported.exit_code == 0, imported.output
        assert reader.get_conn_value(f"{conn_id}_i") is not None
        unknown = CliRunner().invoke(
            app, ["connections", "add", "x", "--uri", uri, "--backend", "nope"]
        )
        assert unknown.exit_code == 1
        for result in (default, named, deleted, imported, unknown):
            assert CANARY not in result.output
    finally:
        reader.close()
        previous = resolver.swap_default_resolver(None)
        if previous is not None:
            previous.close()
