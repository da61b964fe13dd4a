"""``hookline connections test --all`` and ``hookline metrics serve`` as real processes.

A SQLite connection that works and a PostgreSQL connection to a closed port (its password a canary)
come from ``HOOKLINE_CONN_*`` variables. ``test --all`` tests both in parallel and exits 1 with a
table or JSON; ``metrics serve`` runs a health checker over them and exposes
``hookline_connection_up`` on 127.0.0.1. The canary never reaches any output.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.servers._proc import free_port, stop_process

SCRIPT = Path(sys.executable).parent / "hookline"
CANARY = "canary-Cli-9Hq2z"


@pytest.fixture
def conn_env(tmp_path: Path) -> dict[str, str]:
    closed_port = free_port()
    sqlite3.connect(tmp_path / "good.db").close()  # a test opens an existing database read-only
    return {
        **os.environ,
        "COLUMNS": "200",
        "HOOKLINE_CONN_GOOD": f"sqlite:///{tmp_path / 'good.db'}",
        "HOOKLINE_CONN_DOWN": f"postgres://app:{CANARY}@127.0.0.1:{closed_port}/app",
        "HOOKLINE_SECRETS__BACKENDS": "env",
    }


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_connections_test_all_reports_each_and_exits_non_zero(conn_env: dict[str, str]) -> None:
    """Every listed connection is tested; one failure makes the exit status 1."""
    result = _run(conn_env, "connections", "test", "--all", "-o", "json", "--timeout", "20")
    assert result.returncode == 1, result.stderr
    rows = {row["conn_id"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"good", "down"}
    assert rows["good"]["ok"] is True
    assert rows["down"]["ok"] is False
    assert rows["down"]["error"] == "HookConnectionError"
    assert rows["down"]["outage"] is True
    assert "1 of 2 connection test(s) failed: down" in result.stderr
    table = _run(conn_env, "connections", "test", "--all")
    assert table.returncode == 1
    assert "FAILED" in table.stdout
    assert "good" in table.stdout
    for output in (result, table):
        assert CANARY not in output.stdout + output.stderr
    only_good = {k: v for k, v in conn_env.items() if k != "HOOKLINE_CONN_DOWN"}
    ok = _run(only_good, "connections", "test", "--all")
    assert ok.returncode == 0, ok.stderr
    usage = _run(conn_env, "connections", "test", "good", "--all")
    assert usage.returncode == 1
    assert "not both" in usage.stderr


def test_metrics_serve_exposes_health_on_loopback(conn_env: dict[str, str], tmp_path: Path) -> None:
    """The standalone exporter checks connections on an interval and serves the results."""
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(SCRIPT), "metrics", "serve", "--port", str(port),
                "--check", "good", "--check", "down", "--interval", "0.5", "--timeout", "20",
            ],
            stdout=out, stderr=subprocess.STDOUT, env=conn_env, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        text = ""
        while time.monotonic() < deadline:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx.HTTPError:
                text = ""
            if 'hookline_connection_up{conn_id="down"} 0.0' in text and (
                'hookline_connection_up{conn_id="good"} 1.0' in text
            ):
                break
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
        else:
            raise AssertionError(f"no health metrics served:\n{text}\n{log.read_text()}")
        assert 'hookline_health_checks_total{conn_id="down",outcome="failed"}' in text
        assert CANARY not in text
    finally:
        stop_process(proc)
    assert CANARY not in log.read_text()
    assert f"serving hookline metrics at http://127.0.0.1:{port}/metrics" in log.read_text()
