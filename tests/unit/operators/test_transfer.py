"""SQL exports streamed in chunks: CSV, JSON lines and Parquet to a local file."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest

from hookline.exceptions import InvalidPipeline
from hookline.hooks.sql import SqlHook
from hookline.operators import SqlToFileOperator
from hookline.operators.transfer import stream_query
from hookline.pipelines import Pipeline, TaskState


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "wh.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table t (id integer, name text, amount real, day text)")
        conn.executemany(
            "insert into t values (?, ?, ?, ?)",
            [(i, f"n{i}", i * 1.5, "2026-12-01") for i in range(1, 8)],
        )
    monkeypatch.setenv("HOOKLINE_CONN_WH", f"sqlite:///{db}")
    return db


def test_stream_query_yields_chunks_of_the_asked_size(warehouse: Path) -> None:
    """7 rows with chunk size 3 come as 3 + 3 + 1, with the column names first."""
    with (
        SqlHook("wh") as hook,
        stream_query(hook, "select id from t order by id", None, 3) as (
            columns,
            chunks,
        ),
    ):
        sizes = [len(chunk) for chunk in chunks]
    assert columns == ["id"]
    assert sizes == [3, 3, 1]


@pytest.mark.parametrize("file_format", ["csv", "json", "parquet"])
def test_sql_to_file_in_each_format(warehouse: Path, tmp_path: Path, file_format: str) -> None:
    """The file holds every row; the result reports rows, bytes and format; the path is templated."""
    target = tmp_path / "out" / "{{ ds_nodash }}" / f"t.{file_format}"
    with Pipeline("p") as p:
        SqlToFileOperator(
            task_id="export",
            query="select id, name, amount from t where day = :day order by id",
            parameters={"day": "{{ ds }}"},
            path=str(target),
            sql_conn_id="wh",
            file_format=file_format,
            chunk_size_rows=2,
        )
    run = p.run("2026-12-01", record=False)
    assert run.tasks["export"].state == TaskState.SUCCESS, run.tasks["export"].error
    written = tmp_path / "out" / "20261201" / f"t.{file_format}"
    result = run.xcom_pull("export")
    assert result == {
        "path": str(written),
        "rows": 7,
        "bytes": written.stat().st_size,
        "format": file_format,
    }
    if file_format == "csv":
        with written.open(newline="") as handle:
            rows = list(csv.reader(handle))
        assert rows[0] == ["id", "name", "amount"]
        assert rows[1:3] == [["1", "n1", "1.5"], ["2", "n2", "3.0"]]
        assert len(rows) == 8
    elif file_format == "json":
        lines = [json.loads(line) for line in written.read_text().splitlines()]
        assert lines[0] == {"id": 1, "name": "n1", "amount": 1.5}
        assert len(lines) == 7
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(written)
        assert table.num_rows == 7
        assert table.column_names == ["id", "name", "amount"]
        assert table.column("name").to_pylist()[:2] == ["n1", "n2"]
    assert not list(written.parent.glob("*.part"))


def test_existing_file_is_kept_unless_replace(warehouse: Path, tmp_path: Path) -> None:
    """Without replace=True an existing file fails the task and stays as it was."""
    target = tmp_path / "t.csv"
    target.write_text("keep me")
    with Pipeline("p") as p:
        SqlToFileOperator(task_id="e", query="select 1", path=str(target), sql_conn_id="wh")
    run = p.run("2026-12-01", record=False)
    assert run.tasks["e"].state == TaskState.FAILED
    assert "exists; pass replace=True" in (run.tasks["e"].error or "")
    assert target.read_text() == "keep me"


def test_a_failing_query_leaves_no_partial_file(warehouse: Path, tmp_path: Path) -> None:
    """A query error fails the task and leaves neither the file nor a .part file."""
    with Pipeline("p") as p:
        SqlToFileOperator(
            task_id="e", query="select * from nope", path=str(tmp_path / "x.csv"), sql_conn_id="wh"
        )
    run = p.run("2026-12-01", record=False)
    assert "no such table: nope" in (run.tasks["e"].error or "")
    assert list(tmp_path.glob("x.csv*")) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"file_format": "xml"}, "unknown file_format 'xml'"),
        ({"chunk_size_rows": 0}, "chunk_size_rows must be an integer >= 1"),
    ],
)
def test_bad_export_arguments(kwargs: dict[str, object], message: str) -> None:
    """Unknown formats and chunk sizes are InvalidPipeline errors."""
    with pytest.raises(InvalidPipeline, match=message):
        SqlToFileOperator(task_id="e", query="select 1", path="x", sql_conn_id="wh", **kwargs)  # type: ignore[arg-type]
