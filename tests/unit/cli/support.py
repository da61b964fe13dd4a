"""Helpers shared by the CLI tests: the canary, in-memory and failing backends, a runner."""

from __future__ import annotations

from collections.abc import Iterator

from typer.testing import CliRunner, Result

from hookline.cli.app import app
from hookline.connection import Connection
from hookline.exceptions import BackendUnavailable
from hookline.secrets.base import SecretsBackend
from hookline.secrets.metastore import MetastoreBackend

CANARY = "c4n4ry-S3cret!"
CANARY_FORMS = (CANARY, "c4n4ry-S3cret%21")
URI = f"postgres://alice:{CANARY.replace('!', '%21')}@db.example:5432/app?sslmode=require"


class MemoryBackend(SecretsBackend):
    """A writable in-memory backend, for failure injection."""

    name = "memory"
    writable = True
    listable = True

    def __init__(self) -> None:
        self.data: dict[str, Connection] = {}
        self.fail_on: str | None = None

    def get_conn_value(self, conn_id: str) -> str | None:
        conn = self.data.get(conn_id)
        return None if conn is None else conn.to_json()

    def get_connection(self, conn_id: str) -> Connection | None:
        return self.data.get(conn_id)

    def set_connection(self, conn: Connection, *, overwrite: bool = True) -> None:
        if conn.conn_id == self.fail_on:
            raise OSError("disk full")
        assert conn.conn_id is not None
        self.data[conn.conn_id] = conn

    def delete_connection(self, conn_id: str) -> bool:
        return self.data.pop(conn_id, None) is not None

    def list_connections(self) -> Iterator[Connection]:
        yield from self.data.values()


class Store:
    """Reads the metastore the CLI writes to (its own backend instance on the same SQLite file)."""

    name = "metastore"

    def __init__(self) -> None:
        self.backend = MetastoreBackend()

    def get(self, conn_id: str) -> Connection:
        conn = self.backend.get_connection(conn_id)
        assert conn is not None, f"{conn_id} is not stored"
        return conn

    def ids(self) -> list[str]:
        return [conn.conn_id or "" for conn in self.backend.list_connections()]


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def assert_no_canary(result: Result) -> None:
    for form in CANARY_FORMS:
        assert form not in result.stdout
        assert form not in result.stderr


def assert_one_error_line(result: Result, exit_code: int = 1) -> str:
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def add_warehouse(*extra: str) -> Result:
    result = run("connections", "add", "warehouse", "--uri", URI, *extra)
    assert result.exit_code == 0, result.output
    return result


class DownBackend(SecretsBackend):
    """A backend that is always unreachable (for lookups and listings)."""

    name = "vault"
    listable = True

    def get_conn_value(self, conn_id: str) -> str | None:
        raise BackendUnavailable(f"vault at 127.0.0.1:1 refused (token {CANARY})", backend="vault")

    def list_connections(self) -> Iterator[Connection]:
        raise BackendUnavailable("vault at 127.0.0.1:1 refused", backend="vault")
        yield  # pragma: no cover
