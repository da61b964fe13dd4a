"""Smoke test of the benchmark program: ``python -m bench --quick --no-airflow`` runs end to end.

It checks that the program runs and produces its table and results file; it asserts nothing about
speed (figures belong in bench/results.md, not in tests).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_benchmark_without_airflow_prints_and_writes_its_table(tmp_path: Path) -> None:
    """A tiny run prints every group's table and writes a results file with the run's metadata."""
    out = tmp_path / "results.md"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--no-airflow", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for heading in (
        "== Side by side with Apache Airflow 3.3.2",
        "== Secrets chain and cache (hookline only)",
        "== Hooks: pooling (hookline only)",
        "== Masking (hookline only)",
    ):
        assert heading in proc.stdout
    for row in (
        "URI parse: from_uri",
        "cached get_connection",
        "HTTP GET: keep-alive client",
        "first metastore lookup, SQLite",
        "redact a 1 MB base64 log line",
    ):
        assert row in proc.stdout
    assert "hookline median" in proc.stdout
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# hookline benchmark results")
    assert "| operation | hookline median |" in text
    assert "- **python**: " in text
    assert "- **cpus**: " in text
    assert "s3cr3t-pw" not in proc.stdout


def test_quick_benchmark_refuses_unknown_options() -> None:
    """Usage errors exit with status 2 and say what was wrong."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--no-such-option"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "--no-such-option" in proc.stderr
