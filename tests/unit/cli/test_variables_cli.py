"""``hookline variables``: get/set/list/delete/import/export on the real default chain (env, then the
SQLite metastore in the test's home), masking of sensitive values, partial listings, exit codes."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from hookline.cli import common
from hookline.exceptions import (
    BackendUnavailable,
    DecryptionError,
    ListingFailure,
    ListingIncomplete,
)
from hookline.resolve import SecretsChain
from hookline.secrets.env import EnvBackend
from hookline.secrets.metastore import MetastoreBackend
from hookline.testing import InMemoryBackend
from tests.unit.cli.support import assert_one_error_line, run

CANARY = "c4n4ry-V4r-S3cret!"


@pytest.fixture
def store() -> Iterator[MetastoreBackend]:
    backend = MetastoreBackend()
    yield backend
    backend.close()


def ok(*args: str, input: str | None = None) -> str:
    result = run(*args, input=input)
    assert result.exit_code == 0, result.output
    return result.stdout


def assert_no_canary(*texts: str) -> None:
    for text in texts:
        assert CANARY not in text


def test_set_get_delete_round_trip(store: MetastoreBackend) -> None:
    assert ok("variables", "set", "region", "eu-west-1") == "Variable region created in metastore\n"
    assert ok("variables", "set", "region", "us-east-1") == "Variable region updated in metastore\n"
    assert store.get_variable("region") == "us-east-1"
    assert ok("variables", "get", "region") == "us-east-1\n"
    assert ok("variables", "delete", "region") == "Variable region deleted from metastore\n"
    assert store.get_variable("region") is None
    line = assert_one_error_line(run("variables", "delete", "region"))
    assert "variable 'region' not found in metastore; nothing deleted" in line


def test_get_of_a_missing_variable_exits_1_unless_a_default(store: MetastoreBackend) -> None:
    line = assert_one_error_line(run("variables", "get", "nope"))
    assert line == "error: variable 'nope' not found (asked: env, metastore)"
    assert ok("variables", "get", "nope", "--default", "fallback") == "fallback\n"


def test_get_masks_sensitive_keys_unless_show_secrets(store: MetastoreBackend) -> None:
    result = run("variables", "set", "db_password", "--stdin", input=CANARY + "\n")
    assert result.exit_code == 0, result.output
    assert_no_canary(result.stdout, result.stderr)
    assert store.get_variable("db_password") == CANARY
    hidden = run("variables", "get", "db_password")
    assert hidden.exit_code == 0
    assert hidden.stdout == "***\n"
    assert "looks sensitive" in hidden.stderr
    assert_no_canary(hidden.stdout, hidden.stderr)
    assert ok("variables", "get", "db_password", "--show-secrets") == CANARY + "\n"


def test_json_values(store: MetastoreBackend) -> None:
    value = json.dumps({"rows": 10, "auth": {"api_key": CANARY}})
    ok("variables", "set", "limits", value, "--json")
    assert json.loads(store.get_variable("limits") or "") == json.loads(value)
    shown = ok("variables", "get", "limits", "--json")
    assert json.loads(shown) == {"rows": 10, "auth": {"api_key": "***"}}
    assert json.loads(ok("variables", "get", "limits", "-j", "--show-secrets")) == json.loads(value)
    bad = run("variables", "set", "x", CANARY + "{", "--json")
    line = assert_one_error_line(bad)
    assert "variable 'x' is not valid JSON" in line
    assert CANARY not in line


def test_set_refuses_both_value_and_stdin() -> None:
    result = run("variables", "set", "x", "1", "--stdin", input="2")
    assert result.exit_code == 2


def test_list_shows_keys_and_backends(
    store: MetastoreBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_FROM_ENV", "e")
    ok("variables", "set", "b_token", CANARY)
    ok("variables", "set", "a", "1")
    rows = json.loads(ok("variables", "list", "-o", "json"))
    assert rows == [
        {"key": "a", "backend": "metastore"},
        {"key": "b_token", "backend": "metastore"},
        {"key": "from_env", "backend": "env"},
    ]
    with_values = json.loads(ok("variables", "list", "-o", "json", "--show-values"))
    assert [r["value"] for r in with_values] == ["1", "***", "e"]
    plain = ok("variables", "list", "-o", "plain", "--source", "env")
    assert plain.split() == ["key", "backend", "from_env", "env"]
    assert CANARY in ok("variables", "list", "-o", "json", "--show-secrets")


class BrokenRows(InMemoryBackend):
    def list_variables(self) -> Iterator[tuple[str, str]]:
        yield "good", "1"
        error = DecryptionError("cannot decrypt variable 'bad': no configured key matches it")
        raise ListingIncomplete([ListingFailure(self.name, "bad", error)])


class Down(InMemoryBackend):
    def list_variables(self) -> Iterator[tuple[str, str]]:
        raise BackendUnavailable(f"vault refused (token {CANARY})", backend="vault")


@pytest.fixture
def failing(monkeypatch: pytest.MonkeyPatch) -> None:
    chain = SecretsChain([EnvBackend(environ={}), Down(name="vault"), BrokenRows(name="memory")])
    monkeypatch.setattr(common, "chain", lambda: chain)
    from hookline import masking

    masking.register(CANARY)


@pytest.mark.usefixtures("failing")
def test_list_and_export_fail_on_unreadable_variables_unless_partial() -> None:
    for command in (["list"], ["export"]):
        result = run("variables", *command)
        assert result.exit_code == 1
        assert result.stdout == ""
        assert "2 problem(s)" in result.stderr
        assert "vault: vault refused" in result.stderr
        assert "memory: bad: cannot decrypt variable 'bad'" in result.stderr
        assert_no_canary(result.stderr)
    partial = run("variables", "list", "--partial", "-o", "json")
    assert partial.exit_code == 0
    assert json.loads(partial.stdout) == [{"key": "good", "backend": "memory"}]
    assert "warning: incomplete" in partial.stderr
    exported = run("variables", "export", "--partial")
    assert exported.exit_code == 0
    assert json.loads(exported.stdout) == {"good": 1}


def test_export_then_import_round_trip(store: MetastoreBackend, tmp_path: Path) -> None:
    ok("variables", "set", "plain", "text")
    ok("variables", "set", "cfg", '{"a": [1, 2]}')
    ok("variables", "set", "api_secret", CANARY)
    path = tmp_path / "vars.json"
    out = ok("variables", "export", str(path), "--show-secrets")
    assert out == f"Exported 3 variables to {path}\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data == {"api_secret": CANARY, "cfg": {"a": [1, 2]}, "plain": "text"}
    for key in data:
        store.delete_variable(key)
    assert ok("variables", "import", str(path)) == "Imported 3 variables into metastore\n"
    assert store.get_variable("api_secret") == CANARY
    assert json.loads(store.get_variable("cfg") or "") == {"a": [1, 2]}


def test_export_without_show_secrets_hides_them_and_import_refuses_the_file(
    store: MetastoreBackend, tmp_path: Path
) -> None:
    ok("variables", "set", "api_secret", CANARY)
    ok("variables", "set", "cfg", json.dumps({"password": CANARY, "n": 1}))
    result = run("variables", "export")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"api_secret": "***", "cfg": {"n": 1, "password": "***"}}
    assert "2 value(s) hold sensitive data" in result.stderr
    path = tmp_path / "hidden.json"
    path.write_text(result.stdout)
    refused = run("variables", "import", str(path), "-a", "overwrite")
    assert refused.exit_code == 1
    assert "nothing imported" in refused.stderr
    assert "variable 'api_secret' holds the redaction placeholder" in refused.stderr
    assert "variable 'cfg' holds the redaction placeholder" in refused.stderr
    assert store.get_variable("api_secret") == CANARY


def test_import_existing_keys_fail_overwrite_or_skip(
    store: MetastoreBackend, tmp_path: Path
) -> None:
    store.set_variables([("a", "old"), ("b", "old")])
    path = tmp_path / "vars.json"
    path.write_text(json.dumps({"a": "new", "c": 3}))
    failed = run("variables", "import", str(path))
    assert failed.exit_code == 1
    assert "variable 'a' already exists" in failed.stderr
    assert store.get_variable("c") is None  # all or nothing
    skipped = ok("variables", "import", str(path), "--action-on-existing-key", "skip")
    assert skipped == "Imported 1 variable into metastore (1 skipped: a)\n"
    assert (store.get_variable("a"), store.get_variable("c")) == ("old", "3")
    replaced = ok("variables", "import", str(path), "--overwrite")
    assert replaced == "Imported 2 variables into metastore (2 replaced)\n"
    assert store.get_variable("a") == "new"


def test_import_yaml_and_env_files_and_every_bad_entry(
    store: MetastoreBackend, tmp_path: Path
) -> None:
    (tmp_path / "v.yaml").write_text("region: eu\nlimits:\n  rows: 5\n")
    ok("variables", "import", str(tmp_path / "v.yaml"))
    assert json.loads(store.get_variable("limits") or "") == {"rows": 5}
    (tmp_path / "v.env").write_text("ENV_KEY=1\n")
    ok("variables", "import", str(tmp_path / "v.env"))
    assert store.get_variable("ENV_KEY") == "1"
    (tmp_path / "bad.env").write_text(f"ok=1\nno_equal_sign\ndup={CANARY}\ndup=2\n")
    result = run("variables", "import", str(tmp_path / "bad.env"))
    assert result.exit_code == 1
    assert "2 invalid entries; nothing imported" in result.stderr
    assert "line 2:" in result.stderr
    assert "line 4: Found multiple values for dup" in result.stderr
    assert_no_canary(result.stderr)
    assert store.get_variable("ok") is None


def test_import_from_stdin_and_a_missing_file(store: MetastoreBackend, tmp_path: Path) -> None:
    ok("variables", "import", "-", input='{"s": "1"}')
    assert store.get_variable("s") == "1"
    line = assert_one_error_line(run("variables", "import", str(tmp_path / "missing.json")))
    assert "cannot read" in line


def test_writes_need_a_store_of_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOKLINE_SECRETS__BACKENDS", "env")
    line = assert_one_error_line(run("variables", "set", "x", "1"))
    assert "stores variables" in line


def test_import_refuses_overwrite_with_a_contradicting_action(
    store: MetastoreBackend, tmp_path: Path
) -> None:
    """``--overwrite`` with ``-a skip`` is a contradiction: refused, nothing written, rather than
    one of the two options silently ignored."""
    store.set_variables([("a", "old")])
    path = tmp_path / "vars.json"
    path.write_text(json.dumps({"a": "new"}))
    refused = run("variables", "import", str(path), "--overwrite", "-a", "skip")
    assert refused.exit_code == 2, refused.output
    message = " ".join(refused.stderr.replace("│", " ").split())
    assert "--overwrite contradicts --action-on-existing-key skip" in message
    assert store.get_variable("a") == "old"
    # the explicit form of the same request is fine
    ok("variables", "import", str(path), "--overwrite", "-a", "overwrite")
    assert store.get_variable("a") == "new"
