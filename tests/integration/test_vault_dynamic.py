"""vault_dynamic against a real OpenBao dev server and a real PostgreSQL: leases under query load.

OpenBao's database engine (``postgresql-database-plugin``) issues PostgreSQL users with short leases;
hooks query through the default (cached) resolver built from a hookline.toml, while the backend
renews and re-issues. The long measured run (15 s lease, 25 s max TTL, 30 s, 8 threads) is
bench/vault_dynamic_bench.py; the suite runs a shorter one with shorter leases.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hookline import get_connection
from hookline.events import CredentialsRefreshed
from hookline.exceptions import BackendPermissionDenied, BackendUnavailable, ConfigurationError
from hookline.hooks.sql import PostgresHook
from hookline.hooks.sql.engines import dispose_all
from hookline.resolve import default as resolver
from hookline.secrets.vault_dynamic import VaultDynamicBackend
from hookline.testing import capture_events
from tests.servers.openbao import OpenBaoServer
from tests.servers.openbao_database import (
    DynamicDatabase,
    run_query_load,
    setup_dynamic_postgres,
)
from tests.servers.postgres import PostgresServer

CANARY = "c4n4ry-S3cret!"


@pytest.fixture
def dyn(
    openbao_server: OpenBaoServer, postgres_server: PostgresServer
) -> Iterator[DynamicDatabase]:
    database = setup_dynamic_postgres(openbao_server, postgres_server, ttl_s=4, max_ttl_s=7)
    yield database
    dispose_all()


def _write_config(path: Path, dyn: DynamicDatabase, **extra: object) -> Path:
    settings = dyn.backend_settings(**extra)
    conn = settings.pop("connections")["warehouse"]
    lines = ["[secrets]", 'backends = ["vault_dynamic"]', "", "[secrets.backend.vault_dynamic]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    lines += ["", "[secrets.backend.vault_dynamic.connections.warehouse]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in conn.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_queries_never_fail_while_leases_are_renewed_and_reissued(
    dyn: DynamicDatabase,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """4 threads query for 10 s with a 4 s lease and a 7 s max TTL: 0 failures, renewals and
    re-issues happen, pools switch user, and closing revokes every lease (PG roles dropped)."""
    monkeypatch.setenv("HOOKLINE_CONFIG", str(_write_config(tmp_path / "hookline.toml", dyn)))
    caplog.set_level(logging.DEBUG)
    assert get_connection("warehouse").login is not None
    backend = resolver.default_chain().backends[0]
    assert isinstance(backend, VaultDynamicBackend)

    passwords: set[str] = set()
    lease_ids: set[str] = set()
    stop = threading.Event()

    def sample() -> None:  # remember every password and lease, for the canary checks below
        while not stop.wait(0.2):
            for lease in backend.leases.leases():
                passwords.add(lease.password)
                lease_ids.add(lease.lease_id)

    sampler = threading.Thread(target=sample)
    sampler.start()
    with capture_events() as seen:
        result = run_query_load(
            lambda: PostgresHook(postgres_conn_id="warehouse", pool_size=3), threads=4, seconds=10
        )
    stop.set()
    sampler.join()

    stats = backend.leases.stats()
    assert result.failed == 0, result.errors
    assert result.ok > 100
    assert stats["renewed"] >= 1
    assert stats["reissued"] >= 1
    assert stats["failures"] == 0
    assert len(result.users) >= 2  # the pools switched to the new user
    refreshed = [e for e in seen if isinstance(e, CredentialsRefreshed)]
    assert refreshed
    assert all(
        (e.conn_id, e.hook, e.changed) == ("warehouse", "vault_dynamic", True) for e in refreshed
    )

    dispose_all()
    resolver.set_default_resolver(None)  # the resolver is gone: close the chain as a service does
    backend.close()
    assert dyn.dynamic_roles() == []
    assert lease_ids
    assert not any(dyn.lease_alive(lease_id) for lease_id in lease_ids)

    texts = [caplog.text, repr(backend), repr(seen), json.dumps(backend.stats())]
    assert passwords
    for password in passwords:
        assert all(password not in text for text in texts)


def test_close_revokes_the_lease_and_drops_the_user(dyn: DynamicDatabase) -> None:
    backend = VaultDynamicBackend(**dyn.backend_settings())
    conn = backend.get_connection("warehouse")
    assert conn is not None
    assert conn.login
    lease = backend.current_lease("warehouse")
    assert lease is not None
    assert dyn.lease_alive(lease.lease_id)
    assert conn.login in dyn.dynamic_roles()
    hook = PostgresHook(conn)
    assert hook.get_first("select count(*) from items") == (3,)
    hook.close()
    dispose_all()
    backend.close()
    assert not dyn.lease_alive(lease.lease_id)
    assert conn.login not in dyn.dynamic_roles()
    assert backend.get_connection("nobody") is None  # not configured here: not handled


def test_a_token_that_may_not_read_the_role_is_denied(dyn: DynamicDatabase) -> None:
    root = dyn.bao.client()
    root.sys.create_or_update_policy("nothing", 'path "secret/*" { capabilities = ["read"] }')
    token = root.auth.token.create(policies=["nothing"], ttl="10m")["auth"]["client_token"]
    backend = VaultDynamicBackend(**{**dyn.backend_settings(), "token": token})
    try:
        with pytest.raises(BackendPermissionDenied) as info:
            backend.get_connection("warehouse")
    finally:
        backend.close()
    message = str(info.value)
    assert f"{dyn.mount}/creds/{dyn.role}" in message
    assert token not in message
    assert "Forbidden" in message


def test_an_unknown_role_is_a_configuration_error(dyn: DynamicDatabase) -> None:
    settings = dyn.backend_settings()
    settings["connections"]["warehouse"]["role"] = "no-such-role"
    backend = VaultDynamicBackend(**settings)
    try:
        with pytest.raises(ConfigurationError, match="does not know the role"):
            backend.get_connection("warehouse")
    finally:
        backend.close()


def test_an_unreachable_server_is_unavailable(
    dyn: DynamicDatabase, openbao_factory: object
) -> None:
    server = openbao_factory()  # type: ignore[operator]
    url = server.url
    server.stop()
    backend = VaultDynamicBackend(
        **{**dyn.backend_settings(), "url": url, "token": CANARY, "deadline_s": 1.0}
    )
    try:
        with pytest.raises(BackendUnavailable) as info:
            backend.get_connection("warehouse")
    finally:
        backend.close()
    assert CANARY not in str(info.value)
    assert "creds" in str(info.value)


def test_a_lease_revoked_behind_the_backend_is_replaced(dyn: DynamicDatabase) -> None:
    """Someone revokes the lease in Vault: the next renewal finds it gone and issues new credentials."""
    backend = VaultDynamicBackend(**dyn.backend_settings())
    try:
        first = backend.get_connection("warehouse")
        lease = backend.current_lease("warehouse")
        assert first is not None
        assert lease is not None
        dyn.bao.client().sys.revoke_lease(lease.lease_id)
        lease.granted_at -= 10  # make the renewal due now
        backend.leases._wake.set()
        for _ in range(100):
            current = backend.current_lease("warehouse")
            if current is not None and current.lease_id != lease.lease_id:
                break
            threading.Event().wait(0.05)
        second = backend.get_connection("warehouse")
        assert second is not None
        assert second.login != first.login
    finally:
        backend.close()


DOCS = Path(__file__).resolve().parents[2] / "docs" / "remote_backends.md"


def test_documented_configuration_end_to_end(
    dyn: DynamicDatabase, monkeypatch: pytest.MonkeyPatch, isolated_hookline: Path
) -> None:
    """The docs' hookline.toml (real addresses put in, the token from the environment) gives a
    working PostgresHook through hookline.get_connection."""
    text = DOCS.read_text()
    start = text.index("```toml\n", text.index("<!-- snippet: vault_dynamic -->")) + len(
        "```toml\n"
    )
    snippet = text[start : text.index("```", start)]
    for old, new in (
        ("https://vault.example.com:8200", dyn.bao.url),
        ('mount_point = "database"', f'mount_point = "{dyn.mount}"'),
        ("warehouse-readonly", dyn.role),
        ("db.internal", dyn.pg.host),
        ("port = 5432", f"port = {dyn.pg.port}"),
        ("analytics", dyn.database),
    ):
        assert old in snippet
        snippet = snippet.replace(old, new)
    isolated_hookline.mkdir(parents=True, exist_ok=True)
    (isolated_hookline / "hookline.toml").write_text(snippet)
    monkeypatch.setenv("HOOKLINE_SECRETS__BACKEND__VAULT_DYNAMIC__TOKEN", dyn.bao.root_token)
    try:
        conn = get_connection("warehouse")
        assert conn.login in dyn.dynamic_roles()
        hook = PostgresHook(postgres_conn_id="warehouse")
        assert hook.get_first("select count(*) from items") == (3,)
        hook.close()
    finally:
        dispose_all()
        previous = resolver.swap_default_resolver(None)
        close = getattr(previous, "close", None)
        if callable(close):
            close()
    assert conn.login not in dyn.dynamic_roles()  # closing the resolver revoked the lease


def test_leases_are_revoked_at_interpreter_exit(dyn: DynamicDatabase, tmp_path: Path) -> None:
    """A process that never calls close() still revokes its lease when it exits (atexit)."""
    script = (
        "import json, sys\n"
        "from hookline.secrets.vault_dynamic import VaultDynamicBackend\n"
        "backend = VaultDynamicBackend(**json.loads(sys.argv[1]))\n"
        "conn = backend.get_connection('warehouse')\n"
        "print(conn.login, backend.current_lease('warehouse').lease_id)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps(dyn.backend_settings())],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "HOOKLINE_HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    login, lease_id = proc.stdout.split()
    assert login.startswith("v-")
    assert login not in dyn.dynamic_roles()
    assert not dyn.lease_alive(lease_id)
