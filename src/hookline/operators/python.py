"""PythonOperator and the ``@task`` decorator: a Python function as a pipeline task.

The function receives ``op_args``/``op_kwargs`` (templated) and, as in Airflow, any context name it
declares as a parameter (``def load(ds, ti): ...``) or all of them through ``**context``. Its return
value is the task's result (XCom ``return_value``).

``@task`` turns a function into a task factory (Airflow's TaskFlow API): calling it inside a
pipeline creates a :class:`PythonOperator` and returns an :class:`~hookline.operators.base.XComArg`;
passing that to another call makes the producer upstream and hands its result over at run time::

    @task(retries=2)
    def extract() -> list[dict]: ...

    @task
    def load(rows: list[dict], ds: str) -> int: ...

    with Pipeline("orders"):
        load(extract())
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, ParamSpec, TypeVar, overload

from hookline.exceptions import InvalidPipeline
from hookline.operators.base import BaseOperator, XComArg, current_pipeline

__all__ = ["PythonOperator", "TaskDecorator", "task"]

P = ParamSpec("P")
R = TypeVar("R")

#: Context names a callable may declare as parameters.
CONTEXT_NAMES = frozenset(
    {
        "ds",
        "ds_nodash",
        "ts",
        "ts_nodash",
        "ts_nodash_with_tz",
        "logical_date",
        "data_interval_start",
        "data_interval_end",
        "run_id",
        "params",
        "task",
        "task_instance",
        "ti",
        "conn",
        "macros",
        "dag",
        "pipeline",
        "dag_run",
        "templates_dict",
    }
)


class PythonOperator(BaseOperator):
    """Call a Python function.

    Args:
        task_id: The task id.
        python_callable: The function.
        op_args: Positional arguments (templated).
        op_kwargs: Keyword arguments (templated).
        templates_dict: A dict of templates rendered and passed as ``templates_dict``.
        show_return_value_in_logs: Log the (masked) return value.
        **kwargs: :class:`BaseOperator` arguments.
    """

    template_fields = ("templates_dict", "op_args", "op_kwargs")

    def __init__(
        self,
        *,
        task_id: str,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: Mapping[str, Any] | None = None,
        show_return_value_in_logs: bool = True,
        **kwargs: Any,
    ) -> None:
        if not callable(python_callable):
            raise InvalidPipeline(
                f"task {task_id!r}: python_callable must be callable, got "
                f"{type(python_callable).__name__}",
                task_id=task_id,
            )
        super().__init__(task_id, **kwargs)
        self.python_callable = python_callable
        self.op_args = list(op_args or ())
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = dict(templates_dict) if templates_dict is not None else None
        self.show_return_value_in_logs = show_return_value_in_logs
        self._wants = _context_parameters(python_callable)

    def execute(self, context: dict[str, Any]) -> Any:
        """Call the function with its arguments and the context names it declares."""
        kwargs = dict(self.op_kwargs)
        context = {**context, "templates_dict": self.templates_dict}
        wants_all, names = self._wants
        extra = context if wants_all else {n: context[n] for n in names if n in context}
        for name, value in extra.items():
            kwargs.setdefault(name, value)
        return self.python_callable(*self.op_args, **kwargs)


def _context_parameters(fn: Callable[..., Any]) -> tuple[bool, frozenset[str]]:
    """Whether ``fn`` takes ``**kwargs`` (then every context name is passed), and which context
    names it declares as parameters."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: pass nothing extra
        return False, frozenset()
    wants_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    names = frozenset(
        p.name
        for p in parameters
        if p.name in CONTEXT_NAMES
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    )
    return wants_all, names


class TaskDecorator(Generic[P, R]):
    """A function turned into a task factory by :func:`task`.

    Calling it inside a pipeline creates a :class:`PythonOperator` (task id: the function's name,
    with ``__1``, ``__2``... when it is used again) and returns an :class:`XComArg`. Calling
    ``.function(...)`` calls the plain function.
    """

    def __init__(self, function: Callable[P, R], operator_kwargs: Mapping[str, Any]) -> None:
        self.function = function
        self.operator_kwargs = dict(operator_kwargs)
        functools.update_wrapper(self, function)

    def override(self, **operator_kwargs: Any) -> TaskDecorator[P, R]:
        """The same task with other operator arguments (``task_id=``, ``retries=``, ...)."""
        return TaskDecorator(self.function, {**self.operator_kwargs, **operator_kwargs})

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> XComArg:
        options = dict(self.operator_kwargs)
        pipeline = options.get("pipeline") or options.get("dag") or current_pipeline()
        task_id = options.pop("task_id", None) or self.function.__name__
        if pipeline is not None:
            task_id = pipeline.unique_task_id(task_id)
        operator = PythonOperator(
            task_id=task_id,
            python_callable=self.function,
            op_args=list(args),
            op_kwargs=dict(kwargs),
            **options,
        )
        for value in [*args, *kwargs.values()]:
            for upstream in _xcom_args(value):
                operator.set_upstream(upstream.operator)
        return XComArg(operator)


def _xcom_args(value: Any, depth: int = 0) -> list[XComArg]:
    if isinstance(value, XComArg):
        return [value]
    if depth > 8:
        return []
    if isinstance(value, Mapping):
        return [a for v in value.values() for a in _xcom_args(v, depth + 1)]
    if isinstance(value, list | tuple | set):
        return [a for v in value for a in _xcom_args(v, depth + 1)]
    return []


@overload
def task(python_callable: Callable[P, R], /) -> TaskDecorator[P, R]: ...


@overload
def task(
    python_callable: None = None, /, **operator_kwargs: Any
) -> Callable[[Callable[P, R]], TaskDecorator[P, R]]: ...


def task(
    python_callable: Callable[P, R] | None = None, /, **operator_kwargs: Any
) -> TaskDecorator[P, R] | Callable[[Callable[P, R]], TaskDecorator[P, R]]:
    """Turn a function into a task factory (``@task`` or ``@task(retries=2, task_id=...)``).

    ``operator_kwargs`` are :class:`BaseOperator` arguments (``retries``, ``retry_delay_s``,
    ``execution_timeout_s``, callbacks, ``params``, ``trigger_rule``, ``task_id``).
    """
    if python_callable is not None:
        return TaskDecorator(python_callable, operator_kwargs)

    def decorate(fn: Callable[P, R]) -> TaskDecorator[P, R]:
        return TaskDecorator(fn, operator_kwargs)

    return decorate
