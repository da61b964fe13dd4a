"""Unit tests of the vault_dynamic backend: settings, lookups, and the switch to new credentials.

The Vault calls (issue, renew, revoke) are replaced by an in-memory engine; the real OpenBao and
PostgreSQL run in tests/integration/test_vault_dynamic.py.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from hookline import get_connection
from hookline.config import load_settings
from hookline.events import CredentialsRefreshed
from hookline.exceptions import ConfigurationError
from hookline.hooks.sql import SqliteHook
from hookline.hooks.sql.engines import dispose_all, shared_engines
from hookline.resolve import SecretsChain
from hookline.resolve import default as resolver
from hookline.resolve.build import build_chain
from hookline.resolve.cache import CachedResolver
from hookline.secrets.leases import IssuedLease
from hookline.secrets.vault_dynamic import VaultDynamicBackend
from hookline.testing import capture_events

CANARY = "c4n4ry-S3cret!"
TOKEN = "t0ken-" + CANARY


class FakeDynamic(VaultDynamicBackend):
    """The backend with Vault's database engine replaced by counters."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(url="http://127.0.0.1:9", token=TOKEN, **kwargs)
        self.counter = itertools.count(1)
        self.revoked: list[str] = []

    def issue(self, conn_id: str) -> IssuedLease:
        n = next(self.counter)
        return IssuedLease(
            lease_id=f"database/creds/ro/lease-{n}",
            duration_s=3600,
            renewable=True,
            login=f"v-ro-{n}",
            password=f"{CANARY}-{n}",
        )

    def renew(self, lease_id: str, increment_s: float) -> IssuedLease:
        return IssuedLease(lease_id=lease_id, duration_s=increment_s, renewable=True)

    def revoke(self, lease_id: str) -> None:
        self.revoked.append(lease_id)


def _connections(**extra: Any) -> dict[str, dict[str, Any]]:
    return {
        "warehouse": {"role": "ro", "conn_type": "postgres", "host": "db", "port": 5432, **extra}
    }


@pytest.fixture
def backend() -> Any:
    made = FakeDynamic(connections=_connections(schema="app", extra={"sslmode": "disable"}))
    yield made
    made.close()
    dispose_all()


def _reissue(backend: FakeDynamic) -> None:
    """Force a re-issue now, as the lease thread does before max_ttl."""
    state = backend.leases._states["warehouse"]
    with state.lock:
        backend.leases._issue("warehouse", state, first=False)


def test_the_connection_is_the_base_fields_with_the_lease_credentials(backend: FakeDynamic) -> None:
    conn = backend.get_connection("warehouse")
    assert conn is not None
    assert (conn.conn_type, conn.host, conn.port, conn.schema) == ("postgres", "db", 5432, "app")
    assert conn.extra_dejson == {"sslmode": "disable"}
    assert (conn.login, conn.password) == ("v-ro-1", f"{CANARY}-1")
    assert backend.get_connection("warehouse") is conn  # same lease: same object
    assert backend.get_connection("other") is None
    assert backend.handles("warehouse")
    assert not backend.handles("other")
    assert backend.lookup_keys("warehouse") == ["database/creds/ro"]
    assert backend.prefetch() == {}
    text = backend.get_conn_value("warehouse")
    assert text is not None
    assert '"login": "v-ro-1"' in text


def test_repr_and_stats_hold_no_secret(backend: FakeDynamic) -> None:
    backend.get_connection("warehouse")
    for text in (repr(backend), str(backend.stats()), repr(backend.leases.leases())):
        assert CANARY not in text
    assert "connections=['warehouse']" in repr(backend)


def test_new_credentials_reach_caches_pools_and_listeners(backend: FakeDynamic) -> None:
    cache = CachedResolver(SecretsChain([backend]))
    resolver.set_default_resolver(cache)
    assert get_connection("warehouse").login == "v-ro-1"
    # a pool resolving its credentials by conn_id (SQLite has none, but the generation logic is shared)
    backend._bases["warehouse"] = backend._bases["warehouse"].replace(
        conn_type="sqlite", host=":memory:", port=None, schema=None, extra=None
    )
    backend._built.clear()
    cache.invalidate()
    hook = SqliteHook("warehouse")
    assert hook.get_first("select 1") == (1,)
    engine = shared_engines("warehouse")[0]
    generation = engine.generation
    counter = backend.change_counter_if_open()

    with capture_events() as seen:
        _reissue(backend)
    assert get_connection("warehouse").login == "v-ro-2"  # the cache dropped the old one at once
    assert backend.change_counter_if_open() == counter + 1
    assert engine.generation == generation + 1
    assert [e for e in seen if isinstance(e, CredentialsRefreshed)] == [
        CredentialsRefreshed(conn_id="warehouse", hook="vault_dynamic", changed=True, at=seen[0].at)
    ]
    assert hook.get_first("select 1") == (1,)
    hook.close()


def test_close_revokes_current_and_retiring_leases(backend: FakeDynamic) -> None:
    backend.get_connection("warehouse")
    _reissue(backend)
    backend.close()
    assert sorted(backend.revoked) == ["database/creds/ro/lease-1", "database/creds/ro/lease-2"]


@pytest.mark.parametrize(
    ("connections", "message"),
    [
        ({}, "connections is empty"),
        ({"wh": {"conn_type": "postgres"}}, "connections.wh needs role"),
        ({"wh": {"role": "a/b", "conn_type": "postgres"}}, "needs role"),
        ({"wh": {"role": "ro"}}, "connections.wh needs conn_type"),
        ({"wh": {"role": "ro", "conn_type": "postgres", "hots": "x"}}, "did you mean 'host'"),
        (
            {"wh": {"role": "ro", "conn_type": "postgres", "password": CANARY}},
            "login and password come from the database engine",
        ),
        ({"wh": {"role": "ro", "conn_type": "postgres", "port": "x"}}, "connections.wh"),
        ({"wh": "ro"}, "connections.wh must be a table"),
    ],
)
def test_bad_connection_settings_are_configuration_errors(
    connections: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        VaultDynamicBackend(url="http://127.0.0.1:9", token=TOKEN, connections=connections)
    assert CANARY not in str(info.value)


def test_configured_from_hookline_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "hookline.toml"
    config.write_text(
        "[secrets]\n"
        'backends = ["env", "vault_dynamic"]\n'
        "[secrets.backend.vault_dynamic]\n"
        'url = "http://127.0.0.1:9"\n'
        f'token = "{TOKEN}"\n'
        'mount_point = "db"\n'
        "reissue_before_s = 30\n"
        "[secrets.backend.vault_dynamic.connections.warehouse]\n"
        'role = "ro"\n'
        'conn_type = "postgres"\n'
        'host = "db.internal"\n'
        'extra = { sslmode = "require" }\n'
    )
    monkeypatch.setenv("HOOKLINE_CONFIG", str(config))
    chain = build_chain(load_settings())
    try:
        backend = chain.backends[1]
        assert isinstance(backend, VaultDynamicBackend)
        assert backend.lookup_keys("warehouse") == ["db/creds/ro"]
        assert backend.leases.reissue_before_s == 30
        assert backend._bases["warehouse"].extra_dejson == {"sslmode": "require"}
    finally:
        chain.close()


class _FlakyEngine:
    """hvac's ``client.secrets.database`` whose first answer is lost (a read timeout)."""

    def __init__(self) -> None:
        self.calls = 0

    def generate_credentials(self, *, name: str, mount_point: str) -> dict[str, Any]:
        import requests

        self.calls += 1
        if self.calls == 1:  # the engine created a user, the answer never arrived
            raise requests.exceptions.ReadTimeout("read timed out")
        return {
            "lease_id": f"{mount_point}/creds/{name}/lease-{self.calls}",
            "lease_duration": 3600,
            "renewable": True,
            "data": {"username": f"v-{self.calls}", "password": f"{CANARY}-{self.calls}"},
        }


def test_issuing_credentials_is_not_retried() -> None:
    """Each issue creates a database user and a lease: a retry after a lost answer would leave
    an orphaned user nobody revokes, so issuing is attempted once (the lease thread retries with
    backoff, as a new decision, and the caller sees the typed error)."""
    from types import SimpleNamespace

    from hookline.exceptions import BackendUnavailable

    engine = _FlakyEngine()

    class OneShot(VaultDynamicBackend):
        def _create_client(self) -> Any:
            return SimpleNamespace(secrets=SimpleNamespace(database=engine))

        def _before_call(self, client: Any) -> Any:
            return client

    made = OneShot(url="http://127.0.0.1:9", token=TOKEN, connections=_connections())
    try:
        with pytest.raises(BackendUnavailable) as caught:
            made.issue("warehouse")
        assert engine.calls == 1
        assert "not retried" in str(caught.value)
        assert CANARY not in str(caught.value)
    finally:
        made.close()
