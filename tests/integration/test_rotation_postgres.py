"""Credential rotation against a real PostgreSQL, through the metastore (stageable) backend.

Single user and alternating users; a rotation SIGKILLed at each step and run again; a failed
``test`` step rolled back; canaries; and zero downtime: 8 threads querying through ``PostgresHook``
while another process rotates every second.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from hookline import Connection
from hookline.cli.app import app
from hookline.events import RotationStep
from hookline.exceptions import RotationError
from hookline.hooks.sql import PostgresHook
from hookline.hooks.sql.engines import dispose_all
from hookline.resolve import default as resolver
from hookline.resolve.chain import SecretsChain
from hookline.rotation import Rotator, strategies
from hookline.secrets.metastore import MetastoreBackend
from hookline.secrets.metastore.keys import generate_key
from hookline.testing import capture_events
from tests.servers.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[2]
CANARY = "Canary0ldPassw0rd4Rotation"
CONN_ID = "pgrot"


@pytest.fixture(autouse=True)
def _pools() -> Iterator[None]:
    yield
    dispose_all()


def run_rotation_loop(
    conn_id: str, worker: Callable[[int], None], stop: threading.Event, seconds: float = 10
) -> int:
    """Start 8 ``worker`` threads, rotate ``conn_id`` every second in another process for
    ``seconds``, stop the threads; return the number of rotations."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.integration._rotation_worker", "loop", str(seconds), "1",
         conn_id],
        cwd=ROOT, env=dict(os.environ), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None
    assert child.stdin is not None
    assert child.stdout.readline().strip() == "ready"
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    try:
        out, err = child.communicate("go\n", timeout=seconds * 6 + 60)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert child.returncode == 0, err[-2000:]
    return int(out.strip())


def _store(conn: Connection) -> None:
    resolver.default_chain().set_connection(conn)


def _metastore() -> MetastoreBackend:
    backend = next(b for b in resolver.default_chain().backends if b.name == "metastore")
    assert isinstance(backend, MetastoreBackend)
    return backend


def _can_login(server: PostgresServer, conn: Connection) -> bool:
    try:
        psycopg.connect(
            host=server.host, port=server.port, dbname=conn.schema, user=conn.login,
            password=conn.password, connect_timeout=5,
        ).close()  # fmt: skip
    except psycopg.OperationalError:
        return False
    return True


@pytest.fixture
def role(postgres_server: PostgresServer) -> str:
    name = postgres_server.unique_name("rot")
    postgres_server.create_database(name, owner_password=CANARY)
    postgres_server.execute(f"CREATE TABLE {name}_t (v int)", database=name)
    postgres_server.execute(f"ALTER TABLE {name}_t OWNER TO {name}", database=name)
    postgres_server.execute(f"DROP ROLE IF EXISTS {name}_alt")
    return name


def _single(server: PostgresServer, role: str) -> Connection:
    conn = Connection(
        conn_id=CONN_ID, conn_type="postgres", host=server.host, port=server.port,
        login=role, password=CANARY, schema=role,
    )  # fmt: skip
    _store(conn)
    return conn


def _alternating(server: PostgresServer, role: str) -> Connection:
    admin = Connection(
        conn_id="pgadmin", conn_type="postgres", host=server.host, port=server.port,
        login=server.superuser, password=server.superuser_password, schema="postgres",
    )  # fmt: skip
    _store(admin)
    conn = Connection(
        conn_id=CONN_ID, conn_type="postgres", host=server.host, port=server.port,
        login=role, password=CANARY, schema=role,
        extra={"rotation_strategy": "alternating_users", "rotation_admin_conn_id": "pgadmin"},
    )  # fmt: skip
    _store(conn)
    return conn


def test_single_user_rotation(postgres_server: PostgresServer, role: str) -> None:
    old = _single(postgres_server, role)
    with capture_events() as events:
        result = Rotator().rotate(CONN_ID)
    assert result.steps == ("create", "set", "test", "finish")
    new = _metastore().get_connection(CONN_ID)
    assert new is not None
    assert new.password not in (None, CANARY)
    assert new.login == role
    assert len(new.password or "") == 32
    assert _can_login(postgres_server, new)
    assert not _can_login(postgres_server, old)
    assert _metastore().get_pending(CONN_ID) is None
    assert _metastore().last_rotated_at(CONN_ID) is not None
    steps = [(e.step, e.outcome) for e in events if isinstance(e, RotationStep)]
    assert steps == [("create", "ok"), ("set", "ok"), ("test", "ok"), ("finish", "ok")]
    for event in events:
        assert CANARY not in repr(event)
        assert str(new.password) not in repr(event)
    assert PostgresHook(postgres_conn_id=CONN_ID).get_first("select current_user") == (role,)


def test_alternating_users_switch_and_old_sessions_keep_working(
    postgres_server: PostgresServer, role: str
) -> None:
    _alternating(postgres_server, role)
    hook = PostgresHook(postgres_conn_id=CONN_ID)
    hook.run(f"insert into {role}_t values (1)")
    old_session = psycopg.connect(
        host=postgres_server.host, port=postgres_server.port, dbname=role, user=role,
        password=CANARY, autocommit=True,
    )  # fmt: skip
    Rotator().rotate(CONN_ID)
    first = _metastore().get_connection(CONN_ID)
    assert first is not None
    assert first.login == f"{role}_alt"
    # The clone has the first user's rights (membership), through the hook's switched pool.
    assert PostgresHook(postgres_conn_id=CONN_ID).get_first(
        f"select current_user, count(*) from {role}_t"
    ) == (f"{role}_alt", 1)
    assert old_session.execute("select 1").fetchone() == (1,)  # the old user's session lives on
    assert _can_login(postgres_server, first.replace(login=role, password=CANARY))  # untouched
    Rotator().rotate(CONN_ID)
    second = _metastore().get_connection(CONN_ID)
    assert second is not None
    assert second.login == role
    assert second.password != CANARY
    assert _can_login(postgres_server, second)
    assert _can_login(postgres_server, first)  # the inactive user keeps its password till next
    old_session.close()


def test_failed_test_step_rolls_back(
    postgres_server: PostgresServer, role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _single(postgres_server, role)

    def broken_test(self: strategies.Strategy, pending: Connection) -> None:
        raise psycopg.OperationalError("simulated: the new password is refused")

    monkeypatch.setattr(strategies.SingleUser, "test", broken_test)
    with pytest.raises(RotationError) as caught:
        Rotator().rotate(CONN_ID)
    assert caught.value.step == "test"
    assert "rolled back" in str(caught.value)
    assert CANARY not in str(caught.value)
    assert _metastore().get_pending(CONN_ID) is None
    assert _metastore().get_connection(CONN_ID) == old
    assert _can_login(postgres_server, old)  # the server has the old password again


@pytest.mark.parametrize("strategy", ["single_user", "alternating_users"])
@pytest.mark.parametrize("kill_at", ["create", "alter", "set", "test", "promote"])
def test_sigkill_at_each_step_then_rerun_finishes(
    postgres_server: PostgresServer, role: str, kill_at: str, strategy: str
) -> None:
    old = (_single if strategy == "single_user" else _alternating)(postgres_server, role)
    child = subprocess.run(
        [sys.executable, "-m", "tests.integration._rotation_worker", "kill", kill_at, CONN_ID],
        cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert child.returncode == -9, child.stderr[-2000:]
    pending = _metastore().get_pending(CONN_ID)
    if kill_at == "promote":
        assert pending is None
    else:
        assert pending is not None
        assert pending.step == {"create": "create", "alter": "create"}.get(kill_at, kill_at)
        # Usable throughout: the hook logs in (falling back to the pending version if needed).
        assert PostgresHook(postgres_conn_id=CONN_ID).get_first("select 1") == (1,)
    if pending is not None:
        assert Rotator().rotate(CONN_ID).resumed_from == pending.step
    current = _metastore().get_connection(CONN_ID)
    assert current is not None
    assert current != old
    assert _metastore().get_pending(CONN_ID) is None
    assert _can_login(postgres_server, current)
    resolver.set_default_resolver(None)
    assert PostgresHook(postgres_conn_id=CONN_ID).get_first("select 1") == (1,)


def test_cli_rotate_prints_no_secret(
    postgres_server: PostgresServer, role: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from typer.testing import CliRunner

    _single(postgres_server, role)
    runner = CliRunner()
    dry = runner.invoke(app, ["rotate", CONN_ID, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would rotate" in dry.output
    assert _metastore().get_connection(CONN_ID).password == CANARY  # type: ignore[union-attr]
    done = runner.invoke(app, ["rotate", CONN_ID, "-vv"])
    assert done.exit_code == 0, done.output
    new = _metastore().get_connection(CONN_ID)
    assert new is not None
    assert new.password != CANARY
    for text in (dry.output, done.output, capsys.readouterr().err):
        assert CANARY not in text
        assert str(new.password) not in text


@pytest.mark.parametrize("strategy", ["single_user", "alternating_users"])
def test_zero_downtime_while_rotating_every_second(
    postgres_server: PostgresServer, role: str, strategy: str
) -> None:
    """8 threads query through PostgresHook while another process rotates every second for 10 s."""
    (_single if strategy == "single_user" else _alternating)(postgres_server, role)
    stop = threading.Event()
    queries = [0] * 8
    failures: list[str] = []

    def worker(index: int) -> None:
        hook = PostgresHook(postgres_conn_id=CONN_ID, pool_size=4)
        while not stop.is_set():
            try:
                assert hook.get_first("select 1") == (1,)
                queries[index] += 1
            except Exception as exc:  # every failure is counted, none may happen
                failures.append(f"{type(exc).__name__}: {exc}")

    rotations = run_rotation_loop(CONN_ID, worker, stop)
    assert failures == []
    # One per second when the machine keeps up; 8 busy threads on 2 shared cores slow it down.
    assert rotations >= 5
    assert sum(queries) > 100
    final = _metastore().get_connection(CONN_ID)
    assert final is not None
    assert final.password != CANARY


def test_metastore_on_postgresql_stages_and_rotates(
    postgres_server: PostgresServer, role: str
) -> None:
    """The metastore itself on PostgreSQL (shared by many machines): pending rows, the ledger and a
    full single-user rotation through it."""
    store_db = postgres_server.unique_name("meta")
    postgres_server.create_database(store_db)
    store = MetastoreBackend(postgres_server.url(store_db), fernet_keys=generate_key())
    try:
        current = Connection(
            conn_id=CONN_ID, conn_type="postgres", host=postgres_server.host,
            port=postgres_server.port, login=role, password=CANARY, schema=role,
        )  # fmt: skip
        store.set_connection(current)
        assert store.get_pending(CONN_ID) is None
        assert store.last_rotated_at(CONN_ID) is None
        store.put_pending(current.replace(password="Pend1ngOnPostgres99"), token="t", step="create")
        pending = store.get_pending(CONN_ID)
        assert pending is not None
        assert pending.step == "create"
        store.discard_pending(CONN_ID, "t")
        Rotator(SecretsChain([store]), ledger=store).rotate(CONN_ID)
        new = store.get_connection(CONN_ID)
        assert new is not None
        assert new.password != CANARY
        assert _can_login(postgres_server, new)
        assert store.get_pending(CONN_ID) is None
        assert store.last_rotated_at(CONN_ID) is not None
    finally:
        store.close()
