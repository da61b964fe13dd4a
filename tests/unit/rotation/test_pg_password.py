"""PostgreSQL password changes send libpq's SCRAM-SHA-256 verifier, never the password."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from hookline.rotation import strategies

PASSWORD = "Canary0ldPassw0rdVerifierUnit"
VERIFIER = "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$c3RvcmVk:c2VydmVy"


class FakePGconn:
    def __init__(self) -> None:
        self.calls: list[tuple[bytes, bytes, bytes | None]] = []

    def encrypt_password(self, passwd: bytes, user: bytes, algorithm: bytes | None = None) -> bytes:
        self.calls.append((passwd, user, algorithm))
        return VERIFIER.encode()


class FakeCursor:
    description = None

    def __init__(self, log: list[Any]) -> None:
        self.log = log

    def execute(self, statement: Any, params: Any = None) -> None:
        self.log.append((statement, params))

    def close(self) -> None:
        pass


class FakeDb:
    def __init__(self) -> None:
        self.pgconn = FakePGconn()
        self.statements: list[Any] = []

    def cursor(self) -> FakeCursor:
        return FakeCursor(self.statements)


def test_the_statement_holds_the_verifier_and_scram_is_asked_for() -> None:
    db = FakeDb()
    strategies._pg_set_password(db, "app user", PASSWORD)
    assert db.pgconn.calls == [(PASSWORD.encode(), b"app user", b"scram-sha-256")]
    [(statement, params)] = db.statements
    assert params is None
    assert isinstance(statement, sql.Composed)
    text = repr(statement)
    assert PASSWORD not in text
    assert VERIFIER in text
    assert "app user" in text
