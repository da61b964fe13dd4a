"""The Celery executor and worker: each ready try becomes one Celery message for ``hookline worker``.

The runner sends ``hookline.run_task`` with only the pipeline reference (``file:/path.py`` or
``module:name``), pipeline id, task id, run id, logical date, try number and the run's params:
never a connection or a secret. Workers import the same file or module (``hookline worker
FILE_OR_MODULE``), resolve connections through their own secrets chain, and record the outcome in
the metastore database, which runner and workers share (``[metastore] url``). No result backend
is used, so no task result passes through the broker.

Delivery: messages are acknowledged late (after the try) and rejected when the worker's process
is lost, so a message a dead worker held is delivered again (Redis: after
``[celery] visibility_timeout_s``). A worker claims a try in the store before running it and
beats a heartbeat while it runs; a redelivered message for a try that is running elsewhere with a
fresh heartbeat, or that is over, is dropped, and the outcome is recorded once. The runner also
watches heartbeats: a try whose heartbeat stops for ``heartbeat_interval_s * 4`` is sent again,
so a killed worker's task runs on another worker even before the broker redelivers it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from hookline import masking
from hookline.exceptions import MissingDependency, PipelineError
from hookline.pipelines.execution import execute_try, worker_id
from hookline.pipelines.runner import parse_logical_date
from hookline.pipelines.settings import CelerySettings, celery_settings, pipeline_settings
from hookline.pipelines.state import FINISHED, PipelineRun, TaskRecord, TaskState
from hookline.pipelines.store import RunStore, Store, TryOutcome

if TYPE_CHECKING:
    from celery import Celery

    from hookline.pipelines.dag import Pipeline

__all__ = ["TASK_NAME", "CeleryExecutor", "make_app", "run_task", "serve", "start_worker"]

log = logging.getLogger("hookline.pipelines.celery")

TASK_NAME = "hookline.run_task"
_POLL_S = 0.05


def _celery() -> Any:
    try:
        import celery
    except ImportError as exc:
        raise MissingDependency("celery", "celery", purpose="the celery executor") from exc
    return celery


def make_app(settings: CelerySettings | None = None) -> Celery:
    """A Celery app for hookline's task, configured from ``[celery]``.

    Raises:
        MissingDependency: celery is not installed (``pip install 'hookline[celery]'``).
    """
    celery = _celery()
    settings = settings or celery_settings()
    app = celery.Celery("hookline", broker=settings.broker_url, set_as_current=False)
    restore_every_s = max(1, min(10, round(settings.visibility_timeout_s / 4)))
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=settings.queue,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_s,
            "unacked_restore_interval": restore_every_s,
            "unacked_restore_throttle": 1,
        },
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        worker_enable_remote_control=False,
    )
    app.task(name=TASK_NAME, bind=False, ignore_result=True)(run_task)
    return app


# -- the worker side ----------------------------------------------------------------------------------

_served: dict[str, Any] = {}


def serve(source: str) -> dict[str, Pipeline]:
    """Import ``source`` (a pipeline file or module) as the pipelines this worker runs."""
    from hookline.pipelines.loader import load_pipelines, source_reference

    pipelines = load_pipelines(source)
    _served["reference"] = source_reference(source)
    _served["pipelines"] = pipelines
    return pipelines


_store_lock = threading.Lock()


def _worker_state() -> tuple[Store, CelerySettings, int]:
    """The worker process's store and settings (made once, after any fork)."""
    with _store_lock:
        state: tuple[Store, CelerySettings, int] | None = _served.get("state")
        if state is None:
            settings = pipeline_settings()
            state = (RunStore(settings.metastore_url), celery_settings(), settings.xcom_max_bytes)
            _served["state"] = state
        return state


def run_task(
    reference: str,
    pipeline_id: str,
    task_id: str,
    run_id: str,
    logical_date: str,
    try_number: int,
    params: dict[str, Any] | None = None,
) -> None:
    """The Celery task: run one try of a task of a pipeline this worker serves."""
    store, settings, xcom_max_bytes = _worker_state()
    worker = worker_id()
    pipelines: dict[str, Pipeline] = _served.get("pipelines", {})
    pipeline = pipelines.get(pipeline_id)
    problem = None
    if _served.get("reference") != reference:
        problem = f"this worker serves {_served.get('reference')!r}, not {reference!r}"
    elif pipeline is None:
        problem = f"this worker's pipelines are {', '.join(sorted(pipelines))}, not {pipeline_id!r}"
    elif task_id not in pipeline.tasks:
        problem = f"pipeline {pipeline_id!r} has no task {task_id!r} on this worker"
    if problem is not None or pipeline is None:
        log.error("cannot run %s.%s: %s", pipeline_id, task_id, problem)
        if store.claim(run_id, task_id, try_number, worker, None) is not None:
            store.finish(
                run_id,
                task_id,
                try_number,
                worker,
                TryOutcome(TaskState.FAILED, time.time(), error=f"PipelineError: {problem}"),
            )
        return
    execute_try(
        pipeline,
        task_id,
        run_id=run_id,
        logical_date=parse_logical_date(logical_date),
        run_params=params or {},
        try_number=try_number,
        store=store,
        xcom_max_bytes=xcom_max_bytes,
        worker=worker,
        heartbeat_interval_s=settings.heartbeat_interval_s,
        stale_before=time.time() - settings.lease_s,
    )


def start_worker(
    source: str,
    *,
    concurrency: int = 2,
    pool: str = "threads",
    loglevel: str = "INFO",
    hostname: str | None = None,
) -> None:
    """Serve the pipelines of ``source`` as a Celery worker until stopped (``hookline worker``).

    Raises:
        PipelineError: the source cannot be imported or defines no pipeline.
        MissingDependency: celery is not installed.
    """
    pipelines = serve(source)
    settings = celery_settings()
    app = make_app(settings)
    app.conf.worker_hijack_root_logger = True  # the worker's own log lines, masked below
    signals = _celery().signals

    def mask_logs(logger: logging.Logger, **_: Any) -> None:
        masking.install(logger)

    def warm_up(**_: Any) -> None:
        _worker_state()  # open the store and load settings before the first task
        from hookline.operators.templating import sandboxed_environment

        sandboxed_environment()

    def ready(**_: Any) -> None:
        if pool != "prefork":
            warm_up()
        print(
            f"hookline worker ready: queue {settings.queue}, pipelines "
            f"{', '.join(sorted(pipelines))} from {_served['reference']}",
            flush=True,
        )

    signals.after_setup_logger.connect(mask_logs, weak=False)
    signals.after_setup_task_logger.connect(mask_logs, weak=False)
    signals.worker_ready.connect(ready, weak=False)
    signals.worker_process_init.connect(warm_up, weak=False)
    argv = [
        "worker",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        f"--queues={settings.queue}",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    app.worker_main(argv)


# -- the runner side -----------------------------------------------------------------------------------


class CeleryExecutor:
    """Sends ready tries to Celery workers and follows them through the store."""

    def __init__(
        self, pipeline: Pipeline, run: PipelineRun, store: Store, *, reference: str
    ) -> None:
        if not isinstance(store, RunStore):
            raise PipelineError("the celery executor needs the metastore database (record=True)")
        self._settings = celery_settings()
        self._app = make_app(self._settings)
        self._pipeline = pipeline
        self._run = run
        self._store = store
        self._reference = reference
        self._in_flight: dict[str, int] = {}
        self._sent_at: dict[str, float] = {}
        self._seen: dict[str, tuple[str, int, float | None]] = {}
        self._lock = threading.Lock()

    def _send(self, task_id: str, try_number: int) -> None:
        self._app.send_task(
            TASK_NAME,
            kwargs={
                "reference": self._reference,
                "pipeline_id": self._pipeline.pipeline_id,
                "task_id": task_id,
                "run_id": self._run.run_id,
                "logical_date": self._run.logical_date.isoformat(),
                "try_number": try_number,
                "params": self._run.params,
            },
            queue=self._settings.queue,
        )
        self._sent_at[task_id] = time.monotonic()

    def submit(self, task_id: str, try_number: int) -> None:
        with self._lock:
            self._in_flight[task_id] = try_number
        try:
            self._send(task_id, try_number)
        except Exception as exc:
            with self._lock:
                self._in_flight.pop(task_id, None)
            raise PipelineError(
                masking.redact(
                    f"cannot send task {task_id!r} to the broker: {type(exc).__name__}: {exc}"
                )
            ) from exc

    def _resend_stale(self) -> None:
        now = time.monotonic()
        lease = self._settings.lease_s
        for task_id, try_number in self._store.stale_tries(self._run.run_id, time.time() - lease):
            if self._in_flight.get(task_id) != try_number:
                continue
            if now - self._sent_at.get(task_id, 0.0) < lease:
                continue
            log.warning(
                "task %s try %d: no heartbeat for %.0f s, its worker is presumed dead; sending it again",
                task_id, try_number, lease,
            )  # fmt: skip
            self._send(task_id, try_number)

    def wait(self, timeout_s: float) -> list[str]:
        deadline = time.monotonic() + max(timeout_s, _POLL_S)
        while True:
            changed = self._poll()
            if changed or time.monotonic() >= deadline:
                return changed
            time.sleep(_POLL_S)

    def _poll(self) -> list[str]:
        if not self._in_flight:
            return []
        records = self._store.task_updates(self._run.run_id)
        changed: list[str] = []
        for task_id, try_number in list(self._in_flight.items()):
            record: TaskRecord | None = records.get(task_id)
            if record is None:
                continue
            key = (str(record.state), record.tries, record.started_at)
            if self._seen.get(task_id) != key:
                self._seen[task_id] = key
                changed.append(task_id)
            if record.tries == try_number and (
                record.state in FINISHED or record.state == TaskState.UP_FOR_RETRY
            ):
                with self._lock:
                    self._in_flight.pop(task_id, None)
        self._resend_stale()
        return changed

    def in_flight(self) -> int:
        with self._lock:
            return len(self._in_flight)

    def shutdown(self) -> None:
        self._app.close()
