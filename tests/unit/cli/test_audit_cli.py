"""``hookline audit tail|search|verify`` and the records CLI commands leave: writes, imports,
reveals (``--show-secrets``, with the OS user), key rotation; the log never holds a secret."""

from __future__ import annotations

import json
import os
import pwd
from collections.abc import Iterator
from pathlib import Path

import pytest

from hookline import audit
from hookline.audit.log import AuditRecord
from tests.unit.cli.support import CANARY_FORMS, add_warehouse, assert_one_error_line, run


@pytest.fixture
def audited(isolated_hookline: Path) -> Iterator[Path]:
    """Audit on (file sink) through hookline.toml in the test's home; the log file."""
    isolated_hookline.mkdir(parents=True, exist_ok=True)
    (isolated_hookline / "hookline.toml").write_text(
        '[audit]\nenabled = true\nsinks = ["file"]\nmax_file_bytes = 2048\n'
    )
    yield isolated_hookline / "audit.jsonl"
    audit.disable()


def _json_records(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def _raw(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in home.iterdir() if p.name.startswith("audit.jsonl"))


def test_cli_actions_are_recorded_with_the_os_user_and_no_secret(
    audited: Path, tmp_path: Path
) -> None:
    add_warehouse()
    assert run("connections", "get", "warehouse", "--show-secrets").exit_code == 0
    assert run("connections", "get", "warehouse").exit_code == 0  # redacted: no reveal record
    assert run("connections", "list", "--show-secrets").exit_code == 0
    imported = tmp_path / "conns.json"
    imported.write_text(json.dumps({"other": {"conn_type": "http", "password": CANARY_FORMS[0]}}))
    assert run("connections", "import", str(imported)).exit_code == 0
    assert run("keys", "rotate", "--force").exit_code == 0
    assert run("connections", "delete", "other").exit_code == 0
    audit.disable()  # flush
    result = run("audit", "tail", "-n", "100", "-o", "json")
    assert result.exit_code == 0, result.output
    records = _json_records(result.stdout)
    actions = [(r["kind"], r["conn_id"], r["outcome"]) for r in records]
    assert ("write", "warehouse", "set") in actions
    assert ("write", "other", "import") in actions
    assert ("write", "other", "delete") in actions
    assert ("key_rotation", None, "ok") in actions
    reveals = [r for r in records if r["kind"] == "reveal"]
    assert [(r["conn_id"], r["detail"]) for r in reveals] == [
        ("warehouse", "hookline connections get --show-secrets"),
        ("warehouse", "hookline connections list --show-secrets"),
    ]
    me = pwd.getpwuid(os.geteuid()).pw_name
    assert {r["user"] for r in records} == {me}
    assert all(r["pid"] == os.getpid() and r["host"] for r in records)
    for form in CANARY_FORMS:
        assert form.encode() not in _raw(audited.parent)
        assert form not in result.stdout


def test_search_filters_and_rich_table(audited: Path) -> None:
    add_warehouse()
    run("connections", "get", "warehouse", "--show-secrets")
    audit.record("reveal", conn_id="api-conn", actor="api:bob", detail="GET /connections/x")
    audit.disable()
    found = _json_records(
        run("audit", "search", "--conn-id", "warehouse", "--action", "reveal", "-o", "json").stdout
    )
    assert [(r["kind"], r["conn_id"]) for r in found] == [("reveal", "warehouse")]
    assert len(_json_records(run("audit", "search", "--since", "1h", "-o", "json").stdout)) >= 3
    assert _json_records(run("audit", "search", "--until", "1h", "-o", "json").stdout) == []
    by_actor = _json_records(run("audit", "search", "--user", "api:bob", "-o", "json").stdout)
    assert [r["conn_id"] for r in by_actor] == ["api-conn"]
    assert (
        _json_records(run("audit", "search", "--outcome", "set", "-o", "json").stdout)[0]["kind"]
        == "write"
    )
    table = run("audit", "search", "--action", "reveal")
    assert table.exit_code == 0
    assert "api:bob" in table.stdout
    assert "warehouse" in table.stdout
    bad = run("audit", "search", "--since", "yesterday-ish")
    assert bad.exit_code == 2
    assert "neither a duration" in bad.output


def test_verify_ok_across_rotated_files_and_names_the_bad_record(audited: Path) -> None:
    for i in range(40):
        audit.record("reveal", conn_id=f"c{i}", outcome="shown")
        writer = audit.active()
        if i % 5 == 4 and writer is not None:
            writer.flush()  # a file is rotated between batches
    audit.disable()
    assert len(audit.log_files(audited)) > 1  # rotated by size (2048 bytes)
    ok = run("audit", "verify")
    assert ok.exit_code == 0, ok.output
    assert "OK: 40 record(s)" in ok.stdout
    # edit a record in a rotated file
    first = audit.log_files(audited)[0]
    lines = first.read_text().splitlines()
    data = json.loads(lines[1])
    data["conn_id"] = "someone-else"
    lines[1] = json.dumps(data, sort_keys=True, separators=(",", ":"))
    first.write_text("\n".join(lines) + "\n")
    line = assert_one_error_line(run("audit", "verify"))
    assert f"{first.name} line 2: record 2 was altered" in line


def test_verify_detects_truncation_through_the_checkpoint(audited: Path) -> None:
    for i in range(5):
        audit.record("reveal", conn_id=f"c{i}")
    audit.disable()
    lines = audited.read_text().splitlines()
    audited.write_text("\n".join(lines[:3]) + "\n")
    line = assert_one_error_line(run("audit", "verify"))
    assert "ends at record 3 but the checkpoint says 5" in line


def test_no_log_is_an_error(isolated_hookline: Path) -> None:
    line = assert_one_error_line(run("audit", "verify"))
    assert "no audit log" in line
    assert "no audit log" in assert_one_error_line(run("audit", "tail"))


def test_tail_shows_the_newest(audited: Path) -> None:
    for i in range(5):
        audit.record("reveal", conn_id=f"c{i}")
    audit.disable()
    newest = _json_records(run("audit", "tail", "-n", "2", "-o", "json").stdout)
    assert [r["conn_id"] for r in newest] == ["c3", "c4"]
    assert AuditRecord.from_json(json.dumps(newest[0])).seq == 4
    assert "c4" in run("audit", "tail").stdout


def test_metastore_sink_verify(isolated_hookline: Path) -> None:
    isolated_hookline.mkdir(parents=True, exist_ok=True)
    (isolated_hookline / "hookline.toml").write_text(
        '[audit]\nenabled = true\nsinks = ["file", "metastore"]\n'
    )
    try:
        add_warehouse()
        audit.record("reveal", conn_id="warehouse")
    finally:
        audit.disable()
    result = run("audit", "verify", "--metastore")
    assert result.exit_code == 0, result.output
    assert "OK: 3 record(s) of 1 host(s)" in result.stdout  # write, read-back lookup, reveal


def test_variables_are_recorded_and_their_reveals_too(audited: Path) -> None:
    secret = CANARY_FORMS[0]
    assert run("variables", "set", "api_password", secret).exit_code == 0
    assert run("variables", "set", "region", "eu-west-1").exit_code == 0
    assert run("variables", "get", "api_password", "--show-secrets").exit_code == 0
    assert run("variables", "get", "region", "--show-secrets").exit_code == 0  # nothing hidden
    assert run("variables", "get", "api_password").exit_code == 0  # shown as ***: no reveal
    assert run("variables", "list", "--show-secrets").exit_code == 0
    assert run("variables", "delete", "region").exit_code == 0
    audit.disable()
    records = _json_records(run("audit", "tail", "-n", "100", "-o", "json").stdout)
    actions = [(r["kind"], r["conn_id"], r["outcome"]) for r in records]
    assert ("variable_write", "api_password", "set") in actions
    assert ("variable_write", "region", "delete") in actions
    assert ("variable_lookup", "api_password", "hit") in actions
    reveals = [(r["conn_id"], r["detail"]) for r in records if r["kind"] == "variable_reveal"]
    assert reveals == [
        ("api_password", "hookline variables get --show-secrets"),
        ("api_password", "hookline variables list --show-secrets"),
    ]
    assert secret.encode() not in _raw(audited.parent)
