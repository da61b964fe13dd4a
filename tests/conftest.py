"""Test-suite wiring: every module in tests/servers is a plugin providing real-server fixtures."""

from __future__ import annotations

import os
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hookline import masking
from hookline.resolve import default as resolver

pytest_plugins = [
    f"tests.servers.{module.name}"
    for module in pkgutil.iter_modules([str(Path(__file__).parent / "servers")])
    if not module.name.startswith("_")
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration runs against real servers: mark it so."""
    for item in items:
        if "integration" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def isolated_hookline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test gets its own HOOKLINE_HOME, no inherited HOOKLINE_/AIRFLOW_CONN_ variables, a fresh
    default resolver and an empty masking registry."""
    for name in list(os.environ):
        if name.startswith(
            ("HOOKLINE_", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "AIRFLOW__", "AIRFLOW_HOME")
        ):
            monkeypatch.delenv(name)
    home = tmp_path / "hookline-home"
    monkeypatch.setenv("HOOKLINE_HOME", str(home))
    resolver.set_default_resolver(None)
    masking.reset()
    yield home
    resolver.set_default_resolver(None)
    masking.uninstall()
    masking.reset()
