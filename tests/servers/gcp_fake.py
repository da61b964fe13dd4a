"""The drongo GCP fake run as a standalone HTTP server (Secret Manager over REST) as fixtures.

* ``gcp_fake_server`` (session): ``drongo server --host 127.0.0.1 --port P`` on a free port, checked
  through ``GET /drongo/health``, stopped by PID at the end; ``.reset()`` posts ``/drongo/reset``.
* ``gcp_fake_factory`` (function): extra servers a test may stop mid-run.

Clients use the REST transport with ``client_options.api_endpoint = server.endpoint`` and anonymous
credentials. Each request takes about 44 ms against the standalone server.
"""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.servers._proc import free_port, start_process, stop_pid, wait_until

__all__ = ["GcpFakeServer", "gcp_fake_factory", "gcp_fake_server", "start_gcp_fake"]

PROJECT_ID = "hookline-test"


@dataclass
class GcpFakeServer:
    """A running drongo server.

    Attributes:
        port: The TCP port on 127.0.0.1.
        pid: The server's process id.
        log: The server's log file.
        project_id: The project id tests use.
    """

    port: int
    pid: int
    log: Path
    project_id: str = PROJECT_ID
    _proc: Any = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        """The ``api_endpoint`` for Google clients (plain HTTP)."""
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> Any:
        """A Secret Manager client (REST, anonymous) pointing at this server."""
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import secretmanager

        return secretmanager.SecretManagerServiceClient(
            transport="rest",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options=ClientOptions(api_endpoint=self.endpoint),
        )

    def reset(self) -> None:
        """Clear all state in the server."""
        request = urllib.request.Request(f"{self.endpoint}/drongo/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def stop(self) -> None:
        """Stop the server (by PID) and reap it."""
        stop_pid(self.pid)
        if self._proc is not None:
            self._proc.wait(timeout=10)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/drongo/health", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def start_gcp_fake(directory: Path) -> GcpFakeServer:
    """Start a drongo server with its log in ``directory``; fail loudly when it does not come up."""
    binary = Path(sys.executable).parent / "drongo"
    if not binary.exists():
        raise RuntimeError(f"drongo not found at {binary}; install the dev dependencies")
    port = free_port()
    log = directory / f"drongo-{port}.log"
    proc = start_process([str(binary), "server", "--host", "127.0.0.1", "--port", str(port)], log)
    server = GcpFakeServer(port=port, pid=proc.pid, log=log, _proc=proc)
    try:
        wait_until(
            lambda: proc.poll() is None and _healthy(server.endpoint),
            30.0,
            f"drongo server on port {port}",
            log,
        )
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def gcp_fake_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcpFakeServer]:
    """A drongo server on a free 127.0.0.1 port for the whole session."""
    server = start_gcp_fake(tmp_path_factory.mktemp("drongo"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def gcp_fake_factory(tmp_path: Path) -> Iterator[Callable[[], GcpFakeServer]]:
    """Start extra drongo servers that the test may stop; all stop at the end of the test."""
    started: list[GcpFakeServer] = []

    def start() -> GcpFakeServer:
        server = start_gcp_fake(tmp_path)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
