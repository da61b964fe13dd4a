"""Whole-process measurements and the subprocess plumbing every group uses.

* :func:`run_worker` runs :mod:`bench.worker` in a fresh interpreter (either side) and returns its
  samples per operation.
* :func:`measure_import` times ``import hookline`` against ``from airflow.sdk import BaseHook`` as
  whole processes, each minus a bare ``python -c pass`` run next to it.
* :func:`measure_cli` times ``hookline connections get X`` against ``airflow connections get X``.

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

from bench.connection_ops import ENV_CONN_ID
from bench.worker import MARKER

__all__ = ["REPO_ROOT", "Side", "measure_cli", "measure_import", "run_worker", "time_process"]

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
