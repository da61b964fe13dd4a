"""Orchestration: prepare both sides, run every group alternately, and build the result rows.

Groups: connections side by side with Airflow (:mod:`bench.connection_ops`), whole processes
(:mod:`bench.processes`), hookline's secrets chain and cache (:mod:`bench.resolution`), and hooks
(:mod:`bench.hooks_bench`). hookline runs in this interpreter's venv (``sys.executable``), Airflow
in ``bench/.airflow-venv``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import airflow_env, processes
from bench.connection_ops import ENV_CONN_ID, INPUT_URI
from bench.processes import Side
from bench.report import Row, Target

__all__ = ["Settings", "run_all"]

AIRFLOW = "Airflow 3.3.2"


@dataclass(frozen=True)
class Settings:
    """How much to measure.

    Attributes:
        rounds: Worker processes per side for the in-process comparison (alternating).
        samples: Samples per operation per worker.
        warmup: Batches run and discarded before sampling each operation.
        process_runs: Runs per side of each whole-process measurement (plus one discarded).
        memory_runs: Fresh processes per side for the 10,000-connection memory row.
        airflow: Whether to measure Airflow at all.
        smoke: A smoke-test run (``--quick``): skip anything slow to set up (e.g. starting a
            throwaway PostgreSQL server).
    """

    rounds: int = 5
    samples: int = 200
    warmup: int = 20
    process_runs: int = 12
    memory_runs: int = 3
    airflow: bool = True
    smoke: bool = False

    @classmethod
    def quick(cls, airflow: bool) -> Settings:
        """A tiny run (smoke test): every code path, few iterations."""
        return cls(
            rounds=1,
            samples=5,
            warmup=1,
            process_runs=1,
            memory_runs=1,
            airflow=airflow,
            smoke=True,
        )


Results = dict[str, list[float] | str]


def _merge(into: dict[str, Results], side: str, got: dict[str, dict[str, Any]]) -> None:
    bucket = into.setdefault(side, {})
    for key, value in got.items():
        current = bucket.get(key)
        if "samples" in value:
            bucket[key] = (current if isinstance(current, list) else []) + list(value["samples"])
        elif not isinstance(current, list):
            bucket[key] = str(value.get("error", "failed"))


def _ops(module: str, names: Sequence[str], params: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"module": module, "op": name, "params": params} for name in names]


def _log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


HL_OPS = [
    "get_env_cold",
    "uri_parse",
    "uri_render",
    "uri_render_repeat",
    "json_parse",
    "get_env_warm",
    "not_found",
    "metastore",
]
AF_OPS = [
    "get_env_cold",
    "uri_parse",
    "uri_parse_orm",
    "uri_render",
    "json_parse",
    "get_env_warm",
    "not_found",
    "metastore",
]
AF_CACHED_OPS = ["get_env_warm", "metastore"]


def _side_by_side(
    hl: Side, af: Side | None, af_cached: Side | None, params: dict[str, Any], s: Settings
) -> dict[str, Results]:
    """Alternate worker processes: hookline, Airflow (cache off), Airflow (cache on)."""
    res: dict[str, Results] = {}
    mod = "bench.connection_ops"
    jobs: list[tuple[str, Side, list[dict[str, Any]]]] = [
        ("hookline", hl, _ops(mod, HL_OPS, params))
    ]
    if af is not None and af_cached is not None:
        jobs.append(("airflow", af, _ops(mod, AF_OPS, params)))
        jobs.append(("airflow_cached", af_cached, _ops(mod, AF_CACHED_OPS, params)))
    for rnd in range(s.rounds):
        for label, side, ops in jobs if rnd % 2 == 0 else list(reversed(jobs)):
            _log(f"round {rnd + 1}/{s.rounds}: {label}")
            _merge(res, label, processes.run_worker(side, ops, samples=s.samples, warmup=s.warmup))
    for rnd in range(s.memory_runs):
        for label, side, _ in jobs[:2] if rnd % 2 == 0 else list(reversed(jobs[:2])):
            got = processes.run_worker(side, _ops(mod, ["memory_10k"], params), samples=1, warmup=0)
            _merge(res, label, got)
    return res


def _row(
    group: str,
    name: str,
    hl: list[float] | str | None,
    other: list[float] | str | None,
    other_label: str,
    **kwargs: Any,
) -> Row:
    row = Row(group=group, name=name, other_label=other_label, **kwargs)
    row.set_side("hookline", hl)
    row.set_side("other", other)
    return row


def comparison_rows(res: dict[str, Results], imports: Results, cli: Results) -> list[Row]:
    """Rows of the side-by-side group."""
    g = "Side by side with Apache Airflow 3.3.2"
    hl, af, afc = res.get("hookline", {}), res.get("airflow", {}), res.get("airflow_cached", {})
    get_target = Target("≤ 2 µs and ≥ 50x", max_value=2e-6, min_ratio=50)
    uri_target = Target("≤ 10 µs and ≥ 10x", max_value=10e-6, min_ratio=10)
    return [
        _row(
            g,
            "import (whole process, over bare python)",
            imports.get("hookline"),
            imports.get("airflow"),
            AIRFLOW,
            target=Target("≤ 100 ms", max_value=0.1),
            note="`python -c 'import hookline'` vs `python -c 'from airflow.sdk import BaseHook'`, "
            "each minus a `python -c pass` run just before it; fresh processes, sides alternating.",
        ),
        _row(
            g,
            "URI parse: from_uri vs sdk Connection(uri=)",
            hl.get("uri_parse"),
            af.get("uri_parse"),
            AIRFLOW,
            target=uri_target,
            note="`Connection.from_uri(uri)` vs `airflow.sdk.Connection(conn_id=..., uri=uri)`; uri = `"
            + INPUT_URI.replace("s3cr3t-pw", "***")
            + "` (a 9-character password).",
        ),
        _row(
            g,
            "URI parse: from_uri vs models Connection(uri=) (ORM)",
            hl.get("uri_parse"),
            af.get("uri_parse_orm"),
            AIRFLOW,
            target=uri_target,
            note="same hookline samples, against the SQLAlchemy model `airflow.models.Connection(conn_id=..., uri=...)`.",
        ),
        _row(
            g,
            "URI render: get_uri()",
            hl.get("uri_render"),
            af.get("uri_render"),
            AIRFLOW,
            target=uri_target,
            note="`get_uri()` rendered from scratch on a connection parsed from the same URI (sdk Connection on the Airflow side); hookline's per-object memo is cleared before each call, inside the timing.",
        ),
        _row(
            g,
            "URI render: get_uri() again on the same object",
            hl.get("uri_render_repeat"),
            af.get("uri_render"),
            AIRFLOW,
            note="hookline memoizes the rendered URI on the (immutable) object; Airflow renders every time (same Airflow samples as the row above).",
        ),
        _row(
            g,
            "JSON parse: from_json",
            hl.get("json_parse"),
            af.get("json_parse"),
            AIRFLOW,
            note="`Connection.from_json(text, conn_id=...)` on both sides, same JSON text.",
        ),
        _row(
            g,
            "get_connection from env, cold (first call)",
            hl.get("get_env_cold"),
            af.get("get_env_cold"),
            AIRFLOW,
            note=f"first `get_connection('{ENV_CONN_ID}')` in a fresh process after the import (`AIRFLOW_CONN_{ENV_CONN_ID.upper()}` set for both); one sample per worker process.",
        ),
        _row(
            g,
            "get_connection from env, warm (Airflow cache off)",
            hl.get("get_env_warm"),
            af.get("get_env_warm"),
            AIRFLOW,
            target=get_target,
            note="repeated `hookline.get_connection(id)` vs `airflow.sdk.BaseHook.get_connection(id)`, `AIRFLOW__SECRETS__USE_CACHE=False`.",
        ),
        _row(
            g,
            "get_connection from env, warm (Airflow cache on)",
            hl.get("get_env_warm"),
            afc.get("get_env_warm"),
            AIRFLOW,
            target=get_target,
            note="same hookline samples; Airflow with `AIRFLOW__SECRETS__USE_CACHE=True`.",
        ),
        _row(
            g,
            "get_connection not found",
            hl.get("not_found"),
            af.get("not_found"),
            AIRFLOW,
            target=Target("≤ 2 µs (negative-cached)", max_value=2e-6),
            note="repeated lookup of an id nobody holds, exception caught (`ConnectionNotFound` / `AirflowNotFoundException`).",
        ),
        _row(
            g,
            "metastore lookup, SQLite (Airflow cache off)",
            hl.get("metastore"),
            af.get("metastore"),
            AIRFLOW,
            note="hookline `MetastoreBackend(home=tmp).get_connection(id)` (Fernet-encrypted row; the backend memoizes the decrypted connection per row content, so repeat lookups run one SELECT and no decryption) vs `airflow.models.Connection.get_connection_from_secrets(id)` (env backend first, then the metastore; decrypts every time) after `airflow db migrate` + `airflow connections add` (same Fernet key).",
        ),
        _row(
            g,
            "metastore lookup, SQLite (Airflow cache on)",
            hl.get("metastore"),
            afc.get("metastore"),
            AIRFLOW,
            note="same, Airflow with `AIRFLOW__SECRETS__USE_CACHE=True`.",
        ),
        _row(
            g,
            "10,000 connections, resident memory",
            hl.get("memory_10k"),
            af.get("memory_10k"),
            AIRFLOW,
            unit="MB",
            target=Target("≤ 20 MB", max_value=20),
            note="RSS delta of a fresh process after parsing 10,000 distinct URIs into connection objects held in a dict (sdk Connection on the Airflow side).",
        ),
        _row(
            g,
            "CLI `connections get` (whole process)",
            cli.get("hookline"),
            cli.get("airflow"),
            AIRFLOW,
            note=f"`hookline connections get {ENV_CONN_ID}` vs `airflow connections get {ENV_CONN_ID}`, connection from the env var, wall time of the whole process.",
        ),
    ]


def run_all(
    s: Settings,
    extra_groups: Sequence[Callable[[Side, Side | None, Settings], list[Row]]] = (),
) -> tuple[list[Row], dict[str, str]]:
    """Run every group; return the rows and the run metadata."""
    from cryptography.fernet import Fernet

    fernet_key = Fernet.generate_key().decode()
    meta: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="hookline-bench-") as tmp:
        tmp_path = Path(tmp)
        hl_home = tmp_path / "hookline-home"
        hl_home.mkdir()
        hl_env = {
            **airflow_env.base_env(),
            "HOOKLINE_HOME": str(hl_home),
            "HOOKLINE_FERNET_KEY": fernet_key,
            f"AIRFLOW_CONN_{ENV_CONN_ID.upper()}": INPUT_URI,
        }
        hl = Side("hookline", Path(sys.executable), hl_env)
        af = af_cached = None
        if s.airflow:
            try:
                python = airflow_env.ensure_venv()
                _log("preparing AIRFLOW_HOME (airflow db migrate)")
                env = airflow_env.prepare_home(python, tmp_path / "airflow-home", fernet_key)
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                _log(f"Airflow is unavailable, measuring hookline alone: {exc}")
                meta["airflow"] = f"unavailable ({type(exc).__name__}: {str(exc)[:200]})"
            else:
                af = Side("airflow", python, env.with_cache(False))
                af_cached = Side("airflow", python, env.with_cache(True))
                meta["airflow"] = f"apache-airflow {env.version} (bench/.airflow-venv)"
        params = {"fernet_key": fernet_key, "hookline_home": str(hl_home)}
        _log("prewarming the hookline side (bytecode caches)")
        processes.prewarm(hl)
        res = _side_by_side(hl, af, af_cached, params, s)
        sides = [hl] if af is None else [hl, af]
        _log("whole-process runs: import")
        imports = processes.measure_import(sides, s.process_runs)
        _log("whole-process runs: CLI connections get")
        cli = processes.measure_cli(sides, s.process_runs)
        rows = comparison_rows(res, imports, cli)
        for group in extra_groups:
            _log(f"hookline-only group: {group.__module__}")
            rows += group(hl, af, s)
    return rows, meta
