"""Full credential rotations of a real PostgreSQL role whose connection lives in each remote
backend (Vault KV on OpenBao, AWS Secrets Manager and SSM on moto, GCP Secret Manager on the fake),
single user and alternating users; and a rotation SIGKILLed part way with the connection in AWS
Secrets Manager, run again: it resumes from the staged ``AWSPENDING`` version and finishes.

The ``remote`` fixture (each backend on its real server, a random prefix per test) is the remote
contract suite's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from hookline import Connection
from hookline.hooks.sql.engines import dispose_all
from hookline.resolve.chain import SecretsChain
from hookline.rotation import Rotator
from tests.integration.test_remote_contract import Remote, remote  # noqa: F401 - the fixture
from tests.servers.moto import MotoServer
from tests.servers.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[2]
CANARY = "Canary0ldPassw0rdRemoteRot"
CONN_ID = "pgremote"


@pytest.fixture(autouse=True)
def _pools() -> Iterator[None]:
    yield
    dispose_all()


@pytest.fixture
def role(postgres_server: PostgresServer) -> str:
    name = postgres_server.unique_name("remrot")
    postgres_server.create_database(name, owner_password=CANARY)
    postgres_server.execute(f"DROP ROLE IF EXISTS {name}_alt")
    return name


def _can_login(server: PostgresServer, conn: Connection) -> bool:
    try:
        psycopg.connect(
            host=server.host, port=server.port, dbname=conn.schema, user=conn.login,
            password=conn.password, connect_timeout=5,
        ).close()  # fmt: skip
    except psycopg.OperationalError:
        return False
    return True


def _conn(server: PostgresServer, role: str, **extra: object) -> Connection:
    return Connection(
        conn_id=CONN_ID, conn_type="postgres", host=server.host, port=server.port,
        login=role, password=CANARY, schema=role, extra=extra or None,
    )  # fmt: skip


@pytest.mark.parametrize("strategy", ["single_user", "alternating_users"])
def test_rotation_with_the_connection_in_each_remote_backend(
    remote: Remote,  # noqa: F811 - the imported fixture
    postgres_server: PostgresServer,
    role: str,
    strategy: str,
) -> None:
    backend = remote.build()
    assert backend.stageable
    extra: dict[str, object] = {}
    if strategy == "alternating_users":
        admin = Connection(
            conn_id="pgremadmin", conn_type="postgres", host=postgres_server.host,
            port=postgres_server.port, login=postgres_server.superuser,
            password=postgres_server.superuser_password, schema="postgres",
        )  # fmt: skip
        backend.set_connection(admin)
        extra = {"rotation_strategy": strategy, "rotation_admin_conn_id": "pgremadmin"}
    old = _conn(postgres_server, role, **extra)
    backend.set_connection(old)
    seen = []
    for _ in range(2):  # twice: alternating comes back to the first user
        result = Rotator(SecretsChain([backend])).rotate(CONN_ID)
        assert result.steps == ("create", "set", "test", "finish")
        current = remote.build().get_connection(CONN_ID)  # a new backend: nothing cached
        assert current is not None
        assert current.password not in (None, CANARY)
        assert _can_login(postgres_server, current)
        assert remote.build().get_pending(CONN_ID) is None
        seen.append(current)
    assert seen[0].password != seen[1].password
    if strategy == "alternating_users":
        assert [c.login for c in seen] == [f"{role}_alt", role]
    else:
        assert [c.login for c in seen] == [role, role]
        assert not _can_login(postgres_server, seen[0])
    assert not _can_login(postgres_server, old)


@pytest.mark.parametrize("kill_at", ["alter", "set", "test"])
def test_sigkill_with_the_connection_in_secrets_manager_then_rerun_finishes(
    moto_server: MotoServer, postgres_server: PostgresServer, role: str, kill_at: str
) -> None:
    import uuid

    from hookline.secrets.aws import AwsSecretsManagerBackend

    settings = {
        **moto_server.client_kwargs(),
        "connections_prefix": f"k{uuid.uuid4().hex[:10]}/connections",
    }
    backend = AwsSecretsManagerBackend(**settings)
    old = _conn(postgres_server, role)
    backend.set_connection(old)
    child = subprocess.run(
        [sys.executable, "-m", "tests.integration._remote_rotation_worker", kill_at, CONN_ID],
        cwd=ROOT, env={**os.environ, "HOOKLINE_TEST_REMOTE": json.dumps(settings)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert child.returncode == -9, child.stderr[-2000:]
    fresh = AwsSecretsManagerBackend(**settings)
    pending = fresh.get_pending(CONN_ID)
    assert pending is not None
    assert pending.step == {"alter": "create"}.get(kill_at, kill_at)
    assert fresh.get_connection(CONN_ID) == old  # lookups still read the current version
    result = Rotator(SecretsChain([fresh])).rotate(CONN_ID)
    assert result.resumed_from == pending.step
    current = AwsSecretsManagerBackend(**settings).get_connection(CONN_ID)
    assert current is not None
    assert current.password == pending.connection.password != CANARY
    assert AwsSecretsManagerBackend(**settings).get_pending(CONN_ID) is None
    assert _can_login(postgres_server, current)
    assert not _can_login(postgres_server, old)
    for made in (backend, fresh):
        made.close()
