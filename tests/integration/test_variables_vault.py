"""``hookline variables set|delete|import --backend NAME`` against a real OpenBao dev server.

With ``vault`` before the metastore in the chain, variable writes go to the metastore unless
``--backend vault`` names Vault; what the CLI writes there is read back by ``hookline.get_variable``
through the configured chain (Vault answers first) and by a separate Vault client.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import hookline
from hookline.cli.app import app
from hookline.config import CacheSettings
from hookline.events import StaleServed
from hookline.exceptions import VariableUnresolved
from hookline.resolve import SecretsChain
from hookline.resolve import default as resolver
from hookline.resolve.build import build_chain
from hookline.resolve.cache import CachedResolver
from hookline.secrets.vault import VaultBackend
from hookline.testing import capture_events
from tests.servers.openbao import OpenBaoServer

pytestmark = pytest.mark.integration

CANARY = "c4n4ry-V4r-S3cret!"


@pytest.fixture
def vault_chain(
    openbao_server: OpenBaoServer, monkeypatch: pytest.MonkeyPatch, isolated_hookline: Path
) -> Iterator[VaultBackend]:
    """``[secrets] backends = env,vault,metastore`` pointing at the session server; yields a
    separate Vault reader, closed (with the process-wide resolver) afterwards."""
    monkeypatch.setenv("HOOKLINE_SECRETS__BACKENDS", "env,vault,metastore")
    monkeypatch.setenv("HOOKLINE_SECRETS__BACKEND__VAULT__URL", openbao_server.url)
    monkeypatch.setenv("HOOKLINE_SECRETS__BACKEND__VAULT__TOKEN", openbao_server.root_token)
    reader = VaultBackend(url=openbao_server.url, token=openbao_server.root_token)
    try:
        yield reader
    finally:
        reader.close()
        previous = resolver.swap_default_resolver(None)
        if previous is not None:
            previous.close()


def _key() -> str:
    return f"var_{uuid.uuid4().hex[:10]}"


def test_set_backend_vault_is_read_back_through_vault(vault_chain: VaultBackend) -> None:
    """``variables set k v --backend vault`` stores the value in Vault (not the metastore), and
    ``hookline.get_variable`` reads it back with Vault as the answering backend."""
    key = _key()
    result = CliRunner().invoke(app, ["variables", "set", key, "hello-vault", "--backend", "vault"])
    assert result.exit_code == 0, result.output
    assert f"Variable {key} created in vault" in result.stdout
    assert vault_chain.get_variable(key) == "hello-vault"
    resolver.set_default_resolver(None)
    assert hookline.get_variable(key) == "hello-vault"
    chain = build_chain()
    try:
        assert chain.lookup_variable(key).source == "vault"
    finally:
        chain.close()
    listed = CliRunner().invoke(app, ["variables", "list", "--source", "metastore", "-o", "json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == []  # the default write target was not used
    replaced = CliRunner().invoke(app, ["variables", "set", key, "again", "--backend", "vault"])
    assert replaced.exit_code == 0, replaced.output
    assert f"Variable {key} updated in vault" in replaced.stdout
    resolver.set_default_resolver(None)
    assert hookline.get_variable(key) == "again"


def test_default_set_goes_to_the_metastore_not_vault(vault_chain: VaultBackend) -> None:
    """Without --backend the metastore is written; Vault never sees the variable."""
    key = _key()
    result = CliRunner().invoke(app, ["variables", "set", key, "local"])
    assert result.exit_code == 0, result.output
    assert "in metastore" in result.stdout
    assert vault_chain.get_variable(key) is None
    resolver.set_default_resolver(None)
    assert hookline.get_variable(key) == "local"


def test_delete_and_import_backend_vault(vault_chain: VaultBackend, tmp_path: Path) -> None:
    """``import FILE --backend vault`` writes each variable to Vault (a sensitive value never
    printed); ``delete --backend vault`` removes one, and deleting it again exits 1."""
    first, secret_key = _key(), f"{_key()}_password"
    file = tmp_path / "vars.json"
    file.write_text(json.dumps({first: "one", secret_key: CANARY, f"{first}_j": {"a": 1}}))
    imported = CliRunner().invoke(app, ["variables", "import", str(file), "--backend", "vault"])
    assert imported.exit_code == 0, imported.output
    assert "Imported 3 variables into vault" in imported.stdout
    assert vault_chain.get_variable(first) == "one"
    assert vault_chain.get_variable(secret_key) == CANARY
    resolver.set_default_resolver(None)
    assert hookline.get_variable(f"{first}_j", deserialize_json=True) == {"a": 1}
    deleted = CliRunner().invoke(app, ["variables", "delete", first, "--backend", "vault"])
    assert deleted.exit_code == 0, deleted.output
    assert f"Variable {first} deleted from vault" in deleted.stdout
    assert vault_chain.get_variable(first) is None
    again = CliRunner().invoke(app, ["variables", "delete", first, "--backend", "vault"])
    assert again.exit_code == 1
    assert "not found in vault" in again.output
    for result in (imported, deleted, again):
        assert CANARY not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "k", CANARY, "--backend", "nope"], "no secrets backend named 'nope'"),
        (["delete", "k", "--backend", "nope"], "no secrets backend named 'nope'"),
        (["set", "k", CANARY, "--backend", "env"], "the env secrets backend cannot store"),
        (["delete", "k", "--backend", "env"], "the env secrets backend cannot store"),
    ],
)
def test_unknown_or_read_only_backend_is_exit_1(
    vault_chain: VaultBackend, args: list[str], message: str
) -> None:
    """An unknown backend name, or one that cannot store variables, is a clear error (exit 1)
    naming it; nothing is written and the value is not printed."""
    result = CliRunner().invoke(app, ["variables", *args])
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert CANARY not in result.output
    assert vault_chain.get_variable("k") is None


def test_import_unknown_backend_writes_nothing(vault_chain: VaultBackend, tmp_path: Path) -> None:
    key = _key()
    file = tmp_path / "vars.json"
    file.write_text(json.dumps({key: "x"}))
    result = CliRunner().invoke(app, ["variables", "import", str(file), "--backend", "nope"])
    assert result.exit_code == 1
    assert "no secrets backend named 'nope' in the chain (env, vault, metastore)" in result.output
    assert vault_chain.get_variable(key) is None


def test_trace_variable_names_vault_as_the_answer(vault_chain: VaultBackend) -> None:
    """``secrets trace --variable KEY`` against the real chain: env absent, vault hit (its path
    asked), the metastore not asked; the sensitive value is never printed."""
    key = f"{_key()}_secret"
    result = CliRunner().invoke(app, ["variables", "set", key, CANARY, "--backend", "vault"])
    assert result.exit_code == 0, result.output
    traced = CliRunner().invoke(app, ["secrets", "trace", "--variable", key, "-o", "json"])
    assert traced.exit_code == 0, traced.output
    data = json.loads(traced.stdout)
    assert data["key"] == key
    assert data["source"] == "vault"
    assert [(s["backend"], s["outcome"]) for s in data["steps"]] == [
        ("env", "absent"),
        ("vault", "hit"),
    ]
    assert any(key in asked for asked in data["steps"][1]["keys"])
    assert CANARY not in traced.output


def test_stale_variable_is_served_while_vault_is_down(
    openbao_factory: Callable[..., OpenBaoServer],
) -> None:
    """A variable read from Vault is served from the cache past its TTL once the server is
    stopped (within stale_if_error_seconds, with a StaleServed of kind variable); after the
    window the lookup is VariableUnresolved, never the default."""
    server = openbao_factory()
    server.client().secrets.kv.v2.create_or_update_secret(
        path="variables/limits", secret={"value": CANARY}, mount_point="secret"
    )
    now = [1000.0]
    backend = VaultBackend(url=server.url, token=server.root_token, deadline_s=2.0, max_attempts=1)
    resolver = CachedResolver(
        SecretsChain([backend]),
        CacheSettings(ttl_seconds=10.0, stale_if_error_seconds=60.0, error_retry_seconds=5.0),
        clock=lambda: now[0],
        rng=lambda: 0.0,
    )
    try:
        assert resolver.get_variable("limits") == CANARY
        server.stop()
        now[0] += 11.0
        with capture_events(resolver._bus) as events:
            assert resolver.get_variable("limits") == CANARY
        stale = [event for event in events if isinstance(event, StaleServed)]
        assert [(e.kind, e.conn_id, e.source, e.down) for e in stale] == [
            ("variable", "limits", "vault", ("vault",))
        ]
        assert resolver.stats.stale_served == 1
        now[0] += 61.0
        with pytest.raises(VariableUnresolved) as info:
            resolver.get_variable("limits")
        assert CANARY not in str(info.value)
    finally:
        resolver.close()
