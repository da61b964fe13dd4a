"""Where pipeline runs are recorded: runs, task instances and XComs, in the metastore database.

:class:`RunStore` keeps three tables of its own (``hookline_pipeline_run``,
``hookline_task_instance``, ``hookline_xcom``) in the database at ``[metastore] url`` (default: the
SQLite file ``hookline.db`` in ``HOOKLINE_HOME``), created by this module on first use; it never
touches the connection tables. :class:`MemoryStore` is the same interface in memory (``record=False``).

Everything written is already masked by the caller (errors, rendered fields, params, XCom values);
the store adds no secret of its own. Results are recorded once: a try is finished only by the
worker that claimed it (``claim`` then ``finish``, both conditional updates), so a task that runs
twice after a redelivery records one outcome.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hookline.exceptions import ConfigurationError, MissingDependency, RunNotFound
from hookline.pipelines.state import PipelineRun, RunState, TaskRecord, TaskState

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = ["BufferedStore", "MemoryStore", "RunStore", "Store", "TryOutcome", "open_store"]


@dataclass(frozen=True)
class TryOutcome:
    """How one try ended, as the executing side records it.

    Attributes:
        state: ``success``, ``failed``, ``skipped`` or ``up_for_retry``.
        ended_at: Epoch seconds.
        error: The masked error, or None.
        xcom: ``{key: JSON text}`` to keep (success only).
        rendered: The masked rendered fields.
        next_try_at: When the next try may start (``up_for_retry``).
    """

    state: TaskState
    ended_at: float
    error: str | None = None
    xcom: dict[str, str] | None = None
    rendered: dict[str, Any] | None = None
    next_try_at: float | None = None


class Store(Protocol):
    """What the runner and the workers need from where runs are recorded."""

    def create_run(self, run: PipelineRun, reference: str | None) -> None: ...
    def update_run(self, run: PipelineRun) -> None: ...
    def load_run(self, run_id: str) -> PipelineRun: ...
    def run_reference(self, run_id: str) -> str | None: ...
    def list_runs(self, pipeline_id: str | None = None, limit: int = 20) -> list[PipelineRun]: ...
    def put_task(self, run_id: str, record: TaskRecord) -> None: ...
    def get_task(self, run_id: str, task_id: str) -> TaskRecord | None: ...
    def queue_try(self, run_id: str, task_id: str, try_number: int) -> None: ...
    def claim(
        self, run_id: str, task_id: str, try_number: int, worker: str, stale_before: float | None
    ) -> TaskRecord | None: ...
    def heartbeat(self, run_id: str, task_id: str, worker: str) -> None: ...
    def finish(
        self, run_id: str, task_id: str, try_number: int, worker: str, outcome: TryOutcome
    ) -> bool: ...
    def stale_tries(self, run_id: str, stale_before: float) -> list[tuple[str, int]]: ...
    def task_updates(self, run_id: str) -> dict[str, TaskRecord]: ...
    def push_xcom(self, run_id: str, task_id: str, key: str, value: str) -> None: ...
    def pull_xcom(self, run_id: str, task_id: str, key: str) -> str | None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class MemoryStore:
    """:class:`Store` in memory, for runs that are not recorded (``record=False``) and tests."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._runs: dict[str, PipelineRun] = {}
        self._refs: dict[str, str | None] = {}
        self._tasks: dict[tuple[str, str], TaskRecord] = {}
        self._meta: dict[tuple[str, str], dict[str, Any]] = {}
        self._xcom: dict[tuple[str, str, str], str] = {}

    def create_run(self, run: PipelineRun, reference: str | None) -> None:
        with self._lock:
            self._runs[run.run_id] = run
            self._refs[run.run_id] = reference

    def update_run(self, run: PipelineRun) -> None:
        with self._lock:
            self._runs[run.run_id] = run

    def load_run(self, run_id: str) -> PipelineRun:
        with self._lock:
            if run_id not in self._runs:
                raise RunNotFound(run_id)
            run = self._runs[run_id]
            run.tasks.update(self.task_updates(run_id))
            return run

    def run_reference(self, run_id: str) -> str | None:
        return self._refs.get(run_id)

    def list_runs(self, pipeline_id: str | None = None, limit: int = 20) -> list[PipelineRun]:
        with self._lock:
            runs = [r for r in self._runs.values() if pipeline_id in (None, r.pipeline_id)]
        return sorted(runs, key=lambda r: r.started_at, reverse=True)[:limit]

    def put_task(self, run_id: str, record: TaskRecord) -> None:
        with self._lock:
            self._tasks[(run_id, record.task_id)] = _copy(record)
            self._meta.setdefault((run_id, record.task_id), {})

    def get_task(self, run_id: str, task_id: str) -> TaskRecord | None:
        with self._lock:
            rec = self._tasks.get((run_id, task_id))
            return _copy(rec) if rec is not None else None

    def queue_try(self, run_id: str, task_id: str, try_number: int) -> None:
        with self._lock:
            rec = self._tasks[(run_id, task_id)]
            rec.state, rec.tries = TaskState.QUEUED, try_number
            self._meta[(run_id, task_id)] = {"try": try_number}

    def claim(
        self, run_id: str, task_id: str, try_number: int, worker: str, stale_before: float | None
    ) -> TaskRecord | None:
        with self._lock:
            rec = self._tasks.get((run_id, task_id))
            meta = self._meta.setdefault((run_id, task_id), {})
            if rec is None or rec.tries != try_number:
                return None
            stale = (
                rec.state == TaskState.RUNNING
                and stale_before is not None
                and meta.get("heartbeat", 0.0) < stale_before
            )
            if rec.state != TaskState.QUEUED and not stale:
                return None
            now = time.time()
            rec.state, rec.worker = TaskState.RUNNING, worker
            rec.started_at = rec.started_at or now
            meta["heartbeat"] = now
            return _copy(rec)

    def heartbeat(self, run_id: str, task_id: str, worker: str) -> None:
        with self._lock:
            rec = self._tasks.get((run_id, task_id))
            if rec is not None and rec.worker == worker:
                self._meta.setdefault((run_id, task_id), {})["heartbeat"] = time.time()

    def finish(
        self, run_id: str, task_id: str, try_number: int, worker: str, outcome: TryOutcome
    ) -> bool:
        with self._lock:
            rec = self._tasks.get((run_id, task_id))
            if (
                rec is None
                or rec.state != TaskState.RUNNING
                or rec.tries != try_number
                or rec.worker != worker
            ):
                return False
            rec.state, rec.ended_at, rec.error = outcome.state, outcome.ended_at, outcome.error
            if outcome.rendered is not None:
                rec.rendered = dict(outcome.rendered)
            self._meta[(run_id, task_id)]["next_try_at"] = outcome.next_try_at
            for key, value in (outcome.xcom or {}).items():
                self._xcom[(run_id, task_id, key)] = value
            return True

    def stale_tries(self, run_id: str, stale_before: float) -> list[tuple[str, int]]:
        with self._lock:
            return [
                (tid, rec.tries)
                for (rid, tid), rec in self._tasks.items()
                if rid == run_id
                and rec.state == TaskState.RUNNING
                and self._meta.get((rid, tid), {}).get("heartbeat", 0.0) < stale_before
            ]

    def task_updates(self, run_id: str) -> dict[str, TaskRecord]:
        with self._lock:
            return {tid: _copy(r) for (rid, tid), r in self._tasks.items() if rid == run_id}

    def push_xcom(self, run_id: str, task_id: str, key: str, value: str) -> None:
        with self._lock:
            self._xcom[(run_id, task_id, key)] = value

    def pull_xcom(self, run_id: str, task_id: str, key: str) -> str | None:
        return self._xcom.get((run_id, task_id, key))

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


class BufferedStore(MemoryStore):
    """A local run's store: state lives in memory and is written to a :class:`RunStore` in one
    transaction per :meth:`flush` (the runner flushes a few times a second and at the end), so a
    task costs no database commit of its own. Another process sees the run at most one flush late.
    """

    def __init__(self, backing: RunStore) -> None:
        super().__init__()
        self.backing = backing
        self._dirty_tasks: set[tuple[str, str]] = set()
        self._dirty_xcom: set[tuple[str, str, str]] = set()
        self._dirty_runs: set[str] = set()

    def create_run(self, run: PipelineRun, reference: str | None) -> None:
        super().create_run(run, reference)
        self.backing.create_run(run, reference)

    def update_run(self, run: PipelineRun) -> None:
        with self._lock:
            super().update_run(run)
            self._dirty_runs.add(run.run_id)

    def load_run(self, run_id: str) -> PipelineRun:
        with self._lock:
            if run_id not in self._runs:  # resuming a recorded run: bring it into memory
                run = self.backing.load_run(run_id)
                self._runs[run_id] = run
                self._refs[run_id] = self.backing.run_reference(run_id)
                for record in run.tasks.values():
                    self._tasks[(run_id, record.task_id)] = _copy(record)
                    self._meta.setdefault((run_id, record.task_id), {})
                for (task_id, key), value in self.backing.xcoms(run_id).items():
                    self._xcom[(run_id, task_id, key)] = value
            return super().load_run(run_id)

    def list_runs(self, pipeline_id: str | None = None, limit: int = 20) -> list[PipelineRun]:
        return self.backing.list_runs(pipeline_id, limit)

    def put_task(self, run_id: str, record: TaskRecord) -> None:
        with self._lock:
            super().put_task(run_id, record)
            self._dirty_tasks.add((run_id, record.task_id))

    def queue_try(self, run_id: str, task_id: str, try_number: int) -> None:
        with self._lock:
            super().queue_try(run_id, task_id, try_number)
            self._dirty_tasks.add((run_id, task_id))

    def claim(
        self, run_id: str, task_id: str, try_number: int, worker: str, stale_before: float | None
    ) -> TaskRecord | None:
        with self._lock:
            claimed = super().claim(run_id, task_id, try_number, worker, stale_before)
            if claimed is not None:
                self._dirty_tasks.add((run_id, task_id))
            return claimed

    def finish(
        self, run_id: str, task_id: str, try_number: int, worker: str, outcome: TryOutcome
    ) -> bool:
        with self._lock:
            done = super().finish(run_id, task_id, try_number, worker, outcome)
            if done:
                self._dirty_tasks.add((run_id, task_id))
                self._dirty_xcom.update((run_id, task_id, key) for key in outcome.xcom or {})
            return done

    def push_xcom(self, run_id: str, task_id: str, key: str, value: str) -> None:
        with self._lock:
            super().push_xcom(run_id, task_id, key, value)
            self._dirty_xcom.add((run_id, task_id, key))

    def flush(self) -> None:
        """Write what changed since the last flush, in one transaction."""
        with self._lock:
            runs = [self._runs[r] for r in self._dirty_runs]
            tasks = [(r, _copy(self._tasks[(r, t)])) for r, t in self._dirty_tasks]
            xcoms = [(r, t, k, self._xcom[(r, t, k)]) for r, t, k in self._dirty_xcom]
            self._dirty_runs, self._dirty_tasks, self._dirty_xcom = set(), set(), set()
        if runs or tasks or xcoms:
            self.backing.write_batch(runs, tasks, xcoms)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.backing.close()


def _copy(rec: TaskRecord) -> TaskRecord:
    return TaskRecord(
        task_id=rec.task_id,
        state=rec.state,
        tries=rec.tries,
        max_tries=rec.max_tries,
        started_at=rec.started_at,
        ended_at=rec.ended_at,
        error=rec.error,
        worker=rec.worker,
        rendered=dict(rec.rendered),
    )


# -- the database store ------------------------------------------------------------------------------

_schema: dict[str, Any] = {}


def _tables() -> dict[str, Any]:
    """The three tables (built once, on first use: SQLAlchemy loads only then)."""
    if _schema:
        return _schema
    import sqlalchemy as sa

    metadata = sa.MetaData()
    _schema["metadata"] = metadata
    _schema["run"] = sa.Table(
        "hookline_pipeline_run",
        metadata,
        sa.Column("run_id", sa.String(250), primary_key=True),
        sa.Column("pipeline_id", sa.String(250), nullable=False, index=True),
        sa.Column("logical_date", sa.String(40), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("executor", sa.String(20), nullable=False),
        sa.Column("reference", sa.Text),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float),
        sa.Column("run_user", sa.String(250)),
        sa.Column("host", sa.String(250)),
        sa.Column("params", sa.Text),
    )
    _schema["task"] = sa.Table(
        "hookline_task_instance",
        metadata,
        sa.Column("run_id", sa.String(250), primary_key=True),
        sa.Column("task_id", sa.String(250), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("try_number", sa.Integer, nullable=False),
        sa.Column("max_tries", sa.Integer, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("ended_at", sa.Float),
        sa.Column("queued_at", sa.Float),
        sa.Column("heartbeat_at", sa.Float),
        sa.Column("next_try_at", sa.Float),
        sa.Column("worker", sa.String(250)),
        sa.Column("error", sa.Text),
        sa.Column("rendered", sa.Text),
    )
    _schema["xcom"] = sa.Table(
        "hookline_xcom",
        metadata,
        sa.Column("run_id", sa.String(250), primary_key=True),
        sa.Column("task_id", sa.String(250), primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
    )
    return _schema


def _url(url: str | None) -> str:
    if url is None:
        from hookline.secrets.metastore.backend import DB_FILE_NAME
        from hookline.secrets.metastore.keys import hookline_home

        home = hookline_home()
        home.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{home / DB_FILE_NAME}"
    scheme, _, rest = url.partition("://")
    if scheme in {"postgresql", "postgres"}:
        return f"postgresql+psycopg://{rest}"
    if scheme == "mysql":
        return f"mysql+pymysql://{rest}"
    return url


class RunStore:
    """:class:`Store` in a SQL database (the metastore's by default).

    Args:
        url: A SQLAlchemy URL; None: ``[metastore] url``, else SQLite in ``HOOKLINE_HOME``.

    Raises:
        ConfigurationError: the URL is malformed or the database cannot be opened.
        MissingDependency: its driver is not installed.
    """

    def __init__(self, url: str | None = None) -> None:
        import sqlalchemy as sa

        tables = _tables()
        self._run, self._task, self._xcom = tables["run"], tables["task"], tables["xcom"]
        target = _url(url)
        self.is_sqlite = target.startswith("sqlite")
        connect_args: dict[str, Any] = {"timeout": 30} if self.is_sqlite else {}
        try:
            self.engine = sa.create_engine(
                target, connect_args=connect_args, pool_pre_ping=not self.is_sqlite
            )
        except ImportError as exc:
            raise MissingDependency(
                exc.name or "the database driver", "postgres", purpose="recording pipeline runs"
            ) from exc
        except (sa.exc.ArgumentError, ValueError) as exc:
            raise ConfigurationError(f"cannot open the pipeline run store: {exc}") from None
        if self.is_sqlite:
            from sqlalchemy import event

            def on_connect(dbapi_conn: Any, _record: Any) -> None:
                dbapi_conn.isolation_level = None  # real transactions: BEGIN IMMEDIATE below
                dbapi_conn.execute("PRAGMA synchronous=NORMAL")

            def on_begin(conn: sa.Connection) -> None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

            event.listen(self.engine, "connect", on_connect)
            event.listen(self.engine, "begin", on_begin)
        try:
            tables["metadata"].create_all(self.engine, checkfirst=True)
        except sa.exc.SQLAlchemyError as exc:
            raise ConfigurationError(
                f"cannot create the pipeline run tables in {self.engine.url!r}: "
                f"{type(getattr(exc, 'orig', None) or exc).__name__}"
            ) from None

    # -- runs -------------------------------------------------------------------------------------

    def create_run(self, run: PipelineRun, reference: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(self._run.delete().where(self._run.c.run_id == run.run_id))
            conn.execute(self._run.insert().values(**_run_row(run), reference=reference))

    def update_run(self, run: PipelineRun) -> None:
        row = _run_row(run)
        with self.engine.begin() as conn:
            conn.execute(self._run.update().where(self._run.c.run_id == run.run_id).values(**row))

    def _run_from(self, row: Any) -> PipelineRun:
        return PipelineRun(
            run_id=row.run_id,
            pipeline_id=row.pipeline_id,
            logical_date=dt.datetime.fromisoformat(row.logical_date),
            state=RunState(row.state),
            executor=row.executor,
            started_at=row.started_at,
            ended_at=row.ended_at,
            user=row.run_user or "",
            host=row.host or "",
            params=json.loads(row.params) if row.params else {},
        )

    def load_run(self, run_id: str) -> PipelineRun:
        with self.engine.connect() as conn:
            row = conn.execute(self._run.select().where(self._run.c.run_id == run_id)).first()
        if row is None:
            raise RunNotFound(run_id)
        run = self._run_from(row)
        run.tasks = self.task_updates(run_id)
        return run

    def run_reference(self, run_id: str) -> str | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                self._run.select().with_only_columns(self._run.c.reference)
                .where(self._run.c.run_id == run_id)
            ).scalar()  # fmt: skip
        return str(value) if value is not None else None

    def list_runs(self, pipeline_id: str | None = None, limit: int = 20) -> list[PipelineRun]:
        query = self._run.select().order_by(self._run.c.started_at.desc()).limit(limit)
        if pipeline_id is not None:
            query = query.where(self._run.c.pipeline_id == pipeline_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        runs = [self._run_from(row) for row in rows]
        for run in runs:
            run.tasks = self.task_updates(run.run_id)
        return runs

    # -- task instances ---------------------------------------------------------------------------

    def put_task(self, run_id: str, record: TaskRecord) -> None:
        with self.engine.begin() as conn:
            self._put_task(conn, run_id, record)

    def write_batch(
        self,
        runs: list[PipelineRun],
        tasks: list[tuple[str, TaskRecord]],
        xcoms: list[tuple[str, str, str, str]],
    ) -> None:
        """Write runs, task records and XComs in one transaction."""
        with self.engine.begin() as conn:
            for run in runs:
                conn.execute(
                    self._run.update()
                    .where(self._run.c.run_id == run.run_id)
                    .values(**_run_row(run))
                )
            for run_id, record in tasks:
                self._put_task(conn, run_id, record)
            for run_id, task_id, key, value in xcoms:
                self._put_xcom(conn, run_id, task_id, key, value)

    def xcoms(self, run_id: str) -> dict[tuple[str, str], str]:
        """Every XCom of a run, by ``(task_id, key)``."""
        x = self._xcom.c
        with self.engine.connect() as conn:
            rows = conn.execute(self._xcom.select().where(x.run_id == run_id)).all()
        return {(row.task_id, row.key): row.value for row in rows}

    def flush(self) -> None:
        return None

    def _put_task(self, conn: sa.Connection, run_id: str, record: TaskRecord) -> None:
        t = self._task.c
        values = {
            "state": str(record.state),
            "try_number": record.tries,
            "max_tries": record.max_tries,
            "started_at": record.started_at,
            "ended_at": record.ended_at,
            "worker": record.worker,
            "error": record.error,
            "rendered": json.dumps(record.rendered) if record.rendered else None,
        }
        updated = conn.execute(
            self._task.update()
            .where(t.run_id == run_id, t.task_id == record.task_id)
            .values(**values)
        ).rowcount
        if not updated:
            conn.execute(
                self._task.insert().values(run_id=run_id, task_id=record.task_id, **values)
            )

    def _record(self, row: Any) -> TaskRecord:
        return TaskRecord(
            task_id=row.task_id,
            state=TaskState(row.state),
            tries=row.try_number,
            max_tries=row.max_tries,
            started_at=row.started_at,
            ended_at=row.ended_at,
            error=row.error,
            worker=row.worker,
            rendered=json.loads(row.rendered) if row.rendered else {},
        )

    def get_task(self, run_id: str, task_id: str) -> TaskRecord | None:
        t = self._task.c
        with self.engine.connect() as conn:
            row = conn.execute(
                self._task.select().where(t.run_id == run_id, t.task_id == task_id)
            ).first()
        return self._record(row) if row is not None else None

    def queue_try(self, run_id: str, task_id: str, try_number: int) -> None:
        t = self._task.c
        with self.engine.begin() as conn:
            conn.execute(
                self._task.update()
                .where(t.run_id == run_id, t.task_id == task_id)
                .values(
                    state=str(TaskState.QUEUED),
                    try_number=try_number,
                    queued_at=time.time(),
                    worker=None,
                    heartbeat_at=None,
                )
            )

    def claim(
        self, run_id: str, task_id: str, try_number: int, worker: str, stale_before: float | None
    ) -> TaskRecord | None:
        """Take try ``try_number`` for ``worker``: only a queued try, or a running one whose
        heartbeat is older than ``stale_before`` (its worker died). None when not taken."""
        import sqlalchemy as sa

        t = self._task.c
        now = time.time()
        takeable = t.state == str(TaskState.QUEUED)
        if stale_before is not None:
            takeable = sa.or_(
                takeable,
                sa.and_(t.state == str(TaskState.RUNNING), t.heartbeat_at < stale_before),
            )
        with self.engine.begin() as conn:
            taken = conn.execute(
                self._task.update()
                .where(t.run_id == run_id, t.task_id == task_id, t.try_number == try_number)
                .where(takeable)
                .values(
                    state=str(TaskState.RUNNING),
                    worker=worker,
                    heartbeat_at=now,
                    started_at=sa.func.coalesce(t.started_at, now),
                )
            ).rowcount
            if not taken:
                return None
            row = conn.execute(
                self._task.select().where(t.run_id == run_id, t.task_id == task_id)
            ).first()
        return self._record(row)

    def heartbeat(self, run_id: str, task_id: str, worker: str) -> None:
        t = self._task.c
        with self.engine.begin() as conn:
            conn.execute(
                self._task.update()
                .where(t.run_id == run_id, t.task_id == task_id, t.worker == worker)
                .where(t.state == str(TaskState.RUNNING))
                .values(heartbeat_at=time.time())
            )

    def finish(
        self, run_id: str, task_id: str, try_number: int, worker: str, outcome: TryOutcome
    ) -> bool:
        """Record how try ``try_number`` ended, once: only the worker holding it may, and only
        while it is running. XComs are written in the same transaction. False when not recorded."""
        t = self._task.c
        values: dict[str, Any] = {
            "state": str(outcome.state),
            "ended_at": outcome.ended_at,
            "error": outcome.error,
            "next_try_at": outcome.next_try_at,
        }
        if outcome.rendered is not None:
            values["rendered"] = json.dumps(outcome.rendered)
        with self.engine.begin() as conn:
            done = conn.execute(
                self._task.update()
                .where(t.run_id == run_id, t.task_id == task_id, t.try_number == try_number)
                .where(t.worker == worker, t.state == str(TaskState.RUNNING))
                .values(**values)
            ).rowcount
            if not done:
                return False
            for key, value in (outcome.xcom or {}).items():
                self._put_xcom(conn, run_id, task_id, key, value)
        return True

    def stale_tries(self, run_id: str, stale_before: float) -> list[tuple[str, int]]:
        t = self._task.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                self._task.select()
                .with_only_columns(t.task_id, t.try_number)
                .where(t.run_id == run_id, t.state == str(TaskState.RUNNING))
                .where(t.heartbeat_at < stale_before)
            ).all()
        return [(row.task_id, row.try_number) for row in rows]

    def task_updates(self, run_id: str) -> dict[str, TaskRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(self._task.select().where(self._task.c.run_id == run_id)).all()
        return {row.task_id: self._record(row) for row in rows}

    # -- xcom -------------------------------------------------------------------------------------

    def _put_xcom(
        self, conn: sa.Connection, run_id: str, task_id: str, key: str, value: str
    ) -> None:
        x = self._xcom.c
        conn.execute(
            self._xcom.delete().where(x.run_id == run_id, x.task_id == task_id, x.key == key)
        )
        conn.execute(
            self._xcom.insert().values(
                run_id=run_id, task_id=task_id, key=key, value=value, size_bytes=len(value.encode())
            )
        )

    def push_xcom(self, run_id: str, task_id: str, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            self._put_xcom(conn, run_id, task_id, key, value)

    def pull_xcom(self, run_id: str, task_id: str, key: str) -> str | None:
        x = self._xcom.c
        with self.engine.connect() as conn:
            value = conn.execute(
                self._xcom.select()
                .with_only_columns(x.value)
                .where(x.run_id == run_id, x.task_id == task_id, x.key == key)
            ).scalar()
        return str(value) if value is not None else None

    def close(self) -> None:
        self.engine.dispose()


def _run_row(run: PipelineRun) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "pipeline_id": run.pipeline_id,
        "logical_date": run.logical_date.isoformat(),
        "state": str(run.state),
        "executor": run.executor,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "run_user": run.user,
        "host": run.host,
        "params": json.dumps(run.params, default=str),
    }


def open_store(url: str | None = None) -> RunStore:
    """A :class:`RunStore` for ``url`` (default: the configured metastore); close it when done."""
    if url is None:
        from hookline.pipelines.settings import pipeline_settings

        url = pipeline_settings().metastore_url
    return RunStore(url)


def db_path(store: RunStore) -> Path | None:
    """The SQLite file of ``store``, or None for a server database."""
    database = store.engine.url.database
    return Path(database) if store.is_sqlite and database else None
