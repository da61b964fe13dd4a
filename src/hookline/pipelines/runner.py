"""The runner: schedules a pipeline's tasks in dependency order and hands ready tries to an executor.

The runner owns the run: it decides which task is ready (its trigger rule over its upstream tasks'
states), marks tasks ``upstream_failed`` or ``skipped`` when they can no longer run, holds a retry
until its delay has passed, and records every state in the store. Executors only run tries:
:class:`LocalExecutor` in a thread pool of this process, the Celery executor
(:mod:`hookline.pipelines.celery`) on workers.
"""

from __future__ import annotations

import datetime as dt
import getpass
import logging
import queue
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from hookline import masking
from hookline.exceptions import ConfigurationError, InvalidPipeline, RunNotFound
from hookline.pipelines.execution import execute_try
from hookline.pipelines.state import (
    FINISHED,
    PipelineRun,
    ProgressListener,
    RunState,
    TaskRecord,
    TaskState,
)
from hookline.pipelines.store import BufferedStore, MemoryStore, RunStore, Store

if TYPE_CHECKING:
    from hookline.pipelines.dag import Pipeline

__all__ = ["Executor", "LocalExecutor", "parse_logical_date", "run_pipeline"]

log = logging.getLogger("hookline.pipelines.runner")

_FAILED = frozenset({TaskState.FAILED, TaskState.UPSTREAM_FAILED})
#: How often a local run's state is written to the metastore while it runs (and at its end).
_FLUSH_EVERY_S = 0.25


def parse_logical_date(value: dt.datetime | dt.date | str | None) -> dt.datetime:
    """A logical date as an aware UTC datetime (naive means UTC; a date means midnight UTC).

    Raises:
        InvalidPipeline: text that is not an ISO date or date-time.
    """
    if value is None:
        return dt.datetime.now(dt.UTC).replace(microsecond=0)
    if isinstance(value, str):
        text = value.strip()
        try:
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidPipeline(
                f"invalid logical date {text!r}: use an ISO date (2026-12-01) or date-time "
                "(2026-12-01T06:00:00+00:00)"
            ) from None
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


class Executor(Protocol):
    """Runs tries handed over by the runner."""

    def submit(self, task_id: str, try_number: int) -> None:
        """Start try ``try_number`` of ``task_id`` (the store shows it queued already)."""

    def wait(self, timeout_s: float) -> list[str]:
        """Wait up to ``timeout_s`` for news; return the task ids whose record may have changed."""

    def in_flight(self) -> int:
        """Tries submitted and not yet over."""

    def shutdown(self) -> None:
        """Release threads and connections."""


class LocalExecutor:
    """Runs tries in a thread pool of this process (``max_parallel`` threads)."""

    def __init__(
        self,
        pipeline: Pipeline,
        run: PipelineRun,
        store: Store,
        *,
        max_parallel: int,
        xcom_max_bytes: int,
    ) -> None:
        self._pipeline = pipeline
        self._run = run
        self._store = store
        self._xcom_max_bytes = xcom_max_bytes
        self._pool = ThreadPoolExecutor(max_parallel, thread_name_prefix="hookline-task")
        self._events: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._running = 0
        self._lock = threading.Lock()

    def submit(self, task_id: str, try_number: int) -> None:
        with self._lock:
            self._running += 1
        self._pool.submit(self._execute, task_id, try_number)

    def _execute(self, task_id: str, try_number: int) -> None:
        try:
            execute_try(
                self._pipeline,
                task_id,
                run_id=self._run.run_id,
                logical_date=self._run.logical_date,
                run_params=self._run.params,
                try_number=try_number,
                store=self._store,
                xcom_max_bytes=self._xcom_max_bytes,
                on_claimed=lambda _rec: self._events.put(task_id),
            )
        except BaseException as exc:  # the store failed: record what we can
            error = masking.redact(f"{type(exc).__name__}: {exc}")
            log.error("task %s: could not run or record the try: %s", task_id, error)
            try:
                record = self._store.get_task(self._run.run_id, task_id) or TaskRecord(task_id)
                record.state, record.error, record.ended_at = TaskState.FAILED, error, time.time()
                self._store.put_task(self._run.run_id, record)
            except Exception:
                log.error("task %s: recording the failure failed too", task_id)
        finally:
            with self._lock:
                self._running -= 1
            self._events.put(task_id)

    def wait(self, timeout_s: float) -> list[str]:
        changed: list[str] = []
        try:
            changed.append(self._events.get(timeout=max(0.0, timeout_s)))
        except queue.Empty:
            return changed
        while True:
            try:
                changed.append(self._events.get_nowait())
            except queue.Empty:
                return changed

    def in_flight(self) -> int:
        with self._lock:
            return self._running

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


def _verdict(rule: str, states: list[TaskState]) -> str:
    """``run``, ``wait``, ``upstream_failed`` or ``skipped`` for a task with these upstream states."""
    if not states or rule == "always":
        return "run"
    done = [s for s in states if s in FINISHED]
    all_done = len(done) == len(states)
    failed = any(s in _FAILED for s in done)
    success = any(s == TaskState.SUCCESS for s in done)
    if rule == "all_success":
        if failed:
            return "upstream_failed"
        if any(s == TaskState.SKIPPED for s in done):
            return "skipped"
        return "run" if all_done else "wait"
    if rule == "one_success":
        if success:
            return "run"
        return ("upstream_failed" if failed else "skipped") if all_done else "wait"
    if rule == "one_failed":
        if failed:
            return "run"
        return "skipped" if all_done else "wait"
    if not all_done:
        return "wait"
    if rule == "all_done":
        return "run"
    if rule == "all_failed":
        return "run" if all(s in _FAILED for s in done) else "skipped"
    # none_failed
    return "upstream_failed" if failed else "run"


class _Scheduler:
    def __init__(
        self,
        pipeline: Pipeline,
        run: PipelineRun,
        store: Store,
        executor: Executor,
        *,
        max_parallel: int,
        progress: ProgressListener | None,
    ) -> None:
        self.pipeline = pipeline
        self.run = run
        self.store = store
        self.executor = executor
        self.max_parallel = max_parallel
        self.progress = progress
        self.order = pipeline.topological_order()
        self.next_try_at: dict[str, float] = {}

    def _changed(self, record: TaskRecord) -> None:
        self.run.tasks[record.task_id] = record
        if self.progress is not None:
            try:
                self.progress(self.run, record)
            except Exception as exc:
                log.warning("progress listener failed: %s", masking.redact(repr(exc)))

    def _set(self, task_id: str, state: TaskState) -> None:
        record = self.run.tasks[task_id]
        record.state = state
        if state in FINISHED and record.ended_at is None:
            record.ended_at = time.time()
        self.store.put_task(self.run.run_id, record)
        self._changed(record)

    def _submit(self, task_id: str) -> None:
        record = self.run.tasks[task_id]
        try_number = record.tries + 1
        self.store.queue_try(self.run.run_id, task_id, try_number)
        record.state, record.tries = TaskState.QUEUED, try_number
        self._changed(record)
        self.executor.submit(task_id, try_number)

    def _refresh(self, task_id: str) -> None:
        fresh = self.store.get_task(self.run.run_id, task_id)
        if fresh is None:
            return
        old = self.run.tasks[task_id]
        if (fresh.state, fresh.tries, fresh.error) != (old.state, old.tries, old.error):
            if fresh.state == TaskState.UP_FOR_RETRY:
                delay = self.pipeline.tasks[task_id].retry_delay_for(fresh.tries)
                self.next_try_at[task_id] = (fresh.ended_at or time.time()) + delay
            self._changed(fresh)

    def _schedule(self) -> float:
        """Submit what is ready; return seconds until a retry becomes due (or 0.5)."""
        now = time.time()
        wake = 0.5
        tasks = self.run.tasks
        for task_id in self.order:
            record = tasks[task_id]
            if record.state == TaskState.UP_FOR_RETRY:
                due = self.next_try_at.get(task_id, now)
                if due > now:
                    wake = min(wake, due - now)
                    continue
            elif record.state != TaskState.NONE:
                continue
            task = self.pipeline.tasks[task_id]
            if record.state == TaskState.NONE:
                verdict = _verdict(
                    task.trigger_rule, [tasks[u].state for u in sorted(task.upstream_task_ids)]
                )
                if verdict == "wait":
                    continue
                if verdict != "run":
                    self._set(task_id, TaskState(verdict))
                    continue
            if self.executor.in_flight() >= self.max_parallel:
                continue
            self._submit(task_id)
        return wake

    def loop(self) -> None:
        flushed = time.monotonic()
        while True:
            wake = self._schedule()
            if all(r.state in FINISHED for r in self.run.tasks.values()):
                return
            for task_id in dict.fromkeys(self.executor.wait(wake)):
                self._refresh(task_id)
            if time.monotonic() - flushed >= _FLUSH_EVERY_S:
                self.store.flush()
                flushed = time.monotonic()


def _new_run_id(logical: dt.datetime) -> str:
    return f"manual__{logical.isoformat()}__{secrets.token_hex(3)}"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _prepare(
    pipeline: Pipeline,
    store: Store,
    logical: dt.datetime,
    params: Mapping[str, Any] | None,
    resume: str | None,
    executor: str,
    reference: str | None,
) -> PipelineRun:
    if resume is None:
        run = PipelineRun(
            run_id=_new_run_id(logical),
            pipeline_id=pipeline.pipeline_id,
            logical_date=logical,
            executor=executor,
            started_at=time.time(),
            user=_user(),
            host=socket.gethostname(),
            params=dict(params or {}),
        )
        run.tasks = {
            tid: TaskRecord(tid, max_tries=pipeline.tasks[tid].max_tries)
            for tid in pipeline.topological_order()
        }
        store.create_run(run, reference)
        for record in run.tasks.values():
            store.put_task(run.run_id, record)
        store.flush()
        return run
    old = store.load_run(resume)
    if old.pipeline_id != pipeline.pipeline_id:
        raise RunNotFound(
            resume,
            message=f"run {resume!r} is a run of pipeline {old.pipeline_id!r}, "
            f"not {pipeline.pipeline_id!r}",
        )
    tasks: dict[str, TaskRecord] = {}
    for tid in pipeline.topological_order():
        record = old.tasks.get(tid) or TaskRecord(tid)
        if record.state not in {TaskState.SUCCESS, TaskState.SKIPPED}:
            record.state = TaskState.NONE
            record.max_tries = record.tries + pipeline.tasks[tid].max_tries
            record.ended_at = None
            record.error = None
        tasks[tid] = record
        store.put_task(resume, record)
    old.tasks = tasks
    old.state, old.ended_at, old.executor = RunState.RUNNING, None, executor
    if params:
        old.params = {**old.params, **params}
    store.update_run(old)
    store.flush()
    return old


def run_pipeline(
    pipeline: Pipeline,
    *,
    logical_date: dt.datetime | dt.date | str | None = None,
    executor: str = "local",
    max_parallel: int = 4,
    params: Mapping[str, Any] | None = None,
    resume: str | None = None,
    record: bool = True,
    progress: ProgressListener | None = None,
    reference: str | None = None,
    store: Store | None = None,
) -> PipelineRun:
    """Run ``pipeline`` once (see :meth:`hookline.pipelines.Pipeline.run`); ``store`` overrides
    where the run is recorded."""
    from hookline.pipelines.settings import pipeline_settings

    if executor not in {"local", "celery"}:
        raise ConfigurationError(f"unknown executor {executor!r}; use 'local' or 'celery'")
    if isinstance(max_parallel, bool) or not isinstance(max_parallel, int) or max_parallel < 1:
        raise ConfigurationError(f"max_parallel must be an integer >= 1, got {max_parallel!r}")
    pipeline.check()
    logical = parse_logical_date(logical_date)
    settings = pipeline_settings()
    own_store = store is None
    if store is None:
        if not record:
            store = MemoryStore()
        elif executor == "local":
            store = BufferedStore(RunStore(settings.metastore_url))
        else:
            store = RunStore(settings.metastore_url)
    if executor == "celery" and isinstance(store, MemoryStore):
        raise ConfigurationError("the celery executor records runs in the metastore: record=True")
    try:
        ref = reference
        if executor == "celery" and ref is None:
            ref = pipeline.reference()
        run = _prepare(pipeline, store, logical, params, resume, executor, ref)
        runner: Executor
        if executor == "celery":
            from hookline.pipelines.celery import CeleryExecutor

            runner = CeleryExecutor(pipeline, run, store, reference=ref or "")
        else:
            runner = LocalExecutor(
                pipeline,
                run,
                store,
                max_parallel=max_parallel,
                xcom_max_bytes=settings.xcom_max_bytes,
            )
        try:
            _Scheduler(
                pipeline, run, store, runner, max_parallel=max_parallel, progress=progress
            ).loop()
        finally:
            runner.shutdown()
        run.tasks = {tid: run.tasks[tid] for tid in pipeline.topological_order()}
        failed = any(r.state in _FAILED for r in run.tasks.values())
        run.state = RunState.FAILED if failed else RunState.SUCCESS
        run.ended_at = time.time()
        store.update_run(run)
        store.flush()
        run.attach_results(_results_reader(store, settings.metastore_url, run.run_id))
        return run
    finally:
        if own_store:
            store.close()


def _results_reader(store: Store, url: str | None, run_id: str) -> Callable[[str, str], Any]:
    """Read a finished run's XComs later: from the same in-memory store, or through a new
    connection to the database (the run's own store is closed when the run ends)."""
    from hookline.pipelines.execution import decode_xcom

    if isinstance(store, MemoryStore):
        return lambda task_id, key: decode_xcom(store.pull_xcom(run_id, task_id, key))

    def read(task_id: str, key: str) -> Any:
        recorded = RunStore(url)
        try:
            return decode_xcom(recorded.pull_xcom(run_id, task_id, key))
        finally:
            recorded.close()

    return read
