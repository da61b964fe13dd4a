"""PythonOperator and @task: context names as parameters, results passed between tasks."""

from __future__ import annotations

from typing import Any

import pytest

from hookline.exceptions import InvalidPipeline
from hookline.operators import PythonOperator, XComArg, task
from hookline.pipelines import Pipeline, TaskState


def test_python_operator_passes_declared_context_names_and_templated_args() -> None:
    """The callable gets op_args/op_kwargs (rendered) and the context names it declares."""
    seen: dict[str, Any] = {}

    def fn(a: str, b: int, *, ds: str, ti: Any, params: dict[str, Any]) -> str:
        seen.update(a=a, b=b, ds=ds, task_id=ti.task_id, params=params)
        return f"{a}-{b}"

    with Pipeline("p", params={"x": 1}) as p:
        PythonOperator(
            task_id="t", python_callable=fn, op_args=["{{ ds_nodash }}"], op_kwargs={"b": 2}
        )
    run = p.run("2026-12-01", record=False)
    assert run.xcom_pull("t") == "20261201-2"
    assert seen == {"a": "20261201", "b": 2, "ds": "2026-12-01", "task_id": "t", "params": {"x": 1}}


def test_kwargs_callable_gets_the_whole_context() -> None:
    """A callable with **context receives every context name."""
    keys: list[str] = []
    with Pipeline("p") as p:
        PythonOperator(task_id="t", python_callable=lambda **ctx: keys.extend(ctx))
    p.run("2026-12-01", record=False)
    assert {"ds", "ti", "task_instance", "logical_date", "conn", "params", "run_id"} <= set(keys)


def test_task_decorator_chains_results_and_dedups_ids() -> None:
    """Calling @task functions builds tasks; results flow; reuse gets __1 ids; override works."""

    @task
    def extract() -> list[int]:
        return [1, 2, 3]

    @task(retries=1)
    def total(rows: list[int], ds: str) -> str:
        return f"{ds}:{sum(rows)}"

    with Pipeline("p") as p:
        rows = extract()
        first = total(rows)
        second = total.override(task_id="again")(rows)
        third = total(extract())
    assert isinstance(first, XComArg)
    assert set(p.tasks) == {"extract", "extract__1", "total", "again", "total__1"}
    assert p.tasks["total"].retries == 1
    assert p.tasks["again"].upstream_task_ids == {"extract"}
    run = p.run("2026-12-01", record=False)
    assert [run.xcom_pull(x.operator.task_id) for x in (first, second, third)] == [
        "2026-12-01:6"
    ] * 3
    assert total.function([1], "d") == "d:1"


def test_xcom_args_support_shift_operators() -> None:
    """>> and << work on task results as on operators."""

    @task
    def a() -> None: ...

    @task
    def b() -> None: ...

    with Pipeline("p") as p:
        x, y = a(), b()
        x >> y
    assert p.tasks["b"].upstream_task_ids == {"a"}


def test_non_callable_is_rejected() -> None:
    """python_callable must be callable."""
    with pytest.raises(InvalidPipeline, match="python_callable must be callable, got int"):
        PythonOperator(task_id="t", python_callable=3)  # type: ignore[arg-type]


def test_raised_exception_fails_the_task_with_a_masked_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An exception in the callable is the task's error, with registered secrets masked."""
    from hookline import masking

    masking.register("sekret-Value-99")

    def boom() -> None:
        raise RuntimeError("login with sekret-Value-99 failed")

    with Pipeline("p") as p:
        PythonOperator(task_id="t", python_callable=boom)
    run = p.run("2026-12-01", record=False)
    assert run.tasks["t"].state == TaskState.FAILED
    assert run.tasks["t"].error == "RuntimeError: login with *** failed"
