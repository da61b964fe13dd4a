"""Variables files both ways against a real Apache Airflow 3.3.2 (installed once by the suite under
``bench/.airflow-venv``, as ``make bench`` does): what ``airflow variables export`` writes, ``hookline
variables import`` reads, and the reverse; ``AIRFLOW_VAR_*`` set for Airflow resolves in hookline."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from bench.airflow_env import AirflowEnv, ensure_venv, prepare_home

import hookline
from hookline.secrets.metastore import MetastoreBackend
from hookline.secrets.metastore.keys import generate_key
from tests.unit.cli.support import run

CANARY = "c4n4ry-V4r-S3cret!"
VALUES: dict[str, object] = {
    "plain": "text with spaces",
    "number_text": "42",
    "cfg": {"rows": 500, "tags": ["a", "b"], "nested": {"ok": True}},
    "api_token": CANARY,
    "unicode": "żółw ✓",
}


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> AirflowEnv:
    python = ensure_venv()
    return prepare_home(python, tmp_path_factory.mktemp("airflow-home"), generate_key())


def _airflow(env: AirflowEnv, *args: str) -> str:
    proc = subprocess.run(
        [str(env.airflow_bin), *args],
        env=env.env,
        capture_output=True,
        text=True,
        cwd=env.home,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_airflow_export_imports_into_hookline(airflow: AirflowEnv, tmp_path: Path) -> None:
    source = tmp_path / "for-airflow.json"
    source.write_text(json.dumps(VALUES))
    _airflow(airflow, "variables", "import", str(source), "--action-on-existing-key", "overwrite")
    exported = tmp_path / "from-airflow.json"
    _airflow(airflow, "variables", "export", str(exported))
    result = run("variables", "import", str(exported))
    assert result.exit_code == 0, result.output
    store = MetastoreBackend()
    try:
        stored = dict(store.list_variables())
    finally:
        store.close()
    assert stored["plain"] == "text with spaces"
    assert stored["api_token"] == CANARY
    assert stored["unicode"] == "żółw ✓"
    assert json.loads(stored["cfg"]) == VALUES["cfg"]
    # Airflow exports "42" (JSON text) as the number 42; its import stores it back as "42" too.
    assert stored["number_text"] == "42"
    assert hookline.get_variable("cfg", deserialize_json=True) == VALUES["cfg"]


def test_hookline_export_imports_into_airflow(airflow: AirflowEnv, tmp_path: Path) -> None:
    hookline.set_variable("hl_plain", "from hookline")
    hookline.set_variable("hl_cfg", {"a": [1, 2]}, serialize_json=True)
    hookline.set_variable("hl_secret_token", CANARY)
    path = tmp_path / "from-hookline.json"
    result = run("variables", "export", str(path), "--show-secrets")
    assert result.exit_code == 0, result.output
    _airflow(airflow, "variables", "import", str(path), "--action-on-existing-key", "overwrite")
    assert _airflow(airflow, "variables", "get", "hl_plain").strip() == "from hookline"
    assert _airflow(airflow, "variables", "get", "hl_secret_token").strip() == CANARY
    cfg = _airflow(airflow, "variables", "get", "hl_cfg")
    assert json.loads(cfg) == {"a": [1, 2]}


def test_airflow_var_env_vars_resolve_the_same_in_both(
    airflow: AirflowEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = '{"threshold": 7}'
    env = {**airflow.env, "AIRFLOW_VAR_SHARED_SETTING": value}
    code = (
        "from airflow.sdk import Variable; "
        "print(Variable.get('shared_setting', deserialize_json=True)['threshold'])"
    )
    proc = subprocess.run(
        [str(airflow.python), "-c", code],
        env=env,
        capture_output=True,
        text=True,
        cwd=airflow.home,
        check=False,
        timeout=300,
    )
    if proc.returncode != 0:  # older entry point, same backend
        code = code.replace("airflow.sdk", "airflow.models")
        proc = subprocess.run(
            [str(airflow.python), "-c", code],
            env=env,
            capture_output=True,
            text=True,
            cwd=airflow.home,
            check=False,
            timeout=300,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "7"
    monkeypatch.setenv("AIRFLOW_VAR_SHARED_SETTING", value)
    assert hookline.get_variable("shared_setting", deserialize_json=True) == {"threshold": 7}
    assert os.environ["AIRFLOW_VAR_SHARED_SETTING"] == value
