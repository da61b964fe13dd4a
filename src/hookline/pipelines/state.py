"""Run and task states: what a pipeline run returns and what the metastore records.

States use Airflow's names. A task starts ``none`` (scheduled, not yet ready), becomes ``queued``
(handed to an executor), ``running``, then ``success``, ``failed``, ``skipped``,
``upstream_failed`` (an upstream task failed, so it never ran), or ``up_for_retry`` between tries.
A run is ``running``, then ``success`` (no task failed) or ``failed``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias

__all__ = [
    "FINISHED",
    "PipelineRun",
    "ProgressListener",
    "RunState",
    "TaskRecord",
    "TaskState",
]


class TaskState(StrEnum):
    """A task's state within one run (Airflow's names)."""

    NONE = "none"
    QUEUED = "queued"
    RUNNING = "running"
    UP_FOR_RETRY = "up_for_retry"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    UPSTREAM_FAILED = "upstream_failed"


#: States a task does not leave within a run.
FINISHED = frozenset(
    {TaskState.SUCCESS, TaskState.FAILED, TaskState.SKIPPED, TaskState.UPSTREAM_FAILED}
)


class RunState(StrEnum):
    """A pipeline run's state."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"


@dataclass
class TaskRecord:
    """One task of one run.

    Attributes:
        task_id: The task.
        state: Its state.
        tries: Tries made so far.
        max_tries: Tries it may make (retries + 1).
        started_at: Start of its first try (epoch seconds), or None.
        ended_at: End of its last try, or None.
        error: The last error, masked, or None.
        worker: Where the last try ran (``host:pid``), or None.
        rendered: Its rendered template fields, masked.
    """

    task_id: str
    state: TaskState = TaskState.NONE
    tries: int = 0
    max_tries: int = 1
    started_at: float | None = None
    ended_at: float | None = None
    error: str | None = None
    worker: str | None = None
    rendered: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        """Seconds from the first try's start to the last try's end, or None."""
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0.0, self.ended_at - self.started_at)

    @property
    def finished(self) -> bool:
        """True when the task will not run again in this run."""
        return self.state in FINISHED


@dataclass
class PipelineRun:
    """One run of a pipeline: what :meth:`Pipeline.run` returns and ``pipelines runs`` lists.

    Attributes:
        run_id: Unique id (``manual__<logical date>__<random>``).
        pipeline_id: The pipeline.
        logical_date: The run's logical date (UTC).
        state: The run's state.
        tasks: Every task's record, in dependency order.
        executor: ``local`` or ``celery``.
        started_at: Epoch seconds.
        ended_at: Epoch seconds, or None while running.
        user: Who started it.
        host: Where it was started.
        params: The run parameters, masked.
    """

    run_id: str
    pipeline_id: str
    logical_date: dt.datetime
    state: RunState = RunState.RUNNING
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    executor: str = "local"
    started_at: float = 0.0
    ended_at: float | None = None
    user: str = ""
    host: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    _results: Callable[[str, str], Any] | None = field(default=None, repr=False, compare=False)

    def attach_results(self, reader: Callable[[str, str], Any]) -> None:
        """Set how :meth:`xcom_pull` reads the recorded results (the runner does)."""
        self._results = reader

    def xcom_pull(self, task_id: str, key: str = "return_value") -> Any:
        """A task's recorded result (masked, as stored), or None (read from the configured
        metastore for a run loaded from the records)."""
        if self._results is None:
            from hookline.pipelines.execution import decode_xcom
            from hookline.pipelines.store import open_store

            store = open_store()
            try:
                return decode_xcom(store.pull_xcom(self.run_id, task_id, key))
            finally:
                store.close()
        return self._results(task_id, key)

    @property
    def failed(self) -> bool:
        """True when a task failed (or could not run because an upstream task failed)."""
        return self.state == RunState.FAILED

    @property
    def duration_s(self) -> float | None:
        """The run's wall time in seconds, or None while running."""
        return None if self.ended_at is None else max(0.0, self.ended_at - self.started_at)

    def states(self) -> dict[str, str]:
        """``{task_id: state}`` for every task."""
        return {tid: str(rec.state) for tid, rec in self.tasks.items()}

    def table(self) -> str:
        """The task table as plain text (task, state, tries, duration, error)."""
        rows = [("task", "state", "tries", "duration", "error")]
        for rec in self.tasks.values():
            duration = f"{rec.duration_s:.2f} s" if rec.duration_s is not None else "-"
            error = (rec.error or "").splitlines()[0][:80] if rec.error else ""
            rows.append(
                (rec.task_id, str(rec.state), f"{rec.tries}/{rec.max_tries}", duration, error)
            )
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]
            for row in rows
        ]
        return "\n".join(line.rstrip() for line in lines)

    def __repr__(self) -> str:
        return (
            f"<PipelineRun {self.run_id!r} of {self.pipeline_id!r}: {self.state}, "
            f"{sum(r.state == TaskState.SUCCESS for r in self.tasks.values())}/{len(self.tasks)} "
            "tasks succeeded>"
        )


#: Called with ``(run, task record)`` whenever a task's state changes.
ProgressListener: TypeAlias = Callable[[PipelineRun, TaskRecord], None]
