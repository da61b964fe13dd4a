"""PostgreSQL rotation sends a SCRAM-SHA-256 verifier, never the password: checked in the log of a
real server that records every statement (``log_statement = 'all'``), and the verifier checked
against RFC 5802 / RFC 7677 by hand (hashlib), independently of libpq which computed it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterator

import psycopg
import pytest

from hookline import Connection
from hookline.exceptions import RotationError
from hookline.hooks.sql.engines import dispose_all
from hookline.resolve import default as resolver
from hookline.rotation import Rotator, strategies
from tests.servers.postgres import PostgresServer

CANARY = "Canary0ldPassw0rdScram"
CONN_ID = "pgscram"
VERIFIER = re.compile(
    r"SCRAM-SHA-256\$(?P<iterations>\d+):(?P<salt>[A-Za-z0-9+/=]+)"
    r"\$(?P<stored>[A-Za-z0-9+/=]+):(?P<server>[A-Za-z0-9+/=]+)"
)


@pytest.fixture(autouse=True)
def _pools() -> Iterator[None]:
    yield
    dispose_all()


@pytest.fixture
def role(postgres_server: PostgresServer) -> str:
    """A role owning a database in which every statement is logged."""
    name = postgres_server.unique_name("scram")
    postgres_server.create_database(name, owner_password=CANARY)
    postgres_server.execute(f"ALTER DATABASE {name} SET log_statement = 'all'")
    postgres_server.execute(f"DROP ROLE IF EXISTS {name}_alt")
    return name


def _stored(server: PostgresServer, role: str) -> str:
    with psycopg.connect(
        host=server.host, port=server.port, dbname="postgres", user=server.superuser,
        password=server.superuser_password,
    ) as db:  # fmt: skip
        row = db.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)).fetchone()
    assert row is not None
    return str(row[0])


def _matches(verifier: str, password: str) -> bool:
    """RFC 5802 section 3 with SHA-256 (RFC 7677), as PostgreSQL stores it."""
    found = VERIFIER.fullmatch(verifier)
    assert found is not None, "not a SCRAM-SHA-256 verifier"
    salt = base64.b64decode(found["salt"])
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, int(found["iterations"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return (base64.b64decode(found["stored"]), base64.b64decode(found["server"])) == (
        stored_key,
        server_key,
    )


def _can_login(server: PostgresServer, conn: Connection) -> bool:
    try:
        psycopg.connect(
            host=server.host, port=server.port, dbname=conn.schema, user=conn.login,
            password=conn.password, connect_timeout=5,
        ).close()  # fmt: skip
    except psycopg.OperationalError:
        return False
    return True


def _log_after(server: PostgresServer, offset: int) -> str:
    return server.log_path.read_bytes()[offset:].decode("utf-8", "replace")


def _alter_statements(log: str) -> list[str]:
    return [line for line in log.splitlines() if "statement: ALTER ROLE" in line]


@pytest.mark.parametrize("strategy", ["single_user", "alternating_users"])
def test_rotation_logs_a_verifier_never_the_password(
    postgres_server: PostgresServer, role: str, strategy: str
) -> None:
    extra: dict[str, object] = {}
    if strategy == "alternating_users":
        admin = Connection(
            conn_id="pgscramadmin", conn_type="postgres", host=postgres_server.host,
            port=postgres_server.port, login=postgres_server.superuser,
            password=postgres_server.superuser_password, schema=role,  # a logged database
        )  # fmt: skip
        resolver.default_chain().set_connection(admin)
        extra = {"rotation_strategy": strategy, "rotation_admin_conn_id": "pgscramadmin"}
    old = Connection(
        conn_id=CONN_ID, conn_type="postgres", host=postgres_server.host,
        port=postgres_server.port, login=role, password=CANARY, schema=role, extra=extra,
    )  # fmt: skip
    resolver.default_chain().set_connection(old)
    offset = postgres_server.log_path.stat().st_size
    Rotator().rotate(CONN_ID)
    new = resolver.default_chain().get_connection(CONN_ID)
    assert new is not None
    assert new.password not in (None, CANARY)
    log = _log_after(postgres_server, offset)
    statements = _alter_statements(log)
    assert len(statements) == 1, log[-3000:]  # the server logged the change: the check is real
    assert "SELECT 1" in log  # and the test step's query too
    assert str(new.password) not in log
    assert CANARY not in log
    sent = VERIFIER.search(statements[0])
    assert sent is not None
    assert sent["iterations"] == "4096"
    assert len(base64.b64decode(sent["salt"])) == 16
    assert _stored(postgres_server, str(new.login)) == sent[0]  # stored as sent, not re-hashed
    assert _matches(sent[0], str(new.password))
    assert not _matches(sent[0], CANARY)
    assert _can_login(postgres_server, new)


def test_rollback_sends_the_old_password_as_a_verifier_too(
    postgres_server: PostgresServer, role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = Connection(
        conn_id=CONN_ID, conn_type="postgres", host=postgres_server.host,
        port=postgres_server.port, login=role, password=CANARY, schema=role,
    )  # fmt: skip
    resolver.default_chain().set_connection(old)

    def broken_test(self: strategies.Strategy, pending: Connection) -> None:
        raise psycopg.OperationalError("simulated: the new password is refused")

    monkeypatch.setattr(strategies.SingleUser, "test", broken_test)
    offset = postgres_server.log_path.stat().st_size
    with pytest.raises(RotationError) as caught:
        Rotator().rotate(CONN_ID)
    assert caught.value.step == "test"
    log = _log_after(postgres_server, offset)
    statements = _alter_statements(log)
    assert len(statements) == 2, log[-3000:]  # set, then the undo
    assert CANARY not in log
    assert CANARY not in str(caught.value)
    undo = VERIFIER.search(statements[1])
    assert undo is not None
    assert _matches(undo[0], CANARY)
    assert _can_login(postgres_server, old)


def test_md5_server_default_still_gets_scram(postgres_server: PostgresServer, role: str) -> None:
    """The algorithm is named: a role whose sessions default to md5 hashing still gets SCRAM."""
    postgres_server.execute(f"ALTER ROLE {role} SET password_encryption = 'md5'")
    old = Connection(
        conn_id=CONN_ID, conn_type="postgres", host=postgres_server.host,
        port=postgres_server.port, login=role, password=CANARY, schema=role,
    )  # fmt: skip
    resolver.default_chain().set_connection(old)
    Rotator().rotate(CONN_ID)
    new = resolver.default_chain().get_connection(CONN_ID)
    assert new is not None
    stored = _stored(postgres_server, role)
    assert stored.startswith("SCRAM-SHA-256$4096:")
    assert _matches(stored, str(new.password))
    assert _can_login(postgres_server, new)
