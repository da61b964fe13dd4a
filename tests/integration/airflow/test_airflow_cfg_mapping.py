"""The same ``airflow.cfg`` read by a real Airflow 3.3.2 and by hookline: ``[secrets] backend =
LocalFilesystemBackend`` with ``backend_kwargs`` gives both the same connection (hookline maps the
class to its ``files`` backend), and the env-var form does too."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from bench.airflow_env import AirflowEnv

from hookline.config import load_settings
from hookline.resolve.build import build_chain
from tests.servers.airflow import AirflowInstall, ensure_provider, run_airflow
from tests.servers.moto import MotoServer
from tests.servers.openbao import OpenBaoServer

CANARY = "canary-Cfg-Pw-4411"
FILES = "airflow.secrets.local_filesystem.LocalFilesystemBackend"


def _connections_file(tmp_path: Path) -> Path:
    path = tmp_path / "connections.json"
    path.write_text(
        json.dumps(
            {
                "af_file": {
                    "conn_type": "postgres",
                    "host": "files.internal",
                    "login": "bob",
                    "password": CANARY,
                    "port": 6432,
                    "schema": "wh",
                    "extra_dejson": {"sslmode": "verify-full"},
                },
                "af_uri": "mysql://carol:pw%2Fx@mysql.internal:3307/shop?charset=utf8mb4",
            }
        )
    )
    return path


def _set_secrets_backend(cfg: Path, backend: str, kwargs: dict[str, object]) -> None:
    text = cfg.read_text()
    text, n1 = re.subn(r"(?m)^backend = *$", f"backend = {backend}", text, count=1)
    text, n2 = re.subn(
        r"(?m)^backend_kwargs = *$", f"backend_kwargs = {json.dumps(kwargs)}", text, count=1
    )
    assert (n1, n2) == (1, 1), "airflow.cfg has no empty [secrets] backend/backend_kwargs lines"
    cfg.write_text(text)


def _airflow_view(airflow_home: AirflowEnv, conn_id: str, env: dict[str, str]) -> dict[str, str]:
    got = run_airflow(airflow_home, ["connections", "get", conn_id, "-o", "json"], env)
    assert got.returncode == 0, got.stderr[-3000:]
    row: dict[str, str] = json.loads(got.stdout)[0]
    return row


def _same(row: dict[str, str], conn: object) -> None:
    for field in ("conn_type", "host", "login", "password", "schema"):
        assert row[field] == getattr(conn, field), field
    assert row["port"] == str(conn.port)  # type: ignore[attr-defined]
    assert row["get_uri"] == conn.get_uri()  # type: ignore[attr-defined]


def test_airflow_cfg_local_filesystem_backend_read_by_both(
    airflow_home: AirflowEnv, tmp_path: Path
) -> None:
    conns = _connections_file(tmp_path)
    cfg = airflow_home.home / "airflow.cfg"
    _set_secrets_backend(cfg, FILES, {"connections_file_path": str(conns)})

    settings = load_settings(
        {"AIRFLOW_HOME": str(airflow_home.home), "HOOKLINE_HOME": str(tmp_path / "hl")}
    )
    assert settings.backends == ("files", "env", "metastore")
    assert settings.where("secrets.backend.files.connections_file_path").startswith(str(cfg))
    chain = build_chain(settings)
    try:
        for conn_id in ("af_file", "af_uri"):
            _same(_airflow_view(airflow_home, conn_id, {}), chain.get_connection(conn_id))
    finally:
        chain.close()


def test_airflow_env_vars_read_by_both(airflow_home: AirflowEnv, tmp_path: Path) -> None:
    conns = _connections_file(tmp_path)
    env = {
        "AIRFLOW__SECRETS__BACKEND": FILES,
        "AIRFLOW__SECRETS__BACKEND_KWARG__CONNECTIONS_FILE_PATH": str(conns),
    }
    settings = load_settings({**env, "HOOKLINE_HOME": str(tmp_path / "hl")})
    chain = build_chain(settings)
    try:
        _same(_airflow_view(airflow_home, "af_file", env), chain.get_connection("af_file"))
    finally:
        chain.close()


def test_airflow_cfg_vault_backend_read_by_both(
    airflow_install: AirflowInstall,
    airflow_home: AirflowEnv,
    openbao_server: OpenBaoServer,
    tmp_path: Path,
) -> None:
    """Airflow's own VaultBackend (hashicorp provider) and hookline's mapped vault backend read the
    same OpenBao secrets from the same airflow.cfg."""
    ensure_provider(
        airflow_install.python, "apache-airflow-providers-hashicorp", "airflow.providers.hashicorp"
    )
    client = openbao_server.client()
    secrets = {
        "af_vault_uri": {"conn_uri": "postgres://vu:vp%40x@vault-db:5432/app?sslmode=require"},
        "af_vault_json": {
            "conn_type": "mysql",
            "host": "m.internal",
            "login": "ml",
            "password": CANARY,
            "port": 3306,
            "schema": "shop",
        },
    }
    for conn_id, secret in secrets.items():
        client.secrets.kv.v2.create_or_update_secret(
            path=f"af-conns/{conn_id}", secret=secret, mount_point="secret"
        )
    cfg = airflow_home.home / "airflow.cfg"
    _set_secrets_backend(
        cfg,
        "airflow.providers.hashicorp.secrets.vault.VaultBackend",
        {
            "connections_path": "af-conns",
            "config_path": None,
            "url": openbao_server.url,
            "token": openbao_server.root_token,
            "mount_point": "secret",
            "kv_engine_version": 2,
        },
    )
    settings = load_settings(
        {"AIRFLOW_HOME": str(airflow_home.home), "HOOKLINE_HOME": str(tmp_path / "hl")}
    )
    assert settings.backends == ("vault", "env", "metastore")
    chain = build_chain(settings)
    try:
        for conn_id in secrets:
            _same(_airflow_view(airflow_home, conn_id, {}), chain.get_connection(conn_id))
    finally:
        chain.close()


@pytest.mark.parametrize(
    ("class_path", "prefix"),
    [
        ("airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend", "af/conns"),
        (
            "airflow.providers.amazon.aws.secrets.systems_manager.SystemsManagerParameterStoreBackend",
            "/af/conns",
        ),
    ],
    ids=["secrets_manager", "ssm"],
)
def test_airflow_env_aws_backends_read_by_both(
    airflow_install: AirflowInstall,
    airflow_home: AirflowEnv,
    moto_server: MotoServer,
    tmp_path: Path,
    class_path: str,
    prefix: str,
) -> None:
    """Airflow's Amazon backends and hookline's mapped ones read the same moto secrets, configured
    once through AIRFLOW__SECRETS__BACKEND / _KWARGS (credentials and endpoint as kwargs)."""
    import boto3

    ensure_provider(
        airflow_install.python, "apache-airflow-providers-amazon", "airflow.providers.amazon"
    )
    conn_id = f"af_aws_{tmp_path.name[-6:]}".replace("-", "_")
    value = json.dumps(
        {
            "conn_type": "postgres",
            "host": "aws-db.internal",
            "login": "al",
            "password": CANARY,
            "port": 5432,
            "schema": "app",
        }
    )
    if "secrets_manager" in class_path:
        boto3.client("secretsmanager", **moto_server.client_kwargs()).create_secret(
            Name=f"{prefix}/{conn_id}", SecretString=value
        )
    else:
        boto3.client("ssm", **moto_server.client_kwargs()).put_parameter(
            Name=f"{prefix}/{conn_id}", Value=value, Type="SecureString"
        )
    env = {
        "AIRFLOW__SECRETS__BACKEND": class_path,
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps(
            {"connections_prefix": prefix, "config_prefix": None, **moto_server.client_kwargs()}
        ),
    }
    settings = load_settings({**env, "HOOKLINE_HOME": str(tmp_path / "hl")})
    chain = build_chain(settings)
    try:
        _same(_airflow_view(airflow_home, conn_id, env), chain.get_connection(conn_id))
    finally:
        chain.close()
