"""PostgresHook's cheap pre-ping against a real PostgreSQL: sessions the server ended are replaced
without an error, a lone statement is never run twice, autocommit does not leak into transactions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hookline import Connection, HookConnectionError, HookError
from hookline.hooks.sql import PostgresHook
from hookline.hooks.sql.engines import dispose_all
from tests.servers.postgres import PostgresServer

CANARY = "c4n4ry-S3cret!"


@pytest.fixture(autouse=True)
def _dispose_engines() -> Iterator[None]:
    yield
    dispose_all()


@pytest.fixture
def pg_conn(postgres_server: PostgresServer) -> Connection:
    """A connection to a fresh database owned by a login role of the same name."""
    name = postgres_server.unique_name("ping")
    password = "pw-" + CANARY
    postgres_server.create_database(name, owner_password=password)
    return Connection(
        conn_id="pg_ping",
        conn_type="postgres",
        host=postgres_server.host,
        port=postgres_server.port,
        login=name,
        password=password,
        schema=name,
    )


def _kill(server: PostgresServer, role: str) -> None:
    server.execute(
        f"select pg_terminate_backend(pid) from pg_stat_activity where usename = '{role}'"
    )


def test_ended_session_is_replaced_at_checkout(
    postgres_server: PostgresServer, pg_conn: Connection
) -> None:
    """After pg_terminate_backend, the next call runs on a new session (a new backend pid)."""
    hook = PostgresHook(pg_conn, pool_size=1)
    (before,) = hook.get_first("select pg_backend_pid()")
    assert hook.get_first("select pg_backend_pid()") == (before,)  # pooled: same session
    _kill(postgres_server, pg_conn.login or "")
    (after,) = hook.get_first("select pg_backend_pid()")
    assert after != before
    assert hook.get_first("select pg_backend_pid()") == (after,)


def test_statement_on_ended_session_is_retried_once(
    postgres_server: PostgresServer, pg_conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the checkout check cannot see the ended session yet (forced here), the statement fails
    with AdminShutdown on the reused connection and is sent once more on a new one: it runs once."""
    hook = PostgresHook(pg_conn, pool_size=1)
    hook.run("create table hits (n int)")
    monkeypatch.setattr("hookline.hooks.sql.pooling._has_input", lambda fd: False)
    _kill(postgres_server, pg_conn.login or "")
    hook.run("insert into hits values (1)")
    assert hook.get_first("select count(*) from hits") == (1,)


def test_retry_happens_once_only(
    postgres_server: PostgresServer, pg_conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retry that fails again raises HookConnectionError without the secret."""
    hook = PostgresHook(pg_conn, pool_size=1)
    assert hook.get_first("select 1") == (1,)
    monkeypatch.setattr("hookline.hooks.sql.pooling._has_input", lambda fd: False)
    calls: list[str] = []
    from hookline.hooks.sql import support

    real = support.run_on_dbapi

    def kill_then_run(*args: object, **kwargs: object) -> object:
        calls.append("run")
        _kill(postgres_server, pg_conn.login or "")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("hookline.hooks.sql.execution.run_on_dbapi", kill_then_run)
    with pytest.raises(HookConnectionError, match="lost the connection") as info:
        hook.get_first("select 1")
    assert len(calls) == 2
    assert CANARY not in str(info.value)
    monkeypatch.undo()
    assert hook.get_first("select 1") == (1,)


def test_sql_errors_are_not_retried(postgres_server: PostgresServer, pg_conn: Connection) -> None:
    """A failing statement raises HookError once; the connection stays pooled and usable."""
    hook = PostgresHook(pg_conn, pool_size=1)
    hook.run("create table once (n int primary key)")
    hook.run("insert into once values (1)")
    with pytest.raises(HookError, match="UniqueViolation") as info:
        hook.run("insert into once values (1)")
    assert CANARY not in str(info.value)
    assert hook.get_first("select count(*) from once") == (1,)
    assert hook.pool_status()["checked_out"] == 0


def test_autocommit_does_not_leak_into_transactions(
    postgres_server: PostgresServer, pg_conn: Connection
) -> None:
    """A lone statement runs in autocommit mode; the same pooled session then runs a list of
    statements as one transaction again (a failing one rolls back the earlier ones)."""
    hook = PostgresHook(pg_conn, pool_size=1)
    hook.run("create table t (n int)")
    assert hook.get_first("select 1") == (1,)
    with pytest.raises(HookError):
        hook.run(["insert into t values (1)", "insert into missing values (1)"])
    assert hook.get_first("select count(*) from t") == (0,)
    with hook:
        raw = hook.get_conn()
        assert raw.dbapi_connection is not None
        assert raw.dbapi_connection.autocommit is False  # type: ignore[attr-defined]
