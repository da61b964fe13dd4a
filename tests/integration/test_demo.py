"""`make demo` stays true: the demo runs end to end and never prints a secret."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


def test_demo_runs_the_pipeline_and_prints_no_secret(tmp_path: Path) -> None:
    """The demo registers connections with the CLI, runs HTTP -> SQLite, shows the trace, and its
    whole output (stdout and stderr) holds neither the API token nor the database password."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOOKLINE_", "AIRFLOW_"))}
    env["TMPDIR"] = str(tmp_path)
    out = subprocess.run(
        [sys.executable, str(DEMO)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    assert "fetched 3 orders over HTTP" in text
    assert "big order: grace" in text
    assert "=> 'warehouse' resolved from metastore" in text
    assert "password or token in the raw metastore file? False" in text
    assert "ConnectionNotFound" in text
    assert "5. The same work as a pipeline" in text
    assert re.search(r"publish\s+success\s+2/2", text)  # failed once, succeeded on retry
    assert re.search(r"check_partition\s+success\s+1/1", text)
    assert "exported 3 rows of 2026-12-01 to " in text
    assert "pipeline run: success." in text
    for secret in ("demo-Api-T0ken-42", "demo-Db-Passw0rd", "demo-Secret-Key-9"):
        assert secret not in text
