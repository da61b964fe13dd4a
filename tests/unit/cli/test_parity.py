"""Airflow CLI parity: its flag names as aliases, `-o plain`, `-v` anywhere, shell completion,
conn types normalised as in URIs, and progress shown on a terminal only."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from hookline.cli import common
from hookline.cli.app import app
from hookline.connection import Connection
from tests.unit.cli.support import (
    CANARY,
    MemoryBackend,
    Store,
    add_warehouse,
    assert_no_canary,
    run,
)


def test_airflow_flag_names_are_accepted(store: Store) -> None:
    """`airflow connections add` flag names work unchanged."""
    result = run(
        "connections", "add", "db", "--conn-type", "postgres", "--conn-host", "h",
        "--conn-login", "bob", "--conn-password", CANARY, "--conn-schema", "app",
        "--conn-port", "5433", "--conn-extra", '{"sslmode": "require"}',
        "--conn-description", "d",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert store.get("db") == Connection(
        conn_id="db", conn_type="postgres", host="h", login="bob", password=CANARY, schema="app",
        port=5433, extra={"sslmode": "require"}, description="d",
    )  # fmt: skip
    uri = run("connections", "add", "u", "--conn-uri", f"http://u:{CANARY}@api:80")
    assert uri.exit_code == 0, uri.output
    assert store.get("u").host == "api"
    as_json = run("connections", "add", "j", "--conn-json", '{"conn_type": "http", "host": "x"}')
    assert as_json.exit_code == 0, as_json.output
    assert store.get("j").host == "x"
    clash = run("connections", "add", "k", "--conn-uri", "http://a", "--conn-host", "h")
    assert clash.exit_code == 2
    assert "--host" in clash.stderr
    assert_no_canary(result)


@pytest.mark.parametrize("given", ["postgresql", "Postgres", "POSTGRESQL", "postgres"])
def test_conn_type_is_normalised_as_in_uris(store: Store, given: str) -> None:
    """`--conn-type postgresql` or `Postgres` stores `postgres`, as the URI scheme would."""
    result = run("connections", "add", "db", "--conn-type", given, "--host", "h")
    assert result.exit_code == 0, result.output
    assert store.get("db").conn_type == "postgres"
    assert Connection.from_uri(f"{given}://h", conn_id="db").conn_type == "postgres"


def test_conn_type_dashes_become_underscores(store: Store) -> None:
    """`google-cloud-platform` is stored as `google_cloud_platform` (Airflow's URI rule)."""
    assert run("connections", "add", "g", "--conn-type", "Google-Cloud-Platform").exit_code == 0
    assert store.get("g").conn_type == "google_cloud_platform"


def test_plain_output_is_a_borderless_table(store: Store) -> None:
    """`-o plain` (Airflow's) prints a header and aligned columns, no box characters, redacted."""
    add_warehouse()
    run("connections", "add", "api", "--uri", "http://api.example")
    listed = run("connections", "list", "-o", "plain")
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["conn_id", "conn_type", "host", "port", "schema", "login", "source"]
    assert lines[1].split() == ["api", "http", "api.example", "metastore"]
    assert lines[2].split() == ["warehouse", "postgres", "db.example", "5432", "app", "alice", "metastore"]  # fmt: skip
    assert not any(ch in listed.stdout for ch in "│┃━─")
    got = run("connections", "get", "warehouse", "-o", "plain")
    assert got.exit_code == 0, got.output
    rows = dict(line.split(None, 1) for line in got.stdout.splitlines()[1:] if " " in line)
    assert rows["password"].strip() == "***"
    assert rows["host"].strip() == "db.example"
    shown = run("config", "show", "-o", "plain")
    assert shown.exit_code == 0, shown.output
    assert any(
        line.split()[:2] == ["cache.ttl_seconds", "300.0"] for line in shown.stdout.splitlines()
    )
    assert_no_canary(listed)
    assert_no_canary(got)


def test_verbose_is_accepted_after_the_command(with_down_backend: MemoryBackend) -> None:
    """`-v` anywhere: after the subcommand, counted with one before it (-v -v is debug), masked."""
    with_down_backend.data["a"] = Connection(conn_id="a", conn_type="http", host="h")
    info = run("connections", "get", "a", "-v")
    assert info.exit_code == 0, info.output
    debug = run("-v", "connections", "get", "a", "-o", "uri", "-v")
    assert debug.exit_code == 0, debug.output
    assert "DEBUG hookline.resolve.chain: secrets backend vault unavailable" in debug.stderr
    assert "DEBUG" not in info.stderr
    also_debug = run("connections", "get", "a", "-vv")
    assert "DEBUG hookline.resolve.chain" in also_debug.stderr
    assert_no_canary(debug)


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found.extend(_commands(command, (*path, name)))
        else:
            found.append(((*path, name), command))
    return found


def test_every_command_takes_verbose() -> None:
    """Every leaf command accepts -v/--verbose (a new command must use common.VerboseOption)."""
    root = typer.main.get_command(app)
    commands = _commands(root)
    assert len(commands) >= 12
    missing = [
        " ".join(path)
        for path, command in commands
        if not any("-v" in param.opts and "--verbose" in param.opts for param in command.params)
    ]
    assert missing == []


def test_shell_completion_completes_commands_and_options() -> None:
    """Completion is on: bash completion of `hookline conn` offers `connections`, and of
    `hookline connections export --` offers the Airflow alias --file-format."""
    env = {"_HOOKLINE_COMPLETE": "complete_bash", "COMP_WORDS": "hookline conn", "COMP_CWORD": "1"}
    result = CliRunner().invoke(app, [], prog_name="hookline", env=env)
    assert "connections" in result.stdout
    env["COMP_WORDS"] = "hookline connections export --"
    env["COMP_CWORD"] = "3"
    result = CliRunner().invoke(app, [], prog_name="hookline", env=env)
    assert "--file-format" in result.stdout
    assert "--partial" in result.stdout
    help_text = run("--help").stdout
    assert "--install-completion" in help_text
    assert "--show-completion" in help_text


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """stderr as a terminal, captured."""
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100)
    monkeypatch.setattr(common, "err_console", lambda: console)
    return buffer


def test_progress_is_shown_on_a_terminal_for_import_and_rotate(
    store: Store, terminal: io.StringIO, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long import and `keys rotate` show a progress bar when stderr is a terminal."""
    from hookline.secrets.metastore.keys import KEY_FILE_NAME, generate_key

    path = tmp_path / "many.json"
    path.write_text(json.dumps({f"c{i}": f"http://h{i}" for i in range(30)}))
    result = run("connections", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "Importing connections" in terminal.getvalue()
    assert "30/30" in terminal.getvalue()
    old = (store.backend.home / KEY_FILE_NAME).read_text().strip()
    monkeypatch.setenv("HOOKLINE_FERNET_KEY", f"{generate_key()},{old}")
    run("connections", "add", "s", "--conn-type", "http", "--password", CANARY)
    assert run("keys", "rotate", "--force").exit_code == 0
    assert "Re-encrypting rows" in terminal.getvalue()


def test_progress_is_silent_when_not_a_terminal(store: Store, tmp_path: Any) -> None:
    """Piped or captured stderr gets no progress output (scripts stay clean)."""
    path = tmp_path / "many.json"
    path.write_text(json.dumps({f"c{i}": f"http://h{i}" for i in range(30)}))
    result = run("connections", "import", str(path))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    exported = run("connections", "export", "-")
    assert exported.exit_code == 0
    assert exported.stderr == ""
