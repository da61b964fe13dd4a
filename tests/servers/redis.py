"""Real Redis server (Debian ``redis-server``) as a session fixture: the Celery broker of the tests.

``redis_server`` starts ``redis-server`` on a free 127.0.0.1 port with no persistence, waits until
it answers PING, and stops it by PID at the end of the session. ``redis-server`` is installed by
``scripts/bootstrap.sh``; without it the fixture fails loudly.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.servers._proc import free_port, start_process, stop_pid, wait_until

__all__ = ["RedisServer", "redis_server", "start_redis"]


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    """A running Redis server.

    Attributes:
        port: The TCP port on 127.0.0.1.
        pid: The server's process id.
        log: The server's log file.
    """

    port: int
    pid: int
    log: Path
    _proc: Any = field(default=None, repr=False)

    def url(self, db: int = 0) -> str:
        """A ``redis://`` URL for database ``db``."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int = 0) -> Any:
        """A redis-py client (redis is installed with the ``celery`` extra)."""
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, db=db)

    def stop(self) -> None:
        """Stop the server (by PID) and reap it."""
        stop_pid(self.pid)
        if self._proc is not None:
            self._proc.wait(timeout=10)


def start_redis(directory: Path) -> RedisServer:
    """Start redis-server with its data and log in ``directory``; fail loudly if it cannot."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed; run scripts/bootstrap.sh (as root)")
    port = free_port()
    log = directory / f"redis-{port}.log"
    argv = [
        binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
        "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
    ]  # fmt: skip
    proc = start_process(argv, log)
    server = RedisServer(port=port, pid=proc.pid, log=log, _proc=proc)
    try:
        wait_until(lambda: proc.poll() is None and _ping(port), 15.0, f"redis on {port}", log)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis server on a free 127.0.0.1 port for the whole session."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()
