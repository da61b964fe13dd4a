"""BigQueryHook against a real BigQuery emulator (bqemulator over DuckDB) started by the suite."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from hookline import Connection
from hookline.exceptions import (
    BigQueryInsertError,
    GoogleApiError,
    HookArgumentError,
    HookConnectionError,
)
from hookline.hooks.google.base import clear_client_cache
from hookline.hooks.google.bigquery import BigQueryHook
from tests.servers._proc import free_port
from tests.servers.bqemulator import BigQueryEmulator

SCHEMA = [
    {"name": "id", "type": "INTEGER", "mode": "REQUIRED"},
    {"name": "name", "type": "STRING", "mode": "NULLABLE"},
    {"name": "score", "type": "FLOAT", "mode": "NULLABLE"},
]


def conn_for(emulator: BigQueryEmulator, conn_id: str = "bq", **extra: Any) -> Connection:
    return Connection(
        conn_id=conn_id,
        conn_type="google_cloud_platform",
        extra={**emulator.connection_extra(), **extra},
    )


@pytest.fixture
def hook(bigquery_emulator: BigQueryEmulator) -> Iterator[BigQueryHook]:
    clear_client_cache()
    with BigQueryHook(conn_for(bigquery_emulator), use_legacy_sql=False, num_retries=1) as h:
        yield h
    clear_client_cache()


@pytest.fixture
def dataset(hook: BigQueryHook) -> Iterator[str]:
    name = f"ds_{uuid.uuid4().hex[:10]}"
    hook.create_empty_dataset(dataset_id=name)
    yield name
    hook.delete_dataset(name, delete_contents=True)


@pytest.fixture
def table(hook: BigQueryHook, dataset: str) -> str:
    hook.create_empty_table(dataset_id=dataset, table_id="users", schema_fields=SCHEMA)
    return f"{dataset}.users"


def test_issue_example_connection_reaches_the_emulator_with_no_key(
    bigquery_emulator: BigQueryEmulator,
) -> None:
    """The JSON connection of the issue (anonymous, api_endpoint) reaches the emulator and runs a
    query; Connection.test_connection goes through the registered hook."""
    text = json.dumps(
        {
            "conn_type": "google_cloud_platform",
            "extra": {
                "project": bigquery_emulator.project_id,
                "api_endpoint": bigquery_emulator.endpoint,
                "anonymous": True,
            },
        }
    )
    conn = Connection.from_json(text, conn_id="gcp_emulator")
    assert conn.test_connection() == (True, "Connection successfully tested")
    bq = Connection(conn_id="gcp_emulator", conn_type="gcpbigquery", extra=conn.extra)
    hook = bq.get_hook(hook_params={"use_legacy_sql": False})
    assert isinstance(hook, BigQueryHook)
    assert hook.get_records("select 1 + 1 as two") == [(2,)]
    assert bq.test_connection() == (True, "Connection successfully tested")


def test_records_first_and_bound_parameters(hook: BigQueryHook, table: str) -> None:
    """insert_rows streams tuples; get_records/get_first bind named and positional parameters."""
    assert hook.insert_rows(table, [(1, "ada", 1.5), (2, "o'brien", None)]) == 2
    assert hook.insert_rows(table, [{"id": 3, "name": "cy"}], target_fields=None) == 1
    assert hook.get_records(f"select id, name from {table} order by id") == [
        (1, "ada"),
        (2, "o'brien"),
        (3, "cy"),
    ]
    assert hook.get_records(f"select id from {table} where name = @n", {"n": "o'brien"}) == [(2,)]
    assert hook.get_records(f"select id from {table} where name = %(n)s", {"n": "ada"}) == [(1,)]
    assert hook.get_first(f"select name from {table} where id = ?", [3]) == ("cy",)
    assert hook.get_first(f"select name from {table} where id = %s", (2,)) == ("o'brien",)
    assert hook.get_first(f"select name from {table} where id = @id", {"id": 99}) is None
    assert [d[0] for d in hook.last_description or []] == ["name"]


def test_a_parameter_value_that_looks_like_sql_stays_a_value(
    hook: BigQueryHook, table: str
) -> None:
    """Parameters are bound by BigQuery, never formatted into the text (no injection)."""
    hook.insert_rows(table, [(1, "ada", None)], target_fields=["id", "name", "score"])
    evil = "x' or '1'='1"
    assert hook.get_records(f"select id from {table} where name = @n", {"n": evil}) == []
    typed = {
        "d": dt.date(2024, 5, 1),
        "n": decimal.Decimal("1.25"),
        "b": True,
        "f": 2.5,
        "a": [1, 2, 3],
    }
    row = hook.get_first("select @d as d, @n as n, @b as b, @f as f, @a as a", typed)
    assert row == (dt.date(2024, 5, 1), decimal.Decimal("1.25"), True, 2.5, [1, 2, 3])


def test_run_with_handler_sql_list_and_job_config(hook: BigQueryHook, table: str) -> None:
    """run(sql, parameters, handler) as DbApiHook.run; run(job_config=...) runs a raw job."""
    hook.insert_rows(table, [(1, "a", 1.0), (2, "b", 2.0)])
    count = hook.run(f"select count(*) from {table}", handler=lambda rows: next(iter(rows))[0])
    assert count == 2
    results = hook.run(
        [f"select 1 from {table} where id = @i", "select 2"],
        parameters={"i": 1},
        handler=lambda rows: [tuple(r) for r in rows],
        return_last=False,
    )
    assert results == [[(1,)], [(2,)]]
    assert hook.run(f"select 1 from {table}") is None
    job = hook.run(job_config={"query": {"query": "select 42 as x", "useLegacySql": False}})
    assert job.state == "DONE"
    assert [tuple(r) for r in job.result()] == [(42,)]


def test_insert_job_from_configuration_with_query_parameters(hook: BigQueryHook) -> None:
    """insert_job(configuration=...) with Airflow's raw configuration and bound parameters."""
    configuration = {
        "query": {
            "query": "select @word as w",
            "useLegacySql": False,
            "parameterMode": "NAMED",
            "queryParameters": [
                {
                    "name": "word",
                    "parameterType": {"type": "STRING"},
                    "parameterValue": {"value": "hi"},
                }
            ],
        }
    }
    job = hook.insert_job(configuration=configuration, job_id=f"j_{uuid.uuid4().hex}")
    assert [tuple(r) for r in job.result()] == [("hi",)]
    with pytest.raises(HookArgumentError, match="exactly one of"):
        hook.insert_job(configuration={"nothing": {}})


def test_failed_query_job_is_a_typed_error_with_status_and_reason(hook: BigQueryHook) -> None:
    """A syntax error or a missing table: GoogleApiError with the HTTP status and reason.

    Run as query jobs (jobs.insert): bqemulator 1.4.0 answers a failing ``jobs.query`` (the fast
    path of get_records) with HTTP 200 and the error in ``errors``, where BigQuery answers a
    non-success status, so only the job path shows the failure against the emulator.
    """
    with pytest.raises(GoogleApiError) as info:
        hook.insert_job(configuration={"query": {"query": "selec nothing", "useLegacySql": False}})
    assert info.value.status_code == 400
    assert info.value.reason == "invalidQuery"
    with pytest.raises(GoogleApiError) as missing:
        hook.run(job_config={"query": {"query": "select * from no_such.t", "useLegacySql": False}})
    assert missing.value.status_code == 404


def test_insert_all_surfaces_each_rejected_row(hook: BigQueryHook, table: str) -> None:
    """insert_all: each rejected row is in BigQueryInsertError.row_errors; never a silent success."""
    rows = [
        {"json": {"id": 1, "name": "ok"}, "insertId": "r1"},
        {"json": {"id": "not-a-number", "name": "bad"}},
        {"id": 3, "name": "also ok"},
        {"id": "nope"},
    ]
    project, dataset, name = hook.split_table_name(table)
    with pytest.raises(BigQueryInsertError) as info:
        hook.insert_all(project, dataset, name, rows, skip_invalid_rows=True)
    error = info.value
    assert sorted(e["index"] for e in error.row_errors) == [1, 3]
    assert error.inserted_rows == 2
    assert error.table.endswith(f".{dataset}.users")
    assert "2 of 4 row(s) rejected, 2 inserted" in str(error)
    assert "row 1: invalid at id" in str(error)
    assert sorted(hook.get_records(f"select id from {table}")) == [(1,), (3,)]
    # Airflow's opt-out: the errors come back instead of an exception.
    returned = hook.insert_all(
        project, dataset, name, [{"id": "x"}], skip_invalid_rows=True, fail_on_error=False
    )
    assert [e["index"] for e in returned] == [0]


def test_datasets_tables_schema_list_rows_and_delete(hook: BigQueryHook, dataset: str) -> None:
    """create_empty_table / table_exists / get_schema / list_rows / delete_table."""
    assert not hook.table_exists(dataset, "events")
    table = hook.create_empty_table(
        dataset_id=dataset, table_id="events", schema_fields=SCHEMA, labels={"team": "data"}
    )
    assert table.table_id == "events"
    assert hook.table_exists(dataset, "events")
    schema = hook.get_schema(dataset, "events")
    assert [(f["name"], f["type"], f["mode"]) for f in schema["fields"]] == [
        ("id", "INTEGER", "REQUIRED"),
        ("name", "STRING", "NULLABLE"),
        ("score", "FLOAT", "NULLABLE"),
    ]
    hook.insert_rows(f"{dataset}.events", [(i, f"n{i}", i / 2) for i in range(5)], commit_every=2)
    rows = hook.list_rows(dataset, "events", max_results=10)
    assert sorted(tuple(r) for r in rows) == [(i, f"n{i}", i / 2) for i in range(5)]
    hook.delete_table(f"{dataset}.events")
    assert not hook.table_exists(dataset, "events")
    hook.delete_table(f"{dataset}.events")  # not_found_ok by default
    with pytest.raises(GoogleApiError) as info:
        hook.delete_table(f"{dataset}.events", not_found_ok=False)
    assert info.value.status_code == 404


def test_get_df_and_get_pandas_df(hook: BigQueryHook, table: str) -> None:
    """get_df / get_pandas_df return a pandas DataFrame with the query's column names."""
    hook.insert_rows(table, [(1, "a", 0.5), (2, "b", None)])
    df = hook.get_pandas_df(f"select id, name from {table} where id >= @m order by id", {"m": 1})
    assert list(df.columns) == ["id", "name"]
    assert df.to_dict("records") == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    assert hook.get_df("select 1 as x").to_dict("records") == [{"x": 1}]


def test_dbapi_connection_from_get_conn(hook: BigQueryHook, table: str) -> None:
    """get_conn() is a DB-API connection over the shared client."""
    hook.insert_rows(table, [(7, "dbapi", None)])
    conn = hook.get_conn()
    cursor = conn.cursor()
    cursor.execute(f"select name from {table} where id = %(id)s", {"id": 7})
    assert [tuple(row) for row in cursor.fetchall()] == [("dbapi",)]
    assert hook.get_conn() is conn


def test_legacy_sql_default_and_parameters(bigquery_emulator: BigQueryEmulator) -> None:
    """Airflow's default use_legacy_sql=True runs plain SQL; with parameters it is a typed error
    before anything is sent."""
    clear_client_cache()
    hook = BigQueryHook(conn_for(bigquery_emulator))
    assert hook.use_legacy_sql is True
    assert hook.get_records("select 1") == [(1,)]
    with pytest.raises(HookArgumentError, match="use_legacy_sql=False"):
        hook.get_records("select @x", {"x": 1})


def test_client_is_shared_per_connection_and_fingerprint(
    bigquery_emulator: BigQueryEmulator,
) -> None:
    """Hooks on the same connection share one client; another conn_id or other extras get theirs."""
    clear_client_cache()
    a = BigQueryHook(conn_for(bigquery_emulator), use_legacy_sql=False)
    b = BigQueryHook(conn_for(bigquery_emulator), use_legacy_sql=False)
    other = BigQueryHook(conn_for(bigquery_emulator, conn_id="bq2"), use_legacy_sql=False)
    scoped = BigQueryHook(
        conn_for(bigquery_emulator, scope="https://www.googleapis.com/auth/bigquery"),
        use_legacy_sql=False,
    )
    assert a.get_client() is b.get_client()
    assert a.get_client() is not other.get_client()
    assert a.get_client() is not scoped.get_client()
    a.close()
    assert b.get_records("select 3") == [(3,)]  # closing a hook leaves the shared client open
    clear_client_cache()


def test_unreachable_endpoint_is_a_connection_error_within_the_bound() -> None:
    """No server: HookConnectionError after num_retries, not the SDK's 10-minute retry."""
    clear_client_cache()
    conn = Connection(
        conn_id="down",
        conn_type="google_cloud_platform",
        extra={
            "project": "p",
            "api_endpoint": f"http://127.0.0.1:{free_port()}",
            "anonymous": True,
            "num_retries": 1,
        },
    )
    hook = BigQueryHook(conn, use_legacy_sql=False, retry_delay_s=0.01)
    with pytest.raises(HookConnectionError, match="could not be reached"):
        hook.get_records("select 1")
    ok, message = hook.test_connection()
    assert not ok
    assert "HookConnectionError" in message
    clear_client_cache()
