"""SQL operators on a real SQLite file: execute, split statements, .sql files, checks, alias."""

from __future__ import annotations

from pathlib import Path

import pytest

from hookline.exceptions import InvalidPipeline
from hookline.operators import (
    PostgresOperator,
    SQLCheckOperator,
    SQLExecuteQueryOperator,
    SQLValueCheckOperator,
)
from hookline.pipelines import Pipeline, TaskState, chain


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "wh.db"
    monkeypatch.setenv("HOOKLINE_CONN_WH", f"sqlite:///{db}")
    return db


def test_execute_check_and_value_check(warehouse: Path, tmp_path: Path) -> None:
    """Create, load (templated partition), then checks that pass and checks that fail."""
    (tmp_path / "load.sql").write_text(
        "insert into sales values ('{{ ds }}', 10);\ninsert into sales values ('{{ ds }}', 32);"
    )
    with Pipeline("p", template_searchpath=tmp_path) as p:
        create = SQLExecuteQueryOperator(
            task_id="create", conn_id="wh", sql="create table sales (ds text, amount int)"
        )
        load = SQLExecuteQueryOperator(
            task_id="load", conn_id="wh", sql="load.sql", split_statements=True
        )
        read = SQLExecuteQueryOperator(
            task_id="read",
            conn_id="wh",
            sql="select ds, sum(amount) from sales where ds = :ds group by ds",
            parameters={"ds": "{{ ds }}"},
        )
        ok = SQLCheckOperator(task_id="ok", conn_id="wh", sql="select count(*) from sales")
        empty = SQLCheckOperator(
            task_id="empty", conn_id="wh", sql="select count(*) from sales where ds = 'never'"
        )
        value = SQLValueCheckOperator(
            task_id="value", conn_id="wh", sql="select sum(amount) from sales", pass_value=40,
            tolerance=0.1,
        )  # fmt: skip
        off = SQLValueCheckOperator(
            task_id="off", conn_id="wh", sql="select sum(amount) from sales", pass_value=100
        )
        text = SQLValueCheckOperator(
            task_id="text", conn_id="wh", sql="select min(ds) from sales", pass_value="{{ ds }}"
        )
        chain(create, load, read, [ok, empty, value, off, text])
    run = p.run("2026-12-01", record=False)
    states = run.states()
    assert states == {
        "create": "success", "load": "success", "read": "success", "empty": "failed",
        "ok": "success", "off": "failed", "text": "success", "value": "success",
    }  # fmt: skip
    assert run.xcom_pull("read") == [["2026-12-01", 42]]
    assert run.tasks["empty"].error == (
        "SqlCheckFailed: task 'empty': check failed, the first row has a false value: [0]"
    )
    assert "[42] does not match the pass value 100" in (run.tasks["off"].error or "")


def test_handler_none_returns_nothing_and_return_last(warehouse: Path) -> None:
    """handler=None runs without fetching; return_last=False returns one result per statement."""
    with Pipeline("p") as p:
        SQLExecuteQueryOperator(task_id="quiet", conn_id="wh", sql="select 1", handler=None)
        SQLExecuteQueryOperator(
            task_id="both", conn_id="wh", sql="select 1; select 2", split_statements=True,
            return_last=False,
        )  # fmt: skip
    run = p.run("2026-12-01", record=False)
    assert run.xcom_pull("quiet") is None
    assert run.xcom_pull("both") == [[[1]], [[2]]]


def test_postgres_operator_is_an_alias_taking_postgres_conn_id(warehouse: Path) -> None:
    """PostgresOperator(postgres_conn_id=...) is SQLExecuteQueryOperator on that connection."""
    op = PostgresOperator(task_id="t", sql="select 1", postgres_conn_id="wh")
    assert isinstance(op, SQLExecuteQueryOperator)
    assert op.conn_id == "wh"


def test_empty_sql_is_rejected() -> None:
    """sql must be a non-empty string or list."""
    with pytest.raises(InvalidPipeline, match="sql must be a non-empty string"):
        SQLExecuteQueryOperator(task_id="t", conn_id="wh", sql="")


def test_a_database_error_fails_the_task_masked(warehouse: Path) -> None:
    """A SQL error fails the task with the hook's message."""
    with Pipeline("p") as p:
        SQLExecuteQueryOperator(task_id="t", conn_id="wh", sql="select * from missing_table")
    run = p.run("2026-12-01", record=False)
    assert run.tasks["t"].state == TaskState.FAILED
    assert "no such table: missing_table" in (run.tasks["t"].error or "")
