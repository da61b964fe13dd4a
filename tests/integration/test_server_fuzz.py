"""schemathesis against the served OpenAPI document of a real ``hookline serve`` on 127.0.0.1.

Bounded (``--max-examples 10`` per operation, fixed seed). Checks: no server error (5xx), every
response conforms to the document (schema, status code, content type). ``POST .../test`` is left
out: it would make the server open network connections to whatever hosts were generated; it is
covered by the unit tests and by the browser test against PostgreSQL.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.servers.hookline_server import HooklineServer


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    hookline_server: HooklineServer, tmp_path: Path
) -> None:
    server = hookline_server
    argv = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{server.url}/api/v1/openapi.json",
        "--wait-for-schema",
        "30",
        "-H",
        f"Authorization: Bearer {server.tokens['admin']}",
        "--checks",
        "not_a_server_error,response_schema_conformance,status_code_conformance,"
        "content_type_conformance",
        "--max-examples",
        "10",
        "--phases",
        "examples,coverage,fuzzing",
        "--exclude-path-regex",
        "/test$",
        "--seed",
        "20261203",
        # Ids may hold "/", so many generated path values are filtered: not a finding.
        "--suppress-health-check",
        "filter_too_much",
        "--request-timeout",
        "20",
    ]
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=400, cwd=tmp_path, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "passed" in output
    assert " failed" not in output.split("SUMMARY")[-1]
    assert server.tokens["admin"] not in server.log.read_text(errors="replace")
