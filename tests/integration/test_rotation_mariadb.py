"""Credential rotation against a real MariaDB, through the metastore (stageable) backend.

Single user and alternating users (the second user created with the first one's grants), a
rotation SIGKILLed between the server change and its record, a failed ``test`` step rolled back, and
zero downtime: 8 threads querying through ``MySqlHook`` while another process rotates every second.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import pymysql
import pytest

from hookline import Connection
from hookline.exceptions import RotationError
from hookline.hooks.sql import MySqlHook
from hookline.hooks.sql.engines import dispose_all
from hookline.rotation import Rotator, strategies
from tests.integration.test_rotation_postgres import (
    CANARY,
    CONN_ID,
    ROOT,
    _metastore,
    _store,
    run_rotation_loop,
)
from tests.servers.mariadb import MariaDbServer


@pytest.fixture(autouse=True)
def _pools() -> Iterator[None]:
    yield
    dispose_all()


def _can_login(server: MariaDbServer, conn: Connection) -> bool:
    try:
        pymysql.connect(
            host=server.host, port=server.port, user=conn.login or "", password=conn.password or "",
            database=conn.schema, connect_timeout=5,
        ).close()  # fmt: skip
    except pymysql.err.OperationalError:
        return False
    return True


@pytest.fixture
def user(mariadb_server: MariaDbServer) -> str:
    name = mariadb_server.unique_name("rot")
    mariadb_server.create_database(name, owner_password=CANARY)
    mariadb_server.execute(f"DROP USER IF EXISTS '{name}_alt'@'%'")
    mariadb_server.execute(f"CREATE TABLE {name}.t (v int)")
    return name


def _single(server: MariaDbServer, user: str) -> Connection:
    conn = Connection(
        conn_id=CONN_ID, conn_type="mysql", host=server.host, port=server.port,
        login=user, password=CANARY, schema=user,
    )  # fmt: skip
    _store(conn)
    return conn


def _alternating(server: MariaDbServer, user: str) -> Connection:
    _store(
        Connection(
            conn_id="myadmin",
            conn_type="mysql",
            host=server.host,
            port=server.port,
            login=server.root_user,
            password=server.root_password,
        )
    )
    conn = Connection(
        conn_id=CONN_ID, conn_type="mysql", host=server.host, port=server.port,
        login=user, password=CANARY, schema=user,
        extra={"rotation_strategy": "alternating_users", "rotation_admin_conn_id": "myadmin"},
    )  # fmt: skip
    _store(conn)
    return conn


def test_single_user_rotation(mariadb_server: MariaDbServer, user: str) -> None:
    old = _single(mariadb_server, user)
    Rotator().rotate(CONN_ID)
    new = _metastore().get_connection(CONN_ID)
    assert new is not None
    assert new.password != CANARY
    assert _can_login(mariadb_server, new)
    assert not _can_login(mariadb_server, old)
    assert MySqlHook(mysql_conn_id=CONN_ID).get_first("select count(*) from t") == (0,)


def test_alternating_users_clone_grants(mariadb_server: MariaDbServer, user: str) -> None:
    _alternating(mariadb_server, user)
    MySqlHook(mysql_conn_id=CONN_ID).run("insert into t values (1)")
    Rotator().rotate(CONN_ID)
    first = _metastore().get_connection(CONN_ID)
    assert first is not None
    assert first.login == f"{user}_alt"
    # The clone has the first user's grants; the first user still logs in with its password.
    assert MySqlHook(mysql_conn_id=CONN_ID).get_first("select current_user(), count(*) from t") == (
        f"{user}_alt@%",
        1,
    )
    assert _can_login(mariadb_server, first.replace(login=user, password=CANARY))
    Rotator().rotate(CONN_ID)
    second = _metastore().get_connection(CONN_ID)
    assert second is not None
    assert second.login == user
    assert second.password != CANARY
    assert _can_login(mariadb_server, second)
    assert _can_login(mariadb_server, first)


def test_failed_test_step_rolls_back(
    mariadb_server: MariaDbServer, user: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _single(mariadb_server, user)

    def broken_test(self: strategies.Strategy, pending: Connection) -> None:
        raise pymysql.err.OperationalError(1045, "simulated: access denied")

    monkeypatch.setattr(strategies.SingleUser, "test", broken_test)
    with pytest.raises(RotationError) as caught:
        Rotator().rotate(CONN_ID)
    assert caught.value.step == "test"
    assert CANARY not in str(caught.value)
    assert _metastore().get_pending(CONN_ID) is None
    assert _metastore().get_connection(CONN_ID) == old
    assert _can_login(mariadb_server, old)


@pytest.mark.parametrize("kill_at", ["alter", "test"])
def test_sigkill_then_rerun_finishes(
    mariadb_server: MariaDbServer, user: str, kill_at: str
) -> None:
    old = _single(mariadb_server, user)
    child = subprocess.run(
        [sys.executable, "-m", "tests.integration._rotation_worker", "kill", kill_at, CONN_ID],
        cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert child.returncode == -9, child.stderr[-2000:]
    # The server already has the new password: the hook falls back to the pending version.
    assert MySqlHook(mysql_conn_id=CONN_ID).get_first("select 1") == (1,)
    Rotator().rotate(CONN_ID)
    current = _metastore().get_connection(CONN_ID)
    assert current is not None
    assert current != old
    assert _can_login(mariadb_server, current)


@pytest.mark.parametrize("strategy", ["single_user", "alternating_users"])
def test_zero_downtime_while_rotating_every_second(
    mariadb_server: MariaDbServer, user: str, strategy: str
) -> None:
    (_single if strategy == "single_user" else _alternating)(mariadb_server, user)
    stop = threading.Event()
    queries = [0] * 8
    failures: list[str] = []

    def worker(index: int) -> None:
        hook = MySqlHook(mysql_conn_id=CONN_ID, pool_size=4)
        while not stop.is_set():
            try:
                assert hook.get_first("select 1") == (1,)
                queries[index] += 1
            except Exception as exc:  # every failure is counted, none may happen
                failures.append(f"{type(exc).__name__}: {exc}")

    rotations = run_rotation_loop(CONN_ID, worker, stop)
    assert failures == []
    assert rotations >= 5
    assert sum(queries) > 100
