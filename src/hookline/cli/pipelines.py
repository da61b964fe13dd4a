"""``hookline pipelines run|list|runs|show`` and ``hookline worker``: pipelines from the command line.

``run`` imports a pipeline file (or module), runs one pipeline, shows the task states live (a rich
table on a terminal, one plain line per state change otherwise), prints the task table, and exits
with status 1 when a task failed. ``runs`` and ``show`` read the runs recorded in the metastore
database. ``worker`` starts a Celery worker for the pipelines of a file or module.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from hookline import masking
from hookline.cli import common, render
from hookline.cli.common import CliFailure

__all__ = ["app", "worker"]

app = typer.Typer(
    name="pipelines",
    help="Run pipelines of operators, list them, and show their recorded runs.",
    no_args_is_help=True,
)

_STYLES = {
    "success": "green",
    "failed": "red",
    "upstream_failed": "red",
    "running": "cyan",
    "queued": "blue",
    "up_for_retry": "yellow",
    "skipped": "magenta",
}


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f} s"


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _task_table(run: Any, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("task", "state", "tries", "duration", "error"):
        table.add_column(column, overflow="fold")
    for rec in run.tasks.values():
        state = str(rec.state)
        error = (rec.error or "").splitlines()[0][:120] if rec.error else ""
        table.add_row(
            Text(rec.task_id),
            Text(state, style=_STYLES.get(state, "")),
            Text(f"{rec.tries}/{rec.max_tries}"),
            Text(_duration(rec.duration_s)),
            Text(masking.redact(error)),
        )
    return table


def _plain_table(run: Any) -> str:
    return str(masking.redact(run.table()))


class _Progress:
    """Task state changes as they happen: a live table on a terminal, plain lines otherwise."""

    def __init__(self, console: Console, live: bool) -> None:
        self.console = console
        self.live: Live | None = None
        self._use_live = live
        self._lock = threading.Lock()

    def __enter__(self) -> _Progress:
        if self._use_live:
            self.live = Live(console=self.console, refresh_per_second=8, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def __call__(self, run: Any, record: Any) -> None:
        with self._lock:
            if self.live is not None:
                self.live.update(_task_table(run, title=f"{run.pipeline_id}  {run.run_id}"))
                return
            line = f"{_when(time.time())}  {record.task_id}: {record.state}"
            if str(record.state) in {"running", "up_for_retry", "failed"} or record.tries > 1:
                line += f" (try {record.tries}/{record.max_tries})"
            if str(record.state) in {"failed", "up_for_retry"} and record.error:
                line += f": {record.error.splitlines()[0][:200]}"
            render.write_text(self.console, masking.redact(line))


def _params(values: list[str]) -> dict[str, Any]:
    import json

    params: dict[str, Any] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliFailure(f"--param takes NAME=VALUE, got {item!r}")
        try:
            params[key.strip()] = json.loads(value)
        except ValueError:
            params[key.strip()] = value
    return params


FileArgument = Annotated[
    str,
    typer.Argument(help="A pipeline file (.py) or an importable module name.", show_default=False),
]


@app.command("run")
def run(
    file: FileArgument,
    pipeline_id: Annotated[
        str | None,
        typer.Argument(help="The pipeline to run (needed when the file defines several)."),
    ] = None,
    logical_date: Annotated[
        str | None,
        typer.Option(
            "--logical-date", help="ISO date or date-time ({{ ds }}); default: now (UTC)."
        ),
    ] = None,
    executor: Annotated[
        str, typer.Option("--executor", help="local (threads here) or celery (hookline workers).")
    ] = "local",
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume", help="A recorded run id: re-run only its tasks that did not succeed."
        ),
    ] = None,
    max_parallel: Annotated[
        int, typer.Option("--max-parallel", min=1, help="Tasks running at once.")
    ] = 4,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", help="A run parameter NAME=VALUE (VALUE read as JSON if it is); repeatable."
        ),
    ] = None,
    verbose: common.VerboseOption = 0,
) -> None:
    """Run a pipeline once; exit status 1 when a task failed."""
    from hookline.pipelines.loader import find_pipeline

    if executor not in {"local", "celery"}:
        raise CliFailure(f"unknown executor {executor!r}; use local or celery")
    pipeline = find_pipeline(file, pipeline_id)
    console = common.out_console()
    live = sys.stdout.isatty()
    reference = None
    if executor == "celery":
        from hookline.pipelines.loader import source_reference

        reference = source_reference(file)
    with _Progress(console, live) as progress:
        result = pipeline.run(
            logical_date,
            executor=executor,
            max_parallel=max_parallel,
            params=_params(param or []),
            resume=resume,
            progress=progress,
            reference=reference,
        )
    if live:
        console.print(_task_table(result))
    else:
        render.write_text(console, _plain_table(result))
    summary = (
        f"run {result.run_id} of {result.pipeline_id}: {result.state} "
        f"({len(result.tasks)} tasks, {_duration(result.duration_s)})"
    )
    render.write_text(console, summary)
    if result.failed:
        failed = [r.task_id for r in result.tasks.values() if str(r.state) == "failed"]
        raise CliFailure(
            f"pipeline {result.pipeline_id!r} failed: task(s) {', '.join(failed) or '-'} failed; "
            f"resume with --resume {result.run_id}"
        )


@app.command("list")
def list_(file: FileArgument, verbose: common.VerboseOption = 0) -> None:
    """List the pipelines a file or module defines, with their tasks in dependency order."""
    from hookline.pipelines.loader import load_pipelines

    pipelines = load_pipelines(file)
    console = common.out_console()
    lines = []
    for pipeline_id in sorted(pipelines):
        pipeline = pipelines[pipeline_id]
        order = pipeline.topological_order()
        head = f"{pipeline_id}  ({len(order)} tasks)"
        if pipeline.description:
            head += f"  {pipeline.description}"
        lines.append(head)
        for task_id in order:
            task = pipeline.tasks[task_id]
            after = sorted(task.upstream_task_ids)
            suffix = f"  after {', '.join(after)}" if after else ""
            lines.append(f"  {task_id}  {type(task).__name__}{suffix}")
    render.write_text(console, "\n".join(lines))


@app.command("runs")
def runs(
    pipeline_id: Annotated[
        str | None, typer.Argument(help="Only the runs of this pipeline.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs, newest first.")] = 20,
    verbose: common.VerboseOption = 0,
) -> None:
    """List recorded runs, newest first: run id, pipeline, logical date, state, tasks, who, where."""
    from hookline.pipelines.store import open_store

    store = open_store()
    try:
        found = store.list_runs(pipeline_id, limit)
    finally:
        store.close()
    console = common.out_console()
    if not found:
        render.write_text(
            console, "no recorded runs" + (f" of {pipeline_id!r}" if pipeline_id else "")
        )
        return
    table = Table(box=None if not sys.stdout.isatty() else Table().box)
    for column in (
        "run_id",
        "pipeline",
        "logical_date",
        "state",
        "tasks",
        "started",
        "duration",
        "who",
    ):
        table.add_column(column, overflow="fold")
    for item in found:
        ok = sum(str(r.state) == "success" for r in item.tasks.values())
        table.add_row(
            Text(item.run_id),
            Text(item.pipeline_id),
            Text(item.logical_date.isoformat()),
            Text(str(item.state), style=_STYLES.get(str(item.state), "")),
            Text(f"{ok}/{len(item.tasks)} ok"),
            Text(_when(item.started_at)),
            Text(_duration(item.duration_s)),
            Text(f"{item.user}@{item.host}"),
        )
    console.print(table, soft_wrap=True)


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="A recorded run id.", show_default=False)],
    verbose: common.VerboseOption = 0,
) -> None:
    """Show a recorded run's task table (states, tries, durations, masked errors)."""
    from hookline.pipelines.store import open_store

    store = open_store()
    try:
        found = store.load_run(run_id)
    finally:
        store.close()
    console = common.out_console()
    render.write_text(
        console,
        f"run {found.run_id} of {found.pipeline_id}: {found.state}, logical date "
        f"{found.logical_date.isoformat()}, by {found.user}@{found.host}, {found.executor} executor",
    )
    render.write_text(console, _plain_table(found))


def worker(
    source: FileArgument,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, help="Tasks this worker runs at once.")
    ] = 2,
    pool: Annotated[
        str, typer.Option("--pool", help="threads (default), prefork or solo.")
    ] = "threads",
    hostname: Annotated[
        str | None, typer.Option("--hostname", "-n", help="The worker's Celery node name.")
    ] = None,
    verbose: common.VerboseOption = 0,
) -> None:
    """Start a Celery worker for the pipelines of a file or module (broker: [celery] broker_url)."""
    from hookline.pipelines.celery import start_worker

    if pool not in {"threads", "prefork", "solo"}:
        raise CliFailure(f"unknown pool {pool!r}; use threads, prefork or solo")
    start_worker(source, concurrency=concurrency, pool=pool, hostname=hostname)
