"""Subprocess entry point: run a list of benchmark operations in this interpreter, print the samples.

Used for both sides: the hookline interpreter (the project's ``.venv``) and the isolated Airflow
interpreter (``bench/.airflow-venv``). Standard library only at module level.

Usage: ``python -m bench.worker '<json spec>'`` where the spec is::

    {"side": "hookline" | "airflow", "samples": 50, "warmup": 5,
     "ops": [{"module": "bench.connection_ops", "op": "uri_parse", "params": {...}}, ...]}

The result is printed as one line ``BENCH-RESULT:<json>`` mapping each op name to
``{"samples": [...]}`` or ``{"error": "..."}`` (``"not built: ..."`` for an ImportError of hookline).
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
from typing import Any

from bench.timing import sample_calls

__all__ = ["MARKER", "main", "run_op"]

MARKER = "BENCH-RESULT:"


def run_op(side: str, item: dict[str, Any], samples: int, warmup: int) -> dict[str, Any]:
    """Run one operation of ``item`` for ``side`` and return ``{"samples": [...]}`` or an error."""
    module = importlib.import_module(item["module"])
    kind, factories = module.OPS[item["op"]]
    factory = factories.get(side)
    if factory is None:
        return {"error": f"no {side} implementation"}
    params = item.get("params", {})
    try:
        if kind == "calls":
            fn = factory(params)
            return {"samples": sample_calls(fn, samples=samples, warmup=warmup)}
        if kind == "once":
            fn = factory(params)
            start = time.perf_counter()
            fn()
            return {"samples": [time.perf_counter() - start]}
        if kind == "value":
            return {"samples": list(factory(params, samples))}
        return {"error": f"unknown kind {kind!r}"}
    except ImportError as exc:
        if side == "hookline" and (
            str(exc).startswith("not built") or "hookline" in f"{exc.name} {exc}"
        ):
            return {"error": f"not built: {exc}"}
        return {"error": f"ImportError: {exc}"}
    except Exception as exc:  # report and continue with the next op
        tail = traceback.format_exc(limit=3).strip().splitlines()[-1]
        return {"error": f"{type(exc).__name__}: {tail}"}


def main(argv: list[str]) -> int:
    """Run the spec given as the single argument and print the result line."""
    spec = json.loads(argv[0])
    side = spec["side"]
    results: dict[str, Any] = {}
    for item in spec["ops"]:
        results[item.get("key", item["op"])] = run_op(
            side, item, int(spec.get("samples", 30)), int(spec.get("warmup", 5))
        )
    sys.stdout.write(MARKER + json.dumps(results) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
