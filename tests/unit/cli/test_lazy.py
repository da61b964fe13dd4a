"""What a fresh ``hookline`` process imports: a subcommand's modules only when it is used, no pydantic
or YAML for ``connections get``.

Import sets are deterministic (unlike wall time), so they are checked here; the times are measured
in ``bench/processes.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from hookline.cli import app as app_module
from hookline.cli.lazy import LazyCommands, LazyGroup, load_command

# Modules only other commands need: none may be imported by `connections get`.
OTHER_COMMANDS = (
    "hookline.cli.admin",
    "hookline.cli.audit",
    "hookline.cli.metrics",
    "hookline.cli.pipelines",
    "hookline.cli.rotate",
    "hookline.cli.server",
    "hookline.cli.variables",
)

_PROBE = """
import json, sys
from hookline.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print("\\nMODULES=" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def loaded_by(tmp_path: Path, *argv: str) -> tuple[int, set[str]]:
    """Run ``hookline ARGV`` in a fresh interpreter; its exit code and the modules it imported."""
    env = {
        **os.environ,
        "HOOKLINE_HOME": str(tmp_path),
        "HOOKLINE_CONN_LAZY_DEMO": "postgres://user:pw@db.example:5432/app",
    }
    env.pop("HOOKLINE_CONFIG", None)
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    data = json.loads(proc.stdout.rpartition("MODULES=")[2])
    return data["code"], set(data["modules"])


def test_connections_get_imports_no_other_command(tmp_path: Path) -> None:
    code, modules = loaded_by(tmp_path, "connections", "get", "lazy_demo")
    assert code in (0, None)
    assert "hookline.cli.connections" in modules
    assert sorted(modules.intersection(OTHER_COMMANDS)) == []
    # typer converts plain values without pydantic (cli/plain_values.py); YAML only for -o yaml
    heavy = {"pydantic", "yaml", "sqlalchemy", "alembic", "httpx", "jinja2"}
    assert "hookline.airflow_migrate" not in modules  # only `import --from-airflow-db` needs it
    assert sorted(m for m in modules if m.split(".")[0] in heavy) == []


def test_version_imports_no_command_and_no_rich(tmp_path: Path) -> None:
    code, modules = loaded_by(tmp_path, "--version")
    assert code in (0, None)
    assert "hookline.cli.connections" not in modules
    assert sorted(m for m in modules if m.split(".")[0] == "rich") == []
    assert sorted(modules.intersection(OTHER_COMMANDS)) == []


def test_every_command_of_the_table_loads_and_is_listed() -> None:
    """Each entry of COMMANDS names a real typer app or function; --help lists them in order."""
    root = typer.main.get_command(app_module.app)
    ctx = typer.Context(root, info_name="hookline")
    assert isinstance(root, LazyGroup)
    assert root.list_commands(ctx) == list(app_module.COMMANDS)
    for name in app_module.COMMANDS:
        command = root.get_command(ctx, name)
        assert command is not None
        assert command.name == name
    help_text = CliRunner().invoke(app_module.app, ["--help"], prog_name="hookline").stdout
    commands_panel = help_text[help_text.index("Commands") :]
    positions = [commands_panel.index(f"│ {name} ") for name in app_module.COMMANDS]
    assert positions == sorted(positions)


def test_lazy_commands_load_once_and_keep_their_order() -> None:
    built = load_command("worker", "hookline.cli.pipelines:worker")
    commands = LazyCommands({"worker": built}, {"keys": "hookline.cli.admin:keys_app"})
    assert list(commands) == ["worker", "keys"]
    assert len(commands) == 2
    assert "keys" in commands
    assert "nope" not in commands
    keys = commands["keys"]
    assert commands["keys"] is keys
    assert list(commands) == ["worker", "keys"]
    assert commands.get("nope") is None
    del commands["worker"]
    assert list(commands) == ["keys"]


def test_a_function_target_is_a_single_command_and_a_typer_target_a_group() -> None:
    worker = load_command("worker", "hookline.cli.pipelines:worker")
    keys = load_command("keys", "hookline.cli.admin:keys_app")
    assert not hasattr(worker, "commands")
    assert sorted(getattr(keys, "commands", {})) == ["generate", "rotate"]


def test_a_malformed_target_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="'bad' is not 'module:attribute'"):
        load_command("x", "bad")
    with pytest.raises(TypeError, match=r"neither a typer\.Typer nor a function"):
        load_command("x", "hookline.cli.app:COMMANDS")
