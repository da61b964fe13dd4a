"""Shared engines without a server: credentials at connect time, secret driver arguments, masked
driver causes, one masking policy, SQLite's read-only test, events, parking and fork."""

from __future__ import annotations

import sqlite3
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from hookline import Connection, HookConnectionError, HookError, masking
from hookline.events import Event, PoolCheckout, default_bus
from hookline.exceptions import DriverError
from hookline.hooks.sql import PostgresHook, SqliteHook, engines
from hookline.hooks.sql.dialects import POSTGRES, split_secret_args
from hookline.hooks.sql.engines import CredentialSource, dispose_all, shared_engines
from hookline.hooks.sql.pooling import PoolOptions
from hookline.hooks.sql.support import driver_error

CANARY = "c4n4ry-S3cret!"


@pytest.fixture(autouse=True)
def _dispose_engines() -> Iterator[None]:
    yield
    dispose_all()


@pytest.fixture
def lite(tmp_path: Path) -> SqliteHook:
    hook = SqliteHook(Connection(conn_id="lite", conn_type="sqlite", host=str(tmp_path / "a.db")))
    hook.run("create table t (n integer)")
    return hook


# -- credentials and secret arguments ----------------------------------------------------------------


def test_secret_driver_arguments_travel_with_the_credentials() -> None:
    """sslpassword (and any sensitive argument, or a mapping holding one) is not part of the engine
    spec: it reaches the driver with user and password at connect time."""
    conn = Connection(
        conn_id="tls", conn_type="postgres", host="db", login="app", password=CANARY,
        extra={"sslmode": "verify-full", "sslpassword": "key-" + CANARY, "application_name": "x"},
    )  # fmt: skip
    hook = PostgresHook(conn)
    spec = hook._engine_spec()
    assert CANARY not in repr(spec)
    assert '"sslmode": "verify-full"' in spec.connect_args
    credentials = POSTGRES.driver_credentials(conn, PoolOptions())
    assert credentials == {"sslpassword": "key-" + CANARY, "user": "app", "password": CANARY}
    public, secret = split_secret_args({"ssl": {"ca": "/ca", "key": "/k"}, "charset": "utf8"})
    assert public == {"charset": "utf8"}
    assert secret == {"ssl": {"ca": "/ca", "key": "/k"}}


def test_credential_source() -> None:
    """A given source replaces its Connection when offered other credentials; reprs name the kind."""
    first = Connection(conn_id="c", conn_type="postgres", login="a", password=CANARY)
    source = CredentialSource(given=first)
    assert source.current() is first
    assert source.offer(first.replace(host="elsewhere")) is False
    assert source.offer(first.replace(password="rotated-pw")) is True
    assert source.current().password == "rotated-pw"
    assert repr(source) == "CredentialSource(given)"
    resolved = CredentialSource(fetch=lambda: first)
    assert resolved.current() is first
    assert resolved.offer(first.replace(password="x")) is False
    with pytest.raises(ValueError, match="exactly one"):
        CredentialSource()


def test_hook_built_from_an_id_takes_credentials_from_the_resolver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hook built from a conn_id shares a 'resolved' engine; one built from a Connection a
    'given' one."""
    monkeypatch.setenv("HOOKLINE_CONN_BYID", f"sqlite:///{tmp_path / 'b.db'}")
    by_id = SqliteHook("byid")
    assert by_id.get_first("select 1") == (1,)
    given = SqliteHook(by_id.connection)
    assert given.get_first("select 1") == (1,)
    kinds = sorted(e.credentials.kind for e in shared_engines("byid"))
    assert kinds == ["given", "resolved"]


# -- errors ------------------------------------------------------------------------------------------


def test_driver_error_is_a_masked_stand_in() -> None:
    """driver_error keeps the class name, the code and the frames, and masks registered secrets."""
    masking.register(CANARY)
    try:
        raise sqlite3.IntegrityError(f"value {CANARY} rejected")
    except sqlite3.IntegrityError as exc:
        cause = driver_error(exc)
    assert isinstance(cause, DriverError)
    assert cause.driver_type == "sqlite3.IntegrityError"
    assert str(cause) == "sqlite3.IntegrityError: value *** rejected"
    assert cause.__traceback__ is not None
    assert cause.__cause__ is None
    assert cause.__context__ is None


def test_sql_errors_chain_from_the_masked_cause(lite: SqliteHook) -> None:
    """A hook error's formatted traceback shows the masked DriverError, never the driver's own
    exception."""
    with pytest.raises(HookError) as info:
        lite.run("select * from missing_table")
    cause = info.value.__cause__
    assert isinstance(cause, DriverError)
    assert cause.driver_type == "sqlite3.OperationalError"
    rendered = "".join(traceback.format_exception(info.value))
    assert "DriverError: sqlite3.OperationalError: no such table: missing_table" in rendered
    assert "\nsqlite3.OperationalError" not in rendered


def test_short_secrets_do_not_mangle_error_text(tmp_path: Path) -> None:
    """One masking policy: a password shorter than 5 characters is not masked in free text, so an
    error mentioning the same letters reads as the driver wrote it (it used to read
    ``missing_t***``)."""
    conn = Connection(
        conn_id="short", conn_type="sqlite", host=str(tmp_path / "s.db"), password="able"
    )
    with pytest.raises(HookError) as info:
        SqliteHook(conn).run("select * from missing_table")
    assert "no such table: missing_table" in str(info.value)
    assert "***" not in str(info.value)


# -- SQLite's test_connection ------------------------------------------------------------------------


def test_sqlite_test_connection_creates_nothing(tmp_path: Path) -> None:
    """A wrong path is reported as a failure and no file appears; a file that is not a database
    fails too; an existing database and :memory: succeed."""
    missing = tmp_path / "typo.db"
    ok, message = SqliteHook(
        Connection(conn_id="typo", conn_type="sqlite", host=str(missing))
    ).test_connection()
    assert not ok
    assert message.startswith("HookConnectionError: SqliteHook 'typo': cannot connect")
    assert "nothing created" in message
    assert not missing.exists()
    assert list(tmp_path.iterdir()) == []
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database, just text" * 10)
    ok, message = SqliteHook(
        Connection(conn_id="junk", conn_type="sqlite", host=str(junk))
    ).test_connection()
    assert not ok
    assert "not a database" in message
    memory = SqliteHook(Connection(conn_id="mem", conn_type="sqlite"))
    assert memory.test_connection() == (True, "Connection successfully tested")
    with pytest.raises(HookConnectionError):
        SqliteHook(Connection(conn_id="typo", conn_type="sqlite", host=str(missing)))._test()


# -- events, parking, fork ---------------------------------------------------------------------------


def test_no_event_is_built_without_a_listener(
    lite: SqliteHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With nobody listening, a checkout builds no PoolCheckout (zero cost); with a listener, every
    checkout emits one."""

    def forbidden(**kwargs: object) -> PoolCheckout:
        raise AssertionError("an event was built with no listener")

    monkeypatch.setattr(engines, "PoolCheckout", forbidden)
    assert not default_bus.active
    for _ in range(3):
        lite.get_first("select 1")
    monkeypatch.undo()
    seen: list[Event] = []
    unsubscribe = default_bus.subscribe(seen.append)
    try:
        lite.get_first("select 1")
        lite.get_records("select 2")
    finally:
        unsubscribe()
    assert [type(e) for e in seen] == [PoolCheckout, PoolCheckout]
    assert seen[0].conn_id == "lite"  # type: ignore[attr-defined]


def test_idle_connections_park_and_count_as_checked_in(lite: SqliteHook) -> None:
    """After a call, the connection stays parked for the next one: pool_status counts it as
    checked in; releasing returns it to the pool."""
    lite.get_first("select 1")
    (shared,) = shared_engines("lite")
    assert shared.parked == 1
    status = lite.pool_status()
    assert status["checked_out"] == 0
    assert status["checked_in"] == 1
    assert shared.release_parked() == 1
    assert shared.parked == 0
    assert lite.pool_status() == status


def test_fork_child_orphans_parked_connections(lite: SqliteHook) -> None:
    """In a forked child the parent's parked connections are kept referenced (never closed, which
    would end the parent's sessions) and the engine starts over with a fresh pool."""
    lite.get_first("select 1")
    (shared,) = shared_engines("lite")
    parked = shared.parked
    before = len(engines._FORK_ORPHANS)
    engines._after_fork_in_child()
    assert shared.parked == 0
    assert len(engines._FORK_ORPHANS) == before + parked
    assert lite.get_first("select 2") == (2,)
    engines._FORK_ORPHANS[before:] = []


def test_cli_connections_test_of_a_wrong_sqlite_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``hookline connections test`` on a SQLite connection whose file does not exist fails (exit
    1) and creates no file; on an existing database it succeeds."""
    from typer.testing import CliRunner

    from hookline.cli.app import app

    missing = tmp_path / "typo.db"
    monkeypatch.setenv("HOOKLINE_CONN_LITE_TYPO", f"sqlite:///{missing}")
    result = CliRunner().invoke(app, ["connections", "test", "lite_typo"])
    assert result.exit_code == 1
    assert "test failed" in result.output
    assert not missing.exists()
    present = tmp_path / "present.db"
    sqlite3.connect(present).execute("create table t (n integer)").connection.close()
    monkeypatch.setenv("HOOKLINE_CONN_LITE_OK", f"sqlite:///{present}")
    result = CliRunner().invoke(app, ["connections", "test", "lite_ok"])
    assert result.exit_code == 0, result.output


def test_bad_option_values_are_typed_errors() -> None:
    """Options read from extras go through hookline.options: a bad value is InvalidConnection
    naming the option and the connection, never quoting a secret."""
    from hookline import InvalidConnection
    from hookline.hooks.sql import MySqlHook

    conn = Connection(
        conn_id="opts", conn_type="mysql", host="db", password=CANARY,
        extra={"read_timeout_s": "soon"},
    )  # fmt: skip
    with pytest.raises(InvalidConnection, match="read_timeout_s") as info:
        MySqlHook(conn).get_sqlalchemy_engine()
    assert info.value.conn_id == "opts"
    for extra in ({"statement_timeout_s": "0"}, {"prepare_threshold": "-1"}):
        with pytest.raises(InvalidConnection, match=next(iter(extra))):
            PostgresHook(conn.replace(conn_type="postgres", extra=extra)).get_sqlalchemy_engine()
    assert CANARY not in str(info.value)
