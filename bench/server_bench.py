"""Requests per second and latency of ``GET /api/v1/connections/{id}`` on one ``hookline serve`` worker.

    python -m bench.server_bench                 # hookline only
    python -m bench.server_bench --airflow       # also Airflow 3.3.2's API server, same request

The server runs as its own process (one uvicorn worker, a fresh HOOKLINE_HOME with a SQLite
metastore holding the connection, an API token checked on every request). The load generator is an
asyncio httpx client in this process with a fixed number of requests in flight (``--concurrency``),
bounded by ``--requests`` and ``--max-seconds``, all on 127.0.0.1, after ``--warmup`` requests that
are not counted. Every response must be 200 (else the run fails). Both processes share this machine's
cores, so the figures are a floor of what a dedicated server does.

With ``--airflow``, Airflow 3.3.2 (``bench/.airflow-venv``, see :mod:`bench.airflow_env`) serves
``GET /api/v2/connections/{id}`` from ``airflow api-server --workers 1`` with the simple auth manager
(every request an admin, no token: less work per request than hookline's token check).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

CONN_ID = "bench_pg"
CONN = {
    "connection_id": CONN_ID,
    "conn_type": "postgres",
    "host": "db.internal",
    "login": "app",
    "schema": "appdb",
    "port": 5432,
    "password": "bench-" + secrets.token_hex(8),
    "extra": json.dumps({"sslmode": "require"}),
}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(
        f"server not ready in {timeout_s} s: {log.read_text(errors='replace')[-2000:]}"
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@contextmanager
def hookline_server(work: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """``hookline serve`` on a free port with the benchmark connection; yields (url, headers)."""
    from hookline.server.tokens import TokenStore, metastore_url

    home = work / "home"
    home.mkdir(mode=0o700)
    store = TokenStore(metastore_url(home=home))
    _, token = store.create("bench", "editor")
    store.close()
    port = _free_port()
    log = work / "hookline.log"
    env = {**os.environ, "HOOKLINE_HOME": str(home)}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hookline.cli", "serve", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        _wait(f"{url}/api/v1/health", proc, log, 60)
        httpx.post(f"{url}/api/v1/connections", json=CONN, headers=headers).raise_for_status()
        yield f"{url}/api/v1/connections/{CONN_ID}", headers
    finally:
        _stop(proc)


@contextmanager
def airflow_server(work: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """Airflow 3.3.2's ``api-server --workers 1`` with the connection in its metastore."""
    from bench.airflow_env import ensure_venv, prepare_home

    python = ensure_venv()
    from cryptography.fernet import Fernet

    env_af = prepare_home(python, work / "airflow-home", Fernet.generate_key().decode())
    env = {
        **env_af.env,
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    }
    airflow = str(env_af.airflow_bin)
    subprocess.run(
        [
            airflow,
            "connections",
            "add",
            CONN_ID,
            "--conn-json",
            json.dumps(
                {
                    k if k != "connection_id" else "conn_id": v
                    for k, v in CONN.items()
                    if k != "connection_id"
                }
            ),
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    port = _free_port()
    log = work / "airflow.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(f"{url}/api/v2/monitor/health", proc, log, 180)
        yield f"{url}/api/v2/connections/{CONN_ID}", {}
    finally:
        _stop(proc)


async def _load(
    url: str, headers: dict[str, str], total: int, concurrency: int, max_seconds: float
) -> tuple[list[float], float]:
    """Send ``total`` GETs (``concurrency`` in flight) or stop at ``max_seconds``; latencies in s."""
    latencies: list[float] = []
    issued = 0
    deadline = time.monotonic() + max_seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30.0) as client:

        async def worker() -> None:
            nonlocal issued
            while issued < total and time.monotonic() < deadline:
                issued += 1
                start = time.perf_counter()
                response = await client.get(url)
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - began
    return latencies, wall


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def measure(
    url: str,
    headers: dict[str, str],
    *,
    requests: int,
    warmup: int,
    concurrency: int,
    max_seconds: float,
) -> dict[str, Any]:
    """Warm up, then measure; return requests, RPS and latency percentiles (ms)."""
    asyncio.run(_load(url, headers, warmup, concurrency, max_seconds))
    latencies, wall = asyncio.run(_load(url, headers, requests, concurrency, max_seconds))
    return {
        "requests": len(latencies),
        "seconds": round(wall, 2),
        "rps": round(len(latencies) / wall, 1),
        "p50_ms": round(_percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="requests measured")
    parser.add_argument("--warmup", type=int, default=300, help="requests before measuring")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="time cap of each phase")
    parser.add_argument("--airflow", action="store_true", help="also measure Airflow's API server")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="hookline-server-bench-"))
    results: dict[str, dict[str, Any]] = {}
    try:
        targets = [("hookline serve", hookline_server)]
        if args.airflow:
            targets.append(("Airflow 3.3.2 api-server", airflow_server))
        for name, server in targets:
            with server(work) as (url, headers):
                results[name] = measure(
                    url,
                    headers,
                    requests=args.requests,
                    warmup=args.warmup,
                    concurrency=args.concurrency,
                    max_seconds=args.max_seconds,
                )
            print(f"{name}: {json.dumps(results[name])}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\nGET connection by id, 1 worker, concurrency {args.concurrency}, 127.0.0.1\n"
        f"{'server':<28}{'requests':>9}{'RPS':>9}{'p50 ms':>9}{'p99 ms':>9}"
    )
    for name, row in results.items():
        print(f"{name:<28}{row['requests']:>9}{row['rps']:>9}{row['p50_ms']:>9}{row['p99_ms']:>9}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
