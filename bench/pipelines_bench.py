"""Pipelines side by side with Airflow 3.3.2's ``airflow dags test``, as whole processes, and the
Celery executor's dispatch overhead.

* The same DAGs on both sides, each run as one whole process: ``hookline pipelines run FILE ID``
  against ``airflow dags test ID DATE`` (its DAG folder holds only these DAGs): 1 and 20 no-op
  Python tasks, and 10 chained SQL statements (``SQLExecuteQueryOperator``) on a SQLite file.
  The runner overhead per task is ``(time of 20 tasks - time of 1 task) / 19`` per iteration.
  Airflow needs ``apache-airflow-providers-sqlite`` for the SQL DAG; it is added to the benchmark's
  Airflow venv when missing.
* Celery: a chain of no-op tasks on 2 ``hookline worker`` processes (concurrency 1 each, so one is
  always idle) and a throwaway ``redis-server`` (Debian package; skipped in ``--quick`` mode); the
  overhead is the time from a try being queued (sent) to its start on a worker, from the run records.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench import processes
from bench.processes import Side
from bench.report import Row, Target

__all__ = ["rows"]

GROUP = "Pipelines: local runner vs `airflow dags test` (whole processes)"
CELERY_GROUP = "Pipelines: Celery executor (hookline only)"
AIRFLOW = "Airflow 3.3.2 dags test"
DATE = "2026-12-01"
SQL_CONN = "bench_sqlite"
CELERY_CHAIN = 30

HOOKLINE_FILE = """
from hookline.operators import PythonOperator, SQLExecuteQueryOperator
from hookline.pipelines import Pipeline, chain


def noop():
    return None


for n in (1, 20):
    with Pipeline(f"noop_{n}") as p:
        chain(*[PythonOperator(task_id=f"t{i}", python_callable=noop) for i in range(n)])

SQL = ["create table if not exists t (ds text, n int)", "delete from t where ds = '{{ ds }}'"]
SQL += [f"insert into t values ('{{{{ ds }}}}', {i})" for i in range(7)]
SQL += ["select count(*) from t where ds = '{{ ds }}'"]
with Pipeline("sql_10"):
    chain(*[SQLExecuteQueryOperator(task_id=f"s{i}", conn_id="bench_sqlite", sql=s)
            for i, s in enumerate(SQL)])

with Pipeline(f"chain_{CHAIN}"):
    chain(*[PythonOperator(task_id=f"c{i}", python_callable=noop) for i in range(CHAIN)])
"""

AIRFLOW_FILE = """
import pendulum
from airflow.sdk import DAG, chain
from airflow.providers.standard.operators.python import PythonOperator
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator


def noop():
    return None


START = pendulum.datetime(2026, 1, 1, tz="UTC")
for n in (1, 20):
    with DAG(f"noop_{n}", schedule=None, start_date=START, catchup=False) as dag:
        chain(*[PythonOperator(task_id=f"t{i}", python_callable=noop) for i in range(n)])

SQL = ["create table if not exists t (ds text, n int)", "delete from t where ds = '{{ ds }}'"]
SQL += [f"insert into t values ('{{{{ ds }}}}', {i})" for i in range(7)]
SQL += ["select count(*) from t where ds = '{{ ds }}'"]
with DAG("sql_10", schedule=None, start_date=START, catchup=False) as sql_dag:
    chain(*[SQLExecuteQueryOperator(task_id=f"s{i}", conn_id="bench_sqlite", sql=s)
            for i, s in enumerate(SQL)])
"""


def _log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _ensure_sqlite_provider(python: Path) -> str | None:
    """Install apache-airflow-providers-sqlite into the Airflow venv when missing; None when ready."""
    probe = [str(python), "-c", "import airflow.providers.sqlite.hooks.sqlite"]
    if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return None
    _log("adding apache-airflow-providers-sqlite to the Airflow venv (once)")
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    proc = subprocess.run(
        [*pip, "apache-airflow-providers-sqlite"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        return "cannot install apache-airflow-providers-sqlite: " + proc.stderr.strip()[-200:]
    return None


def _commands(
    hl: Side, af: Side | None, tmp: Path, pipeline_id: str
) -> dict[str, tuple[list[str], None, dict[str, str]]]:
    # Both sides read a SQLite connection's file from its host (Airflow's SqliteHook does).
    db_uri = "sqlite://" + quote(str(tmp / "bench_sql.db"), safe="")
    hl_env = {**hl.env, f"HOOKLINE_CONN_{SQL_CONN.upper()}": db_uri}
    commands: dict[str, tuple[list[str], None, dict[str, str]]] = {
        "hookline": (
            [str(hl.python.parent / "hookline"), "pipelines", "run", str(tmp / "hl" / "flows.py"),
             pipeline_id, "--logical-date", DATE],
            None,
            hl_env,
        ),
    }  # fmt: skip
    if af is not None:
        af_env = {
            **af.env,
            "AIRFLOW__CORE__DAGS_FOLDER": str(tmp / "af"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            f"AIRFLOW_CONN_{SQL_CONN.upper()}": db_uri,
        }
        commands["airflow"] = (
            [str(af.python.parent / "airflow"), "dags", "test", pipeline_id, DATE],
            None,
            af_env,
        )
    return commands


def _measure(
    hl: Side, af: Side | None, tmp: Path, pipeline_ids: list[str], runs: int
) -> dict[str, dict[str, list[float] | str]]:
    """Whole-process wall times of each pipeline on each side, ``runs`` each after one discarded
    warm-up; every iteration runs all pipelines on both sides, alternating, so a load change on
    the shared machine touches both sides alike."""
    _log(f"whole-process runs: {', '.join(pipeline_ids)} ({runs} per side, interleaved)")
    out: dict[str, dict[str, list[float] | str]] = {p: {} for p in pipeline_ids}
    for i in range(runs + 1):
        for pipeline_id in pipeline_ids:
            commands = _commands(hl, af, tmp, pipeline_id)
            order = list(commands) if i % 2 == 0 else list(commands)[::-1]
            for side in order:
                samples = out[pipeline_id].setdefault(side, [])
                if isinstance(samples, str):
                    continue
                cmd, _, env = commands[side]
                wall_s, proc = processes.time_process(cmd, env)
                if proc.returncode != 0:
                    lines = (proc.stderr or proc.stdout).strip().splitlines() or ["failed"]
                    out[pipeline_id][side] = lines[-1][:200]
                elif i > 0:
                    samples.append(wall_s)
    return out


def _per_task(
    big: list[float] | str | None, small: list[float] | str | None
) -> list[float] | str | None:
    if isinstance(big, str) or isinstance(small, str) or big is None or small is None:
        return big if isinstance(big, str) else small
    return [max(0.0, (b - s) / 19) for b, s in zip(big, small, strict=False)]


PER_TASK_SCRIPT = """
import json, sys, time
from hookline.operators import PythonOperator
from hookline.pipelines import Pipeline, chain

def noop():
    return None

n, samples = int(sys.argv[1]), int(sys.argv[2])
with Pipeline("per_task") as p:
    chain(*[PythonOperator(task_id=f"t{i}", python_callable=noop) for i in range(n)])
p.run("2026-12-01")  # warm-up: imports, tables
out = []
for _ in range(samples):
    started = time.perf_counter()
    run = p.run("2026-12-01")
    out.append((time.perf_counter() - started) / n)
    assert run.state == "success"
print("PER-TASK:" + json.dumps(out))
"""


def _hookline_per_task(hl: Side, samples: int) -> list[float] | str:
    """In-process seconds per chained no-op task of a recorded local run (100 tasks)."""
    proc = subprocess.run(
        [str(hl.python), "-c", PER_TASK_SCRIPT, "100", str(samples)],
        env=hl.env,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("PER-TASK:"):
            values: list[float] = json.loads(line[len("PER-TASK:") :])
            return values
    return (proc.stderr.strip().splitlines() or ["per-task run failed"])[-1]


def _celery_dispatch(hl: Side, tmp: Path, smoke: bool) -> list[float] | str:
    """Queued-to-started seconds of each task of a chain run on 2 Celery workers."""
    if smoke:
        return "skipped in --quick mode (starts redis-server and 2 workers)"
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (scripts/bootstrap.sh installs it)"
    from tests.servers._proc import start_process, stop_process, wait_until
    from tests.servers.redis import start_redis

    redis_dir = tmp / "redis"
    redis_dir.mkdir()
    with ExitStack() as stack:
        redis = start_redis(redis_dir)
        stack.callback(redis.stop)
        home = tmp / "celery-home"
        env = {
            **hl.env,
            "HOOKLINE_HOME": str(home),
            "HOOKLINE_CELERY__BROKER_URL": redis.url(0),
            "HOOKLINE_CELERY__QUEUE": "bench",
        }
        flows = tmp / "hl" / "flows.py"
        for name in ("w1", "w2"):
            log = tmp / f"{name}.log"
            proc = start_process(
                [str(hl.python), "-m", "hookline.cli.app", "worker", str(flows), "-c", "1",
                 "-n", f"{name}@bench"],
                log,
                env=env,
            )  # fmt: skip
            stack.callback(stop_process, proc, 15.0)
            wait_until(lambda log=log: b"hookline worker ready" in log.read_bytes(), 90, name, log)
        cmd = [str(hl.python.parent / "hookline"), "pipelines", "run", str(flows),
               f"chain_{CELERY_CHAIN}", "--executor", "celery", "--logical-date", DATE]  # fmt: skip
        proc_run = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if proc_run.returncode != 0:
            return "celery run failed: " + (proc_run.stderr.strip().splitlines() or ["?"])[-1]
        with sqlite3.connect(home / "hookline.db") as conn:
            values = [
                row[0]
                for row in conn.execute(
                    "select started_at - queued_at from hookline_task_instance "
                    "where task_id != 'c0' and started_at is not null"
                )
            ]
        return values or "no task recorded a start"


def rows(hl: Side, af: Side | None, s: Any) -> list[Row]:
    """Whole-process pipeline runs on both sides, and the Celery dispatch overhead."""
    runs = max(1, min(s.process_runs, 5))
    with tempfile.TemporaryDirectory(prefix="hookline-bench-pipelines-") as name:
        tmp = Path(name)
        (tmp / "hl").mkdir()
        (tmp / "af").mkdir()
        (tmp / "hl" / "flows.py").write_text(f"CHAIN = {CELERY_CHAIN}\n" + HOOKLINE_FILE)
        (tmp / "af" / "bench_dags.py").write_text(AIRFLOW_FILE)
        problem = _ensure_sqlite_provider(af.python) if af is not None else None
        measured = _measure(hl, af, tmp, ["noop_1", "noop_20", "sql_10"], runs)
        per_task = _hookline_per_task(hl, max(3, runs))
        noop_1, noop_20, sql_10 = measured["noop_1"], measured["noop_20"], measured["sql_10"]
        if problem is not None:
            sql_10["airflow"] = problem
        _log("Celery dispatch overhead (redis-server + 2 workers)")
        started = time.perf_counter()
        dispatch = _celery_dispatch(hl, tmp, s.smoke)
        _log(f"celery measurement took {time.perf_counter() - started:.1f} s")
    ten_x = Target("≥ 10x", min_ratio=10)
    out: list[Row] = []

    def add(name: str, res: dict[str, Any], note: str, target: Target | None = ten_x) -> None:
        row = Row(group=GROUP, name=name, other_label=AIRFLOW, target=target, note=note)
        row.set_side("hookline", res.get("hookline"))
        row.set_side("other", res.get("airflow") if af is not None else None)
        out.append(row)

    add(
        "pipeline of 1 no-op task",
        noop_1,
        "`hookline pipelines run FILE noop_1` vs `airflow dags test noop_1`: whole process "
        "(start, import, parse, run, record in the SQLite metastore).",
        None,
    )
    add(
        "pipeline of 20 chained no-op tasks",
        noop_20,
        "the same with 20 chained PythonOperator tasks.",
    )
    add(
        "runner overhead per no-op task",
        {
            "hookline": per_task,
            "airflow": _per_task(noop_20.get("airflow"), noop_1.get("airflow")),
        },
        "what each further task costs. hookline: measured in process (a recorded run of 100 "
        "chained no-op tasks / 100; its whole-process difference is below process-start noise); "
        "Airflow: (20-task `dags test` - 1-task `dags test`) / 19 per iteration.",
    )
    add(
        "10-task SQL pipeline on SQLite",
        sql_10,
        "10 chained SQLExecuteQueryOperator tasks (create, delete the {{ ds }} partition, 7 "
        "inserts, a count) on one SQLite file; Airflow with apache-airflow-providers-sqlite.",
    )
    row = Row(
        group=CELERY_GROUP,
        name="Celery dispatch, queued to started, per task",
        note=f"a chain of {CELERY_CHAIN} no-op tasks with `--executor celery` on 2 `hookline "
        "worker` processes (threads pool, concurrency 1) and a local redis-server: time from the "
        "runner queuing a try (sending the message) to a worker starting it, from the run records.",
    )
    row.set_side("hookline", dispatch)
    out.append(row)
    return out
