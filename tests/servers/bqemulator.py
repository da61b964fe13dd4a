"""A real BigQuery emulator (``bqemulator``, REST over DuckDB) as a session fixture, offline.

``bqemulator start`` runs ``INSTALL spatial``/``INSTALL avro`` at start, which would download the
DuckDB extensions. The dev dependencies install them as PyPI wheels (``duckdb-extension-spatial``,
``duckdb-extension-avro``, pinned to the installed DuckDB's version); the launcher copies their files
into ``$HOME/.duckdb/extensions/<version>/<platform>/`` of a throwaway HOME given to the server, so
``INSTALL`` is a no-op and nothing is fetched. numpy (a dev dependency too) is needed by DuckDB's
Python UDF registration.

``bigquery_emulator`` (session): the server on free 127.0.0.1 ports (REST and gRPC), ready when
``GET /bigquery/v2/projects/<project>/datasets`` answers 200, stopped by PID at the end.
"""

from __future__ import annotations

import shutil
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.servers._proc import free_port, start_process, stop_pid, wait_until

__all__ = ["BigQueryEmulator", "bigquery_emulator", "start_bigquery_emulator"]

PROJECT_ID = "demo-proj"
_EXTENSIONS = ("duckdb_extension_spatial", "duckdb_extension_avro")


@dataclass
class BigQueryEmulator:
    """A running bqemulator.

    Attributes:
        port: The REST port on 127.0.0.1.
        pid: The server's process id.
        log: The server's log file.
        project_id: The default project.
    """

    port: int
    pid: int
    log: Path
    project_id: str = PROJECT_ID
    _proc: Any = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        """The ``api_endpoint`` for BigQuery clients (plain HTTP)."""
        return f"http://127.0.0.1:{self.port}"

    def connection_extra(self) -> dict[str, Any]:
        """Extras of a ``google_cloud_platform`` connection that reaches this emulator."""
        return {"project": self.project_id, "api_endpoint": self.endpoint, "anonymous": True}

    def stop(self) -> None:
        """Stop the server (by PID) and reap it."""
        stop_pid(self.pid)
        if self._proc is not None:
            self._proc.wait(timeout=10)


def prepare_home(home: Path) -> Path:
    """Put the DuckDB extensions shipped as wheels where DuckDB looks for installed ones."""
    import duckdb

    version = f"v{duckdb.__version__}"
    platform = duckdb.execute("select * from pragma_platform()").fetchone()
    assert platform is not None
    target = home / ".duckdb" / "extensions" / version / str(platform[0])
    target.mkdir(parents=True, exist_ok=True)
    for package in _EXTENSIONS:
        module = __import__(package)
        source_dir = Path(module.__file__).parent / "extensions" / version
        found = list(source_dir.glob("*.duckdb_extension"))
        if not found:
            raise RuntimeError(
                f"{package} holds no extension for DuckDB {version} in {source_dir}; pin the "
                "duckdb-extension-* wheels to the installed DuckDB's version"
            )
        for file in found:
            shutil.copy2(file, target / file.name)
    return home


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def start_bigquery_emulator(directory: Path) -> BigQueryEmulator:
    """Start bqemulator with its log and HOME in ``directory``; fail loudly when it does not come up."""
    binary = Path(sys.executable).parent / "bqemulator"
    if not binary.exists():
        raise RuntimeError(f"bqemulator not found at {binary}; install the dev dependencies")
    home = prepare_home(directory / "home")
    port, grpc_port = free_port(), free_port()
    log = directory / f"bqemulator-{port}.log"
    argv = [str(binary), "start", "--rest-host", "127.0.0.1", "--rest-port", str(port)]
    argv += ["--grpc-host", "127.0.0.1", "--grpc-port", str(grpc_port)]
    argv += ["--project", PROJECT_ID, "--log-level", "warning", "--ephemeral"]
    proc = start_process(argv, log, env={"HOME": str(home)})
    server = BigQueryEmulator(port=port, pid=proc.pid, log=log, _proc=proc)
    try:
        wait_until(
            lambda: (
                proc.poll() is None
                and _ready(f"{server.endpoint}/bigquery/v2/projects/{PROJECT_ID}/datasets")
            ),
            90.0,
            f"bqemulator on port {port}",
            log,
        )
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def bigquery_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigQueryEmulator]:
    """A bqemulator on free 127.0.0.1 ports for the whole session."""
    server = start_bigquery_emulator(tmp_path_factory.mktemp("bqemulator"))
    try:
        yield server
    finally:
        server.stop()
