"""BaseHook behaviour (construction, lifecycle, test_connection, refresh on AuthenticationFailed) and
the hook registry for the SQL connection types."""

from __future__ import annotations

import logging
from typing import ClassVar

import pytest

from hookline import (
    AuthenticationFailed,
    Connection,
    ConnectionNotFound,
    HookConnectionError,
    InvalidConnection,
    masking,
    registry,
)
from hookline.hooks import BaseHook
from hookline.hooks.sql import MySqlHook, PostgresHook, SqlHook, SqliteHook
from hookline.testing import override_connections

CANARY = "c4n4ry-S3cret!"


class Client:
    """A fake client remembering the password it was built with."""

    def __init__(self, password: str | None) -> None:
        self.password = password
        self.closed = False

    def close(self) -> None:
        self.closed = True


class FakeHook(BaseHook[Client]):
    """A hook whose system accepts only the password in ``accepted``."""

    conn_type = "fake"
    hook_name = "Fake"
    default_conn_name = "fake_default"
    conn_name_attr = "fake_conn_id"

    accepted: ClassVar[set[str]] = set()

    def __init__(self, conn: str | Connection | None = None, **kwargs: object) -> None:
        super().__init__(conn, **kwargs)
        self.built: list[Client] = []

    def get_conn(self) -> Client:
        if self._client is None:
            self._client = Client(self.connection.password)
            self.built.append(self._client)
        return self._client

    def close_conn(self) -> None:
        if self._client is not None:
            self._client.close()

    def call(self) -> str:
        def action() -> str:
            client = self.get_conn()
            if client.password not in self.accepted:
                raise AuthenticationFailed(
                    f"server rejected user of {self.conn_id!r}", conn_id=self.conn_id
                )
            return "ok"

        return self.run_with_refresh(action)


def _conn(password: str, conn_id: str | None = "svc") -> Connection:
    return Connection(conn_id=conn_id, conn_type="fake", host="h", login="u", password=password)


# -- construction ---------------------------------------------------------------------------------


def test_conn_id_sources() -> None:
    """A positional id, the conn_name_attr keyword, conn_id=, or the default name."""
    assert FakeHook("a").conn_id == "a"
    assert FakeHook(fake_conn_id="b").conn_id == "b"
    assert FakeHook(conn_id="c").conn_id == "c"
    assert FakeHook().conn_id == "fake_default"
    assert PostgresHook(postgres_conn_id="wh").conn_id == "wh"
    assert MySqlHook().conn_id == "mysql_default"
    assert SqliteHook(sqlite_conn_id="lite").conn_id == "lite"


def test_unknown_arguments_and_missing_default_raise_type_error() -> None:
    """Typos in keyword arguments fail loudly; a hook without default_conn_name needs an id."""
    with pytest.raises(TypeError, match="unexpected arguments: colour"):
        FakeHook("a", colour="red")

    class NoDefault(FakeHook):
        default_conn_name = ""

    with pytest.raises(TypeError, match="needs a conn_id"):
        NoDefault()


def test_connection_is_resolved_lazily_once() -> None:
    """Construction does not resolve; first use does, once; the password gets masked."""
    with override_connections({"svc": _conn(CANARY)}) as backend:
        hook = FakeHook("svc")
        assert backend.calls == 0
        assert hook.connection.password == CANARY
        assert hook.connection.password == CANARY
        assert backend.calls == 1
    assert masking.redact(f"pw={CANARY}") == "pw=***"
    assert CANARY not in repr(hook)


def test_connection_object_is_used_as_given_and_masked() -> None:
    """A Connection object needs no lookup; its secrets are registered for masking at once."""
    hook = FakeHook(_conn(CANARY, conn_id=None))
    assert hook.conn_id == "fake_default"
    assert hook.get_conn().password == CANARY
    assert masking.redact(CANARY) == "***"


def test_missing_connection_raises_connection_not_found() -> None:
    """Resolution failures surface on first use, as ConnectionNotFound."""
    with override_connections({}), pytest.raises(ConnectionNotFound):
        FakeHook("nope").get_conn()


# -- lifecycle ------------------------------------------------------------------------------------


def test_context_manager_closes_also_when_the_body_raises() -> None:
    """close_conn runs on with-exit even on error; close() is idempotent and a new client follows."""
    hook = FakeHook(_conn("pw-12345"))
    seen: list[Client] = []

    def body() -> None:
        with hook:
            seen.append(hook.get_conn())
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        body()
    client = seen[0]
    assert client.closed
    hook.close()
    assert hook.get_conn() is not client


def test_test_connection_never_raises_and_masks_secrets() -> None:
    """Failures become (False, message) without the secret; success is Airflow's text."""
    FakeHook.accepted = {"good-password"}

    class Failing(FakeHook):
        def _test(self) -> None:
            raise HookConnectionError(f"cannot reach with {CANARY}", conn_id=self.conn_id)

    ok, message = Failing(_conn(CANARY)).test_connection()
    assert not ok
    assert message == "HookConnectionError: cannot reach with ***"
    assert FakeHook(_conn("good-password")).test_connection() == (
        True,
        "Connection successfully tested",
    )


# -- refresh on AuthenticationFailed ---------------------------------------------------------------


def test_rotated_password_is_picked_up_with_one_refresh(caplog: pytest.LogCaptureFixture) -> None:
    """The first attempt fails with the old password; one fresh lookup finds the new one; the old
    client is closed and the retry succeeds."""
    FakeHook.accepted = {"new-password"}
    with override_connections({"svc": _conn("old-password")}) as backend:
        hook = FakeHook("svc")
        hook.get_conn()
        backend.set_connection(_conn("new-password"))
        with caplog.at_level(logging.INFO):
            assert hook.call() == "ok"
        assert hook.refresh_count == 1
        assert [c.password for c in hook.built] == ["old-password", "new-password"]
        assert hook.built[0].closed
        assert "credentials of 'svc' changed" in caplog.text
        assert hook.call() == "ok"
        assert hook.refresh_count == 1


def test_unchanged_password_raises_after_one_refresh() -> None:
    """A genuinely wrong password: one refresh, no retry, the original error."""
    FakeHook.accepted = {"right"}
    with override_connections({"svc": _conn(CANARY)}):
        hook = FakeHook("svc")
        with pytest.raises(AuthenticationFailed) as info:
            hook.call()
    assert hook.refresh_count == 1
    assert len(hook.built) == 1
    assert info.value.conn_id == "svc"
    assert CANARY not in str(info.value)


def test_retry_failing_again_is_not_retried_twice() -> None:
    """New credentials that are also rejected: exactly one retry, then AuthenticationFailed."""
    FakeHook.accepted = set()
    with override_connections({"svc": _conn("first-pw")}) as backend:
        hook = FakeHook("svc")
        hook.get_conn()
        backend.set_connection(_conn("second-pw"))
        with pytest.raises(AuthenticationFailed):
            hook.call()
    assert hook.refresh_count == 1
    assert len(hook.built) == 2


def test_anonymous_connection_is_not_refreshed() -> None:
    """A Connection object without conn_id cannot be re-resolved: the error comes at once."""
    FakeHook.accepted = set()
    hook = FakeHook(_conn("pw-anon", conn_id=None))
    with pytest.raises(AuthenticationFailed):
        hook.call()
    assert hook.refresh_count == 0


def test_connection_object_with_id_refreshes_by_id() -> None:
    """A Connection object with a conn_id refreshes through the chain by that id; when the chain does
    not hold it, the original AuthenticationFailed is raised."""
    FakeHook.accepted = {"from-chain"}
    with override_connections({"svc": _conn("from-chain")}):
        hook = FakeHook(_conn("stale"))
        assert hook.call() == "ok"
        assert hook.refresh_count == 1
    with override_connections({}):
        orphan = FakeHook(_conn("stale", conn_id="orphan"))
        with pytest.raises(AuthenticationFailed):
            orphan.call()
        assert orphan.refresh_count == 1


# -- registry ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conn_type", "hook_class", "attr"),
    [
        ("sqlite", SqliteHook, "sqlite_conn_id"),
        ("postgres", PostgresHook, "postgres_conn_id"),
        ("mysql", MySqlHook, "mysql_conn_id"),
    ],
)
def test_registry_maps_sql_types_to_hooks(
    conn_type: str, hook_class: type[SqlHook], attr: str
) -> None:
    """Entry points in pyproject map each SQL conn_type to its hook; Connection.get_hook builds it
    with the connection and hook params, and the class carries Airflow's discovery attributes."""
    assert registry.hook_class_for(conn_type) is hook_class
    assert conn_type in registry.hook_types()
    conn = Connection(conn_id="x", conn_type=conn_type, host="h", password=CANARY)
    hook = conn.get_hook(pool_size=3)
    assert type(hook) is hook_class
    assert hook.connection is conn
    assert hook.pool_options.pool_size == 3
    assert hook_class.conn_type == conn_type
    assert hook_class.conn_name_attr == attr
    assert hook_class.default_conn_name == f"{conn_type}_default"
    assert hook_class.hook_name


def test_get_hook_classmethod_resolves_by_id() -> None:
    """BaseHook.get_hook(conn_id, hook_params) is Airflow's shortcut through the registry."""
    with override_connections({"lite": "sqlite://%2Ftmp%2Fx.db"}):
        hook = BaseHook.get_hook("lite", hook_params={"pool_size": 2})
    assert isinstance(hook, SqliteHook)
    assert hook.pool_options.pool_size == 2


def test_unknown_conn_type_lists_known_types() -> None:
    """An unregistered type raises InvalidConnection naming the registered ones."""
    with pytest.raises(InvalidConnection, match=r"Unknown hook type 'nosuch'.*postgres"):
        Connection(conn_id="x", conn_type="nosuch").get_hook()


# -- events and the async refresh ---------------------------------------------------------------------


def test_refresh_emits_credentials_refreshed() -> None:
    """Each refresh after an authentication failure emits one CredentialsRefreshed, saying whether
    new credentials were found; no secret is in the event."""
    from hookline import events
    from hookline.testing import capture_events

    with capture_events() as seen:
        FakeHook.accepted = {"new-password"}
        with override_connections({"svc": _conn("old-password")}) as backend:
            hook = FakeHook("svc")
            hook.get_conn()
            backend.set_connection(_conn("new-password"))
            assert hook.call() == "ok"
        FakeHook.accepted = set()
        with override_connections({"svc": _conn(CANARY)}), pytest.raises(AuthenticationFailed):
            FakeHook("svc").call()
    refreshed = [e for e in seen if isinstance(e, events.CredentialsRefreshed)]
    assert [(e.conn_id, e.hook, e.changed) for e in refreshed] == [
        ("svc", "FakeHook", True),
        ("svc", "FakeHook", False),
    ]
    assert CANARY not in repr(refreshed)
    assert "new-password" not in repr(refreshed)


def test_no_event_is_built_without_listeners(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no listener subscribed, a refresh builds no event (emitters check bus.active)."""
    from hookline import events

    def fail(**kwargs: object) -> None:
        raise AssertionError("an event was built with nobody listening")

    monkeypatch.setattr(events, "CredentialsRefreshed", fail)
    assert not events.default_bus.active
    FakeHook.accepted = set()
    with override_connections({"svc": _conn("pw-12345")}), pytest.raises(AuthenticationFailed):
        FakeHook("svc").call()


def test_async_refresh_runs_the_flow_once() -> None:
    """arun_with_refresh: on AuthenticationFailed, one fresh lookup (in a worker thread) and one
    retry with the new credentials."""
    import asyncio

    FakeHook.accepted = {"new-password"}
    with override_connections({"svc": _conn("old-password")}) as backend:
        hook = FakeHook("svc")
        hook.get_conn()
        backend.set_connection(_conn("new-password"))

        async def action() -> str:
            client = hook.get_conn()
            if client.password not in FakeHook.accepted:
                raise AuthenticationFailed("rejected", conn_id="svc")
            return "ok"

        assert asyncio.run(hook.arun_with_refresh(action)) == "ok"
    assert hook.refresh_count == 1
    assert [c.password for c in hook.built] == ["old-password", "new-password"]


def test_client_built_once_builds_one_client_for_racing_threads() -> None:
    import threading
    import time

    hook = FakeHook(_conn("pw"))
    lock = threading.Lock()
    builds: list[Client] = []
    start = threading.Barrier(8)

    def build() -> Client:
        time.sleep(0.01)  # widen the race window
        client = Client("pw")
        builds.append(client)
        return client

    got: list[Client] = []

    def use() -> None:
        start.wait()
        got.append(hook._client_built_once(lock, build))

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1
    assert got == [builds[0]] * 8
    hook.close()
    again = hook._client_built_once(lock, build)
    assert again is builds[1]
    assert len(builds) == 2
