"""Findings of the security review of ``hookline serve``, checked on a real uvicorn process."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import httpx

from tests.servers._proc import free_port, start_process, stop_process, wait_until
from tests.servers.hookline_server import HooklineServer, _healthy


def test_login_rate_limit_ignores_a_forged_x_forwarded_for(
    hookline_server: HooklineServer,
) -> None:
    # uvicorn trusts X-Forwarded-For from 127.0.0.1 by default, and hookline binds 127.0.0.1: every
    # local client could name a new "client address" per attempt and never meet the login limit.
    with httpx.Client(base_url=hookline_server.url, timeout=30) as client:
        page = client.get("/login")
        match = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert match is not None
        codes = [
            client.post(
                "/login",
                data={"token": "nope", "csrf": match.group(1)},
                headers={"X-Forwarded-For": f"203.0.113.{n}", "X-Real-IP": f"203.0.113.{n}"},
            ).status_code
            for n in range(12)
        ]
    assert codes[:10] == [401] * 10
    assert codes[10:] == [429, 429]


def _failed_logins(url: str, count: int, forwarded: bool) -> list[int]:
    with httpx.Client(base_url=url, timeout=30) as client:
        page = client.get("/login")
        match = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert match is not None
        return [
            client.post(
                "/login",
                data={"token": "nope", "csrf": match.group(1)},
                headers={"X-Forwarded-For": f"203.0.113.{n}"} if forwarded else {},
            ).status_code
            for n in range(count)
        ]


def test_trusted_proxies_name_the_client(tmp_path: Path) -> None:
    # Behind a reverse proxy on 127.0.0.1, --trusted-proxies makes each forwarded client its own
    # login budget (without it, every client behind the proxy would share one).
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    port = free_port()
    log = tmp_path / "serve.log"
    env = {"HOOKLINE_HOME": str(home), "HOOKLINE_SESSION_SECRET": "it-" + "s" * 40}
    cmd = [sys.executable, "-m", "hookline.cli", "serve", "--port", str(port)]
    proc = start_process([*cmd, "--trusted-proxies", "127.0.0.1"], log, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: proc.poll() is None and _healthy(url), 30, "hookline serve", log)
        assert _failed_logins(url, 12, forwarded=True) == [401] * 12
        assert _failed_logins(url, 12, forwarded=False)[10:] == [429, 429]
    finally:
        stop_process(proc)
