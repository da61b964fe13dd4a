"""hookline as the secrets backend of a real Airflow 3.3.2 (``hookline.airflow.secrets``).

The connections live only in hookline's SQLite metastore (a hookline home of their own); Airflow is
pointed at hookline through ``[secrets] backend`` (API server / CLI side) and ``[workers]
secrets_backend`` (task side), with ``backend_kwargs`` naming the hookline.toml and home.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from bench.airflow_env import AirflowEnv

from hookline import Connection
from hookline.secrets.metastore import MetastoreBackend
from tests.servers.airflow import run_airflow

CANARY = "canary-Pw-7Qx!93"
HIDDEN = "canary-Hidden-2b8e1"
VAR_CANARY = "canary-VarKey-90c7d"
BACKEND = "hookline.airflow.secrets.HooklineSecretsBackend"

DAG_FILE = """
import json, logging, os
from datetime import datetime

from airflow.sdk import BaseHook, Variable, dag, task


@dag(dag_id="hookline_probe", schedule=None, start_date=datetime(2024, 1, 1), catchup=False)
def hookline_probe():
    @task
    def probe():
        conn = BaseHook.get_connection("hl_only")
        logging.getLogger("airflow.task").info("password in a log line: %s", conn.password)
        import hookline

        # resolved by hookline alone (not through Airflow): masked in the task log all the same
        hidden = hookline.get_connection("hl_hidden")
        logging.getLogger("airflow.task").info("hookline-only secret: %s", hidden.password)
        from hookline.hooks.sql import SqlHook
        from hookline.operators.sql import SQLExecuteQueryOperator

        with SqlHook("hl_sqlite") as db:
            rows = db.get_records("select n from numbers order by n")
        op_rows = SQLExecuteQueryOperator(
            task_id="inner", conn_id="hl_sqlite", sql="select sum(n) from numbers"
        ).execute({})
        result = {
            "class": type(conn).__module__ + "." + type(conn).__name__,
            "conn_type": conn.conn_type, "host": conn.host, "login": conn.login,
            "password_ok": conn.password == os.environ["PROBE_CANARY"],
            "port": conn.port, "schema": conn.schema, "extra": conn.extra_dejson,
            "hook_rows": [list(r) for r in rows], "operator_rows": [list(r) for r in op_rows],
        }
        try:
            result["variable"] = Variable.get("hl_greeting")
            api_key = Variable.get("hl_api_key")
            result["api_key_ok"] = api_key == os.environ["PROBE_VAR_CANARY"]
            logging.getLogger("airflow.task").info("sensitive variable: %s", api_key)
        except Exception as exc:  # reported, asserted by the test
            result["variable_error"] = type(exc).__name__ + ": " + str(exc)
        with open(os.environ["PROBE_OUT"], "w") as fh:
            json.dump(result, fh)

    probe()


hookline_probe()
"""


def _hookline_side(tmp_path: Path) -> tuple[Path, Path]:
    """A hookline home whose metastore alone holds the connections; its hookline.toml."""
    home = tmp_path / "hl-home"
    home.mkdir()
    data = tmp_path / "data.db"
    with sqlite3.connect(data) as db:
        db.execute("create table numbers (n integer)")
        db.executemany("insert into numbers values (?)", [(1,), (2,), (39,)])
    store = MetastoreBackend(url=None, home=home)
    try:
        store.set_connection(
            Connection(
                conn_id="hl_only",
                conn_type="postgres",
                host="db.internal",
                login="alice",
                password=CANARY,
                schema="app",
                port=5433,
                extra={"sslmode": "require"},
            )
        )
        store.set_connection(Connection.from_uri(f"sqlite:///{data}", conn_id="hl_sqlite"))
        store.set_connection(
            Connection(conn_id="hl_hidden", conn_type="http", host="h", password=HIDDEN)
        )
        store.set_variable("hl_greeting", "hello from hookline")
        store.set_variable("hl_api_key", VAR_CANARY)
    finally:
        store.close()
    config = tmp_path / "hookline.toml"
    config.write_text('[secrets]\nbackends = ["metastore"]\n\n[cache]\nttl_seconds = 60\n')
    return home, config


def _backend_env(home: Path, config: Path) -> dict[str, str]:
    kwargs = json.dumps({"config_file": str(config), "home": str(home)})
    return {
        "AIRFLOW__SECRETS__BACKEND": BACKEND,
        "AIRFLOW__SECRETS__BACKEND_KWARGS": kwargs,
        "AIRFLOW__WORKERS__SECRETS_BACKEND": BACKEND,
        "AIRFLOW__WORKERS__SECRETS_BACKEND_KWARGS": kwargs,
    }


def test_airflow_reads_connections_and_variables_through_hookline(
    airflow_home: AirflowEnv, tmp_path: Path
) -> None:
    home, config = _hookline_side(tmp_path)
    env = _backend_env(home, config)

    # Airflow alone does not know the connection.
    plain = run_airflow(airflow_home, ["connections", "get", "hl_only", "-o", "json"], {})
    assert plain.returncode != 0, plain.stdout

    got = run_airflow(airflow_home, ["connections", "get", "hl_only", "-o", "json"], env)
    assert got.returncode == 0, got.stderr[-3000:]
    row = json.loads(got.stdout)[0]
    # the CLI prints every field as text
    assert (row["conn_type"], row["host"], row["login"], row["port"], row["schema"]) == (
        "postgres",
        "db.internal",
        "alice",
        "5433",
        "app",
    )
    assert "sslmode" in str(row), row
    assert row["password"] == CANARY  # Airflow's CLI prints passwords, whatever the backend

    dags = airflow_home.home / "dags"
    dags.mkdir(exist_ok=True)
    (dags / "hookline_probe.py").write_text(DAG_FILE)
    out = tmp_path / "probe.json"
    run_env = {
        **env,
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "PROBE_OUT": str(out),
        "PROBE_CANARY": CANARY,
        "PROBE_VAR_CANARY": VAR_CANARY,
    }
    ran = run_airflow(airflow_home, ["dags", "test", "hookline_probe"], run_env)
    assert ran.returncode == 0, (ran.stdout[-3000:], ran.stderr[-3000:])
    result = json.loads(out.read_text())
    assert result["class"] == "airflow.sdk.definitions.connection.Connection"
    assert (result["conn_type"], result["host"], result["login"], result["port"]) == (
        "postgres",
        "db.internal",
        "alice",
        5433,
    )
    assert result["password_ok"] is True
    assert result["extra"] == {"sslmode": "require"}
    assert result["hook_rows"] == [[1], [2], [39]]
    assert result["operator_rows"] == [[42]]
    # Airflow masks the password of a connection any backend returns: never in the task log.
    logs = ran.stdout + ran.stderr
    assert "password in a log line: ***" in logs
    assert CANARY not in logs, logs[max(0, logs.find(CANARY) - 1500) : logs.find(CANARY) + 200]
    assert "hookline-only secret: ***" in logs
    assert HIDDEN not in logs
    # Variables last: they need hookline.get_variable (the variables work).
    assert result.get("variable") == "hello from hookline", result.get("variable_error")
    assert result["api_key_ok"] is True
    # a variable whose key looks sensitive is masked by Airflow, whatever backend served it
    assert "sensitive variable: ***" in logs
    assert VAR_CANARY not in logs
