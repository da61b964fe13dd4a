"""The isolated Apache Airflow 3.3.2 environment the benchmark compares against.

Created once at ``bench/.airflow-venv`` (``python3 -m venv`` + ``pip install``, about 20 s; ignored by
git) and reused while its marker file says it holds the pinned version. Every run gets a fresh
``AIRFLOW_HOME`` in a temporary directory with a migrated SQLite metastore (``airflow db migrate``)
holding the benchmark's metastore connection.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.connection_ops import ENV_CONN_ID, INPUT_URI, META_CONN_ID

__all__ = [
    "AIRFLOW_VERSION",
    "VENV_DIR",
    "AirflowEnv",
    "base_env",
    "ensure_venv",
    "install_hookline",
    "prepare_home",
]

AIRFLOW_VERSION = "3.3.2"
REQUIREMENTS = (f"apache-airflow=={AIRFLOW_VERSION}", "apache-airflow-providers-postgres")
BENCH_DIR = Path(__file__).resolve().parent
VENV_DIR = BENCH_DIR / ".airflow-venv"
MARKER = VENV_DIR / ".hookline-bench-installed"


@dataclass
class AirflowEnv:
    """A ready Airflow installation and home.

    Attributes:
        python: The Airflow interpreter.
        home: The ``AIRFLOW_HOME`` of this run (migrated SQLite metastore).
        env: Environment for Airflow subprocesses (secret cache off).
        version: ``airflow version`` as reported by the package metadata.
    """

    python: Path
    home: Path
    env: dict[str, str] = field(default_factory=dict)
    version: str = AIRFLOW_VERSION

    @property
    def airflow_bin(self) -> Path:
        """The ``airflow`` console script."""
        return self.python.parent / "airflow"

    def with_cache(self, enabled: bool) -> dict[str, str]:
        """The subprocess environment with ``AIRFLOW__SECRETS__USE_CACHE`` on or off."""
        return {**self.env, "AIRFLOW__SECRETS__USE_CACHE": "True" if enabled else "False"}


def base_env() -> dict[str, str]:
    """This process's environment without hookline/Airflow settings or venv activation.

    ``PYTHONDONTWRITEBYTECODE`` is dropped too: pip compiles bytecode at install time (the Airflow
    venv has it) while ``uv sync`` does not, so without this the hookline side would recompile every
    module in every process and the import-bound rows would compare unlike things.
    """
    drop = (
        "HOOKLINE_",
        "AIRFLOW_",
        "AIRFLOW__",
        "VIRTUAL_ENV",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONDONTWRITEBYTECODE",
    )
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def _log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def ensure_venv(venv_dir: Path = VENV_DIR) -> Path:
    """Return the Airflow interpreter, creating the venv once (python3 -m venv + pip install)."""
    python = venv_dir / "bin" / "python"
    marker = venv_dir / MARKER.name
    if python.exists() and marker.exists() and marker.read_text().strip() == AIRFLOW_VERSION:
        return python
    if python.exists() and _installed_version(python) == AIRFLOW_VERSION:
        marker.write_text(AIRFLOW_VERSION + "\n")
        return python
    _log(f"creating {venv_dir} with apache-airflow=={AIRFLOW_VERSION} (once, about 20 s)")
    shutil.rmtree(venv_dir, ignore_errors=True)
    base = shutil.which("python3") or sys.executable
    subprocess.run([base, "-m", "venv", str(venv_dir)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run_quiet([*pip, "-U", "pip"])
    _run_quiet([*pip, *REQUIREMENTS])
    if _installed_version(python) != AIRFLOW_VERSION:
        raise RuntimeError(f"installing apache-airflow=={AIRFLOW_VERSION} failed")
    marker.write_text(AIRFLOW_VERSION + "\n")
    return python


ROOT = BENCH_DIR.parent
HOOKLINE_EXTRAS = "metastore,http"
_HOOKLINE_FILE = "import hookline, pathlib; print(pathlib.Path(hookline.__file__).resolve())"


def _hookline_installed(python: Path) -> bool:
    proc = subprocess.run(
        [str(python), "-c", _HOOKLINE_FILE], capture_output=True, text=True, check=False
    )
    src = (ROOT / "src" / "hookline" / "__init__.py").resolve()
    return proc.returncode == 0 and Path(proc.stdout.strip()) == src


def install_hookline(python: Path) -> None:
    """``pip install -e`` this checkout (with the metastore and http extras) into the Airflow venv,
    once: the editable install follows later edits, and the entry points of hookline's backends
    exist there too (what ``hookline.airflow.secrets`` needs inside Airflow)."""
    if _hookline_installed(python):
        return
    _log(f"installing hookline (editable) into {python.parent.parent}")
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run_quiet([*pip, "-e", f"{ROOT}[{HOOKLINE_EXTRAS}]"])
    if not _hookline_installed(python):
        raise RuntimeError(f"installing hookline into {python} failed")


def _run_quiet(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        noise = "is neither a file nor a directory"
        lines = [ln for ln in proc.stderr.splitlines() if noise not in ln]
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed:\n" + "\n".join(lines[-20:]))


def _installed_version(python: Path) -> str | None:
    code = "import importlib.metadata as m; print(m.version('apache-airflow'))"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def prepare_home(python: Path, home: Path, fernet_key: str) -> AirflowEnv:
    """Create ``home`` as AIRFLOW_HOME: migrate the SQLite metastore and store the benchmark's
    metastore connection in it. Returns the ready :class:`AirflowEnv`."""
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **base_env(),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__FERNET_KEY": fernet_key,
        "AIRFLOW__SECRETS__USE_CACHE": "False",
        f"AIRFLOW_CONN_{ENV_CONN_ID.upper()}": INPUT_URI,
    }
    airflow = python.parent / "airflow"
    for cmd in (
        [str(airflow), "db", "migrate"],
        [str(airflow), "connections", "add", META_CONN_ID, "--conn-uri", INPUT_URI],
    ):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=home, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[1:3])} failed: {proc.stderr[-2000:]}")
    version = _installed_version(python) or AIRFLOW_VERSION
    return AirflowEnv(python=python, home=home, env=env, version=version)
