"""The REST API on a real ``hookline serve`` process (uvicorn): tokens, limits, headers, revocation."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from tests.servers.hookline_server import HooklineServer

CANARY = "canary-it-4b1d9e"


def test_api_round_trip_on_a_real_server(hookline_server: HooklineServer) -> None:
    server = hookline_server
    base = f"{server.url}/api/v1"
    with httpx.Client(timeout=30) as client:
        assert client.get(f"{base}/connections").status_code == 401
        created = client.post(
            f"{base}/connections",
            json={"connection_id": "it", "conn_type": "http", "host": "h", "password": CANARY},
            headers=server.headers("editor"),
        )
        assert created.status_code == 201
        got = client.get(f"{base}/connections/it", headers=server.headers("viewer"))
        assert got.json()["has_password"] is True
        assert CANARY not in got.text
        assert got.headers["x-frame-options"] == "DENY"
        assert "server" not in got.headers  # no version banner
        forbidden = client.delete(f"{base}/connections/it", headers=server.headers("viewer"))
        assert forbidden.status_code == 403

        def chunks() -> object:
            for _ in range(40):
                yield b"x" * 50_000

        too_big = client.post(
            f"{base}/connections",
            content=chunks(),  # type: ignore[arg-type]
            headers={**server.headers("editor"), "content-type": "application/json"},
        )
        assert too_big.status_code == 413


def test_a_token_revoked_by_the_cli_stops_working(hookline_server: HooklineServer) -> None:
    server = hookline_server
    url = f"{server.url}/api/v1/connections"
    assert httpx.get(url, headers=server.headers("viewer"), timeout=30).status_code == 200
    subprocess.run(
        [sys.executable, "-m", "hookline.cli", "tokens", "revoke", "it-viewer"],
        env={"HOOKLINE_HOME": str(server.home), "PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
        timeout=60,
    )
    time.sleep(1.2)  # a valid token is trusted for 1 s without asking the database
    assert httpx.get(url, headers=server.headers("viewer"), timeout=30).status_code == 401
    log = server.log.read_text(errors="replace")
    assert CANARY not in log
    assert server.tokens["viewer"] not in log
