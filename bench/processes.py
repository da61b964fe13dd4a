"""Whole-process measurements and the subprocess plumbing every group uses.

* :func:`run_worker` runs :mod:`bench.worker` in a fresh interpreter (either side) and returns its
  samples per operation.
* :func:`measure_import` times ``import hookline`` against ``from airflow.sdk import BaseHook`` as
  whole processes, each minus a bare ``python -c pass`` run next to it.
* :func:`measure_cli` times ``hookline connections get X`` against ``airflow connections get X``.
* :func:`cold_start_rows` (a group of rows): a fresh process's first lookup from the SQLite metastore
  (``import hookline; hookline.get_connection(X)`` against Airflow's
  ``Connection.get_connection_from_secrets(X)``), over bare Python, and the CLI ``connections get``
  of a metastore connection, both sides reading a Fernet-encrypted row from their SQLite metastore,
  and ``hookline --version`` against ``airflow version`` (the CLI's own start-up: subcommands are
  imported only when they run).

Sides alternate on every iteration, and the first iteration of each is discarded (warm-up).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.connection_ops import ENV_CONN_ID, INPUT_URI, META_CONN_ID
from bench.report import Row, Target
from bench.worker import MARKER

__all__ = [
    "REPO_ROOT",
    "Side",
    "cold_start_rows",
    "measure_cli",
    "measure_cli_version",
    "measure_first_lookup",
    "measure_import",
    "run_worker",
    "time_process",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKER_TIMEOUT_S = 900


@dataclass(frozen=True)
class Side:
    """One side of the comparison: its interpreter and the environment of its subprocesses."""

    name: str
    python: Path
    env: dict[str, str]


def run_worker(
    side: Side, ops: Sequence[dict[str, Any]], *, samples: int, warmup: int
) -> dict[str, dict[str, Any]]:
    """Run ``ops`` in one fresh ``side`` interpreter; return ``{op key: {"samples"|"error": ...}}``."""
    spec = {"side": side.name, "samples": samples, "warmup": warmup, "ops": list(ops)}
    proc = subprocess.run(
        [str(side.python), "-m", "bench.worker", json.dumps(spec)],
        env=side.env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=WORKER_TIMEOUT_S,
    )
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            result: dict[str, dict[str, Any]] = json.loads(line[len(MARKER) :])
            return result
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {op.get("key", op["op"]): {"error": f"worker failed: {tail}"} for op in ops}


def time_process(
    cmd: Sequence[str], env: dict[str, str]
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Wall time in seconds of running ``cmd`` to completion, and its result."""
    start = time.perf_counter()
    proc = subprocess.run(
        list(cmd), env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    return time.perf_counter() - start, proc


def _alternate(
    commands: Mapping[str, tuple[Sequence[str], Sequence[str] | None, dict[str, str]]],
    iterations: int,
) -> dict[str, list[float] | str]:
    """Run each side's command ``iterations + 1`` times, alternating sides; drop the first run.

    ``commands`` maps a side to (command, baseline command or None, env). With a baseline, each
    sample is ``time(command) - time(baseline)`` measured back to back. A side whose command fails
    gets its stderr's last line instead of samples.
    """
    out: dict[str, list[float] | str] = {name: [] for name in commands}
    for i in range(iterations + 1):
        order = list(commands) if i % 2 == 0 else list(commands)[::-1]
        for name in order:
            samples = out[name]
            if isinstance(samples, str):
                continue
            cmd, baseline, env = commands[name]
            base_s = time_process(baseline, env)[0] if baseline is not None else 0.0
            wall_s, proc = time_process(cmd, env)
            if proc.returncode != 0:
                lines = (proc.stderr or proc.stdout).strip().splitlines() or ["failed"]
                out[name] = lines[-1][:200]
                continue
            if i > 0:
                samples.append(wall_s - base_s)
    return out


def measure_import(sides: Sequence[Side], iterations: int) -> dict[str, list[float] | str]:
    """Whole-process import time over bare Python, in seconds, per side."""
    statements = {"hookline": "import hookline", "airflow": "from airflow.sdk import BaseHook"}
    commands = {
        s.name: ([str(s.python), "-c", statements[s.name]], [str(s.python), "-c", "pass"], s.env)
        for s in sides
    }
    return _alternate(commands, iterations)


def measure_cli(sides: Sequence[Side], iterations: int) -> dict[str, list[float] | str]:
    """Whole-process ``connections get`` of the env connection, in seconds, per side."""
    scripts = {"hookline": "hookline", "airflow": "airflow"}
    commands: dict[str, tuple[Sequence[str], Sequence[str] | None, dict[str, str]]] = {
        s.name: (
            [str(s.python.parent / scripts[s.name]), "connections", "get", ENV_CONN_ID],
            None,
            s.env,
        )
        for s in sides
    }
    return _alternate(commands, iterations)


PREWARM_MODULES = (
    "hookline",
    "hookline.cli.app",
    "hookline.resolve.cache",
    "hookline.config",
    "hookline.resolve",
    "hookline.secrets.metastore",
    "hookline.hooks.sql",
    "hookline.hooks.http",
    "sqlalchemy",
    "sqlalchemy.dialects.sqlite",
    "alembic.command",
    "alembic.config",
    "httpx",
    "psycopg",
    "typer",
    "rich",
)


def prewarm(side: Side) -> None:
    """Import what the hookline side uses once, so its bytecode caches exist (as after pip install)
    before anything is timed; failures (components not built yet) are ignored here."""
    code = (
        "import importlib\n"
        f"for name in {PREWARM_MODULES!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception:\n"
        "        pass\n"
    )
    time_process([str(side.python), "-c", code], side.env)
    time_process(
        [str(side.python.parent / "hookline"), "connections", "get", ENV_CONN_ID], side.env
    )


# -- cold start from the metastore ---------------------------------------------------------------

FIRST_LOOKUP = {
    "hookline": f"import hookline; hookline.get_connection({META_CONN_ID!r})",
    "airflow": "from airflow.models.connection import Connection; "
    f"Connection.get_connection_from_secrets({META_CONN_ID!r})",
}
_SEED = (
    "from hookline import Connection\n"
    "from hookline.secrets.metastore import MetastoreBackend\n"
    "store = MetastoreBackend()\n"
    f"store.set_connection(Connection.from_uri({INPUT_URI!r}, conn_id={META_CONN_ID!r}))\n"
    "store.close()\n"
)


def seed_metastore(side: Side) -> str | None:
    """Store the benchmark's metastore connection in the hookline side's SQLite metastore
    (``HOOKLINE_HOME``, ``HOOKLINE_FERNET_KEY`` of its env); return an error line or None."""
    _, proc = time_process([str(side.python), "-c", _SEED], side.env)
    if proc.returncode != 0:
        return ((proc.stderr or proc.stdout).strip().splitlines() or ["failed"])[-1][:200]
    return None


def measure_first_lookup(sides: Sequence[Side], iterations: int) -> dict[str, list[float] | str]:
    """Whole-process first lookup of the metastore connection, over bare Python, per side."""
    commands = {
        s.name: (
            [str(s.python), "-c", FIRST_LOOKUP[s.name]],
            [str(s.python), "-c", "pass"],
            s.env,
        )
        for s in sides
    }
    return _alternate(commands, iterations)


def measure_cli_metastore(sides: Sequence[Side], iterations: int) -> dict[str, list[float] | str]:
    """Whole-process ``connections get`` of the metastore connection, in seconds, per side."""
    commands: dict[str, tuple[Sequence[str], Sequence[str] | None, dict[str, str]]] = {
        s.name: ([str(s.python.parent / s.name), "connections", "get", META_CONN_ID], None, s.env)
        for s in sides
    }
    return _alternate(commands, iterations)


def measure_cli_version(sides: Sequence[Side], iterations: int) -> dict[str, list[float] | str]:
    """Whole-process ``hookline --version`` / ``airflow version``, in seconds, per side."""
    argv = {"hookline": ["--version"], "airflow": ["version"]}
    commands: dict[str, tuple[Sequence[str], Sequence[str] | None, dict[str, str]]] = {
        s.name: ([str(s.python.parent / s.name), *argv[s.name]], None, s.env) for s in sides
    }
    return _alternate(commands, iterations)


def cold_start_rows(hl: Side, af: Side | None, s: Any) -> list[Row]:
    """The cold-start rows: first metastore lookup and CLI ``connections get`` of a metastore
    connection as whole processes, side by side with Airflow when ``af`` is given."""
    group = "Side by side with Apache Airflow 3.3.2"
    label = "Airflow 3.3.2"
    sides = [hl] if af is None else [hl, af]
    error = seed_metastore(hl)
    first: dict[str, list[float] | str] = {"hookline": error} if error else {}
    cli: dict[str, list[float] | str] = dict(first)
    if not error:
        first = measure_first_lookup(sides, s.process_runs)
        cli = measure_cli_metastore(sides, s.process_runs)
    version = measure_cli_version(sides, s.process_runs)
    rows = []
    for name, got, target, note in (
        (
            "first metastore lookup, SQLite (whole process, over bare python)",
            first,
            Target("≤ 60 ms", max_value=0.060),
            f"`python -c \"import hookline; hookline.get_connection('{META_CONN_ID}')\"` (default "
            "chain: env absent, then the SQLite metastore: one Fernet-encrypted row, read with the "
            'stdlib sqlite3, no SQLAlchemy or Alembic) vs `python -c "from airflow.models.'
            f"connection import Connection; Connection.get_connection_from_secrets('{META_CONN_ID}')"
            '"` on a migrated SQLite metastore with the same row; each minus a `python -c pass` '
            "run just before it; fresh processes, sides alternating.",
        ),
        (
            "CLI `connections get` of a metastore connection (whole process)",
            cli,
            Target("≤ 150 ms", max_value=0.150),
            f"`hookline connections get {META_CONN_ID}` vs `airflow connections get "
            f"{META_CONN_ID}`, the connection stored only in each side's SQLite metastore; wall "
            "time of the whole process.",
        ),
        (
            "CLI `--version` (whole process)",
            version,
            None,
            "`hookline --version` vs `airflow version`: the command's start-up alone (hookline "
            "imports a subcommand's module only when that command runs); wall time of the whole "
            "process.",
        ),
    ):
        row = Row(group=group, name=name, other_label=label, target=target, note=note)
        row.set_side("hookline", got.get("hookline"))
        row.set_side("other", got.get("airflow"))
        rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.processes [--no-airflow] [--runs N]``: measure and print only the
    cold-start rows (the full table is ``python -m bench``)."""
    import argparse
    import sys
    import tempfile

    from cryptography.fernet import Fernet

    from bench import airflow_env, report

    parser = argparse.ArgumentParser(prog="python -m bench.processes", description=main.__doc__)
    parser.add_argument("--no-airflow", action="store_true", help="measure hookline only")
    parser.add_argument("--runs", type=int, default=12, help="runs per side (plus one discarded)")
    args = parser.parse_args(argv)
    key = Fernet.generate_key().decode()
    with tempfile.TemporaryDirectory(prefix="hookline-bench-") as tmp:
        home = Path(tmp) / "hookline-home"
        home.mkdir(mode=0o700)
        env = {**airflow_env.base_env(), "HOOKLINE_HOME": str(home), "HOOKLINE_FERNET_KEY": key}
        hl = Side("hookline", Path(sys.executable), env)
        af = None
        if not args.no_airflow:
            python = airflow_env.ensure_venv()
            prepared = airflow_env.prepare_home(python, Path(tmp) / "airflow-home", key)
            af = Side("airflow", python, prepared.with_cache(False))
        prewarm(hl)

        class _Settings:
            process_runs = args.runs

        rows = cold_start_rows(hl, af, _Settings())
    print(report.render_table(rows))
    for row in rows:
        for err in row.errors:
            print(f"error in {row.name!r}: {err}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
