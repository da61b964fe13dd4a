"""Credential rotation against a real PostgreSQL: the password changes under a running hook.

The connection is resolved through ``HOOKLINE_CONN_<ID>`` by the default (cached) resolver, wrapped so
the test can count how often it is asked with ``fresh=True``.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest

from hookline import AuthenticationFailed, Connection
from hookline.hooks.sql import PostgresHook
from hookline.hooks.sql.engines import dispose_all, engine_count
from hookline.resolve import default as resolver
from tests.servers.postgres import PostgresServer

CANARY = "c4n4ry-S3cret!"


class CountingResolver:
    """Delegates to the configured resolver and counts fresh (cache-bypassing) lookups."""

    def __init__(self, inner: resolver.Resolver) -> None:
        self.inner = inner
        self.fresh_lookups = 0

    def get_connection(self, conn_id: str, *, fresh: bool = False) -> Connection:
        if fresh:
            self.fresh_lookups += 1
        return self.inner.get_connection(conn_id, fresh=fresh)


@pytest.fixture
def counting() -> Iterator[CountingResolver]:
    wrapper = CountingResolver(resolver.default_resolver())
    resolver.set_default_resolver(wrapper)
    yield wrapper
    dispose_all()


def _uri(server: PostgresServer, role: str, password: str) -> str:
    return f"postgres://{role}:{quote(password, safe='')}@{server.host}:{server.port}/{role}"


def _terminate_sessions(server: PostgresServer, role: str) -> None:
    server.execute(
        f"select pg_terminate_backend(pid) from pg_stat_activity where usename = '{role}'"
    )


def test_password_rotated_mid_run_needs_exactly_one_refresh(
    postgres_server: PostgresServer, counting: CountingResolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ALTER ROLE + pg_terminate_backend + new env value: the next call succeeds after one refresh,
    and the engine built from the old password is disposed."""
    role = postgres_server.unique_name("rot")
    old_password, new_password = "old-" + CANARY, "new-pw-2@:/x"
    postgres_server.create_database(role, owner_password=old_password)
    monkeypatch.setenv("HOOKLINE_CONN_ROTATING", _uri(postgres_server, role, old_password))

    hook = PostgresHook(postgres_conn_id="rotating", pool_size=2)
    for _ in range(3):
        assert hook.get_first("select current_user") == (role,)
    assert hook.pool_status()["checked_in"] >= 1  # a pooled session with the old password exists

    postgres_server.execute(f"ALTER ROLE {role} PASSWORD '{new_password}'")
    _terminate_sessions(postgres_server, role)
    monkeypatch.setenv("HOOKLINE_CONN_ROTATING", _uri(postgres_server, role, new_password))

    assert hook.get_first("select current_user") == (role,)
    assert hook.refresh_count == 1
    assert counting.fresh_lookups == 1
    assert hook.connection.password == new_password
    assert engine_count("rotating") == 1

    for _ in range(5):  # steady state: no further refreshes
        assert hook.get_records("select 1") == [(1,)]
    assert hook.refresh_count == 1
    assert counting.fresh_lookups == 1


def test_rotation_reaches_other_hooks_and_get_conn(
    postgres_server: PostgresServer, counting: CountingResolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hook created after the rotation (its cached lookup may be stale) and get_conn() both recover
    through one refresh each."""
    role = postgres_server.unique_name("rot")
    old_password, new_password = "old-" + CANARY, "newer-" + CANARY[::-1]
    postgres_server.create_database(role, owner_password=old_password)
    monkeypatch.setenv("HOOKLINE_CONN_ROT2", _uri(postgres_server, role, old_password))
    assert PostgresHook("rot2").get_first("select 1") == (1,)

    postgres_server.execute(f"ALTER ROLE {role} PASSWORD '{new_password}'")
    _terminate_sessions(postgres_server, role)
    monkeypatch.setenv("HOOKLINE_CONN_ROT2", _uri(postgres_server, role, new_password))

    with PostgresHook("rot2") as later:
        raw = later.get_conn()
        cursor = raw.cursor()
        cursor.execute("select current_user")
        assert cursor.fetchone() == (role,)
        cursor.close()
        assert later.refresh_count <= 1
    assert counting.fresh_lookups <= 1


def test_wrong_password_raises_after_one_refresh(
    postgres_server: PostgresServer, counting: CountingResolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A genuinely wrong password: one fresh lookup returns the same connection, then the
    AuthenticationFailed is raised; the secret appears nowhere in the message."""
    role = postgres_server.unique_name("rot")
    postgres_server.create_database(role, owner_password="right-password-1")
    monkeypatch.setenv("HOOKLINE_CONN_WRONG", _uri(postgres_server, role, CANARY))

    hook = PostgresHook("wrong")
    with pytest.raises(AuthenticationFailed) as info:
        hook.get_first("select 1")
    assert hook.refresh_count == 1
    assert counting.fresh_lookups == 1
    assert info.value.conn_id == "wrong"
    assert CANARY not in str(info.value)
    assert CANARY not in repr(info.value)


def test_anonymous_connection_is_not_refreshed(postgres_server: PostgresServer) -> None:
    """A Connection object without conn_id has nothing to re-resolve: the error is raised at once."""
    role = postgres_server.unique_name("rot")
    postgres_server.create_database(role, owner_password="right-password-2")
    conn = Connection(
        conn_type="postgres", host=postgres_server.host, port=postgres_server.port,
        login=role, password=CANARY, schema=role,
    )  # fmt: skip
    hook = PostgresHook(conn)
    with pytest.raises(AuthenticationFailed):
        hook.get_first("select 1")
    assert hook.refresh_count == 0
    dispose_all()
