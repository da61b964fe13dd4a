"""``python -m bench`` (``make bench``): measure hookline and Apache Airflow side by side.

Prints the results table and writes it, with versions, CPU count, Python version and date, to
``bench/results.md``. ``--quick`` runs a tiny iteration count (and writes nothing unless ``--out`` is
given); ``--no-airflow`` measures hookline alone.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
import time
from pathlib import Path

from bench import (
    hooks_bench,
    masking_bench,
    pipelines_bench,
    processes,
    report,
    resolution,
    rotation_bench,
)
from bench.runner import Settings, run_all

RESULTS = Path(__file__).resolve().parent / "results.md"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny iteration counts (smoke test)")
    parser.add_argument("--no-airflow", action="store_true", help="measure hookline only")
    parser.add_argument(
        "--out", type=Path, help="results file (default bench/results.md; none with --quick)"
    )
    parser.add_argument("--rounds", type=int, help="worker processes per side (default 5)")
    args = parser.parse_args(argv)

    settings = (
        Settings.quick(not args.no_airflow) if args.quick else Settings(airflow=not args.no_airflow)
    )
    if args.rounds:
        settings = Settings(**{**settings.__dict__, "rounds": args.rounds})
    started = time.perf_counter()
    rows, meta = run_all(
        settings,
        extra_groups=[
            processes.cold_start_rows,
            resolution.rows,
            hooks_bench.rows,
            masking_bench.rows,
            pipelines_bench.rows,
            rotation_bench.rows,
        ],
    )
    meta = {
        "hookline": _version("hookline"),
        **meta,
        "sqlalchemy (hookline side)": _version("sqlalchemy"),
        "httpx (hookline side)": _version("httpx"),
        "mode": "quick" if args.quick else "full",
        "duration": f"{time.perf_counter() - started:.0f} s",
        "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    meta = report.default_meta(meta)
    print(report.render_table(rows))
    out = args.out if args.out is not None else (None if args.quick else RESULTS)
    if out is not None:
        report.write_results(out, rows, meta)
        print(f"\nwritten to {out}")
    for row in rows:
        for err in row.errors:
            print(f"error in {row.name!r}: {err}")
    not_built = [r.name for r in rows if report.NOT_BUILT in (r.hookline_status, r.other_status)]
    if not_built:
        print("\nnot built yet: " + "; ".join(not_built))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
