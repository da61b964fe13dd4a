"""Templated fields: a sandboxed Jinja2 environment with Airflow's context names; errors name the
task, the field and the line; rendered secrets are masked in records and logs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from hookline.exceptions import TemplateRenderError
from hookline.operators import BaseOperator, task
from hookline.pipelines import Pipeline, TaskState

CANARY = "canary-Pw-7f3a9c"


class Echo(BaseOperator):
    """Returns its templated fields."""

    template_fields = ("text", "items", "mapping")
    template_ext = (".sql",)

    def __init__(
        self, task_id: str, text: Any = "", items: Any = (), mapping: Any = None, **kw: Any
    ):
        super().__init__(task_id, **kw)
        self.text = text
        self.items = items
        self.mapping = mapping or {}

    def execute(self, context: dict[str, Any]) -> Any:
        return {"text": self.text, "items": list(self.items), "mapping": self.mapping}


def run_one(op_text: str, **kwargs: Any) -> Any:
    with Pipeline("p", params={"table": "orders"}) as p:
        Echo("t", text=op_text, **kwargs)
    run = p.run("2026-12-01T06:30:00+00:00", record=False)
    return run, run.xcom_pull("t")


def test_airflow_context_names_render() -> None:
    """ds, ds_nodash, ts, ts_nodash, logical_date, data_interval_*, run_id, params, task, ti."""
    text = (
        "{{ ds }}|{{ ds_nodash }}|{{ ts }}|{{ ts_nodash }}|{{ logical_date.year }}|"
        "{{ data_interval_start | ds }}|{{ data_interval_end.isoformat() }}|{{ params.table }}|"
        "{{ task.task_id }}|{{ ti.try_number }}|{{ run_id == dag_run.run_id }}|{{ dag.dag_id }}|"
        "{{ macros.ds_add(ds, 7) }}"
    )
    run, result = run_one(text)
    assert result["text"] == (
        "2026-12-01|20261201|2026-12-01T06:30:00+00:00|20261201T063000|2026|2026-12-01|"
        "2026-12-01T06:30:00+00:00|orders|t|1|True|p|2026-12-08"
    )
    assert run.tasks["t"].rendered["text"] == result["text"]


def test_nested_values_render_and_non_strings_pass() -> None:
    """Lists, tuples and dicts are rendered item by item; numbers stay numbers."""
    _, result = run_one("x", items=("{{ ds }}", 3), mapping={"d": ["{{ ds_nodash }}"], "n": None})
    assert result["items"] == ["2026-12-01", 3]
    assert result["mapping"] == {"d": ["20261201"], "n": None}


def test_xcom_pull_reads_upstream_results() -> None:
    """{{ ti.xcom_pull(task_ids='a') }} renders an upstream task's result; a list gives a list."""

    with Pipeline("p") as p:

        @task
        def a() -> int:
            return 41

        @task
        def b() -> str:
            return "x"

        echo = Echo("t", text="{{ ti.xcom_pull(task_ids='a') + 1 }}|{{ ti.xcom_pull(['a', 'b']) }}")
        [a(), b()] >> echo
    run = p.run("2026-12-01", record=False)
    assert run.xcom_pull("t")["text"] == "42|[41, 'x']"


def test_conn_accessor_resolves_connections_and_masks_their_secrets(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """{{ conn.wh.host }} works; a rendered password is masked in the record and the result."""
    monkeypatch.setenv("HOOKLINE_CONN_WH", f"postgres://etl:{CANARY}@db.example:5432/app")
    caplog.set_level(logging.DEBUG)
    run, result = run_one("host={{ conn.wh.host }} pw={{ conn.wh.password }}")
    assert result["text"] == "host=db.example pw=***"
    assert run.tasks["t"].rendered["text"] == "host=db.example pw=***"
    assert CANARY not in caplog.text


def test_the_sandbox_refuses_internals() -> None:
    """Templates cannot reach __class__/__subclasses__: the task fails with a TemplateRenderError."""
    run, _ = run_one("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    record = run.tasks["t"]
    assert record.state == TaskState.FAILED
    assert record.error is not None
    assert record.error.startswith("TemplateRenderError: task 't': cannot render field 'text'")
    assert "sandbox" in record.error or "undefined" in record.error


@pytest.mark.parametrize(
    ("template", "line", "detail"),
    [
        ("line one\n{{ nope }}", 2, "'nope' is undefined"),
        ("a\nb\n{% if %}", 3, "TemplateSyntaxError"),
        ("{{ params.missing.x }}", 1, "has no attribute 'missing'"),
    ],
)
def test_template_errors_name_task_field_and_line(template: str, line: int, detail: str) -> None:
    """The error names the task, the field and the template line."""
    with Pipeline("p"):
        op = Echo("load", text=template)
    from hookline.operators.templating import build_context, render_template_fields

    context = build_context(
        task=op, ti=None, run_id="r", logical_date=__import__("datetime").datetime(2026, 12, 1)
    )
    with pytest.raises(TemplateRenderError) as info:
        render_template_fields(op, context)
    error = info.value
    assert (error.task_id, error.field, error.line) == ("load", "text", line)
    assert f"task 'load': cannot render field 'text', line {line}:" in str(error)
    assert detail in str(error)


def test_template_files_next_to_the_pipeline_file(tmp_path: Path) -> None:
    """A field ending in a template_ext is a file, found next to the pipeline file; a missing
    file names the field."""
    (tmp_path / "q.sql").write_text("select * from t where ds = '{{ ds }}'\n{{ oops }}\n")
    (tmp_path / "ok.sql").write_text("select '{{ ds }}'")
    with Pipeline("p", template_searchpath=tmp_path) as p:
        Echo("good", text="ok.sql")
        Echo("bad", text="q.sql")
        Echo("gone", text="missing.sql")
    run = p.run("2026-12-01", record=False)
    assert run.xcom_pull("good")["text"] == "select '2026-12-01'"
    assert "cannot render field 'text' (file q.sql), line 2" in (run.tasks["bad"].error or "")
    assert "template file 'missing.sql' not found" in (run.tasks["gone"].error or "")


def test_rendering_works_on_a_copy() -> None:
    """The pipeline's own task keeps its template after a run."""
    with Pipeline("p") as p:
        op = Echo("t", text="{{ ds }}")
    p.run("2026-12-01", record=False)
    assert op.text == "{{ ds }}"
