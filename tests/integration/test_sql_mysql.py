"""MySqlHook against a real MariaDB server: round trips, parameter styles, errors, pool limits."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from hookline import AuthenticationFailed, Connection, HookConnectionError, HookError, PoolTimeout
from hookline.hooks.sql import MySqlHook
from hookline.hooks.sql.engines import dispose_all
from tests.servers._proc import free_port
from tests.servers.mariadb import MariaDbServer

CANARY = "c4n4ry-S3cret!"


@pytest.fixture(autouse=True)
def _dispose_engines() -> Iterator[None]:
    yield
    dispose_all()


@pytest.fixture
def app_db(mariadb_server: MariaDbServer) -> tuple[str, str]:
    """A fresh database and its owner (same name), whose password has URL-special characters."""
    name = mariadb_server.unique_name("my")
    password = "p@ss:w/rd?#%'x" + CANARY
    mariadb_server.create_database(name, owner_password=password)
    return name, password


def _conn(
    server: MariaDbServer, name: str, password: str, conn_id: str = "mydb", **extra: object
) -> Connection:
    return Connection(
        conn_id=conn_id,
        conn_type="mysql",
        host=server.host,
        port=server.port,
        login=name,
        password=password,
        schema=name,
        extra=extra or None,
    )


def test_round_trip_with_special_char_password(
    mariadb_server: MariaDbServer, app_db: tuple[str, str]
) -> None:
    """A password with @ : / ? # % ' works (the URL is built from fields), and both %s and
    %(name)s parameter styles bind values."""
    name, password = app_db
    with MySqlHook(_conn(mariadb_server, name, password)) as hook:
        hook.run("create table users (id int primary key, name varchar(50))")
        assert (
            hook.insert_rows("users", [(1, "ann"), (2, "bob"), (3, "o'brien")], ["id", "name"]) == 3
        )
        assert hook.get_records("select name from users where id = %s", (3,)) == [("o'brien",)]
        assert hook.get_first("select count(*) from users where id > %(min)s", {"min": 1}) == (2,)
        assert hook.get_first("select '100%'") == ("100%",)
        assert hook.test_connection() == (True, "Connection successfully tested")
        assert CANARY not in repr(hook.sqlalchemy_url)
        assert hook.dialect_name == "mysql"


def test_insert_rows_replace_and_split_statements(
    mariadb_server: MariaDbServer, app_db: tuple[str, str]
) -> None:
    """replace=True uses REPLACE INTO; a script splits at top-level semicolons, not inside strings."""
    name, password = app_db
    hook = MySqlHook(_conn(mariadb_server, name, password))
    hook.run(
        "create table kv (k varchar(10) primary key, v text); insert into kv values ('a', 'x;y');",
        split_statements=True,
    )
    hook.insert_rows("kv", [("a", "new"), ("b", "it's")], ["k", "v"], replace=True)
    assert hook.get_records("select k, v from kv order by k") == [("a", "new"), ("b", "it's")]
    results = hook.run(
        "select 1; select 'a\\';b'", split_statements=True, return_last=False,
        handler=lambda cur: cur.fetchall(),
    )  # fmt: skip
    assert results == [[(1,)], [("a';b",)]]


def test_bad_password_raises_authentication_failed_after_one_refresh(
    mariadb_server: MariaDbServer, app_db: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """MySQL error 1045 becomes AuthenticationFailed; the hook re-resolves once, then gives up."""
    name, _ = app_db
    uri = f"mysql://{name}:{quote(CANARY, safe='')}@127.0.0.1:{mariadb_server.port}/{name}"
    monkeypatch.setenv("HOOKLINE_CONN_MY_BAD", uri)
    hook = MySqlHook(mysql_conn_id="my_bad")
    with pytest.raises(AuthenticationFailed) as info:
        hook.get_records("select 1")
    assert info.value.conn_id == "my_bad"
    assert "rejected the credentials" in str(info.value)
    assert CANARY not in str(info.value)
    assert hook.refresh_count == 1
    ok, message = hook.test_connection()
    assert not ok
    assert "AuthenticationFailed" in message
    assert CANARY not in message


def test_database_down_raises_hook_connection_error(mariadb_server: MariaDbServer) -> None:
    """Nothing listening: HookConnectionError naming the redacted URL and the timeout."""
    conn = Connection(
        conn_id="my_down", conn_type="mysql", host="127.0.0.1", port=free_port(),
        login="app", password=CANARY, schema="db",
    )  # fmt: skip
    with pytest.raises(HookConnectionError) as info:
        MySqlHook(conn, connect_timeout_s=2).get_first("select 1")
    message = str(info.value)
    assert info.value.conn_id == "my_down"
    assert "cannot connect to mysql+pymysql://app:***@127.0.0.1" in message
    assert "connect_timeout_s=2" in message
    assert CANARY not in message


def test_silent_server_times_out_as_hook_connection_error() -> None:
    """A server that accepts TCP but never greets: HookConnectionError after connect_timeout_s."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        conn = Connection(
            conn_id="my_silent", conn_type="mysql", host="127.0.0.1",
            port=listener.getsockname()[1], login="app", password=CANARY,
        )  # fmt: skip
        with pytest.raises(HookConnectionError) as info:
            MySqlHook(conn, connect_timeout_s=0.3).get_first("select 1")
        assert "connect_timeout_s=0.3" in str(info.value)
        assert CANARY not in str(info.value)
    finally:
        stop.set()
        thread.join()
        for sock in accepted:
            sock.close()
        listener.close()


def test_pool_exhausted_raises_pool_timeout(
    mariadb_server: MariaDbServer, app_db: tuple[str, str]
) -> None:
    """pool_size=1, max_overflow=0: a second checkout waits pool_timeout_s, then PoolTimeout."""
    name, password = app_db
    conn = _conn(mariadb_server, name, password, conn_id="my_pool")
    holder = MySqlHook(conn, pool_size=1, max_overflow=0, pool_timeout_s=0.2)
    holder.get_conn()
    try:
        with pytest.raises(PoolTimeout) as info:
            MySqlHook(conn, pool_size=1, max_overflow=0, pool_timeout_s=0.2).get_first("select 1")
        message = str(info.value)
        assert "pool_size=1" in message
        assert "max_overflow=0" in message
        assert "pool_timeout_s=0.2" in message
        assert CANARY not in message
    finally:
        holder.close()
    assert holder.pool_status()["checked_out"] == 0


def test_sql_error_is_hook_error_with_conn_id(
    mariadb_server: MariaDbServer, app_db: tuple[str, str]
) -> None:
    """A syntax error is a plain HookError (not a connection error) carrying the conn_id."""
    name, password = app_db
    hook = MySqlHook(_conn(mariadb_server, name, password, conn_id="my_err"))
    with pytest.raises(HookError) as info:
        hook.run("selec 1")
    assert type(info.value) is HookError
    assert info.value.conn_id == "my_err"
    assert "ProgrammingError" in str(info.value)
    assert hook.pool_status()["checked_out"] == 0


def test_password_rotated_mid_run_needs_one_refresh(
    mariadb_server: MariaDbServer, app_db: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ALTER USER + KILL of the pooled sessions + new env value: the next call succeeds after exactly
    one refresh (error 1045 with the old password is what triggers it)."""
    name, password = app_db
    base = f"mysql://{name}:{{}}@127.0.0.1:{mariadb_server.port}/{name}"
    monkeypatch.setenv("HOOKLINE_CONN_MY_ROT", base.format(quote(password, safe="")))
    hook = MySqlHook("my_rot")
    assert hook.get_first("select current_user()") == (f"{name}@%",)

    new_password = "rotated-" + CANARY[::-1]
    mariadb_server.execute(f"ALTER USER '{name}'@'%' IDENTIFIED BY '{new_password}'")
    import pymysql

    admin = pymysql.connect(
        host="127.0.0.1", port=mariadb_server.port, user="root",
        password=mariadb_server.root_password, ssl_disabled=True, autocommit=True,
    )  # fmt: skip
    try:
        with admin.cursor() as cursor:
            cursor.execute("select id from information_schema.processlist where user = %s", (name,))
            for (session_id,) in cursor.fetchall():
                cursor.execute(f"KILL {int(session_id)}")
    finally:
        admin.close()
    monkeypatch.setenv("HOOKLINE_CONN_MY_ROT", base.format(quote(new_password, safe="")))

    assert hook.get_records("select 1") == [(1,)]
    assert hook.refresh_count == 1
