"""docs/cli.md is generated from the typer app and must match it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[3]


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_cli_docs", ROOT / "scripts" / "gen_cli_docs.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_current() -> None:
    """Changing a command, option or help text needs `make docs`: the file equals the generator's
    output for the app as it is."""
    expected = generator().render()
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == expected, "docs/cli.md is out of date: run `make docs`"


def test_cli_reference_covers_every_command_and_alias() -> None:
    """Every command has a section, and Airflow's flag names appear as aliases."""
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for command in (
        "connections add", "connections get", "connections list", "connections delete",
        "connections test", "connections import", "connections export", "secrets trace",
        "keys generate", "keys rotate", "config show", "config check",
    ):  # fmt: skip
        assert f"`hookline {command}`" in text
    for alias in ("--conn-uri", "--conn-json", "--conn-host", "--conn-extra", "--file-format"):
        assert alias in text
    assert "<table|plain|json|yaml|uri|env>" in text


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    """`gen_cli_docs.py --check` exits 1 when the file differs, 0 when it matches."""
    module = generator()
    stale = tmp_path / "cli.md"
    stale.write_text("old\n")
    module.OUTPUT = stale
    module.ROOT = tmp_path
    assert module.main(["--check"]) == 1
    assert module.main([]) == 0
    assert module.main(["--check"]) == 0
