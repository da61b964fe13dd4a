"""``hookline serve`` as a real process: uvicorn on a free 127.0.0.1 port, its own HOOKLINE_HOME,
one API token per role (created in the metastore database the server reads)."""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers._proc import free_port, start_process, stop_process, wait_until


@dataclasses.dataclass
class HooklineServer:
    """A running ``hookline serve``.

    Attributes:
        url: ``http://127.0.0.1:<port>``.
        home: Its HOOKLINE_HOME.
        tokens: One API token per role (``viewer``, ``editor``, ``admin``).
        log: Its stdout/stderr.
    """

    url: str
    home: Path
    tokens: dict[str, str]
    log: Path

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/health", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def hookline_server() -> Iterator[HooklineServer]:
    """Start ``hookline serve`` (tokens created first, through the same database)."""
    from hookline.server.tokens import TokenStore, metastore_url

    home = Path(tempfile.mkdtemp(prefix="hookline-serve-"))
    (home / "home").mkdir(mode=0o700)
    store = TokenStore(metastore_url(home=home / "home"))
    tokens = {role: store.create(f"it-{role}", role)[1] for role in ("viewer", "editor", "admin")}
    store.close()
    port = free_port()
    log = home / "serve.log"
    env = {"HOOKLINE_HOME": str(home / "home"), "HOOKLINE_SESSION_SECRET": "it-" + "s" * 40}
    proc = start_process(
        [sys.executable, "-m", "hookline.cli", "serve", "--port", str(port)], log, env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: proc.poll() is None and _healthy(url), 30, "hookline serve", log)
        yield HooklineServer(url, home / "home", tokens, log)
    finally:
        stop_process(proc)
