"""A real PostgreSQL 15 server for the test session: the ``postgres_server`` fixture.

``initdb`` and ``pg_ctl`` refuse to run as root, so they run through ``runuser -u postgres``. The cluster lives in a fresh directory under /tmp (mode 0755, owned by ``postgres``), listens
on a free loopback port with password (scram-sha-256) authentication over TCP, runs with ``fsync=off``
and is stopped with ``pg_ctl stop`` at the end of the session.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.servers._proc import free_port

__all__ = ["PG_BIN", "PostgresServer", "postgres_factory", "postgres_server", "start_postgres"]

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _run_as_postgres(argv: list[str], what: str) -> None:
    result = subprocess.run(
        ["runuser", "-u", "postgres", "--", *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{what} failed (exit {result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class PostgresServer:
    """A running PostgreSQL server on 127.0.0.1.

    Attributes:
        host: Always ``"127.0.0.1"``.
        port: The TCP port it listens on.
        superuser: ``"postgres"``.
        superuser_password: The superuser's password (random per session).
        base_dir: The directory holding the data dir, the socket and the log.
    """

    host = "127.0.0.1"
    superuser = "postgres"

    def __init__(self, port: int, superuser_password: str, base_dir: Path) -> None:
        self.port = port
        self.superuser_password = superuser_password
        self.base_dir = base_dir
        self.data_dir = base_dir / "data"
        self.log_path = base_dir / "postgres.log"
        self._db_counter = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """initdb (as ``postgres``) and start the server; wait until it accepts connections."""
        pwfile = self.base_dir / "pwfile"
        pwfile.write_text(self.superuser_password + "\n")
        shutil.chown(pwfile, "postgres", "postgres")
        pwfile.chmod(0o600)
        _run_as_postgres(
            [
                str(PG_BIN / "initdb"),
                "-D", str(self.data_dir),
                "-U", self.superuser,
                "--auth-local=peer",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E", "UTF8",
                "--no-locale",
                "--no-sync",
            ],
            "initdb",
        )  # fmt: skip
        pwfile.unlink()
        options = self._options()
        _run_as_postgres(
            [
                str(PG_BIN / "pg_ctl"),
                "-D", str(self.data_dir),
                "-l", str(self.log_path),
                "-w", "-t", "60",
                "-o", options,
                "start",
            ],
            "pg_ctl start",
        )  # fmt: skip
        self.execute("select 1")

    def kill(self) -> None:
        """Stop the server at once, as a crash would (``pg_ctl stop -m immediate``)."""
        _run_as_postgres(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"],
            "pg_ctl stop -m immediate",
        )

    def restart(self) -> None:
        """Start a stopped server again on its port, with its data (no initdb)."""
        _run_as_postgres(
            [
                str(PG_BIN / "pg_ctl"),
                "-D", str(self.data_dir),
                "-l", str(self.log_path),
                "-w", "-t", "60",
                "-o", self._options(),
                "start",
            ],
            "pg_ctl start",
        )  # fmt: skip

    def _options(self) -> str:
        return (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base_dir} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )

    def stop(self) -> None:
        """Stop the server (``pg_ctl stop -m fast``); the data dir is removed afterwards."""
        if (self.data_dir / "postmaster.pid").exists():
            _run_as_postgres(
                [str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
                "pg_ctl stop",
            )

    # -- helpers --------------------------------------------------------------------------------

    def url(
        self,
        database: str = "postgres",
        user: str | None = None,
        password: str | None = None,
        driver: str = "postgresql+psycopg",
    ) -> str:
        """A SQLAlchemy URL (``driver://user:password@127.0.0.1:port/database``).

        Without ``user`` the superuser and its password are used.
        """
        if user is None:
            user = self.superuser
            password = self.superuser_password if password is None else password
        auth = quote(user, safe="")
        if password is not None:
            auth += ":" + quote(password, safe="")
        return f"{driver}://{auth}@{self.host}:{self.port}/{quote(database, safe='')}"

    def execute(self, sql: str, database: str = "postgres") -> None:
        """Run ``sql`` as the superuser with autocommit (via psycopg)."""
        import psycopg

        with psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.superuser,
            password=self.superuser_password,
            dbname=database,
            autocommit=True,
            connect_timeout=10,
        ) as conn:
            conn.execute(sql.encode())

    def create_database(self, name: str, owner_password: str | None = None) -> str:
        """Create a fresh database ``name`` (dropping a leftover of that name) and return its name.

        With ``owner_password``, also create a login role called ``name`` with that password that
        owns the database.
        """
        self.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
        owner = ""
        if owner_password is not None:
            self.execute(f"DROP ROLE IF EXISTS {_quote_ident(name)}")
            self.execute(
                f"CREATE ROLE {_quote_ident(name)} LOGIN PASSWORD {_quote_literal(owner_password)}"
            )
            owner = f" OWNER {_quote_ident(name)}"
        self.execute(f"CREATE DATABASE {_quote_ident(name)}{owner}")
        return name

    def unique_name(self, prefix: str = "db") -> str:
        """A database/role name not used before in this session (``prefix_<n>``)."""
        self._db_counter += 1
        return f"{prefix}_{os.getpid()}_{self._db_counter}"

    def __repr__(self) -> str:
        return f"PostgresServer(host={self.host!r}, port={self.port})"


def start_postgres() -> PostgresServer:
    """initdb and start a server in a fresh directory under /tmp on a free loopback port."""
    base_dir = Path(tempfile.mkdtemp(prefix="hookline-pg-", dir="/tmp"))
    base_dir.chmod(0o755)
    shutil.chown(base_dir, "postgres", "postgres")
    server = PostgresServer(free_port(), secrets.token_urlsafe(16), base_dir)
    try:
        server.start()
    except BaseException:
        _discard(server)
        raise
    return server


def _discard(server: PostgresServer) -> None:
    try:
        server.stop()
    finally:
        shutil.rmtree(server.base_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL 15 server for the whole session, stopped by ``pg_ctl stop`` at the end."""
    server = start_postgres()
    try:
        yield server
    finally:
        _discard(server)


@pytest.fixture
def postgres_factory() -> Iterator[Callable[[], PostgresServer]]:
    """Start extra servers (``postgres_factory()``) a test may kill and restart; all are stopped
    and removed at the end of the test."""
    started: list[PostgresServer] = []

    def start() -> PostgresServer:
        server = start_postgres()
        started.append(server)
        return server

    yield start
    for server in started:
        _discard(server)
