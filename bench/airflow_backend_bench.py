"""Task-side ``BaseHook.get_connection`` in a real Airflow 3.3.2: hookline's secrets backend against
Airflow's own environment-variable and metastore backends, in the same task process.

``python -m bench.airflow_backend_bench`` builds the Airflow venv once (:mod:`bench.airflow_env`),
installs this checkout into it, and runs one ``airflow dags test`` whose task times, in one process:

* ``hookline``: a connection held only in hookline's SQLite metastore, through
  ``hookline.airflow.secrets.HooklineSecretsBackend`` (``[workers] secrets_backend``), cache on;
* ``AIRFLOW_CONN_BENCH_ENV``: hookline's default chain (``env``, ``metastore``) reads ``AIRFLOW_CONN_*``
  too, so with hookline configured this variable is served by hookline (cached), before Airflow's
  own EnvironmentVariablesBackend is asked;
* ``airflow metastore``: a connection added with ``airflow connections add`` (the task asks the API
  server through the Execution API, after hookline's negative-cached miss and Airflow's env backend).

A second run without hookline configured gives Airflow's own two rows alone; the "alone" rows time
each backend's own ``get_connection`` (no SDK wrapper: masking, secret cache, fall-through). Airflow's
secret cache is off (its default). Prints a table of medians and p99s; writes nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.airflow_env import ensure_venv, install_hookline, prepare_home
from bench.connection_ops import ENV_CONN_ID, INPUT_URI, META_CONN_ID

__all__ = ["HOOKLINE_CONN_ID", "main", "run"]

HOOKLINE_CONN_ID = "bench_hookline"
BACKEND = "hookline.airflow.secrets.HooklineSecretsBackend"

DAG = """
import json, os, time
from datetime import datetime

from airflow.sdk import BaseHook, dag, task


@dag(dag_id="hookline_bench", schedule=None, start_date=datetime(2024, 1, 1), catchup=False)
def hookline_bench():
    @task
    def measure():
        n = int(os.environ["BENCH_N"])
        out = {}
        for conn_id in json.loads(os.environ["BENCH_IDS"]):
            BaseHook.get_connection(conn_id)  # warm: imports, first lookups, caches
            samples = []
            for _ in range(n):
                t0 = time.perf_counter()
                BaseHook.get_connection(conn_id)
                samples.append(time.perf_counter() - t0)
            out[conn_id] = samples
        # each backend's own get_connection, for the id it holds (no SDK wrapper around it)
        from airflow.sdk.execution_time.supervisor import ensure_secrets_backend_loaded

        held = json.loads(os.environ["BENCH_HELD"])
        for backend in ensure_secrets_backend_loaded():
            name = type(backend).__name__
            if name not in held:
                continue
            samples = []
            for _ in range(n):
                t0 = time.perf_counter()
                backend.get_connection(conn_id=held[name])
                samples.append(time.perf_counter() - t0)
            out["direct:" + name] = samples
        with open(os.environ["BENCH_OUT"], "w") as fh:
            json.dump(out, fh)

    measure()


hookline_bench()
"""


def _stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    median = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return median * 1e6, p99 * 1e6


def _dags_test(env: dict[str, str], home: Path, ids: list[str], n: int) -> dict[str, list[float]]:
    out = home / f"bench-{len(ids)}.json"
    run_env = {
        **env,
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "BENCH_N": str(n),
        "BENCH_IDS": json.dumps(ids),
        "BENCH_OUT": str(out),
        "BENCH_HELD": json.dumps(
            {
                "HooklineSecretsBackend": HOOKLINE_CONN_ID,
                "EnvironmentVariablesBackend": ENV_CONN_ID,
                "ExecutionAPISecretsBackend": META_CONN_ID,
            }
        ),
    }
    airflow = Path(env["_AIRFLOW_BIN"])
    proc = subprocess.run(
        [str(airflow), "dags", "test", "hookline_bench"],
        env={k: v for k, v in run_env.items() if not k.startswith("_")},
        cwd=home,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(
            f"airflow dags test failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )
    result: dict[str, list[float]] = json.loads(out.read_text())
    return result


def run(n: int = 300) -> list[tuple[str, float, float]]:
    """Both runs; rows of (label, median µs, p99 µs)."""
    python = ensure_venv()
    install_hookline(python)
    from cryptography.fernet import Fernet

    from hookline import Connection
    from hookline.secrets.metastore import MetastoreBackend

    with tempfile.TemporaryDirectory(prefix="hookline-af-bench-") as tmp:
        root = Path(tmp)
        env = prepare_home(python, root / "airflow-home", Fernet.generate_key().decode())
        home = env.home
        (home / "dags").mkdir()
        (home / "dags" / "hookline_bench.py").write_text(DAG)
        hl_home = root / "hookline-home"
        hl_home.mkdir()
        store = MetastoreBackend(url=None, home=hl_home)
        try:
            store.set_connection(Connection.from_uri(INPUT_URI, conn_id=HOOKLINE_CONN_ID))
        finally:
            store.close()
        kwargs = json.dumps({"home": str(hl_home)})
        base = {**env.env, "_AIRFLOW_BIN": str(env.airflow_bin)}
        with_hookline = {
            **base,
            "AIRFLOW__SECRETS__BACKEND": BACKEND,
            "AIRFLOW__SECRETS__BACKEND_KWARGS": kwargs,
            "AIRFLOW__WORKERS__SECRETS_BACKEND": BACKEND,
            "AIRFLOW__WORKERS__SECRETS_BACKEND_KWARGS": kwargs,
        }
        same = _dags_test(with_hookline, home, [HOOKLINE_CONN_ID, ENV_CONN_ID, META_CONN_ID], n)
        alone = _dags_test(base, home, [ENV_CONN_ID, META_CONN_ID], n)
    return [
        ("hookline backend (hookline metastore, cached)", *_stats(same[HOOKLINE_CONN_ID])),
        ("AIRFLOW_CONN_ variable, served by hookline (cached)", *_stats(same[ENV_CONN_ID])),
        ("Airflow metastore via Execution API, hookline asked first", *_stats(same[META_CONN_ID])),
        ("Airflow env backend, no custom backend", *_stats(alone[ENV_CONN_ID])),
        ("Airflow metastore via Execution API, no custom backend", *_stats(alone[META_CONN_ID])),
        *[
            (f"{key[len('direct:') :]}.get_connection alone", *_stats(samples))
            for key, samples in same.items()
            if key.startswith("direct:")
        ],
    ]


def main(argv: list[str] | None = None) -> int:
    """Run and print the table."""
    args = sys.argv[1:] if argv is None else argv
    n = int(args[0]) if args else 300
    rows = run(n)
    width = max(len(label) for label, *_ in rows)
    print(f"task-side BaseHook.get_connection, Airflow 3.3.2, {n} calls per row")
    print(f"{'path':<{width}}  {'median':>10}  {'p99':>10}")
    for label, median, p99 in rows:
        print(f"{label:<{width}}  {median:>8.1f}µs  {p99:>8.1f}µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
