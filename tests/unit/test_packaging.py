"""Packaging and developer commands: a minimal core, extras that install only what code imports,
license and metadata, the CLI's message without its extra, and `make demo` needing only Python."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]

# Distribution name -> the module the code imports (drivers are named as strings: SQLAlchemy imports
# them).
IMPORT_NAMES = {
    "pyyaml": "yaml",
    "typer": "typer",
    "rich": "rich",
    "sqlalchemy": "sqlalchemy",
    "alembic": "alembic",
    "cryptography": "cryptography",
    "psycopg": "psycopg",
    "pymysql": "pymysql",
    "pandas": "pandas",
    "polars": "polars",
    "httpx": "httpx",
    "tenacity": "tenacity",
    "hvac": "hvac",
    "boto3": "boto3",
    "google-cloud-secret-manager": "google.cloud.secretmanager",
    "google-auth": "google.auth",
    "google-cloud-bigquery": "google.cloud.bigquery",
    "slack-sdk": "slack_sdk",
    "jinja2": "jinja2",
    "celery": "celery",
    "pyarrow": "pyarrow",
    "prometheus-client": "prometheus_client",
    "opentelemetry-sdk": "opentelemetry",
    "fastapi": "fastapi",
    "uvicorn": "uvicorn",
    "python-multipart": "python_multipart",
    "itsdangerous": "itsdangerous",
}
DRIVERS = {"psycopg", "pymysql"}


def dist_name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower()


def imported_modules() -> set[str]:
    """Every module imported in src/hookline (``from a.b import c`` counts as ``a.b`` and
    ``a.b.c``), plus the driver names the SQL dialects give SQLAlchemy as strings."""
    found: set[str] = set()
    importing = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import\s+([\w, ]+)|import\s+([\w.]+))", re.M)
    for path in (ROOT / "src" / "hookline").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for source, names, module in importing.findall(text):
            if module:
                found.add(module)
            else:
                found.add(source)
                found.update(f"{source}.{name.strip()}" for name in names.split(","))
        found.update(re.findall(r"import_module\(\s*\"([\w.]+)\"", text))
        found.update(driver for driver in DRIVERS if f'"{driver}"' in text)
    return found


def test_core_dependencies_are_minimal() -> None:
    """A service that only reads variables installs neither typer, rich, SQLAlchemy nor Alembic."""
    core = {dist_name(r) for r in PROJECT["dependencies"]}
    assert core == {"pyyaml"}


def test_every_extra_installs_only_what_code_imports() -> None:
    """No extra installs a package that no module imports (celery waits for its executor)."""
    modules = imported_modules()
    extras: dict[str, list[str]] = PROJECT["optional-dependencies"]
    unused = {}
    for extra, requirements in extras.items():
        for requirement in requirements:
            name = dist_name(requirement)
            if name == "hookline":
                continue  # an extra made of other extras
            module = IMPORT_NAMES[name]
            if not any(m == module or m.startswith(module + ".") for m in modules):
                unused.setdefault(extra, []).append(name)
    assert unused == {}


def test_cli_extra_holds_what_the_command_imports() -> None:
    """`hookline[cli]` brings typer, rich and the metastore the command writes to."""
    cli = {
        dist_name(r) if not r.startswith("hookline[") else r
        for r in PROJECT["optional-dependencies"]["cli"]
    }
    assert cli == {"typer", "rich", "hookline[metastore]"}
    assert PROJECT["scripts"] == {"hookline": "hookline.cli:main"}


def test_license_urls_and_classifiers() -> None:
    """The Apache-2.0 text ships in the repo (and the wheel via license-files), the project links
    are absolute, and each supported Python version has its classifier."""
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]
    assert all(url.startswith("https://") for url in PROJECT["urls"].values())
    assert {"Source", "Issues", "Changelog", "Documentation"} <= set(PROJECT["urls"])
    minimum = int(PROJECT["requires-python"].removeprefix(">=3."))
    for minor in range(minimum, 14):
        assert f"Programming Language :: Python :: 3.{minor}" in PROJECT["classifiers"]


def test_console_script_without_the_cli_extra_names_the_extra() -> None:
    """With typer missing, `hookline` prints one line naming `hookline[cli]` and exits 1 (no
    traceback)."""
    code = (
        "import sys; sys.modules['typer'] = None\n"
        "from hookline.cli import main\n"
        "main(['--version'])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 1
    assert proc.stderr == (
        "error: typer is required for the hookline command; install it with: "
        "pip install 'hookline[cli]'\n"
    )
    assert proc.stdout == ""


def test_python_dash_m_hookline_cli_runs_the_command() -> None:
    """`python -m hookline.cli` is the console script."""
    proc = subprocess.run(
        [sys.executable, "-m", "hookline.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("hookline ")


def make_dry_run(target: str) -> str:
    proc = subprocess.run(
        ["make", "-n", "-C", str(ROOT), target],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return proc.stdout


def test_make_demo_needs_only_python() -> None:
    """`make demo` runs the Python bootstrap only: no apt-get, no root; `make test` and `make bench`
    also install the servers."""
    demo = make_dry_run("demo")
    assert "scripts/bootstrap.sh" in demo
    assert "bootstrap-servers" not in demo
    assert "apt-get" not in (ROOT / "scripts" / "bootstrap.sh").read_text(encoding="utf-8")
    for target in ("test", "bench"):
        assert "scripts/bootstrap-servers.sh" in make_dry_run(target)
    for target in ("unit", "lint", "typecheck", "docs"):
        assert "bootstrap-servers" not in make_dry_run(target)


@pytest.mark.parametrize("script", ["bootstrap.sh", "bootstrap-servers.sh"])
def test_bootstrap_scripts_are_valid_bash(script: str) -> None:
    """Both bootstrap scripts parse (bash -n)."""
    subprocess.run(["bash", "-n", str(ROOT / "scripts" / script)], check=True, timeout=30)
