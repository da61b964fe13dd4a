"""One try of one task, wherever it runs (a local thread or a Celery worker).

:func:`execute_try` claims the try in the store (so a redelivered message never runs a task that is
running elsewhere or finished), renders the templated fields in the sandbox, calls ``execute`` under
the task's ``execution_timeout``, keeps the result as an XCom (masked, size-limited), records the
outcome once, then runs the callbacks. The task's own failure is never raised: it becomes the try's
outcome (``up_for_retry`` while tries remain, else ``failed``).

An ``execution_timeout`` runs the try in a separate thread and stops waiting for it when the limit
passes: Python cannot kill a thread, so the work itself may go on in the background while the task
is recorded as failed (or retried). Operators that talk to servers should also set their own
client timeouts.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from decimal import Decimal
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from hookline import masking
from hookline.exceptions import TaskFailed, TaskSkipped, TaskTimeout, XComTooLarge
from hookline.operators.base import BaseOperator, Callback
from hookline.operators.templating import build_context, render_template_fields
from hookline.pipelines.state import TaskRecord, TaskState
from hookline.pipelines.store import Store, TryOutcome

if TYPE_CHECKING:
    from hookline.pipelines.dag import Pipeline

__all__ = ["TaskInstance", "decode_xcom", "encode_xcom", "execute_try", "worker_id"]

log = logging.getLogger("hookline.pipelines.task")

_ERROR_LIMIT = 4000


def worker_id() -> str:
    """``host:pid`` of this process (where a try ran)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    raise TypeError(f"a {type(value).__name__} is not JSON-serializable")


def encode_xcom(task_id: str, key: str, value: Any, limit_bytes: int) -> str:
    """``value`` masked and serialized as JSON, checked against the size limit.

    Raises:
        XComTooLarge: the JSON is larger than ``limit_bytes``.
        TaskFailed: the value cannot be serialized as JSON.
    """
    masked = masking.redact(value)
    try:
        text = json.dumps(masked, default=_json_default, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TaskFailed(
            f"task {task_id!r}: XCom {key!r} cannot be stored: {exc}; return JSON-like data",
            task_id=task_id,
        ) from None
    size = len(text.encode())
    if size > limit_bytes:
        raise XComTooLarge(task_id, key, size, limit_bytes)
    return text


def decode_xcom(text: str | None, default: Any = None) -> Any:
    """The value of a stored XCom, or ``default`` when there is none."""
    return default if text is None else json.loads(text)


class TaskInstance:
    """What a task sees as ``ti`` / ``task_instance``: its try and its XComs.

    Attributes:
        task_id: The task.
        run_id: The run.
        try_number: This try (1-based).
        max_tries: Tries the task may make.
        map_index: Always ``-1`` (no mapped tasks).
    """

    map_index = -1

    def __init__(
        self,
        store: Store,
        *,
        pipeline_id: str,
        task: BaseOperator,
        run_id: str,
        try_number: int,
        max_tries: int,
        xcom_max_bytes: int,
    ) -> None:
        self._store = store
        self.pipeline_id = pipeline_id
        self.task = task
        self.task_id = task.task_id
        self.run_id = run_id
        self.try_number = try_number
        self.max_tries = max_tries
        self._limit = xcom_max_bytes
        self.pushed: dict[str, str] = {}

    @property
    def dag_id(self) -> str:
        """Airflow's name for :attr:`pipeline_id`."""
        return self.pipeline_id

    def xcom_pull(
        self,
        task_ids: str | list[str] | tuple[str, ...] | None = None,
        key: str = "return_value",
        default: Any = None,
    ) -> Any:
        """A task's result (or another key it pushed) in this run.

        Args:
            task_ids: A task id (its value is returned), a list of them (a list of values, in
                order), or None (this task).
            key: The XCom key.
            default: Returned for a task that stored nothing under ``key``.
        """
        if isinstance(task_ids, list | tuple):
            return [self._pull(tid, key, default) for tid in task_ids]
        return self._pull(task_ids or self.task_id, key, default)

    def _pull(self, task_id: str, key: str, default: Any) -> Any:
        if task_id == self.task_id and key in self.pushed:
            return decode_xcom(self.pushed[key])
        return decode_xcom(self._store.pull_xcom(self.run_id, task_id, key), default)

    def xcom_push(self, key: str, value: Any) -> None:
        """Keep ``value`` under ``key`` (masked, size-limited), recorded when the try succeeds."""
        self.pushed[key] = encode_xcom(self.task_id, key, value, self._limit)

    def __repr__(self) -> str:
        return (
            f"<TaskInstance {self.pipeline_id}.{self.task_id} {self.run_id} try {self.try_number}>"
        )


def _call(fn: Callable[[dict[str, Any]], Any], context: dict[str, Any], task: BaseOperator) -> Any:
    timeout = task.execution_timeout_s
    if timeout is None:
        return fn(context)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn(context)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"hookline-try-{task.task_id}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TaskTimeout(task.task_id, timeout)
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _run_callbacks(
    callbacks: list[Callback], context: dict[str, Any], task_id: str, kind: str
) -> None:
    for callback in callbacks:
        try:
            callback(context)
        except Exception as exc:
            log.warning(
                "task %s: %s callback %s failed: %s",
                task_id,
                kind,
                getattr(callback, "__name__", repr(callback)),
                masking.redact(f"{type(exc).__name__}: {exc}"),
            )


def _error_text(exc: BaseException) -> str:
    text = str(masking.redact(f"{type(exc).__name__}: {exc}"))
    return text if len(text) <= _ERROR_LIMIT else text[: _ERROR_LIMIT - 3] + "..."


class _Heartbeat:
    def __init__(
        self, store: Store, run_id: str, task_id: str, worker: str, every_s: float
    ) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, args=(store, run_id, task_id, worker, every_s), daemon=True
        )
        self._thread.start()

    def _beat(self, store: Store, run_id: str, task_id: str, worker: str, every_s: float) -> None:
        while not self._stop.wait(every_s):
            try:
                store.heartbeat(run_id, task_id, worker)
            except Exception as exc:  # the next beat may get through
                log.warning("heartbeat of %s failed: %s", task_id, _error_text(exc))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def execute_try(
    pipeline: Pipeline,
    task_id: str,
    *,
    run_id: str,
    logical_date: dt.datetime,
    run_params: Mapping[str, Any],
    try_number: int,
    store: Store,
    xcom_max_bytes: int,
    worker: str | None = None,
    heartbeat_interval_s: float | None = None,
    stale_before: float | None = None,
    on_claimed: Callable[[TaskRecord], None] | None = None,
) -> TryOutcome | None:
    """Claim and run try ``try_number`` of ``task_id``; record its outcome once.

    Args:
        pipeline: The pipeline (as imported where the try runs).
        task_id: The task.
        run_id: The run.
        logical_date: The run's logical date.
        run_params: The run's parameters (over the pipeline's and the task's).
        try_number: Which try (1-based).
        store: Where the run is recorded.
        xcom_max_bytes: The XCom size limit.
        worker: Who runs it (default :func:`worker_id`).
        heartbeat_interval_s: Record a heartbeat this often while running (Celery workers).
        stale_before: Also take the try when it is running with a heartbeat older than this
            (its worker died).
        on_claimed: Called with the record once the try is claimed.

    Returns:
        The outcome, or None when the try was not taken (another worker has it, or it is over)
        or its outcome had been recorded already.
    """
    worker = worker or worker_id()
    claimed = store.claim(run_id, task_id, try_number, worker, stale_before)
    if claimed is None:
        log.info(
            "task %s try %d of run %s: taken elsewhere or over; skipped",
            task_id,
            try_number,
            run_id,
        )
        return None
    if on_claimed is not None:
        on_claimed(claimed)
    task = pipeline.tasks[task_id]
    ti = TaskInstance(
        store,
        pipeline_id=pipeline.pipeline_id,
        task=task,
        run_id=run_id,
        try_number=try_number,
        max_tries=claimed.max_tries,
        xcom_max_bytes=xcom_max_bytes,
    )
    params = {**task.params, **run_params}
    context = build_context(
        task=task,
        ti=ti,
        run_id=run_id,
        logical_date=logical_date,
        params=params,
        pipeline=pipeline,
        dag_run=SimpleNamespace(run_id=run_id, logical_date=logical_date, conf=dict(run_params)),
    )
    heartbeat = (
        _Heartbeat(store, run_id, task_id, worker, heartbeat_interval_s)
        if heartbeat_interval_s
        else None
    )
    rendered: dict[str, Any] = {}
    started = time.perf_counter()
    callbacks: list[Callback] = []
    log.info("task %s try %d/%d started (run %s)", task_id, try_number, claimed.max_tries, run_id)
    try:
        runnable, rendered = render_template_fields(task, context, pipeline.searchpath())
        _run_callbacks(task.on_execute_callback, context, task_id, "on_execute")
        result = _call(runnable.execute, context, task)
        xcom = dict(ti.pushed)
        if result is not None:
            xcom["return_value"] = encode_xcom(task_id, "return_value", result, xcom_max_bytes)
        outcome = TryOutcome(TaskState.SUCCESS, time.time(), xcom=xcom, rendered=rendered)
        callbacks = task.on_success_callback
        log.info("task %s succeeded in %.3f s", task_id, time.perf_counter() - started)
    except TaskSkipped as exc:
        outcome = TryOutcome(
            TaskState.SKIPPED, time.time(), error=_error_text(exc), rendered=rendered
        )
        log.info("task %s skipped: %s", task_id, outcome.error)
    except Exception as exc:
        context["exception"] = exc
        error = _error_text(exc)
        details = masking.redact("".join(traceback.format_exception(exc)))
        if try_number < claimed.max_tries:
            delay = task.retry_delay_for(try_number)
            outcome = TryOutcome(
                TaskState.UP_FOR_RETRY,
                time.time(),
                error=error,
                rendered=rendered,
                next_try_at=time.time() + delay,
            )
            callbacks = task.on_retry_callback
            log.warning(
                "task %s try %d/%d failed, retrying in %.1f s: %s\n%s",
                task_id, try_number, claimed.max_tries, delay, error, details,
            )  # fmt: skip
        else:
            outcome = TryOutcome(TaskState.FAILED, time.time(), error=error, rendered=rendered)
            callbacks = task.on_failure_callback
            log.error("task %s failed after %d tries: %s\n%s", task_id, try_number, error, details)
    finally:
        if heartbeat is not None:
            heartbeat.stop()
    if not store.finish(run_id, task_id, try_number, worker, outcome):
        log.warning(
            "task %s try %d: outcome recorded elsewhere already; dropped", task_id, try_number
        )
        return None
    _run_callbacks(callbacks, context, task_id, str(outcome.state))
    return outcome
