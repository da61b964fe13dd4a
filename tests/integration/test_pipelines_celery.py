"""The Celery executor against a real redis-server and real ``hookline worker`` processes.

Every test starts its own workers (``python -m hookline.cli.app worker FILE``) on a queue of its
own, sharing the test's HOOKLINE_HOME (so runner and workers record in one SQLite metastore). The
workers resolve a connection whose password is a canary; every Redis command seen during the run
(``redis-cli monitor``) and every key left afterwards are scanned for it, raw and base64-encoded
(kombu stores message bodies in base64).
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hookline.pipelines import PipelineRun, RunState, TaskState, find_pipeline
from hookline.pipelines.store import open_store
from tests.servers._proc import start_process, stop_process, wait_until
from tests.servers.redis import RedisServer

CANARY = "canary-Celery-Pw-8e21f0"

PIPELINES = """
import os
import time

import hookline
from hookline.operators import PythonOperator
from hookline.pipelines import Pipeline


def work(n):
    conn = hookline.get_connection("canary_db")  # resolved on the worker, never sent
    return {"n": n, "uri": conn.get_uri(), "pid": os.getpid()}


def nap(seconds):
    time.sleep(seconds)
    return os.getpid()


with Pipeline("twenty", params={"note": "plain"}) as twenty:
    tasks = [PythonOperator(task_id=f"t{i:02d}", python_callable=work, op_args=[i]) for i in range(20)]
    tasks[0] >> tasks[1:19]
    tasks[1:19] >> tasks[19]

with Pipeline("sleepers") as sleepers:
    for i in range(8):
        PythonOperator(task_id=f"s{i}", python_callable=nap, op_args=[0.6])

with Pipeline("slow") as slow:
    for i in range(4):
        PythonOperator(task_id=f"k{i}", python_callable=nap, op_args=[2.0])
"""


def _variants(secret: str) -> list[bytes]:
    """The canary as raw bytes and as it appears inside base64 text at each byte alignment."""
    raw = secret.encode()
    forms = [raw]
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw)
        forms.append(encoded[4 if pad else 0 : -4])  # drop characters touched by the neighbours
    return forms


def _leaks(data: bytes) -> bool:
    return any(form in data for form in _variants(CANARY))


class Cluster:
    """Workers of one test, their environment, and a Redis monitor."""

    def __init__(self, redis: RedisServer, home: Path, directory: Path) -> None:
        self.redis = redis
        self.directory = directory
        self.file = directory / "flows.py"
        self.file.write_text(PIPELINES)
        self.queue = f"q-{uuid.uuid4().hex[:8]}"
        self.env = {
            "HOOKLINE_HOME": str(home),
            "HOOKLINE_CELERY__BROKER_URL": redis.url(0),
            "HOOKLINE_CELERY__QUEUE": self.queue,
            "HOOKLINE_CELERY__HEARTBEAT_INTERVAL_S": "0.5",
            "HOOKLINE_CELERY__VISIBILITY_TIMEOUT_S": "4",
        }
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.monitor: subprocess.Popen[bytes] | None = None

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        log = self.directory / f"{name}.log"
        proc = start_process(
            [sys.executable, "-m", "hookline.cli.app", "worker", str(self.file), "--concurrency",
             "1", "--hostname", f"{name}@localhost"],
            log,
            env={**self.env, "HOOKLINE_CONN_CANARY_DB": f"postgres://etl:{CANARY}@db.internal:5432/app"},
        )  # fmt: skip
        self.workers[name] = proc
        wait_until(
            lambda: (
                proc.poll() is None and "hookline worker ready" in log.read_text(errors="replace")
            ),
            60.0,
            f"worker {name}",
            log,
        )
        return proc

    def start_monitor(self) -> None:
        out = self.directory / "monitor.log"
        self.monitor = start_process(["redis-cli", "-p", str(self.redis.port), "monitor"], out)
        wait_until(lambda: out.exists() and b"OK" in out.read_bytes(), 10.0, "redis monitor", out)

    def stop(self) -> None:
        for proc in self.workers.values():
            stop_process(proc, timeout_s=15)
        if self.monitor is not None:
            stop_process(self.monitor)

    def logs(self) -> bytes:
        return b"".join(p.read_bytes() for p in self.directory.glob("*.log"))

    def redis_dump(self) -> bytes:
        client = self.redis.client()
        try:
            chunks = []
            for key in client.scan_iter(count=1000):
                chunks.append(key)
                kind = client.type(key)
                if kind == b"string":
                    chunks.append(client.get(key) or b"")
                elif kind == b"list":
                    chunks.extend(client.lrange(key, 0, -1))
                elif kind == b"hash":
                    for field, value in client.hgetall(key).items():
                        chunks.extend((field, value))
                elif kind == b"set":
                    chunks.extend(client.smembers(key))
                elif kind == b"zset":
                    chunks.extend(m for m, _ in client.zrange(key, 0, -1, withscores=True))
            return b"\n".join(chunks)
        finally:
            client.close()


@pytest.fixture
def cluster(
    redis_server: RedisServer,
    isolated_hookline: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Cluster]:
    made = Cluster(redis_server, isolated_hookline, tmp_path)
    for name, value in made.env.items():
        monkeypatch.setenv(name, value)
    try:
        yield made
    finally:
        made.stop()


def _run(cluster: Cluster, pipeline_id: str, **kwargs: Any) -> PipelineRun:
    pipeline = find_pipeline(str(cluster.file), pipeline_id)
    return pipeline.run("2026-12-01", executor="celery", max_parallel=8, **kwargs)


def test_twenty_tasks_on_two_workers_record_every_state_and_leak_nothing(cluster: Cluster) -> None:
    """20 tasks finish on 2 workers with every state recorded once; no Redis key or message, no
    log line and no record holds the canary."""
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    cluster.start_monitor()
    run = _run(cluster, "twenty", params={"batch": 7})
    time.sleep(0.3)  # the monitor's last lines
    assert run.state == RunState.SUCCESS, run.table()
    assert set(run.states().values()) == {"success"}
    assert len(run.tasks) == 20
    assert all(record.tries == 1 for record in run.tasks.values())
    store = open_store()
    try:
        recorded = store.load_run(run.run_id)
    finally:
        store.close()
    assert recorded.states() == run.states()
    workers = {record.worker for record in recorded.tasks.values()}
    assert len(workers) == 2, workers  # both workers ran tasks
    result = run.xcom_pull("t05")
    assert result["n"] == 5
    assert result["uri"] == "postgres://etl:***@db.internal:5432/app"
    monitored = (cluster.directory / "monitor.log").read_bytes()
    assert b"LPUSH" in monitored.upper() or b"lpush" in monitored  # the messages were seen
    assert not _leaks(monitored)
    assert not _leaks(cluster.redis_dump())
    assert not _leaks(cluster.logs())
    assert not _leaks((Path(os.environ["HOOKLINE_HOME"]) / "hookline.db").read_bytes())


def _wait_running(run_id: Callable[[], str | None], worker_pid: int, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        current = run_id()
        if current is not None:
            store = open_store()
            try:
                for task_id, record in store.task_updates(current).items():
                    if record.state == TaskState.RUNNING and (record.worker or "").endswith(
                        f":{worker_pid}"
                    ):
                        return task_id
            finally:
                store.close()
        time.sleep(0.05)
    raise AssertionError(f"no task started on worker {worker_pid} within {timeout_s} s")


def test_a_sigkilled_worker_s_task_runs_again_on_another_and_the_run_completes(
    cluster: Cluster,
) -> None:
    """SIGKILL of the worker running a task: the task is delivered again, runs on the other worker,
    the run succeeds, and the task's outcome is recorded once (one try, by the survivor)."""
    victim = cluster.start_worker("w1")
    survivor = cluster.start_worker("w2")
    holder: dict[str, Any] = {}

    def progress(run: PipelineRun, _record: Any) -> None:
        holder.setdefault("run_id", run.run_id)

    thread = threading.Thread(
        target=lambda: holder.update(run=_run(cluster, "slow", progress=progress)), daemon=True
    )
    thread.start()
    killed_task = _wait_running(lambda: holder.get("run_id"), victim.pid, 60.0)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    thread.join(timeout=120)
    assert not thread.is_alive(), "the run did not finish after the worker was killed"
    run: PipelineRun = holder["run"]
    assert run.state == RunState.SUCCESS, run.table()
    record = run.tasks[killed_task]
    assert record.tries == 1
    assert (record.worker or "").endswith(f":{survivor.pid}")
    assert run.xcom_pull(killed_task) == survivor.pid


def test_eight_sleeping_tasks_on_two_workers_take_about_half_the_time_of_one(
    cluster: Cluster,
) -> None:
    """8 tasks of 0.6 s: two workers (one task each at a time) need well under 0.75x one worker."""
    cluster.start_worker("w1")
    started = time.perf_counter()
    one = _run(cluster, "sleepers")
    one_s = time.perf_counter() - started
    cluster.start_worker("w2")
    started = time.perf_counter()
    two = _run(cluster, "sleepers")
    two_s = time.perf_counter() - started
    assert one.state == two.state == RunState.SUCCESS
    assert len({r.worker for r in two.tasks.values()}) == 2
    assert one_s >= 8 * 0.6
    assert two_s < 0.75 * one_s, (one_s, two_s)
