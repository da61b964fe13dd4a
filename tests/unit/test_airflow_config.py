"""Airflow's ``[secrets] backend`` / ``backend_kwargs`` mapped to hookline backends
(:mod:`hookline.airflow_config`) and read from airflow.cfg, hookline.toml and AIRFLOW__ variables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hookline.airflow_config import AIRFLOW_BACKENDS, HOOKLINE_BACKEND_CLASS, map_backend
from hookline.config import load_settings
from hookline.exceptions import ConfigurationError

CANARY = "hvs.CANARY-token-5f1e"
VAULT = "airflow.providers.hashicorp.secrets.vault.VaultBackend"
SM = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
SSM = "airflow.providers.amazon.aws.secrets.systems_manager.SystemsManagerParameterStoreBackend"
GCP = "airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend"
FILES = "airflow.secrets.local_filesystem.LocalFilesystemBackend"
ENV = "airflow.secrets.environment_variables.EnvironmentVariablesBackend"

# Every Airflow class, every keyword argument it maps, and what hookline gets.
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    (
        FILES,
        "files",
        {
            "connections_file_path": "/c.yaml",
            "variables_file_path": "/v.json",
            "configs_file_path": None,
        },
        {"connections_file_path": "/c.yaml", "variables_file_path": "/v.json"},
    ),
    (ENV, "env", {}, {}),
    (
        VAULT,
        "vault",
        {
            "connections_path": "conns",
            "variables_path": ["vars"],
            "config_path": None,
            "url": "http://127.0.0.1:8200",
            "auth_type": "approle",
            "auth_mount_point": "approle2",
            "mount_point": "airflow",
            "kv_engine_version": "1",
            "token": CANARY,
            "token_path": "/run/token",
            "role_id": "r",
            "secret_id": "s",
            "username": "u",
            "password": "p",
            "namespace": "ns",
            "verify": "false",
            "cert": ["/c.pem", "/k.pem"],
            "connections_lookup_pattern": "^db_",
            "variables_lookup_pattern": "^v_",
        },
        {
            "connections_path": "conns",
            "variables_path": "vars",
            "url": "http://127.0.0.1:8200",
            "auth_type": "approle",
            "auth_mount_point": "approle2",
            "mount_point": "airflow",
            "kv_engine_version": 1,
            "token": CANARY,
            "token_path": "/run/token",
            "role_id": "r",
            "secret_id": "s",
            "username": "u",
            "password": "p",
            "namespace": "ns",
            "verify": False,
            "cert": ["/c.pem", "/k.pem"],
            "connections_lookup_pattern": "(?:^db_).*",
            "variables_lookup_pattern": "(?:^v_).*",
        },
    ),
    *[
        (
            cls,
            kind,
            {
                "connections_prefix": "a/c",
                "variables_prefix": "a/v",
                "config_prefix": None,
                "config_lookup_pattern": None,
                "connections_lookup_pattern": "^x",
                "variables_lookup_pattern": "^y",
                **({"sep": ":"} if kind == "aws_secrets_manager" else {}),
                "region_name": "eu-west-1",
                "profile_name": "prof",
                "endpoint_url": "http://127.0.0.1:5000",
                "aws_access_key_id": "AKIA",
                "aws_secret_access_key": CANARY,
                "aws_session_token": "st",
                "role_arn": "arn:aws:iam::1:role/r",
                "assume_role_kwargs": '{"DurationSeconds": 900}',
                "extra_conn_words": {"login": ["account"]},
            },
            {
                "connections_prefix": "a/c",
                "variables_prefix": "a/v",
                "connections_lookup_pattern": "(?:^x).*",
                "variables_lookup_pattern": "(?:^y).*",
                **({"sep": ":"} if kind == "aws_secrets_manager" else {}),
                "region_name": "eu-west-1",
                "profile_name": "prof",
                "endpoint_url": "http://127.0.0.1:5000",
                "aws_access_key_id": "AKIA",
                "aws_secret_access_key": CANARY,
                "aws_session_token": "st",
                "role_arn": "arn:aws:iam::1:role/r",
                "assume_role_kwargs": {"DurationSeconds": 900},
                "extra_conn_words": {"login": ["account"]},
            },
        )
        for cls, kind in ((SM, "aws_secrets_manager"), (SSM, "aws_ssm"))
    ],
    (
        GCP,
        "gcp_secret_manager",
        {
            "connections_prefix": "ac",
            "variables_prefix": "av",
            "config_prefix": None,
            "sep": "_",
            "project_id": "proj",
            "gcp_key_path": "/key.json",
            "gcp_keyfile_dict": '{"type": "service_account"}',
            "gcp_scopes": "a, b",
            "connections_lookup_pattern": "^x",
            "variables_lookup_pattern": "^y",
        },
        {
            "connections_prefix": "ac",
            "variables_prefix": "av",
            "sep": "_",
            "project_id": "proj",
            "key_path": "/key.json",
            "keyfile_dict": {"type": "service_account"},
            "scopes": ["a", "b"],
            "connections_lookup_pattern": "(?:^x).*",
            "variables_lookup_pattern": "(?:^y).*",
        },
    ),
]


def test_every_mapped_class_has_a_case() -> None:
    assert sorted(c[0] for c in CASES) == sorted(AIRFLOW_BACKENDS)


@pytest.mark.parametrize(("cls", "kind", "kwargs", "expected"), CASES, ids=[c[1] for c in CASES])
def test_every_class_and_kwarg_maps(
    cls: str, kind: str, kwargs: dict[str, Any], expected: dict[str, Any]
) -> None:
    mapped = map_backend(cls, kwargs, where="test")
    assert mapped is not None
    assert mapped.name == kind
    assert dict(mapped.kwargs) == expected
    assert mapped.chain == tuple(dict.fromkeys((kind, "env", "metastore")))
    # every mapped Airflow key is accepted by the real hookline backend class
    import inspect

    from hookline.registry import backend_class_for

    params = inspect.signature(backend_class_for(kind)).parameters
    has_var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    missing = {k for k in expected if k not in params}
    assert has_var_kw or not missing, missing


def test_hookline_itself_maps_to_nothing() -> None:
    assert map_backend(HOOKLINE_BACKEND_CLASS, {"config_file": "/x"}, where="t") is None


@pytest.mark.parametrize(
    ("cls", "kwargs", "needles"),
    [
        (
            "airflow.providers.hashicorp.secrets.vault.VaultBackendd",
            {},
            [f"did you mean {VAULT!r}"],
        ),
        ("my.company.VaultBackend", {}, [f"did you mean {VAULT!r}", "no hookline equivalent"]),
        (VAULT, {"conections_path": "c"}, ["'conections_path'", "did you mean 'connections_path'"]),
        (VAULT, {"kubernetes_role": "r"}, ["'kubernetes_role'", "auth_type token, approle"]),
        (VAULT, {"auth_type": "kubernetes"}, ["'auth_type'", "kubernetes"]),
        (VAULT, {"auth_type": "approl"}, ["did you mean 'approle'"]),
        (VAULT, {"config_path": "config"}, ["'config_path'", "no Airflow configuration", "null"]),
        (VAULT, {"connections_path": ["a", "b"]}, ["'connections_path'", "2 paths"]),
        (VAULT, {"kv_engine_version": "two"}, ["'kv_engine_version'"]),
        (SM, {"config_prefix": "airflow/config"}, ["'config_prefix'", "null"]),
        (SM, {"full_url_mode": False}, ["'full_url_mode'"]),
        (SSM, {"sep": "-"}, ["'sep'", "SystemsManagerParameterStoreBackend"]),
        (GCP, {"impersonation_chain": "a@b"}, ["'impersonation_chain'"]),
        (GCP, {"gcp_scope": "x"}, ["did you mean 'gcp_scopes'"]),
        (FILES, {"configs_file_path": "/c.json"}, ["'configs_file_path'"]),
        (ENV, {"prefix": "X_"}, ["'prefix'", "EnvironmentVariablesBackend"]),
    ],
)
def test_unmappable_input_names_the_key(
    cls: str, kwargs: dict[str, Any], needles: list[str]
) -> None:
    with pytest.raises(ConfigurationError) as info:
        map_backend(cls, {**kwargs, "token": CANARY} if cls == VAULT else kwargs, where="WHERE")
    message = str(info.value)
    assert "WHERE" in message
    for needle in needles:
        assert needle in message
    assert CANARY not in message


def test_several_problems_are_listed_at_once() -> None:
    with pytest.raises(ConfigurationError, match="2 problems") as info:
        map_backend(VAULT, {"urll": "x", "region": "r", "token": CANARY}, where="w")
    assert "did you mean 'url'" in str(info.value)
    assert CANARY not in str(info.value)


# -- sources and precedence ------------------------------------------------------------------------

AIRFLOW_CFG = """[core]
dags_folder = /tmp/dags

[secrets]
backend = airflow.providers.hashicorp.secrets.vault.VaultBackend
backend_kwargs = {{"url": "http://cfg:8200", "mount_point": "cfg", "token": "{token}"}}
"""


def _cfg(tmp_path: Path) -> Path:
    path = tmp_path / "airflow.cfg"
    path.write_text(AIRFLOW_CFG.format(token=CANARY))
    return path


def test_airflow_cfg_in_airflow_home(tmp_path: Path) -> None:
    _cfg(tmp_path)
    settings = load_settings({"HOOKLINE_HOME": str(tmp_path / "h"), "AIRFLOW_HOME": str(tmp_path)})
    assert settings.backends == ("vault", "env", "metastore")
    assert settings.kwargs_for("vault") == {
        "url": "http://cfg:8200",
        "mount_point": "cfg",
        "token": CANARY,
    }
    assert settings.where("secrets.backend.vault.url") == (
        f"{tmp_path / 'airflow.cfg'}, line 6 (Airflow backend_kwargs)"
    )
    assert settings.where("secrets.backends").startswith(f"{tmp_path / 'airflow.cfg'}, line 5")
    assert CANARY not in repr(settings)


def test_precedence_cfg_then_toml_then_airflow_env_then_hookline_env(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    toml = tmp_path / "hookline.toml"
    toml.write_text(
        f'[secrets]\nbackend = "{VAULT}"\nbackend_kwargs = \'{{"url": "http://toml:8200"}}\'\n'
    )
    env = {"HOOKLINE_HOME": str(tmp_path / "h"), "HOOKLINE_AIRFLOW_CFG": str(cfg)}
    env["HOOKLINE_CONFIG"] = str(toml)
    # the TOML file's kwargs replace airflow.cfg's as a whole (as Airflow reads one option)
    assert load_settings(env).kwargs_for("vault") == {"url": "http://toml:8200"}
    assert load_settings(env).where("secrets.backend.vault.url").startswith(f"{toml}, line 3")
    env["AIRFLOW__SECRETS__BACKEND"] = SM
    env["AIRFLOW__SECRETS__BACKEND_KWARGS"] = '{"connections_prefix": "env/c"}'
    env["AIRFLOW__SECRETS__BACKEND_KWARG__REGION_NAME"] = "eu-central-1"
    settings = load_settings(env)
    assert settings.backends == ("aws_secrets_manager", "env", "metastore")
    assert settings.kwargs_for("aws_secrets_manager") == {
        "connections_prefix": "env/c",
        "region_name": "eu-central-1",
    }
    assert settings.where("secrets.backend.aws_secrets_manager.region_name").startswith(
        "AIRFLOW__SECRETS__BACKEND_KWARG__REGION_NAME"
    )
    env["HOOKLINE_SECRETS__BACKEND_KWARGS"] = '{"connections_prefix": "hl/c"}'
    assert load_settings(env).kwargs_for("aws_secrets_manager") == {
        "connections_prefix": "hl/c",
        "region_name": "eu-central-1",
    }


def test_hookline_table_keys_override_mapped_ones_and_backends_must_name_it(tmp_path: Path) -> None:
    toml = tmp_path / "hookline.toml"
    toml.write_text(
        '[secrets]\nbackends = ["metastore", "vault"]\n\n'
        '[secrets.backend.vault]\nurl = "http://own:8200"\n'
    )
    env = {
        "HOOKLINE_HOME": str(tmp_path / "h"),
        "HOOKLINE_CONFIG": str(toml),
        "AIRFLOW__SECRETS__BACKEND": VAULT,
        "AIRFLOW__SECRETS__BACKEND_KWARGS": '{"url": "http://af:8200", "mount_point": "af"}',
    }
    settings = load_settings(env)
    assert settings.backends == ("metastore", "vault")
    assert settings.kwargs_for("vault") == {"url": "http://own:8200", "mount_point": "af"}
    assert settings.where("secrets.backend.vault.url").startswith(f"{toml}, line 5")
    env["AIRFLOW__SECRETS__BACKEND"] = SM
    env["AIRFLOW__SECRETS__BACKEND_KWARGS"] = ""
    with pytest.raises(
        ConfigurationError, match=r"'aws_secrets_manager'.*not in \[secrets\] backends"
    ):
        load_settings(env)


def test_hookline_class_and_empty_backend_change_nothing(tmp_path: Path) -> None:
    env = {
        "HOOKLINE_HOME": str(tmp_path),
        "AIRFLOW__SECRETS__BACKEND": HOOKLINE_BACKEND_CLASS,
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps({"config_file": "/etc/hookline.toml"}),
    }
    assert load_settings(env).backends == ("env", "metastore")
    cfg = _cfg(tmp_path)
    # an empty variable overrides the file's class, as in Airflow
    env = {"HOOKLINE_HOME": str(tmp_path), "HOOKLINE_AIRFLOW_CFG": str(cfg)}
    env["AIRFLOW__SECRETS__BACKEND"] = ""
    assert load_settings(env).backends == ("env", "metastore")


@pytest.mark.parametrize(
    ("env", "needles"),
    [
        (
            {"AIRFLOW__SECRETS__BACKEND_KWARGS": '{"token": "' + CANARY + '"'},
            ["AIRFLOW__SECRETS__BACKEND_KWARGS", "not valid JSON"],
        ),
        ({"AIRFLOW__SECRETS__BACKEND_KWARGS": '["x"]'}, ["must be a JSON object"]),
        (
            {"AIRFLOW__SECRETS__BACKEND_KWARGS_CMD": "cat /k.json"},
            ["AIRFLOW__SECRETS__BACKEND_KWARGS_CMD", "runs no command"],
        ),
        (
            {"AIRFLOW__SECRETS__BACKEND": "airflow.secrets.local_filesystem.LocalFilesystem"},
            ["AIRFLOW__SECRETS__BACKEND", f"did you mean {FILES!r}"],
        ),
        (
            {"AIRFLOW__SECRETS__BACKEND": VAULT, "AIRFLOW__SECRETS__BACKEND_KWARG__TOKN": CANARY},
            ["AIRFLOW__SECRETS__BACKEND_KWARG__TOKN", "did you mean 'token'"],
        ),
        (
            {"HOOKLINE_AIRFLOW_CFG": "/nonexistent/airflow.cfg"},
            ["HOOKLINE_AIRFLOW_CFG", "not a file"],
        ),
    ],
)
def test_bad_airflow_settings_are_typed_errors_without_secrets(
    tmp_path: Path, env: dict[str, str], needles: list[str]
) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings({"HOOKLINE_HOME": str(tmp_path), **env})
    for needle in needles:
        assert needle in str(info.value)
    assert CANARY not in str(info.value)


def test_airflow_cfg_errors_name_file_and_line(tmp_path: Path) -> None:
    cfg = tmp_path / "airflow.cfg"
    cfg.write_text(f'[secrets]\nbackend = {VAULT}\nbackend_kwargs = {{"tokn": "{CANARY}"}}\n')
    with pytest.raises(ConfigurationError) as info:
        load_settings({"HOOKLINE_HOME": str(tmp_path), "HOOKLINE_AIRFLOW_CFG": str(cfg)})
    assert f"{cfg}, line 3" in str(info.value)
    assert "did you mean 'token'" in str(info.value)
    assert CANARY not in str(info.value)
    cfg.write_text("[secrets]\nbackend_kwargs_secret = airflow/kw\n")
    with pytest.raises(ConfigurationError, match="backend_kwargs_secret"):
        load_settings({"HOOKLINE_HOME": str(tmp_path), "HOOKLINE_AIRFLOW_CFG": str(cfg)})


def test_mapped_backend_is_built_by_the_chain(tmp_path: Path) -> None:
    conns = tmp_path / "conns.json"
    conns.write_text(json.dumps({"af_files": "postgres://u:p@h:5432/db"}))
    env = {
        "HOOKLINE_HOME": str(tmp_path),
        "AIRFLOW__SECRETS__BACKEND": FILES,
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps({"connections_file_path": str(conns)}),
    }
    from hookline.resolve.build import build_chain

    chain = build_chain(load_settings(env))
    assert chain.get_connection("af_files").host == "h"


def test_import_hookline_never_imports_airflow() -> None:
    code = (
        "import sys, hookline, hookline.airflow, hookline.airflow_config, hookline.config, "
        "hookline.cli.app; hookline.config.load_settings({'HOOKLINE_HOME': '/nonexistent'}); "
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


@pytest.mark.parametrize("class_path", [SM, SSM, GCP, VAULT])
def test_lookup_patterns_keep_airflows_prefix_match(class_path: str) -> None:
    """Airflow skips a lookup unless ``re.match(pattern, id, re.IGNORECASE)``: a match at the
    start, not of the whole id. A pattern read from Airflow's setting keeps that meaning (hookline's
    own patterns are whole-id matches: ``^db_`` would otherwise select only the id ``db_``)."""
    import re

    from hookline.registry import backend_class_for

    kwargs: dict[str, Any] = {
        "connections_lookup_pattern": "^db_",
        "variables_lookup_pattern": "warehouse",
    }
    if class_path == GCP:
        kwargs["project_id"] = "p"
    if class_path == VAULT:
        kwargs.update(url="http://127.0.0.1:9", token=CANARY)
    mapped = map_backend(class_path, kwargs, where="test")
    assert mapped is not None
    backend = backend_class_for(mapped.name)(**mapped.kwargs)
    try:
        for conn_id in ("db_orders", "DB_x", "db_", "orders_db_", "x"):
            airflow_says = re.match("^db_", conn_id, re.IGNORECASE) is not None
            assert backend.wants(conn_id) is airflow_says, conn_id
        for key in ("warehouse", "warehouse_2", "Warehouse-eu", "my_warehouse"):
            airflow_says = re.match("warehouse", key, re.IGNORECASE) is not None
            assert backend.wants_variable(key) is airflow_says, key
    finally:
        backend.close()
