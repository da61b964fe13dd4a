"""Real moto server (AWS fake: Secrets Manager, SSM, STS, S3, ...) as a session fixture.

``moto_server`` starts ``moto_server -H 127.0.0.1 -p PORT`` from the venv's bin directory on a free
loopback port, waits until ``/moto-api/`` answers and stops the process by PID at the end of the
session; ``moto_factory`` starts extra servers a test may stop. Tests call ``.reset()`` (``POST /moto-api/reset``) to wipe all state between them.
"""

from __future__ import annotations

import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.servers._proc import free_port, start_process, stop_pid, wait_until

__all__ = ["MotoServer", "moto_factory", "moto_server", "start_moto"]

#: Fake credentials every test client uses (moto accepts any).
AWS_ACCESS_KEY_ID = "testing"
AWS_SECRET_ACCESS_KEY = "testing"
AWS_REGION = "us-east-1"


@dataclass
class MotoServer:
    """A running moto server.

    Attributes:
        port: The TCP port on 127.0.0.1.
        pid: The server's process id.
        log: The server's log file.
    """

    port: int
    pid: int
    log: Path
    _proc: Any = field(default=None, repr=False)

    @property
    def endpoint_url(self) -> str:
        """The base URL to pass as ``endpoint_url`` to boto3 clients."""
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        """Wipe all state in the server (every service, every region)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def stop(self) -> None:
        """Stop the server (by PID) and reap it."""
        stop_pid(self.pid)
        if self._proc is not None:
            self._proc.wait(timeout=10)

    def client_kwargs(self) -> dict[str, str]:
        """Keyword arguments for ``boto3.client(service, **kwargs)`` pointing at this server."""
        return {
            "endpoint_url": self.endpoint_url,
            "region_name": AWS_REGION,
            "aws_access_key_id": AWS_ACCESS_KEY_ID,
            "aws_secret_access_key": AWS_SECRET_ACCESS_KEY,
        }


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def start_moto(
    directory: Path, env: dict[str, str] | None = None, *, port: int | None = None
) -> MotoServer:
    """Start a moto server with its log in ``directory``; fail loudly when it does not come up.

    ``env`` adds environment variables (e.g. ``INITIAL_NO_AUTH_ACTION_COUNT`` to enforce IAM).
    ``port`` restarts a server on the port of one that was stopped (state is not kept).
    """
    binary = Path(sys.executable).parent / "moto_server"
    if not binary.exists():
        raise RuntimeError(f"moto_server not found at {binary}; install the dev dependencies")
    port = free_port() if port is None else port
    log = directory / f"moto-{port}-{time.monotonic_ns()}.log"
    proc = start_process([str(binary), "-H", "127.0.0.1", "-p", str(port)], log, env=env)
    server = MotoServer(port=port, pid=proc.pid, log=log, _proc=proc)
    try:
        wait_until(
            lambda: proc.poll() is None and _answers(f"{server.endpoint_url}/moto-api/"),
            30.0,
            f"moto_server on port {port}",
            log,
        )
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A moto server on a free 127.0.0.1 port for the whole session."""
    server = start_moto(tmp_path_factory.mktemp("moto"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def moto_factory(tmp_path: Path) -> Iterator[Callable[..., MotoServer]]:
    """Start extra moto servers (``moto_factory(env=None, port=None)``) that a test may stop; all
    stop at the end of the test."""
    started: list[MotoServer] = []

    def start(env: dict[str, str] | None = None, port: int | None = None) -> MotoServer:
        server = start_moto(tmp_path, env, port=port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
