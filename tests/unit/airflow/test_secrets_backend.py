"""Unit tests of ``hookline.airflow.secrets`` with a stand-in for Airflow's base class.

The real Airflow 3.3.2 runs in tests/integration/airflow/; these tests pin what the backend does
with its own ``backend_kwargs`` without installing Airflow.
"""

from __future__ import annotations

import importlib
import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hookline.resolve import default


class _Base:
    """The part of Airflow's ``BaseSecretsBackend`` the hookline backend uses."""

    def _get_connection_class(self) -> Any:
        return dict


@pytest.fixture
def backend_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    bases = types.ModuleType("airflow.sdk.bases.secrets_backend")
    bases.BaseSecretsBackend = _Base  # type: ignore[attr-defined]
    errors = types.ModuleType("airflow.sdk.exceptions")
    errors.AirflowSecretsBackendAccessDenied = PermissionError  # type: ignore[attr-defined]
    for name in ("airflow", "airflow.sdk", "airflow.sdk.bases"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "airflow.sdk.bases.secrets_backend", bases)
    monkeypatch.setitem(sys.modules, "airflow.sdk.exceptions", errors)
    monkeypatch.delitem(sys.modules, "hookline.airflow.secrets", raising=False)
    module = importlib.import_module("hookline.airflow.secrets")
    yield module
    module._resolvers.clear()
    sys.modules.pop("hookline.airflow.secrets", None)


def _home(tmp_path: Path, name: str, variables: dict[str, str]) -> tuple[Path, Path]:
    home = tmp_path / name
    home.mkdir()
    (home / "variables.json").write_text(json.dumps(variables))
    config = home / "hookline.toml"
    config.write_text(
        '[secrets]\nbackends = ["files"]\n\n[secrets.backend.files]\n'
        f'variables_file_path = "{home / "variables.json"}"\n'
    )
    return home, config


def test_variables_come_from_the_backends_own_config_file(
    backend_module: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``config_file`` decides variables as it decides connections, even when the process already
    has a default resolver (a DAG file that used hookline first, a second backend)."""
    first_home, first = _home(tmp_path, "first", {"greeting": "from the first config"})
    second_home, second = _home(tmp_path, "second", {"greeting": "from the second config"})
    monkeypatch.setenv("HOOKLINE_HOME", str(tmp_path / "empty-home"))
    try:
        one = backend_module.HooklineSecretsBackend(config_file=str(first), home=str(first_home))
        two = backend_module.HooklineSecretsBackend(config_file=str(second), home=str(second_home))
        assert one.get_variable("greeting") == "from the first config"
        assert two.get_variable("greeting") == "from the second config"
        assert two.get_variable("absent") is None
    finally:
        default.set_default_resolver(None)
