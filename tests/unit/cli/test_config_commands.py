"""`hookline config show` refuses misspelled settings; `hookline config check` validates everything
and reaches every backend, exiting 1 on any problem, creating nothing, printing no secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hookline import registry
from hookline.connection import Connection
from hookline.exceptions import BackendPermissionDenied
from hookline.secrets.base import SecretsBackend
from tests.unit.cli.support import CANARY, assert_no_canary, run


def write_config(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "hookline.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_config_show_refuses_misspelled_sections(isolated_hookline: Path) -> None:
    """Issue 13.4: `[secret]` and `[metastor]` were echoed with exit 0; now exit 1 naming the file,
    the line and the closest valid name for each."""
    path = write_config(
        isolated_hookline, '[secret]\nbackends = ["env"]\n\n[metastor]\nurl = "sqlite:///x.db"\n'
    )
    result = run("config", "show")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: 2 problems in the configuration:",
        f"  - secret ({path}, line 1): unknown section [secret]; did you mean [secrets]? "
        "(known sections: [audit], [cache], [celery], [failover], [masking], [metastore], [pipelines], [rotation], [secrets])",
        f"  - metastor ({path}, line 4): unknown section [metastor]; did you mean [metastore]? "
        "(known sections: [audit], [cache], [celery], [failover], [masking], [metastore], [pipelines], [rotation], [secrets])",
    ]


def test_config_show_hides_sensitive_backend_settings(isolated_hookline: Path) -> None:
    """Backend tokens and secret ids from file and environment are *** in every format."""
    write_config(
        isolated_hookline,
        '[secrets]\nbackends = ["env", "vault"]\n'
        f'[secrets.backend.vault]\nurl = "http://127.0.0.1:1"\ntoken = "{CANARY}"\n',
    )
    for fmt in ("table", "plain", "json", "yaml"):
        result = run("config", "show", "-o", fmt)
        assert result.exit_code == 0, result.output
        assert_no_canary(result)
    data = json.loads(run("config", "show", "-o", "json").stdout)
    assert data["secrets"]["backend"]["vault"]["token"] == "***"


class ProbeBackend(SecretsBackend):
    """Records the ids it was asked for; optionally denies."""

    name = "probe"
    asked: list[str] = []
    deny = False

    def __init__(self, token: str = "") -> None:
        self.token = token

    def get_conn_value(self, conn_id: str) -> str | None:
        ProbeBackend.asked.append(conn_id)
        if ProbeBackend.deny:
            raise BackendPermissionDenied(f"token {self.token} is not allowed", backend=self.name)
        return None


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> type[ProbeBackend]:
    monkeypatch.setitem(registry._extra_backends, "probe", ProbeBackend)
    ProbeBackend.asked = []
    ProbeBackend.deny = False
    return ProbeBackend


def test_config_check_passes_and_creates_nothing(
    isolated_hookline: Path, probe: type[ProbeBackend]
) -> None:
    """A good configuration: every step ok, exit 0; the SQLite metastore that does not exist yet is
    reported, not created; the probe asks for one id that does not exist."""
    write_config(
        isolated_hookline,
        f'[secrets]\nbackends = ["env", "probe", "metastore"]\n[secrets.backend.probe]\ntoken = "{CANARY}"\n',
    )
    result = run("config", "check")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ok    settings: ")
    assert lines[1] == "ok    secrets backend env: 0 connection variable(s), 0 malformed"
    assert lines[2] == "ok    secrets backend probe: reached (ProbeBackend)"
    assert lines[3].startswith("ok    secrets backend metastore: SQLite database ")
    assert lines[3].endswith("does not exist yet (created on the first write)")
    assert lines[-1] == "configuration OK"
    assert probe.asked == ["hookline-config-check-probe"]
    assert sorted(p.name for p in isolated_hookline.iterdir()) == ["hookline.toml"]
    assert_no_canary(result)


def test_config_check_reaches_an_existing_metastore(isolated_hookline: Path) -> None:
    """With a metastore database, the check reads it (one lookup of a missing id)."""
    assert run("connections", "add", "a", "--conn-type", "http", "--host", "h").exit_code == 0
    result = run("config", "check")
    assert result.exit_code == 0, result.output
    assert "ok    secrets backend metastore: reached (MetastoreBackend)" in result.stdout


def test_config_check_reports_every_failure(
    isolated_hookline: Path, probe: type[ProbeBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A denied backend, a malformed variable, a bad entry in a connections file and a misspelled
    engine keyword of an existing metastore: each one FAIL line (masked, values never quoted)."""
    assert run("connections", "add", "a", "--conn-type", "http", "--host", "h").exit_code == 0
    conns = isolated_hookline / "conns.yaml"
    isolated_hookline.mkdir(parents=True, exist_ok=True)
    conns.write_text(f"good: http://h\nbad:\n  conn_type: http\n  pasword: {CANARY}\n")
    write_config(
        isolated_hookline,
        '[secrets]\nbackends = ["env", "files", "probe", "metastore"]\n'
        f'[secrets.backend.files]\nconnections_file_path = "{conns}"\n'
        f'[secrets.backend.probe]\ntoken = "{CANARY}"\n'
        "[secrets.backend.metastore]\nread_pool_sise = 2\n",
    )
    monkeypatch.setenv("HOOKLINE_CONN_BROKEN", f'{{"conn_type": "http", "password": "{CANARY}"')
    probe.deny = True
    result = run("config", "check")
    assert result.exit_code == 1
    out = result.stdout
    assert "FAIL  secrets backend env: 1 connection variable(s), 1 malformed" in out
    assert "FAIL  env HOOKLINE_CONN_BROKEN: connection 'broken' is not valid JSON" in out
    assert "FAIL  secrets backend files: the file is invalid" in out
    assert f"FAIL  files {conns}, line 2: connection 'bad': The object have illegal keys" in out
    assert "FAIL  secrets backend probe: token *** is not allowed" in out
    assert "FAIL  secrets backend metastore: cannot create the metastore engine" in out
    assert "read_pool_sise" in out
    assert result.stderr.strip() == "error: configuration check failed: 6 check(s) failed"
    assert_no_canary(result)


def test_config_check_flags_unknown_backends_and_settings(isolated_hookline: Path) -> None:
    """An unknown backend name (closest suggested) and unknown sections both fail the check."""
    path = write_config(isolated_hookline, '[secrets]\nbackends = ["env", "vualt"]\n')
    result = run("config", "check")
    assert result.exit_code == 1
    assert (
        "FAIL  secrets backend vualt: unknown secrets backend 'vualt' in [secrets] backends "
        f"({path}, line 2); did you mean 'vault'?" in result.stdout
    )
    write_config(isolated_hookline, "[cache]\nttl = 5\n[pool]\nsize = 1\n")
    result = run("config", "check")
    assert result.exit_code == 1
    assert "FAIL  settings: cache.ttl (" in result.stdout
    assert "FAIL  settings: pool (" in result.stdout


def test_config_check_flags_a_metastore_url_nothing_reads(isolated_hookline: Path) -> None:
    """[metastore] url with no metastore in the chain is refused by the check too."""
    write_config(
        isolated_hookline, '[secrets]\nbackends = ["env"]\n[metastore]\nurl = "sqlite:////x.db"\n'
    )
    result = run("config", "check")
    assert result.exit_code == 1
    assert "FAIL  settings: [metastore] url is set (" in result.stdout


def test_env_check_accepts_valid_variables(
    isolated_hookline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Valid URI and JSON variables (both prefixes) are counted as ok."""
    monkeypatch.setenv("HOOKLINE_CONN_A", "http://h")
    monkeypatch.setenv("AIRFLOW_CONN_B", Connection(conn_type="http", host="x").to_json())
    write_config(isolated_hookline, '[secrets]\nbackends = ["env"]\n')
    result = run("config", "check")
    assert result.exit_code == 0, result.output
    assert "ok    secrets backend env: 2 connection variable(s), 0 malformed" in result.stdout


def test_config_show_says_where_airflow_settings_came_from(
    isolated_hookline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Airflow's [secrets] backend from airflow.cfg and AIRFLOW__ variables: mapped, redacted, and
    each setting's origin shown (file and line, variable)."""
    cfg = tmp_path / "airflow.cfg"
    cfg.write_text(
        "[secrets]\nbackend = airflow.providers.hashicorp.secrets.vault.VaultBackend\n"
        f'backend_kwargs = {{"url": "http://127.0.0.1:1", "token": "{CANARY}"}}\n'
    )
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND_KWARG__MOUNT_POINT", "airflow")
    for fmt in ("table", "plain", "json", "yaml"):
        result = run("config", "show", "-o", fmt)
        assert result.exit_code == 0, result.output
        assert_no_canary(result)
    data = json.loads(run("config", "show", "-o", "json").stdout)
    assert data["secrets"]["backends"] == ["vault", "env", "metastore"]
    assert data["secrets"]["backend"]["vault"]["token"] == "***"
    origins = data["origins"]
    assert origins["secrets.backend.vault.url"] == f"{cfg}, line 3 (Airflow backend_kwargs)"
    assert origins["secrets.backend.vault.mount_point"] == (
        "AIRFLOW__SECRETS__BACKEND_KWARG__MOUNT_POINT (Airflow backend_kwargs)"
    )
    assert origins["secrets.backends"] == f"{cfg}, line 2 (Airflow's search path)"
