"""``HooklineSecretsBackend`` inside a real Airflow 3.3.2 process: its keyword arguments are checked,
a hookline deny is Airflow's authoritative deny (no fall-through to Airflow's env backend), it
serves no configuration options and no team-scoped lookups. No Airflow server is needed: the script
runs in the Airflow interpreter and goes through the Task SDK's own lookup function."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.servers.airflow import AirflowInstall

SCRIPT = r"""
import json, os, sys

from hookline import registry
from hookline.connection import Connection
from hookline.exceptions import BackendPermissionDenied, ConfigurationError
from hookline.secrets.base import SecretsBackend


class Deny(SecretsBackend):
    name = "deny"

    def get_conn_value(self, conn_id):
        if conn_id == "forbidden":
            raise BackendPermissionDenied("access denied to " + conn_id, backend="deny")
        return None


registry.register_backend("deny", Deny)

from airflow.sdk.exceptions import AirflowSecretsBackendAccessDenied  # noqa: E402
from airflow.sdk.execution_time import context  # noqa: E402

from hookline.airflow.secrets import HooklineSecretsBackend  # noqa: E402

out = {}
try:
    HooklineSecretsBackend(config_fil="/x.toml")
except ConfigurationError as exc:
    out["typo"] = str(exc)
backend = HooklineSecretsBackend(config_file=sys.argv[1], home=sys.argv[2])
out["repr"] = repr(backend)
out["config"] = backend.get_config("fernet_key")
out["team"] = backend.get_conn_value("allowed", team_name="team_a")
out["json"] = json.loads(backend.get_conn_value("allowed") or "null")
out["absent"] = backend.get_conn_value("nowhere")
# The SDK's own lookup: the deny must stop the search before Airflow's env backend.
os.environ["AIRFLOW_CONN_FORBIDDEN"] = "postgres://u:p@env-fallback/db"
try:
    context._get_connection("forbidden")
    out["sdk"] = "fell through"
except AirflowSecretsBackendAccessDenied as exc:
    out["sdk"] = type(exc).__name__ + ": " + str(exc)
print(json.dumps(out))
"""


def test_backend_contract_in_airflow(airflow_install: AirflowInstall, tmp_path: Path) -> None:
    home = tmp_path / "hl-home"
    home.mkdir()
    (home / "conns.json").write_text(json.dumps({"allowed": "postgres://al:pw@h:5432/db"}))
    config = tmp_path / "hookline.toml"
    config.write_text(
        '[secrets]\nbackends = ["deny", "files"]\n\n'
        f'[secrets.backend.files]\nconnections_file_path = "{home / "conns.json"}"\n'
    )
    script = tmp_path / "probe.py"
    script.write_text(SCRIPT)
    env = {
        "PATH": "/usr/bin:/bin",
        "AIRFLOW_HOME": str(tmp_path / "af-home"),
        "AIRFLOW__WORKERS__SECRETS_BACKEND": "hookline.airflow.secrets.HooklineSecretsBackend",
        "AIRFLOW__WORKERS__SECRETS_BACKEND_KWARGS": json.dumps(
            {"config_file": str(config), "home": str(home)}
        ),
        "AIRFLOW__SECRETS__BACKEND": "hookline.airflow.secrets.HooklineSecretsBackend",
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps(
            {"config_file": str(config), "home": str(home)}
        ),
    }
    proc = subprocess.run(
        [str(airflow_install.python), str(script), str(config), str(home)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "did you mean 'config_file'?" in out["typo"]
    assert out["repr"] == "HooklineSecretsBackend(HOOKLINE_CONFIG, HOOKLINE_HOME)"
    assert out["config"] is None
    assert out["team"] is None
    assert out["json"]["host"] == "h"
    assert out["absent"] is None
    assert out["sdk"].startswith("AirflowSecretsBackendAccessDenied: ")
    assert "access denied to forbidden" in out["sdk"]
