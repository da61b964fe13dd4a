"""Airflow metadata databases made by a real Airflow, for the ``--from-airflow-db`` migration tests.

Each database is created by ``airflow db migrate`` and filled through Airflow's own CLI
(``airflow connections add``/``import``, ``airflow variables set``/``import``) under three key
states, so one database holds every kind of row a migration meets:

* rows written with **no** Fernet key (plaintext, ``is_encrypted`` false);
* rows written with the **old** key only;
* rows written with ``new,old`` (encrypted with the new key: Airflow's MultiFernet writes with the
  first key).

Airflow then exports what it reads (``airflow connections export``, ``airflow variables export``
with ``new,old``): that is the expected result of a migration, as Airflow itself decrypts it.

Airflow installations: 3.3.2 is the benchmark's venv (``bench/.airflow-venv``, see
``bench/airflow_env.py``); 2.10.5 is installed once into ``tests/.airflow2-venv`` (ignored by git).
SQLite databases are cached in ``tests/.airflow-meta/<version>-<spec hash>/`` (ignored by git) and
copied per test; PostgreSQL databases are built once per session on the session's server.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.servers.postgres import PostgresServer

__all__ = [
    "AIRFLOW2_VERSION",
    "AIRFLOW3_VERSION",
    "BULK",
    "CANARIES",
    "KEY_NEW",
    "KEY_OLD",
    "KEY_OTHER",
    "AirflowInstall",
    "AirflowMetaDb",
    "airflow2_install",
    "airflow3_install",
    "airflow_meta_pg3",
    "airflow_meta_sqlite2",
    "airflow_meta_sqlite3",
    "ensure_airflow2_venv",
]

REPO = Path(__file__).resolve().parents[2]
AIRFLOW3_VERSION = "3.3.2"
AIRFLOW2_VERSION = "2.10.5"
AIRFLOW2_VENV = REPO / "tests" / ".airflow2-venv"
CACHE_DIR = REPO / "tests" / ".airflow-meta"

# Test keys (never used outside the suite).
KEY_OLD = "kKSCqJR486WnMMMwW9rQjiac1J4d6WZ-BCscD3h9sCE="
KEY_NEW = "gMPNBUHLEIH3kW1coPNXHXs7vzqe814aOFidG3pgO-g="
KEY_OTHER = "iWmE2UKX4jI7c0HFUYOMWgtCLSMhTVzpZasoDO6lk2I="  # encrypted nothing: the "wrong key"

BULK = 200  # connections (and variables) imported in bulk, for the timing figure

# Secret values that must never appear in output, errors or logs (canaries).
CANARIES = (
    "CANARYplain9f3",
    "CANARYold7c1",
    "CANARYoldapikey55",
    "CANARY p@ss:w/rd?#&=%+ü",
    "CANARYoldvar81",
    "CANARYnewvar42",
    "CANARYbulk",
)

# (key state, airflow CLI arguments); the key state is "none", "old" or "new,old".
STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "none",
        ("connections", "add", "plain_pg", "--conn-uri",
         "postgres://plainuser:CANARYplain9f3@pg.example:5432/app?sslmode=require"),
    ),
    ("none", ("variables", "set", "plain_var", "plain value")),
    (
        "old",
        ("connections", "add", "old_http", "--conn-json", json.dumps({
            "conn_type": "http", "host": "api.example.com", "login": "svc",
            "password": "CANARYold7c1", "schema": "https", "port": 8443,
            "description": "old key",
            "extra": {"api_key": "CANARYoldapikey55", "timeout": 30, "nested": {"a": [1, 2]}},
        })),
    ),
    ("old", ("variables", "set", "old_secret_token", "CANARYoldvar81")),
    (
        "new,old",
        ("connections", "add", "fields_mysql", "--conn-type", "mysql",
         "--conn-host", "db.internal", "--conn-login", "app",
         "--conn-password", "CANARY p@ss:w/rd?#&=%+ü", "--conn-port", "3306",
         "--conn-schema", "sales", "--conn-description", "Sales DB ✓",
         "--conn-extra", '{"charset": "utf8mb4", "ssl": {"ca": "/etc/ca.pem"}}'),
    ),
    ("new,old", ("connections", "add", "no_secret", "--conn-type", "fs",
                 "--conn-extra", '{"path": "/data"}')),
    ("new,old", ("connections", "import", "{bulk_connections}")),
    ("new,old", ("variables", "set", "json_var", '{"a": [1, 2], "b": "ü"}')),
    ("new,old", ("variables", "set", "new_api_key", "CANARYnewvar42",
                 "--description", "a new-key variable")),
    ("new,old", ("variables", "import", "{bulk_variables}")),
)  # fmt: skip


def bulk_connections() -> dict[str, Any]:
    """The connections imported in bulk (Airflow's connections-file JSON)."""
    return {
        f"bulk_{i:04d}": {
            "conn_type": "postgres",
            "host": f"db{i}.example",
            "login": f"user{i}",
            "password": f"CANARYbulk{i:04d}x",
            "schema": "warehouse",
            "port": 5432,
            "extra": json.dumps({"sslmode": "require", "application_name": f"job{i}"}),
        }
        for i in range(BULK)
    }


def bulk_variables() -> dict[str, str]:
    """The variables imported in bulk (Airflow's variables-file JSON)."""
    return {f"bulk_var_{i:04d}": f"value {i}" for i in range(BULK)}


def _spec_hash() -> str:
    spec = json.dumps([STEPS, bulk_connections(), bulk_variables(), KEY_OLD, KEY_NEW])
    return hashlib.sha256(spec.encode()).hexdigest()[:12]


# -- Airflow installations ---------------------------------------------------------------------


@dataclass(frozen=True)
class AirflowInstall:
    """An installed Airflow: its interpreter and version."""

    python: Path
    version: str

    @property
    def airflow(self) -> Path:
        """The ``airflow`` console script."""
        return self.python.parent / "airflow"


def _installed(python: Path) -> str | None:
    code = "import importlib.metadata as m; print(m.version('apache-airflow'))"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def ensure_airflow2_venv() -> Path:
    """The interpreter of ``tests/.airflow2-venv`` with apache-airflow 2.10.5, installed once (pip)."""
    python = AIRFLOW2_VENV / "bin" / "python"
    if python.exists() and _installed(python) == AIRFLOW2_VERSION:
        return python
    print(f"[tests] installing apache-airflow=={AIRFLOW2_VERSION} into {AIRFLOW2_VENV} (once)",
          file=sys.stderr)  # fmt: skip
    shutil.rmtree(AIRFLOW2_VENV, ignore_errors=True)
    base = shutil.which("python3.11") or sys.executable
    subprocess.run([base, "-m", "venv", str(AIRFLOW2_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    for args in (["-U", "pip"], [f"apache-airflow=={AIRFLOW2_VERSION}"]):
        proc = subprocess.run([*pip, *args], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"pip install {args} failed:\n{proc.stderr[-3000:]}")
    if _installed(python) != AIRFLOW2_VERSION:
        raise RuntimeError(f"installing apache-airflow=={AIRFLOW2_VERSION} failed")
    return python


@pytest.fixture(scope="session")
def airflow3_install() -> AirflowInstall:
    """Airflow 3.3.2 (the benchmark's venv, created on first use)."""
    from bench.airflow_env import ensure_venv

    return AirflowInstall(ensure_venv(), AIRFLOW3_VERSION)


@pytest.fixture(scope="session")
def airflow2_install() -> AirflowInstall:
    """Airflow 2.10.5 in ``tests/.airflow2-venv`` (created on first use)."""
    return AirflowInstall(ensure_airflow2_venv(), AIRFLOW2_VERSION)


# -- building a metadata database --------------------------------------------------------------


@dataclass(frozen=True)
class AirflowMetaDb:
    """A metadata database filled by a real Airflow, and what Airflow reads back from it.

    Attributes:
        url: SQLAlchemy URL of the database (what ``--from-airflow-db`` takes).
        install: The Airflow that made it.
        expected_connections: ``airflow connections export`` of it (conn_id -> fields, ``extra``
            as JSON text), read with ``new,old``.
        expected_variables: ``airflow variables export`` of it (key -> value; JSON values parsed).
        home: An AIRFLOW_HOME pointing at the database.
    """

    url: str
    install: AirflowInstall
    expected_connections: dict[str, dict[str, Any]]
    expected_variables: dict[str, Any]
    home: Path

    def env(self, keys: str = f"{KEY_NEW},{KEY_OLD}") -> dict[str, str]:
        """Environment for running this Airflow against the database."""
        return airflow_env(self.home, self.url, keys)

    def run(self, *args: str, keys: str = f"{KEY_NEW},{KEY_OLD}") -> str:
        """Run ``airflow <args>`` against the database; return stdout (fail loudly)."""
        return run_airflow(self.install, self.home, self.url, keys, args)


def _base_env() -> dict[str, str]:
    drop = ("HOOKLINE_", "AIRFLOW_", "AIRFLOW__", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def airflow_env(home: Path, url: str, keys: str) -> dict[str, str]:
    """The environment of an Airflow CLI process on ``url`` with Fernet ``keys`` ("" = none)."""
    return {
        **_base_env(),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__FERNET_KEY": keys,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": _airflow_url(url),
    }


def _airflow_url(url: str) -> str:
    """Airflow 3.3.2's psycopg2 driver for PostgreSQL (the URL hookline reads uses psycopg 3)."""
    return url.replace("postgresql+psycopg://", "postgresql+psycopg2://", 1)


def run_airflow(
    install: AirflowInstall, home: Path, url: str, keys: str, args: tuple[str, ...]
) -> str:
    """Run ``airflow <args>``; raise with its output when it fails."""
    proc = subprocess.run(
        [str(install.airflow), *args],
        env=airflow_env(home, url, keys),
        cwd=home,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"airflow {' '.join(args[:2])} failed ({proc.returncode}):\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        )
    return proc.stdout


def _keys(state: str) -> str:
    return {"none": "", "old": KEY_OLD, "new,old": f"{KEY_NEW},{KEY_OLD}"}[state]


def build(install: AirflowInstall, home: Path, url: str) -> AirflowMetaDb:
    """Migrate ``url`` with ``install``, fill it through Airflow's CLI, export what Airflow reads."""
    home.mkdir(parents=True, exist_ok=True)
    files = {
        "{bulk_connections}": home / "bulk_connections.json",
        "{bulk_variables}": home / "bulk_variables.json",
    }
    files["{bulk_connections}"].write_text(json.dumps(bulk_connections()))
    files["{bulk_variables}"].write_text(json.dumps(bulk_variables()))
    run_airflow(install, home, url, KEY_OLD, ("db", "migrate"))
    for state, args in STEPS:
        argv = tuple(str(files.get(arg, arg)) for arg in args)
        run_airflow(install, home, url, _keys(state), argv)
    both = _keys("new,old")
    run_airflow(install, home, url, both, ("connections", "export", str(home / "expected.json")))
    run_airflow(install, home, url, both, ("variables", "export", str(home / "expected_vars.json")))
    return load(install, home, url)


def load(install: AirflowInstall, home: Path, url: str) -> AirflowMetaDb:
    """The :class:`AirflowMetaDb` of an already built ``home``."""
    return AirflowMetaDb(
        url=url,
        install=install,
        expected_connections=json.loads((home / "expected.json").read_text()),
        expected_variables=json.loads((home / "expected_vars.json").read_text()),
        home=home,
    )


def _sqlite_db(install: AirflowInstall, tmp_path_factory: pytest.TempPathFactory) -> AirflowMetaDb:
    """A copy (per session) of the cached SQLite database of ``install``, built on first use."""
    cached = CACHE_DIR / f"{install.version}-{_spec_hash()}"
    if not (cached / "expected_vars.json").exists():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".build-{install.version}-", dir=CACHE_DIR))
        try:
            build(install, work, f"sqlite:///{work / 'airflow.db'}")
            for stale in ("logs",):
                shutil.rmtree(work / stale, ignore_errors=True)
            shutil.rmtree(cached, ignore_errors=True)
            os.replace(work, cached)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    home = tmp_path_factory.mktemp(f"airflow-{install.version}")
    for name in ("airflow.db", "expected.json", "expected_vars.json"):
        shutil.copy2(cached / name, home / name)
    return load(install, home, f"sqlite:///{home / 'airflow.db'}")


@pytest.fixture(scope="session")
def airflow_meta_sqlite3(
    airflow3_install: AirflowInstall, tmp_path_factory: pytest.TempPathFactory
) -> AirflowMetaDb:
    """An Airflow 3.3.2 SQLite metadata database (see the module docstring)."""
    return _sqlite_db(airflow3_install, tmp_path_factory)


@pytest.fixture(scope="session")
def airflow_meta_sqlite2(
    airflow2_install: AirflowInstall, tmp_path_factory: pytest.TempPathFactory
) -> AirflowMetaDb:
    """An Airflow 2.10.5 SQLite metadata database (see the module docstring)."""
    return _sqlite_db(airflow2_install, tmp_path_factory)


@pytest.fixture(scope="session")
def airflow_meta_pg3(
    airflow3_install: AirflowInstall,
    postgres_server: PostgresServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> AirflowMetaDb:
    """An Airflow 3.3.2 PostgreSQL metadata database on the session's server (built per session)."""
    name = postgres_server.create_database("airflow_meta3", owner_password="af-owner-pw")
    url = postgres_server.url(name, user=name, password="af-owner-pw")
    home = tmp_path_factory.mktemp("airflow-pg3")
    return build(airflow3_install, home, url)


@pytest.fixture
def fresh_sqlite_copy(
    tmp_path: Path,
) -> Callable[[AirflowMetaDb], AirflowMetaDb]:
    """Copy a session SQLite database for a test that changes it through Airflow."""

    def copy(db: AirflowMetaDb) -> AirflowMetaDb:
        home = tmp_path / f"airflow-copy-{db.install.version}"
        home.mkdir()
        for name in ("airflow.db", "expected.json", "expected_vars.json"):
            shutil.copy2(db.home / name, home / name)
        return load(db.install, home, f"sqlite:///{home / 'airflow.db'}")

    return copy
