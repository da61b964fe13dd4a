"""Unit tests of BigQueryHook without a server: constructor, job configuration, parameter binding,
table names, bad arguments."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pytest

from hookline import Connection
from hookline.exceptions import HookArgumentError
from hookline.hooks.google.bigquery import BigQueryHook, bind_placeholders, query_parameters

CONN = Connection(
    conn_id="bq", conn_type="google_cloud_platform", extra={"anonymous": True, "project": "p"}
)


def test_airflow_constructor_defaults_and_old_conn_id_name() -> None:
    """use_legacy_sql=True by default (Airflow's); bigquery_conn_id and gcp_conn_id both work."""
    hook = BigQueryHook(CONN)
    assert (hook.use_legacy_sql, hook.priority, hook.location) == (True, "INTERACTIVE", None)
    assert BigQueryHook(bigquery_conn_id="old").conn_id == "old"
    assert BigQueryHook(gcp_conn_id="new").conn_id == "new"
    assert BigQueryHook().conn_id == "google_cloud_default"
    with pytest.raises(HookArgumentError, match="priority"):
        BigQueryHook(CONN, priority="URGENT")  # type: ignore[arg-type]


def test_job_config_merges_resource_configs_labels_and_priority() -> None:
    """api_resource_configs and labels go into every query job; INTERACTIVE is left to BigQuery's
    default (the one round-trip jobs.query path), BATCH is sent."""
    hook = BigQueryHook(
        CONN,
        use_legacy_sql=False,
        api_resource_configs={"query": {"useQueryCache": False}},
        labels={"team": "data"},
    )
    config = hook._job_config(None, None).to_api_repr()
    assert config["query"] == {"useQueryCache": False, "useLegacySql": False}
    assert config["labels"] == {"team": "data"}
    batch = BigQueryHook(CONN, use_legacy_sql=False, priority="BATCH")._job_config(None, None)
    assert batch.to_api_repr()["query"]["priority"] == "BATCH"


def test_parameters_with_legacy_sql_are_refused() -> None:
    """Legacy SQL has no query parameters; hookline never formats values into the text."""
    with pytest.raises(HookArgumentError, match="use_legacy_sql=False"):
        BigQueryHook(CONN)._job_config({"x": 1}, None)


@pytest.mark.parametrize(
    ("sql", "parameters", "expected"),
    [
        ("select %(a)s, %(b)s", {"a": 1, "b": 2}, "select @a, @b"),
        ("select @a", {"a": 1}, "select @a"),
        ("select %s, %s", (1, 2), "select ?, ?"),
        ("select ?", [1], "select ?"),
        ("select '100%'", None, "select '100%'"),
        ("select %(a)s, '5%%'", {"a": 1}, "select @a, '5%'"),
    ],
)
def test_bind_placeholders(sql: str, parameters: Any, expected: str) -> None:
    """DB-API placeholders become BigQuery's; values never enter the text."""
    assert bind_placeholders(sql, parameters) == expected


def test_query_parameter_types_are_inferred() -> None:
    """Python values map to BigQuery types; an undecidable one is a typed error."""
    params = query_parameters(
        {
            "b": True,
            "i": 7,
            "f": 1.5,
            "n": decimal.Decimal("1.25"),
            "big": decimal.Decimal("1.1234567891"),
            "s": "x",
            "y": b"\x00",
            "ts": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
            "dtm": dt.datetime(2024, 1, 1),
            "d": dt.date(2024, 1, 1),
            "t": dt.time(1, 2),
            "a": [1, 2],
        }
    )
    types = {p.name: getattr(p, "type_", None) or p.array_type for p in params}
    assert types == {
        "b": "BOOL",
        "i": "INT64",
        "f": "FLOAT64",
        "n": "NUMERIC",
        "big": "BIGNUMERIC",
        "s": "STRING",
        "y": "BYTES",
        "ts": "TIMESTAMP",
        "dtm": "DATETIME",
        "d": "DATE",
        "t": "TIME",
        "a": "INT64",
    }
    assert [p.name for p in query_parameters([1, "a"])] == [None, None]
    with pytest.raises(HookArgumentError, match="cannot infer the BigQuery type of 'x'"):
        query_parameters({"x": None})
    with pytest.raises(HookArgumentError, match="array"):
        query_parameters({"x": [1, "a"]})
    with pytest.raises(HookArgumentError, match="mapping or a sequence"):
        query_parameters("abc")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ds.t", (None, "ds", "t")),
        ("proj.ds.t", ("proj", "ds", "t")),
        ("my-proj:ds.t", ("my-proj", "ds", "t")),
    ],
)
def test_split_table_name(name: str, expected: tuple[Any, ...]) -> None:
    """dataset.table, project.dataset.table and the legacy project:dataset.table."""
    assert BigQueryHook(CONN).split_table_name(name) == expected


@pytest.mark.parametrize("name", ["t", "a.b.c.d", "ds.t; drop table x", ""])
def test_bad_table_names_are_typed_errors(name: str) -> None:
    """Anything else: HookArgumentError naming the expected form."""
    with pytest.raises(HookArgumentError, match=r"dataset\.table"):
        BigQueryHook(CONN).split_table_name(name)


def test_insert_rows_bad_arguments_send_nothing() -> None:
    """Unknown keyword arguments, replace=True, a row of the wrong width: typed errors."""
    hook = BigQueryHook(CONN)
    with pytest.raises(HookArgumentError, match="unexpected arguments: bogus"):
        hook.insert_rows("ds.t", [(1,)], bogus=1)
    with pytest.raises(HookArgumentError, match="replace=True"):
        hook.insert_rows("ds.t", [(1,)], replace=True)
    with pytest.raises(HookArgumentError, match="row 0 has 1 values for 2 fields"):
        hook.insert_rows("ds.t", [(1,)], target_fields=["a", "b"])
    with pytest.raises(HookArgumentError, match="run\\(\\) needs sql or job_config"):
        hook.run()
    with pytest.raises(HookArgumentError, match="df_type"):
        hook.get_df("select 1", df_type="arrow")  # type: ignore[arg-type]
