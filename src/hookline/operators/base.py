"""BaseOperator: one unit of pipeline work, with retries, backoff, timeouts, callbacks, params, templates.

An operator holds conn_ids and non-secret parameters, never a secret: hooks resolve connections
where the work runs. Subclasses implement :meth:`BaseOperator.execute` and list the attributes that
are Jinja templates in ``template_fields`` (rendered by :mod:`hookline.operators.templating` before
each try, in a sandbox).

Argument names follow Airflow's: ``retries``, ``retry_delay`` (a :class:`~datetime.timedelta`),
``retry_exponential_backoff``, ``max_retry_delay``, ``execution_timeout``, ``on_success_callback``,
``on_failure_callback``, ``on_retry_callback``, ``on_execute_callback``, ``params``,
``trigger_rule``; the same durations are accepted in seconds as ``retry_delay_s``,
``max_retry_delay_s`` and ``execution_timeout_s``. Operators created inside a
:class:`~hookline.pipelines.Pipeline` block join it, and take its ``default_args`` for every argument
they were not given. Dependencies are set with ``a >> b``, ``a << b``, lists, or
:func:`~hookline.pipelines.chain`.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeAlias

from hookline.exceptions import InvalidPipeline
from hookline.options import parse_float, parse_int

if TYPE_CHECKING:
    from hookline.pipelines.dag import Pipeline

__all__ = [
    "TRIGGER_RULES",
    "BaseOperator",
    "Callback",
    "DependencyTarget",
    "XComArg",
    "current_pipeline",
    "pop_pipeline",
    "push_pipeline",
]

#: A callback receives the task's context (with ``exception`` set on failure and retry).
Callback: TypeAlias = Callable[[dict[str, Any]], object]

#: When a task may run, given its upstream tasks' states (Airflow's names).
TRIGGER_RULES: Final = frozenset(
    {
        "all_success",
        "all_failed",
        "all_done",
        "one_success",
        "one_failed",
        "none_failed",
        "always",
    }
)
DEFAULT_RETRY_DELAY_S: Final = 300.0
_TASK_ID = re.compile(r"[A-Za-z0-9_.\-]{1,250}")

# -- the pipeline being defined (``with Pipeline(...):``), per thread --------------------------------

_stack = threading.local()


def _pipelines() -> list[Pipeline]:
    stack: list[Pipeline] | None = getattr(_stack, "items", None)
    if stack is None:
        stack = []
        _stack.items = stack
    return stack


def push_pipeline(pipeline: Pipeline) -> None:
    """Make ``pipeline`` the one new operators join (``Pipeline.__enter__`` calls it)."""
    _pipelines().append(pipeline)


def pop_pipeline(pipeline: Pipeline) -> None:
    """Undo :func:`push_pipeline` (``Pipeline.__exit__`` calls it)."""
    stack = _pipelines()
    if stack and stack[-1] is pipeline:
        stack.pop()


def current_pipeline() -> Pipeline | None:
    """The innermost pipeline whose ``with`` block is running in this thread, or None."""
    stack = _pipelines()
    return stack[-1] if stack else None


# -- default_args: injected into every operator __init__ for arguments not given --------------------


_accepted_cache: dict[type, frozenset[str]] = {}


def _accepted(cls: type) -> frozenset[str]:
    """The keyword names any ``__init__`` in ``cls``'s MRO accepts (where default_args may go)."""
    cached = _accepted_cache.get(cls)
    if cached is not None:
        return cached
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        init = getattr(init, "__wrapped__", init)
        for param in inspect.signature(init).parameters.values():
            if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
                names.add(param.name)
    names.discard("self")
    result = _accepted_cache[cls] = frozenset(names)
    return result


def _with_default_args(init: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(init)
    def wrapper(self: BaseOperator, *args: Any, **kwargs: Any) -> None:
        if not self.__dict__.get("_defaults_applied", False):
            self.__dict__["_defaults_applied"] = True
            pipeline = kwargs.get("pipeline") or kwargs.get("dag") or current_pipeline()
            defaults = pipeline.default_args if pipeline is not None else {}
            if defaults:
                bound = inspect.signature(init).bind_partial(self, *args, **kwargs).arguments
                accepted = _accepted(type(self))
                for name, value in defaults.items():
                    if name in accepted and name not in bound and name not in kwargs:
                        kwargs[name] = value
        init(self, *args, **kwargs)

    wrapper.__dict__["_hookline_defaults"] = True
    return wrapper


# -- durations ---------------------------------------------------------------------------------------


def _seconds(
    task_id: str,
    name: str,
    seconds: float | None,
    airflow_name: str,
    airflow_value: dt.timedelta | float | None,
    *,
    default: float | None,
    positive: bool = False,
) -> float | None:
    """One duration given in seconds (``name``) or Airflow's way (``airflow_name``), not both."""
    if seconds is not None and airflow_value is not None:
        raise InvalidPipeline(
            f"task {task_id!r}: give {name} or {airflow_name}, not both", task_id=task_id
        )
    value: Any = seconds if seconds is not None else airflow_value
    if value is None:
        return default
    if isinstance(value, dt.timedelta):
        value = value.total_seconds()
    number = parse_float(
        value, name=f"task {task_id!r}: {name}", minimum=0.0, error=InvalidPipeline
    )
    if positive and number <= 0:
        raise InvalidPipeline(
            f"task {task_id!r}: {name} must be > 0, got {number:g}", task_id=task_id
        )
    return number


def _callbacks(
    task_id: str, name: str, value: Callback | Sequence[Callback] | None
) -> list[Callback]:
    if value is None:
        return []
    items = list(value) if isinstance(value, list | tuple) else [value]
    for item in items:
        if not callable(item):
            raise InvalidPipeline(
                f"task {task_id!r}: {name} must be a callable or a list of callables, "
                f"got {type(item).__name__}",
                task_id=task_id,
            )
    return items  # type: ignore[return-value]


class BaseOperator:
    """Base class of every operator: a task in a pipeline.

    Args:
        task_id: Unique within the pipeline: letters, digits, ``_``, ``.``, ``-`` (at most 250).
        retries: Extra tries after a failed one (default 0).
        retry_delay_s: Seconds between tries (default 300); Airflow's ``retry_delay``
            (a timedelta or seconds) is accepted instead.
        retry_exponential_backoff: Double the delay after each failed try.
        max_retry_delay_s: Cap on the delay (Airflow's ``max_retry_delay``).
        execution_timeout_s: Limit on one try; over it the try fails with
            :class:`~hookline.exceptions.TaskTimeout` (Airflow's ``execution_timeout``).
        on_success_callback: Called with the context after the task succeeded.
        on_failure_callback: Called with the context (``exception`` set) after the last try failed.
        on_retry_callback: Called with the context (``exception`` set) after a try failed that
            will be retried.
        on_execute_callback: Called with the context before each try.
        params: Task parameters, merged over the pipeline's (``{{ params.x }}``).
        trigger_rule: When the task runs, given its upstream states (default ``all_success``):
            one of :data:`TRIGGER_RULES`.
        pipeline: The pipeline to join (default: the one whose ``with`` block is open);
            ``dag=`` is accepted too.
        doc: A description shown by ``hookline pipelines list``.

    Raises:
        InvalidPipeline: an invalid argument, or a task id already used in the pipeline.
    """

    #: Attribute names rendered as Jinja templates before each try.
    template_fields: ClassVar[Sequence[str]] = ()
    #: A templated string ending with one of these is a template file to load and render.
    template_ext: ClassVar[Sequence[str]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not init.__dict__.get("_hookline_defaults", False):
            cls.__init__ = _with_default_args(init)  # type: ignore[method-assign]

    def __init__(
        self,
        task_id: str,
        *,
        retries: int | None = None,
        retry_delay_s: float | None = None,
        retry_delay: dt.timedelta | float | None = None,
        retry_exponential_backoff: bool = False,
        max_retry_delay_s: float | None = None,
        max_retry_delay: dt.timedelta | float | None = None,
        execution_timeout_s: float | None = None,
        execution_timeout: dt.timedelta | float | None = None,
        on_success_callback: Callback | Sequence[Callback] | None = None,
        on_failure_callback: Callback | Sequence[Callback] | None = None,
        on_retry_callback: Callback | Sequence[Callback] | None = None,
        on_execute_callback: Callback | Sequence[Callback] | None = None,
        params: Mapping[str, Any] | None = None,
        trigger_rule: str = "all_success",
        pipeline: Pipeline | None = None,
        dag: Pipeline | None = None,
        doc: str | None = None,
    ) -> None:
        if not isinstance(task_id, str) or _TASK_ID.fullmatch(task_id) is None:
            raise InvalidPipeline(
                f"invalid task_id {task_id!r}: use 1-250 letters, digits, '_', '.' or '-'",
                task_id=task_id if isinstance(task_id, str) else None,
            )
        self.task_id = task_id
        self.retries = parse_int(
            0 if retries is None else retries,
            name=f"task {task_id!r}: retries",
            minimum=0,
            error=InvalidPipeline,
        )
        self.retry_delay_s: float = _seconds(
            task_id, "retry_delay_s", retry_delay_s, "retry_delay", retry_delay,
            default=DEFAULT_RETRY_DELAY_S,
        ) or 0.0  # fmt: skip
        self.retry_exponential_backoff = bool(retry_exponential_backoff)
        self.max_retry_delay_s = _seconds(
            task_id, "max_retry_delay_s", max_retry_delay_s, "max_retry_delay", max_retry_delay,
            default=None,
        )  # fmt: skip
        self.execution_timeout_s = _seconds(
            task_id, "execution_timeout_s", execution_timeout_s, "execution_timeout",
            execution_timeout, default=None, positive=True,
        )  # fmt: skip
        self.on_success_callback = _callbacks(task_id, "on_success_callback", on_success_callback)
        self.on_failure_callback = _callbacks(task_id, "on_failure_callback", on_failure_callback)
        self.on_retry_callback = _callbacks(task_id, "on_retry_callback", on_retry_callback)
        self.on_execute_callback = _callbacks(task_id, "on_execute_callback", on_execute_callback)
        if params is not None and not isinstance(params, Mapping):
            raise InvalidPipeline(
                f"task {task_id!r}: params must be a mapping, got {type(params).__name__}",
                task_id=task_id,
            )
        self.params: dict[str, Any] = dict(params or {})
        if trigger_rule not in TRIGGER_RULES:
            raise InvalidPipeline(
                f"task {task_id!r}: unknown trigger_rule {trigger_rule!r}; "
                f"use one of {', '.join(sorted(TRIGGER_RULES))}",
                task_id=task_id,
            )
        self.trigger_rule = trigger_rule
        self.doc = doc
        self.upstream_task_ids: set[str] = set()
        self.downstream_task_ids: set[str] = set()
        self.pipeline: Pipeline | None = None
        owner = pipeline or dag or current_pipeline()
        if owner is not None:
            owner.add_task(self)

    # -- the work ---------------------------------------------------------------------------------

    def execute(self, context: dict[str, Any]) -> Any:
        """Do the work; the return value becomes the task's result (XCom ``return_value``).

        Args:
            context: Airflow's context names (``ds``, ``ti``, ``params``, ...); see
                :func:`hookline.operators.templating.build_context`.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement execute()")

    def retry_delay_for(self, try_number: int) -> float:
        """Seconds to wait after failed try ``try_number`` (1-based) before the next one."""
        delay = self.retry_delay_s
        if self.retry_exponential_backoff:
            delay = delay * (2 ** max(0, try_number - 1))
        if self.max_retry_delay_s is not None:
            delay = min(delay, self.max_retry_delay_s)
        return delay

    @property
    def max_tries(self) -> int:
        """How many tries the task gets in all (``retries + 1``)."""
        return self.retries + 1

    # -- dependencies -----------------------------------------------------------------------------

    def _targets(self, other: DependencyTarget) -> list[BaseOperator]:
        items: Iterable[Any] = other if isinstance(other, list | tuple | set) else [other]
        out: list[BaseOperator] = []
        for item in items:
            if isinstance(item, BaseOperator):
                out.append(item)
            elif isinstance(item, XComArg):
                out.append(item.operator)
            else:
                raise InvalidPipeline(
                    f"task {self.task_id!r}: cannot set a dependency on {type(item).__name__}; "
                    "use operators, task results or lists of them",
                    task_id=self.task_id,
                )
        return out

    def _link(self, upstream: BaseOperator, downstream: BaseOperator) -> None:
        owner = upstream.pipeline or downstream.pipeline
        if owner is None:
            raise InvalidPipeline(
                f"tasks {upstream.task_id!r} and {downstream.task_id!r} belong to no pipeline; "
                "create them inside 'with Pipeline(...):' or pass pipeline=",
                task_id=downstream.task_id,
            )
        for task in (upstream, downstream):
            if task.pipeline is None:
                owner.add_task(task)
            elif task.pipeline is not owner:
                raise InvalidPipeline(
                    f"tasks {upstream.task_id!r} and {downstream.task_id!r} belong to different "
                    f"pipelines ({upstream.pipeline_id!r}, {downstream.pipeline_id!r})",
                    task_id=task.task_id,
                )
        if upstream is downstream:
            raise InvalidPipeline(
                f"task {upstream.task_id!r} cannot depend on itself",
                pipeline_id=owner.pipeline_id,
                task_id=upstream.task_id,
            )
        downstream.upstream_task_ids.add(upstream.task_id)
        upstream.downstream_task_ids.add(downstream.task_id)

    def set_downstream(self, other: DependencyTarget) -> None:
        """Make ``other`` (a task, a task result, or a list of them) run after this task."""
        for target in self._targets(other):
            self._link(self, target)

    def set_upstream(self, other: DependencyTarget) -> None:
        """Make this task run after ``other`` (a task, a task result, or a list of them)."""
        for target in self._targets(other):
            self._link(target, self)

    def __rshift__(self, other: Any) -> Any:
        self.set_downstream(other)
        return other

    def __lshift__(self, other: Any) -> Any:
        self.set_upstream(other)
        return other

    def __rrshift__(self, other: Any) -> BaseOperator:
        # [a, b] >> self
        self.set_upstream(other)
        return self

    def __rlshift__(self, other: Any) -> BaseOperator:
        # [a, b] << self
        self.set_downstream(other)
        return self

    # -- naming -----------------------------------------------------------------------------------

    @property
    def pipeline_id(self) -> str | None:
        """The id of the pipeline this task belongs to, or None."""
        return self.pipeline.pipeline_id if self.pipeline is not None else None

    @property
    def dag(self) -> Pipeline | None:
        """Airflow's name for :attr:`pipeline`."""
        return self.pipeline

    @property
    def output(self) -> XComArg:
        """This task's result, to pass to another task (Airflow's ``.output``)."""
        return XComArg(self)

    def __repr__(self) -> str:
        return f"<Task({type(self).__name__}): {self.task_id}>"


# BaseOperator's own __init__ takes default_args too (subclasses' are wrapped as they are defined).
BaseOperator.__init__ = _with_default_args(BaseOperator.__init__)  # type: ignore[method-assign]


class XComArg:
    """The future result of a task (what a ``@task`` function call returns).

    Passed as an argument to another ``@task`` call or templated operator field, it is replaced by
    the task's result when that task runs, and makes the producing task upstream. ``>>`` and
    ``<<`` work on it as on the operator.

    Attributes:
        operator: The task that produces the value.
        key: The XCom key (default ``return_value``).
    """

    def __init__(self, operator: BaseOperator, key: str = "return_value") -> None:
        self.operator = operator
        self.key = key

    def __rshift__(self, other: Any) -> Any:
        self.operator.set_downstream(other)
        return other

    def __lshift__(self, other: Any) -> Any:
        self.operator.set_upstream(other)
        return other

    def __rrshift__(self, other: Any) -> XComArg:
        self.operator.set_upstream(other)
        return self

    def __rlshift__(self, other: Any) -> XComArg:
        self.operator.set_downstream(other)
        return self

    def resolve(self, context: Mapping[str, Any]) -> Any:
        """The value, pulled through ``context["ti"]``."""
        return context["ti"].xcom_pull(task_ids=self.operator.task_id, key=self.key)

    def __repr__(self) -> str:
        return f"XComArg({self.operator.task_id!r}, key={self.key!r})"


#: What ``>>``, ``set_upstream`` and ``chain`` accept.
DependencyTarget: TypeAlias = (
    BaseOperator | XComArg | Sequence[BaseOperator | XComArg] | set[BaseOperator]
)
