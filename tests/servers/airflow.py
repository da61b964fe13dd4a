"""A real Apache Airflow 3.3.2 with hookline installed in it, as a fixture.

``airflow_install`` (session) reuses the benchmark's isolated venv (``bench/.airflow-venv``, created
once by :func:`bench.airflow_env.ensure_venv`; ignored by git) and installs this checkout into it
(:func:`bench.airflow_env.install_hookline`: ``pip install -e .[metastore,http]``, so the entry points
of hookline's backends exist there too). ``airflow_home`` (function) gives each test a fresh
``AIRFLOW_HOME`` with a migrated SQLite metastore (:func:`bench.airflow_env.prepare_home`). Nothing is
skipped: a failed install fails the test loudly.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from bench.airflow_env import AirflowEnv, ensure_venv, install_hookline, prepare_home

__all__ = ["AirflowInstall", "airflow_home", "airflow_install", "ensure_provider", "run_airflow"]


@dataclass(frozen=True)
class AirflowInstall:
    """The Airflow interpreter with this checkout's hookline importable in it."""

    python: Path

    @property
    def airflow_bin(self) -> Path:
        return self.python.parent / "airflow"


def ensure_provider(python: Path, distribution: str, module: str) -> None:
    """``pip install`` an Airflow provider into the venv unless ``module`` already imports there
    (the benchmark needs none of them, so the venv is created without). Raises RuntimeError."""
    check = [str(python), "-c", f"import {module}"]
    if subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    proc = subprocess.run([*pip, distribution], capture_output=True, text=True, check=False)
    if subprocess.run(check, capture_output=True, check=False).returncode != 0:
        raise RuntimeError(f"installing {distribution} failed:\n{proc.stderr[-3000:]}")


@pytest.fixture(scope="session")
def airflow_install() -> AirflowInstall:
    python = ensure_venv()
    install_hookline(python)
    return AirflowInstall(python=python)


@pytest.fixture
def airflow_home(airflow_install: AirflowInstall, tmp_path: Path) -> AirflowEnv:
    """A fresh, migrated AIRFLOW_HOME (its env has no hookline settings yet)."""
    from cryptography.fernet import Fernet

    return prepare_home(
        airflow_install.python, tmp_path / "airflow-home", Fernet.generate_key().decode()
    )


def run_airflow(
    env: AirflowEnv, args: list[str], extra_env: Mapping[str, str], timeout_s: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``airflow <args>`` in ``env``'s home with ``extra_env`` added; output captured."""
    return subprocess.run(
        [str(env.airflow_bin), *args],
        env={**env.env, **extra_env},
        cwd=env.home,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
