"""BaseOperator: Airflow's argument names, checked arguments, default_args, dependencies, backoff."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from hookline.exceptions import InvalidPipeline
from hookline.operators import BaseOperator, PythonOperator
from hookline.pipelines import Pipeline, chain


class Noop(BaseOperator):
    def execute(self, context: dict[str, Any]) -> Any:
        return None


def test_airflow_argument_names_are_accepted_as_timedeltas() -> None:
    """retry_delay, max_retry_delay and execution_timeout (Airflow's names) become seconds."""
    op = Noop(
        "t",
        retries=3,
        retry_delay=dt.timedelta(seconds=7),
        max_retry_delay=dt.timedelta(minutes=1),
        execution_timeout=dt.timedelta(seconds=30),
        retry_exponential_backoff=True,
    )
    assert (op.retries, op.retry_delay_s, op.max_retry_delay_s, op.execution_timeout_s) == (
        3,
        7.0,
        60.0,
        30.0,
    )
    assert op.max_tries == 4


def test_exponential_backoff_doubles_and_is_capped() -> None:
    """Try n waits retry_delay * 2**(n-1), never more than max_retry_delay_s."""
    op = Noop("t", retry_delay_s=2, retry_exponential_backoff=True, max_retry_delay_s=10)
    assert [op.retry_delay_for(n) for n in (1, 2, 3, 4)] == [2, 4, 8, 10]
    assert Noop("u", retry_delay_s=2).retry_delay_for(5) == 2
    assert Noop("v").retry_delay_s == 300.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"retries": -1}, "retries must be an integer >= 0"),
        ({"retries": "many"}, "retries must be an integer >= 0"),
        ({"retry_delay_s": 1, "retry_delay": 2}, "give retry_delay_s or retry_delay, not both"),
        ({"execution_timeout_s": 0}, "execution_timeout_s must be > 0"),
        ({"retry_delay_s": -5}, "retry_delay_s must be a number >= 0.0"),
        ({"trigger_rule": "sometimes"}, "unknown trigger_rule 'sometimes'"),
        ({"on_failure_callback": "not callable"}, "on_failure_callback must be a callable"),
        ({"params": ["a"]}, "params must be a mapping"),
    ],
)
def test_bad_arguments_raise_invalid_pipeline(kwargs: dict[str, Any], message: str) -> None:
    """Each bad argument is an InvalidPipeline (a ValueError) naming the task and the argument."""
    with pytest.raises(InvalidPipeline, match="task 't'") as info:
        Noop("t", **kwargs)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_bad_task_id_is_rejected() -> None:
    """Task ids are letters, digits, '_', '.', '-'."""
    with pytest.raises(InvalidPipeline, match="invalid task_id 'a b'"):
        Noop("a b")


def test_default_args_fill_only_what_an_operator_was_not_given() -> None:
    """default_args reach every operator of the pipeline, explicit arguments win, and arguments
    an operator does not take are left out."""
    with Pipeline("p", default_args={"retries": 2, "retry_delay_s": 5, "conn_id": "x"}):
        a = Noop("a")
        b = Noop("b", retries=0)
        c = PythonOperator(task_id="c", python_callable=print)
    assert (a.retries, a.retry_delay_s, b.retries, c.retries) == (2, 5.0, 0, 2)
    assert not hasattr(a, "conn_id")


def test_dependencies_with_shift_operators_and_lists() -> None:
    """>> and << return their right side; lists fan out and in."""
    with Pipeline("p") as p:
        a, b, c, d = (Noop(x) for x in "abcd")
        result = a >> [b, c]
        [b, c] >> d
        d << Noop("e")
    assert result == [b, c]
    assert p.tasks["d"].upstream_task_ids == {"b", "c", "e"}
    assert a.downstream_task_ids == {"b", "c"}
    assert p.topological_order() == ["a", "b", "c", "e", "d"]


def test_chain_links_lists_pairwise_and_fans() -> None:
    """chain(a, [b, c], [d, e], f): b->d, c->e pairwise, a fans out, f fans in."""
    with Pipeline("p") as p:
        a, b, c, d, e, f = (Noop(x) for x in "abcdef")
        chain(a, [b, c], [d, e], f)
    assert p.tasks["d"].upstream_task_ids == {"b"}
    assert p.tasks["e"].upstream_task_ids == {"c"}
    assert p.tasks["f"].upstream_task_ids == {"d", "e"}
    assert a.downstream_task_ids == {"b", "c"}
    with Pipeline("q"), pytest.raises(InvalidPipeline, match="same length, got 2 and 1"):
        chain([Noop("x"), Noop("y")], [Noop("z")])


def test_dependencies_across_pipelines_or_outside_any_are_rejected() -> None:
    """A task cannot depend on a task of another pipeline, on itself, or on a non-task."""
    with Pipeline("one"):
        a = Noop("a")
    with Pipeline("two"):
        b = Noop("b")
    with pytest.raises(InvalidPipeline, match="belong to different pipelines"):
        a >> b
    with pytest.raises(InvalidPipeline, match="cannot depend on itself"):
        a >> a
    with pytest.raises(InvalidPipeline, match="cannot set a dependency on str"):
        a >> "b"  # type: ignore[operator]
    with pytest.raises(InvalidPipeline, match="belong to no pipeline"):
        Noop("x") >> Noop("y")


def test_a_task_outside_a_block_joins_through_a_dependency_or_argument() -> None:
    """pipeline= adds a task explicitly; a free task linked to a member joins its pipeline."""
    p = Pipeline("p")
    a = Noop("a", pipeline=p)
    b = Noop("b")
    a >> b
    assert set(p.tasks) == {"a", "b"}
    assert b.pipeline is p
    assert b.dag is p
    assert b.pipeline_id == "p"
    assert repr(a) == "<Task(Noop): a>"


def test_base_operator_execute_is_not_implemented() -> None:
    """BaseOperator itself has no work to do."""
    with pytest.raises(NotImplementedError, match="BaseOperator does not implement execute"):
        BaseOperator("t").execute({})
