"""A real MariaDB server for the test session: the ``mariadb_server`` fixture.

``mariadb-install-db --user=mysql`` into a fresh directory under /tmp,
then ``mariadbd --user=mysql`` (it refuses to run as root otherwise) on a free loopback port with
``--skip-name-resolve`` and a small buffer pool. The root account over TCP is ``root@127.0.0.1``; it
gets a random password. The server is stopped by PID at the end of the session. When ``mariadbd`` is
missing, ``scripts/bootstrap.sh`` installs it; if it still cannot start, the fixture fails loudly.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.servers._proc import free_port, port_open, start_process, stop_process, wait_until

__all__ = ["MariaDbServer", "mariadb_server"]

_REPO = Path(__file__).resolve().parents[2]


def _quote_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _quote_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _ensure_installed() -> None:
    if shutil.which("mariadbd") is None and not Path("/usr/sbin/mariadbd").exists():
        result = subprocess.run(
            ["bash", str(_REPO / "scripts" / "bootstrap.sh")],
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"scripts/bootstrap.sh failed (exit {result.returncode}):\n{result.stderr[-2000:]}"
            )


def _binary(name: str) -> str:
    found = shutil.which(name) or (
        f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None
    )
    if found is None:
        raise RuntimeError(f"{name} is not installed (run scripts/bootstrap.sh)")
    return found


class MariaDbServer:
    """A running MariaDB server on 127.0.0.1.

    Attributes:
        host: Always ``"127.0.0.1"``.
        port: The TCP port it listens on.
        root_user: ``"root"`` (the account is ``root@127.0.0.1``).
        root_password: The root password (random per session).
        base_dir: The directory holding the data dir, socket, PID file and error log.
    """

    host = "127.0.0.1"
    root_user = "root"

    def __init__(self, port: int, root_password: str, base_dir: Path) -> None:
        self.port = port
        self.root_password = root_password
        self.base_dir = base_dir
        self.data_dir = base_dir / "data"
        self.log_path = base_dir / "error.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._counter = 0

    def start(self) -> None:
        """Install the system tables and start ``mariadbd``; wait until root can log in."""
        install = subprocess.run(
            [
                _binary("mariadb-install-db"),
                "--no-defaults",
                f"--datadir={self.data_dir}",
                "--user=mysql",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if install.returncode != 0:
            raise RuntimeError(
                f"mariadb-install-db failed (exit {install.returncode}):\n"
                f"{install.stdout[-2000:]}\n{install.stderr[-2000:]}"
            )
        self._proc = start_process(
            [
                _binary("mariadbd"),
                "--no-defaults",
                "--user=mysql",
                f"--datadir={self.data_dir}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.base_dir / 'mysqld.sock'}",
                f"--pid-file={self.base_dir / 'mysqld.pid'}",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=64M",
                "--innodb-log-file-size=16M",
                "--max-connections=300",
            ],
            self.log_path,
        )
        wait_until(
            lambda: (
                self._proc is not None and (self._proc.poll() is not None or port_open(self.port))
            ),
            60,
            "mariadbd",
            self.log_path,
        )
        if self._proc.poll() is not None:
            raise RuntimeError(
                f"mariadbd exited with {self._proc.returncode}:\n"
                + self.log_path.read_text(errors="replace")[-3000:]
            )
        self._connect(password=None).close()  # root@127.0.0.1 has no password yet
        self.execute(
            f"ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY {_quote_literal(self.root_password)}",
            password=None,
        )
        self.execute("select 1")

    def stop(self) -> None:
        """Stop ``mariadbd`` by its PID (SIGTERM: clean shutdown)."""
        if self._proc is not None:
            stop_process(self._proc, timeout_s=30)
            self._proc = None

    @property
    def pid(self) -> int | None:
        """The PID of the ``mariadbd`` process this fixture started."""
        return None if self._proc is None else self._proc.pid

    def _connect(self, password: str | None, database: str | None = None) -> Any:
        import pymysql

        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.root_user,
            password=password or "",
            database=database,
            ssl_disabled=True,
            connect_timeout=10,
            autocommit=True,
        )

    def execute(self, sql: str, database: str | None = None, *, password: Any = ...) -> None:
        """Run ``sql`` as root with autocommit (via PyMySQL)."""
        conn = self._connect(self.root_password if password is ... else password, database)
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql)
        finally:
            conn.close()

    def url(
        self,
        database: str = "",
        user: str | None = None,
        password: str | None = None,
        driver: str = "mysql+pymysql",
    ) -> str:
        """A SQLAlchemy URL; without ``user`` the root account and its password are used."""
        if user is None:
            user = self.root_user
            password = self.root_password if password is None else password
        auth = quote(user, safe="")
        if password is not None:
            auth += ":" + quote(password, safe="")
        return f"{driver}://{auth}@{self.host}:{self.port}/{quote(database, safe='')}"

    def create_database(self, name: str, owner_password: str | None = None) -> str:
        """Create a fresh database ``name`` (dropping a leftover) and return its name.

        With ``owner_password``, also create the user ``name``@``%`` with all privileges on it.
        """
        self.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)}")
        self.execute(f"CREATE DATABASE {_quote_ident(name)}")
        if owner_password is not None:
            self.execute(f"DROP USER IF EXISTS {_quote_literal(name)}@'%'")
            self.execute(
                f"CREATE USER {_quote_literal(name)}@'%' IDENTIFIED BY {_quote_literal(owner_password)}"
            )
            self.execute(f"GRANT ALL ON {_quote_ident(name)}.* TO {_quote_literal(name)}@'%'")
        return name

    def unique_name(self, prefix: str = "db") -> str:
        """A database/user name not used before in this session."""
        self._counter += 1
        return f"{prefix}_{self._counter}"

    def __repr__(self) -> str:
        return f"MariaDbServer(host={self.host!r}, port={self.port})"


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDbServer]:
    """A MariaDB server for the whole session, stopped by PID at the end."""
    _ensure_installed()
    base_dir = Path(tempfile.mkdtemp(prefix="hookline-mariadb-", dir="/tmp"))
    base_dir.chmod(0o755)
    shutil.chown(base_dir, "mysql", "mysql")
    server = MariaDbServer(free_port(), secrets.token_urlsafe(16), base_dir)
    try:
        server.start()
    except BaseException:
        server.stop()
        shutil.rmtree(base_dir, ignore_errors=True)
        raise
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(base_dir, ignore_errors=True)
