"""Pipeline: a named set of tasks and their dependencies (Airflow's DAG), and :func:`chain`.

Operators created inside ``with Pipeline("id"):`` join it; ``>>``/``<<``/:func:`chain` order them.
A cycle is rejected, naming it (``a -> b -> c -> a``), when the ``with`` block ends and before a run.
:meth:`Pipeline.run` runs the tasks (see :mod:`hookline.pipelines.runner`).
"""

from __future__ import annotations

import datetime as dt
import inspect
import itertools
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from hookline.exceptions import InvalidPipeline, PipelineCycleError
from hookline.operators.base import (
    BaseOperator,
    DependencyTarget,
    XComArg,
    pop_pipeline,
    push_pipeline,
)

if TYPE_CHECKING:
    from hookline.pipelines.state import PipelineRun, ProgressListener

__all__ = ["Pipeline", "chain", "defined_pipelines"]

_PIPELINE_ID: Final = re.compile(r"[A-Za-z0-9_.\-]{1,250}")

# Pipelines created while a pipeline file or module is being imported (see loader.py).
_collector: list[list[Pipeline]] = []


def defined_pipelines() -> list[list[Pipeline]]:
    """The stack of lists that collect pipelines created during an import (for the loader)."""
    return _collector


class Pipeline:
    """A set of tasks and their dependencies.

    Args:
        pipeline_id: Letters, digits, ``_``, ``.``, ``-`` (at most 250).
        default_args: Arguments given to every operator created inside the ``with`` block that
            does not set them itself (``{"retries": 2, "retry_delay_s": 5}``).
        params: Parameters every task sees as ``{{ params.x }}`` (tasks and runs may override).
        description: Shown by ``hookline pipelines list``.
        template_searchpath: Folders where template files (``.sql``) are looked up, after the
            folder of the file that defines the pipeline.
        dag_id: Airflow's name for ``pipeline_id``.

    Attributes:
        fileloc: The file that defined the pipeline (None when unknown).
        module: The module name that defined it (None when run as ``__main__``).
    """

    def __init__(
        self,
        pipeline_id: str | None = None,
        *,
        default_args: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        description: str | None = None,
        template_searchpath: str | Path | Sequence[str | Path] | None = None,
        dag_id: str | None = None,
    ) -> None:
        pipeline_id = pipeline_id or dag_id
        if not isinstance(pipeline_id, str) or _PIPELINE_ID.fullmatch(pipeline_id) is None:
            raise InvalidPipeline(
                f"invalid pipeline_id {pipeline_id!r}: use 1-250 letters, digits, '_', '.' or '-'"
            )
        self.pipeline_id = pipeline_id
        self.default_args: dict[str, Any] = dict(default_args or {})
        self.params: dict[str, Any] = dict(params or {})
        self.description = description
        if template_searchpath is None:
            paths: list[str | Path] = []
        elif isinstance(template_searchpath, str | Path):
            paths = [template_searchpath]
        else:
            paths = list(template_searchpath)
        self.template_searchpath = [str(Path(p)) for p in paths]
        self.tasks: dict[str, BaseOperator] = {}
        self._used_ids: dict[str, int] = {}
        frame = inspect.currentframe()
        caller = frame.f_back if frame is not None else None
        while caller is not None and caller.f_globals.get("__name__", "").startswith(
            "hookline.pipelines"
        ):
            caller = caller.f_back
        file = caller.f_globals.get("__file__") if caller is not None else None
        name = caller.f_globals.get("__name__") if caller is not None else None
        self.fileloc: str | None = str(Path(file).resolve()) if isinstance(file, str) else None
        self.module: str | None = name if isinstance(name, str) and name != "__main__" else None
        if _collector:
            _collector[-1].append(self)

    # -- building ---------------------------------------------------------------------------------

    def __enter__(self) -> Pipeline:
        push_pipeline(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pop_pipeline(self)
        if exc_type is None:
            self.check()

    def add_task(self, task: BaseOperator) -> None:
        """Add ``task`` (operators created inside the ``with`` block are added by themselves).

        Raises:
            InvalidPipeline: the task id is taken, or the task belongs to another pipeline.
        """
        if task.pipeline is self:
            return
        if task.pipeline is not None:
            raise InvalidPipeline(
                f"task {task.task_id!r} already belongs to pipeline {task.pipeline.pipeline_id!r}",
                pipeline_id=self.pipeline_id,
                task_id=task.task_id,
            )
        if task.task_id in self.tasks:
            raise InvalidPipeline(
                f"pipeline {self.pipeline_id!r} already has a task {task.task_id!r}",
                pipeline_id=self.pipeline_id,
                task_id=task.task_id,
            )
        task.pipeline = self
        task.params = {**self.params, **task.params}
        self.tasks[task.task_id] = task
        self._used_ids.setdefault(task.task_id, 0)

    def unique_task_id(self, task_id: str) -> str:
        """``task_id``, or ``task_id__N`` when it is taken (what ``@task`` functions get)."""
        if task_id not in self.tasks:
            return task_id
        count = self._used_ids.get(task_id, 0)
        while True:
            count += 1
            candidate = f"{task_id}__{count}"
            if candidate not in self.tasks:
                self._used_ids[task_id] = count
                return candidate

    def get_task(self, task_id: str) -> BaseOperator:
        """The task ``task_id``.

        Raises:
            InvalidPipeline: no such task (the message lists the pipeline's tasks).
        """
        try:
            return self.tasks[task_id]
        except KeyError:
            raise InvalidPipeline(
                f"pipeline {self.pipeline_id!r} has no task {task_id!r}; it has: "
                + (", ".join(sorted(self.tasks)) or "no tasks"),
                pipeline_id=self.pipeline_id,
                task_id=task_id,
            ) from None

    @property
    def dag_id(self) -> str:
        """Airflow's name for :attr:`pipeline_id`."""
        return self.pipeline_id

    @property
    def folder(self) -> Path | None:
        """The folder of the file that defined the pipeline."""
        return Path(self.fileloc).parent if self.fileloc else None

    def searchpath(self) -> list[str]:
        """Where template files are looked up: the pipeline file's folder, then
        ``template_searchpath``."""
        paths = [str(self.folder)] if self.folder is not None else []
        return paths + [p for p in self.template_searchpath if p not in paths]

    # -- order ------------------------------------------------------------------------------------

    def find_cycle(self) -> list[str] | None:
        """A dependency cycle as task ids (first repeated at the end), or None."""
        white, grey, black = 0, 1, 2
        color = dict.fromkeys(self.tasks, white)
        for root in sorted(self.tasks):
            if color[root] != white:
                continue
            path: list[str] = [root]
            color[root] = grey
            stack: list[Iterator[str]] = [iter(sorted(self.tasks[root].downstream_task_ids))]
            while stack:
                child = next(stack[-1], None)
                if child is None:
                    stack.pop()
                    color[path.pop()] = black
                    continue
                if color.get(child, black) == grey:
                    return [*path[path.index(child) :], child]
                if color.get(child) == white:
                    color[child] = grey
                    path.append(child)
                    stack.append(iter(sorted(self.tasks[child].downstream_task_ids)))
        return None

    def check(self) -> None:
        """Check that every dependency names a task of this pipeline and that there is no cycle.

        Raises:
            PipelineCycleError: the dependencies form a cycle (named in the message).
            InvalidPipeline: a dependency names an unknown task.
        """
        for task in self.tasks.values():
            for other in task.upstream_task_ids | task.downstream_task_ids:
                if other not in self.tasks:
                    raise InvalidPipeline(
                        f"task {task.task_id!r} depends on {other!r}, which is not in pipeline "
                        f"{self.pipeline_id!r}",
                        pipeline_id=self.pipeline_id,
                        task_id=task.task_id,
                    )
        cycle = self.find_cycle()
        if cycle is not None:
            raise PipelineCycleError(self.pipeline_id, cycle)

    def topological_order(self) -> list[str]:
        """Task ids with every task after its upstream tasks (ties in name order)."""
        self.check()
        indegree = {tid: len(t.upstream_task_ids) for tid, t in self.tasks.items()}
        ready = sorted(tid for tid, n in indegree.items() if n == 0)
        order: list[str] = []
        while ready:
            tid = ready.pop(0)
            order.append(tid)
            for child in sorted(self.tasks[tid].downstream_task_ids):
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
            ready.sort()
        return order

    def reference(self) -> str:
        """How another process finds this pipeline: ``module:NAME`` or ``file:/abs/path.py``."""
        if (
            self.module is not None
            and self.module in sys.modules
            and not self.module.startswith("hookline_pipeline_file_")
        ):
            return f"module:{self.module}"
        if self.fileloc is not None:
            return f"file:{self.fileloc}"
        raise InvalidPipeline(
            f"pipeline {self.pipeline_id!r} was not defined in a file or module, so workers "
            "cannot import it; define it in a file and pass that file to 'hookline worker'",
            pipeline_id=self.pipeline_id,
        )

    # -- running ----------------------------------------------------------------------------------

    def run(
        self,
        logical_date: dt.datetime | dt.date | str | None = None,
        executor: str = "local",
        max_parallel: int = 4,
        *,
        params: Mapping[str, Any] | None = None,
        resume: str | None = None,
        record: bool = True,
        progress: ProgressListener | None = None,
        reference: str | None = None,
    ) -> PipelineRun:
        """Run the pipeline once and return the run with every task's state, tries and timings.

        Tasks run in dependency order, independent tasks in parallel (up to ``max_parallel`` at a
        time). A failed task's downstream tasks become ``upstream_failed``. Never raises for a
        failed task: check :attr:`PipelineRun.state` (or ``.failed``).

        Args:
            logical_date: The run's logical date (``{{ ds }}``); a date, datetime or ISO text;
                default now (UTC).
            executor: ``"local"`` (threads in this process) or ``"celery"`` (Celery workers
                started with ``hookline worker``).
            max_parallel: Tasks running at once (local), or in flight (celery).
            params: Run parameters, over the pipeline's and the tasks'.
            resume: A recorded run id: re-run only its tasks that did not succeed.
            record: Record the run in the metastore database (default).
            progress: Called on every task state change.
            reference: For the celery executor: how workers find the pipeline (default:
                :meth:`reference`).

        Raises:
            PipelineCycleError: the dependencies form a cycle.
            RunNotFound: ``resume`` names no recorded run of this pipeline.
            ConfigurationError: an unknown executor or an invalid setting.
        """
        from hookline.pipelines.runner import run_pipeline

        return run_pipeline(
            self,
            logical_date=logical_date,
            executor=executor,
            max_parallel=max_parallel,
            params=params,
            resume=resume,
            record=record,
            progress=progress,
            reference=reference,
        )

    def __repr__(self) -> str:
        return f"<Pipeline {self.pipeline_id!r}: {len(self.tasks)} tasks>"


def chain(*tasks: DependencyTarget) -> None:
    """Set ``tasks[0] >> tasks[1] >> ...``; a list next to a list of the same length is linked
    pairwise, a list next to a single task fans in or out (Airflow's ``chain``).

    Raises:
        InvalidPipeline: two adjacent lists of different lengths.
    """
    for up, down in itertools.pairwise(tasks):
        up_list = isinstance(up, list | tuple)
        down_list = isinstance(down, list | tuple)
        if up_list and down_list:
            ups, downs = list(up), list(down)  # type: ignore[arg-type]
            if len(ups) != len(downs):
                raise InvalidPipeline(
                    f"chain: adjacent lists must have the same length, got {len(ups)} and "
                    f"{len(downs)}"
                )
            for a, b in zip(ups, downs, strict=True):
                _operator(a).set_downstream(b)
        elif up_list:
            for a in up:  # type: ignore[union-attr]
                _operator(a).set_downstream(down)
        else:
            _operator(up).set_downstream(down)


def _operator(item: Any) -> BaseOperator:
    if isinstance(item, BaseOperator):
        return item
    if isinstance(item, XComArg):
        return item.operator
    raise InvalidPipeline(f"chain: expected tasks or task results, got {type(item).__name__}")
