"""Pipeline: membership, ids, cycles named, order, references, loading files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hookline.exceptions import (
    InvalidPipeline,
    PipelineCycleError,
    PipelineError,
    PipelineNotFound,
)
from hookline.operators import BaseOperator
from hookline.pipelines import Pipeline, find_pipeline, load_pipelines


class Noop(BaseOperator):
    def execute(self, context: dict[str, Any]) -> Any:
        return None


def test_cycle_is_rejected_naming_it() -> None:
    """a -> b -> c -> a is named in the error when the block ends."""
    p = Pipeline("p")
    a, b, c = Noop("a", pipeline=p), Noop("b", pipeline=p), Noop("c", pipeline=p)
    Noop("d", pipeline=p) >> a >> b >> c >> a
    with pytest.raises(PipelineCycleError) as info:
        p.__exit__(None, None, None)
    assert str(info.value) == "pipeline 'p' has a cycle: a -> b -> c -> a"
    assert info.value.cycle == ("a", "b", "c", "a")
    assert isinstance(info.value, InvalidPipeline)


def test_cycle_added_after_the_block_is_caught_by_run() -> None:
    """run() checks again, before any task runs."""
    with Pipeline("p") as p:
        a, b = Noop("a"), Noop("b")
        a >> b
    b >> a
    with pytest.raises(PipelineCycleError, match="a -> b -> a"):
        p.run(record=False)


def test_duplicate_task_id_and_bad_pipeline_id() -> None:
    """Task ids are unique per pipeline; pipeline ids use the task-id alphabet."""
    p = Pipeline("p")
    Noop("a", pipeline=p)
    with pytest.raises(InvalidPipeline, match="already has a task 'a'"):
        Noop("a", pipeline=p)
    with pytest.raises(InvalidPipeline, match="invalid pipeline_id 'a b'"):
        Pipeline("a b")
    assert Pipeline(dag_id="x").pipeline_id == "x"


def test_get_task_lists_the_tasks_when_missing() -> None:
    """get_task of an unknown id names the tasks that exist."""
    with Pipeline("p") as p:
        Noop("a")
    with pytest.raises(InvalidPipeline, match="has no task 'z'; it has: a"):
        p.get_task("z")


def test_reference_points_at_the_defining_file(tmp_path: Path) -> None:
    """A pipeline loaded from a file is referenced as file:<abs path>."""
    path = tmp_path / "flows.py"
    path.write_text(
        "from hookline.pipelines import Pipeline\n"
        "from hookline.operators import PythonOperator\n"
        "with Pipeline('one', description='first') as one:\n"
        "    PythonOperator(task_id='t', python_callable=print)\n"
        "two = Pipeline('two')\n"
    )
    pipelines = load_pipelines(str(path))
    assert sorted(pipelines) == ["one", "two"]
    assert pipelines["one"].reference() == f"file:{path.resolve()}"
    assert pipelines["one"].searchpath()[0] == str(tmp_path.resolve())
    assert find_pipeline(str(path), "two") is pipelines["two"]
    assert load_pipelines(str(path)) is pipelines  # imported once
    with pytest.raises(PipelineNotFound, match="defines 2 pipelines \\(one, two\\); name one"):
        find_pipeline(str(path))
    with pytest.raises(PipelineNotFound, match="has no pipeline 'three'; it defines: one, two"):
        find_pipeline(str(path), "three")


def test_loading_errors_are_pipeline_errors_with_the_line(tmp_path: Path) -> None:
    """A missing file, a file that raises (line named, secret masked), a file with no pipeline."""
    from hookline import masking

    masking.register("hidden-Secret-42")
    with pytest.raises(PipelineError, match="does not exist"):
        load_pipelines(str(tmp_path / "none.py"))
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1\nraise RuntimeError('token hidden-Secret-42 rejected')\n")
    with pytest.raises(PipelineError) as info:
        load_pipelines(str(bad))
    assert (
        str(info.value)
        == f"cannot import {bad.resolve()} (line 2): RuntimeError: token *** rejected"
    )
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(PipelineNotFound, match="defines no pipeline"):
        load_pipelines(str(empty))


def test_pipeline_made_in_no_file_has_no_reference_for_workers() -> None:
    """A pipeline built by exec() in no file cannot be sent to workers: a clear error."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec("from hookline.pipelines import Pipeline\np = Pipeline('x')", namespace)
    with pytest.raises(InvalidPipeline, match="was not defined in a file or module"):
        namespace["p"].reference()
