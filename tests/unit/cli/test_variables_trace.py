"""``hookline secrets trace --variable KEY`` and ``hookline variables ... --backend NAME`` on
in-memory chains: which backend answered, what each said, timings; never a value."""

from __future__ import annotations

import json

import pytest
import yaml

from hookline import masking
from hookline.cli import common
from hookline.exceptions import BackendPermissionDenied, BackendUnavailable, DecryptionError
from hookline.resolve import SecretsChain
from hookline.secrets.env import EnvBackend
from hookline.testing import InMemoryBackend
from tests.unit.cli.support import assert_one_error_line, run

CANARY = "c4n4ry-V4r-S3cret!"


def _use(monkeypatch: pytest.MonkeyPatch, *backends: object) -> SecretsChain:
    chain = SecretsChain(list(backends))  # type: ignore[arg-type]
    monkeypatch.setattr(common, "chain", lambda: chain)
    return chain


def test_trace_variable_shows_each_backend_and_the_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The env backend's keys, its outcome, the answering backend and a time per step; the
    value of a sensitive key appears nowhere."""
    _use(
        monkeypatch,
        EnvBackend(environ={}),
        InMemoryBackend(name="vault", variables={"db_password": CANARY}),
    )
    result = run("secrets", "trace", "--variable", "db_password")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "HOOKLINE_VAR_DB_PASSWORD" in out
    assert "AIRFLOW_VAR_DB_PASSWORD" in out
    assert "absent" in out
    assert "hit" in out
    assert " ms" in out
    assert "=> variable 'db_password' resolved from vault" in out
    assert CANARY not in result.output


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_trace_variable_structured_output(monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    """``-o json|yaml``: kind, key, source and each step (backend, keys, outcome, elapsed)."""
    _use(
        monkeypatch,
        EnvBackend(environ={}),
        InMemoryBackend(name="memory", variables={"region": "eu-" + CANARY}),
    )
    result = run("secrets", "trace", "--variable", "region", "-o", fmt)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout) if fmt == "json" else yaml.safe_load(result.stdout)
    assert data["kind"] == "variable"
    assert data["key"] == "region"
    assert "conn_id" not in data
    assert data["source"] == "memory"
    assert [(s["backend"], s["outcome"]) for s in data["steps"]] == [
        ("env", "absent"),
        ("memory", "hit"),
    ]
    assert all(step["elapsed_s"] >= 0 for step in data["steps"])
    assert "HOOKLINE_VAR_REGION" in data["steps"][0]["keys"]
    assert CANARY not in result.output  # not even a non-sensitive value is printed


def test_trace_variable_not_found_prints_the_trace_and_exits_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _use(monkeypatch, EnvBackend(environ={}), InMemoryBackend(name="memory"))
    result = run("secrets", "trace", "--variable", "nope")
    line = assert_one_error_line(result)
    assert line == "error: variable 'nope' not found in any backend"
    assert result.stdout.count("absent") == 2


def test_trace_variable_with_a_backend_down_says_it_may_be_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unavailable backend is shown with its masked reason; the lookup falls through; when
    nobody holds the key the error says it may be defined in the one that was down."""
    masking.register(CANARY)
    down = InMemoryBackend(name="vault")
    down.fail_with = BackendUnavailable(f"vault refused (token {CANARY})", backend="vault")
    _use(monkeypatch, down, InMemoryBackend(name="memory", variables={"here": "1"}))
    found = run("secrets", "trace", "--variable", "here")
    assert found.exit_code == 0, found.output
    assert "unavailable" in found.stdout
    assert "vault refused" in found.stdout
    assert "resolved from memory" in found.stdout
    missing = run("secrets", "trace", "--variable", "gone")
    line = assert_one_error_line(missing)
    assert "variable 'gone' not found, but vault could not answer" in line
    for result in (found, missing):
        assert CANARY not in result.output


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (BackendPermissionDenied("forbidden", backend="vault"), "vault denied access"),
        (DecryptionError("no configured key matches it"), "is stored but cannot be read"),
    ],
)
def test_trace_variable_of_a_denied_or_unreadable_value_exits_1(
    monkeypatch: pytest.MonkeyPatch, error: Exception, message: str
) -> None:
    broken = InMemoryBackend(name="vault", variables={"k_secret": CANARY})
    broken.fail_with = error
    _use(monkeypatch, EnvBackend(environ={}), broken)
    result = run("secrets", "trace", "--variable", "k_secret")
    assert message in assert_one_error_line(result)
    assert "vault" in result.stdout
    assert CANARY not in result.output


def test_trace_needs_exactly_one_of_an_id_or_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, InMemoryBackend())
    both = run("secrets", "trace", "conn", "--variable", "k")
    assert both.exit_code == 2
    assert "not both" in both.output
    neither = run("secrets", "trace")
    assert neither.exit_code == 2
    assert "--variable" in neither.output


def test_trace_variable_with_an_invalid_key_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, InMemoryBackend())
    line = assert_one_error_line(run("secrets", "trace", "--variable", "a/../b"))
    assert "variable key 'a/../b'" in line


# -- --backend NAME -------------------------------------------------------------------------------


def test_set_delete_import_go_to_the_named_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default target is the first backend that writes by default; ``--backend`` names
    another one; events and messages name the backend written."""
    first = InMemoryBackend(name="first")
    second = InMemoryBackend(name="second")
    _use(monkeypatch, EnvBackend(environ={}), first, second)
    out = run("variables", "set", "k", "v", "--backend", "second")
    assert out.exit_code == 0, out.output
    assert out.stdout == "Variable k created in second\n"
    assert second.get_variable("k") == "v"
    assert first.get_variable("k") is None
    gone = run("variables", "delete", "k", "--backend", "first")
    assert "variable 'k' not found in first" in assert_one_error_line(gone)
    deleted = run("variables", "delete", "k", "--backend", "second")
    assert deleted.stdout == "Variable k deleted from second\n"
    imported = run("variables", "import", "-", "--backend", "second", input='{"a": 1, "b": "x"}')
    assert imported.exit_code == 0, imported.output
    assert "Imported 2 variables into second" in imported.stdout
    assert (second.get_variable("a"), second.get_variable("b")) == ("1", "x")
    assert first.get_variable("a") is None


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nope", "no secrets backend named 'nope' in the chain (env, memory)"),
        ("env", "the env secrets backend cannot store variables (read-only)"),
    ],
)
@pytest.mark.parametrize("command", [["set", "k", CANARY], ["delete", "k"], ["import", "-"]])
def test_unknown_or_read_only_backend_exits_1(
    monkeypatch: pytest.MonkeyPatch, name: str, message: str, command: list[str]
) -> None:
    memory = InMemoryBackend(name="memory")
    _use(monkeypatch, EnvBackend(environ={}), memory)
    result = run("variables", *command, "--backend", name, input=json.dumps({"k": CANARY}))
    assert message in assert_one_error_line(result)
    assert CANARY not in result.output
    assert memory.get_variable("k") is None


def test_from_airflow_db_refuses_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, InMemoryBackend())
    result = run(
        "variables", "import", "--from-airflow-db", "sqlite:///x.db", "--backend", "memory"
    )
    assert result.exit_code == 2
    assert "imports into the metastore" in result.output
