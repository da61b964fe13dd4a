"""The local runner: dependency order, parallelism, retries, timeouts, callbacks, trigger rules,
XCom limits, masking, recording in the metastore database, resume."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hookline import masking
from hookline.exceptions import (
    ConfigurationError,
    InvalidPipeline,
    RunNotFound,
    TaskSkipped,
)
from hookline.operators import BaseOperator, PythonOperator, task
from hookline.pipelines import Pipeline, RunState, TaskState
from hookline.pipelines.store import open_store

CANARY = "canary-Secret-5d1e"


class Fn(BaseOperator):
    """Calls a function with the context."""

    def __init__(self, task_id: str, fn: Any = None, **kwargs: Any) -> None:
        super().__init__(task_id, **kwargs)
        self.fn = fn

    def execute(self, context: dict[str, Any]) -> Any:
        return self.fn(context) if self.fn is not None else None


def fail(message: str = "boom") -> Any:
    def raise_(_: Any) -> Any:
        raise RuntimeError(message)

    return raise_


def test_failed_task_marks_downstream_upstream_failed_and_the_run_failed() -> None:
    """a fails: b and c (after a) are upstream_failed; the independent d still succeeds."""
    with Pipeline("p") as p:
        a = Fn("a", fail())
        a >> Fn("b") >> Fn("c")
        Fn("d")
    run = p.run("2026-12-01", record=False)
    assert run.states() == {
        "a": "failed",
        "d": "success",
        "b": "upstream_failed",
        "c": "upstream_failed",
    }
    assert run.state == RunState.FAILED
    assert run.failed
    assert run.tasks["a"].error == "RuntimeError: boom"
    assert run.tasks["b"].tries == 0


def test_retries_count_tries_and_backoff_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """A task failing twice then succeeding uses 3 tries; the waits follow the backoff."""
    starts: list[float] = []

    def flaky(_: Any) -> str:
        starts.append(time.monotonic())
        if len(starts) < 3:
            raise RuntimeError("not yet")
        return "done"

    with Pipeline("p") as p:
        Fn("t", flaky, retries=3, retry_delay_s=0.1, retry_exponential_backoff=True)
    run = p.run("2026-12-01", record=False)
    record = run.tasks["t"]
    assert (record.state, record.tries, record.max_tries) == (TaskState.SUCCESS, 3, 4)
    assert starts[1] - starts[0] >= 0.1
    assert starts[2] - starts[1] >= 0.2
    assert record.duration_s is not None
    assert record.duration_s >= 0.3
    assert run.xcom_pull("t") == "done"


def test_callbacks_get_the_context_and_exception() -> None:
    """on_execute before each try; on_retry and on_failure with the exception; on_success after."""
    calls: list[tuple[str, str, Any]] = []

    def record(kind: str) -> Any:
        return lambda ctx: calls.append(
            (kind, ctx["ti"].task_id, type(ctx.get("exception")).__name__)
        )

    with Pipeline("p") as p:
        Fn("bad", fail(), retries=1, retry_delay_s=0, on_retry_callback=record("retry"),
           on_failure_callback=[record("failure")], on_execute_callback=record("execute"))  # fmt: skip
        Fn("good", on_success_callback=record("success"))
        Fn("loud", on_success_callback=fail("callback broke"))
    run = p.run("2026-12-01", record=False)
    assert sorted(calls) == sorted([
        ("execute", "bad", "NoneType"),
        ("retry", "bad", "RuntimeError"),
        ("execute", "bad", "NoneType"),
        ("failure", "bad", "RuntimeError"),
        ("success", "good", "NoneType"),
    ])  # fmt: skip
    assert run.tasks["loud"].state == TaskState.SUCCESS  # a failing callback changes nothing


def test_execution_timeout_fails_the_try() -> None:
    """A try over execution_timeout fails with TaskTimeout (and is retried like any failure)."""
    with Pipeline("p") as p:
        Fn("slow", lambda _: time.sleep(2), execution_timeout_s=0.2, retries=1, retry_delay_s=0)
    started = time.monotonic()
    run = p.run("2026-12-01", record=False)
    assert time.monotonic() - started < 1.5
    record = run.tasks["slow"]
    assert (record.state, record.tries) == (TaskState.FAILED, 2)
    assert record.error == "TaskTimeout: task 'slow' timed out after 0.2 s (execution_timeout)"


def test_independent_tasks_run_in_parallel_up_to_max_parallel() -> None:
    """6 tasks of 0.2 s: about 0.4 s with max_parallel=3; never more than 3 at once."""
    running = 0
    peak = 0
    lock = threading.Lock()

    def work(_: Any) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.2)
        with lock:
            running -= 1

    with Pipeline("p") as p:
        for i in range(6):
            Fn(f"t{i}", work)
    run = p.run("2026-12-01", max_parallel=3, record=False)
    assert run.state == RunState.SUCCESS
    assert peak == 3
    assert run.duration_s is not None
    assert run.duration_s < 1.1


@pytest.mark.parametrize(
    ("rule", "upstream", "expected"),
    [
        ("all_success", ["ok", "bad"], "upstream_failed"),
        ("all_done", ["ok", "bad"], "success"),
        ("all_failed", ["bad"], "success"),
        ("all_failed", ["ok"], "skipped"),
        ("one_success", ["ok", "bad"], "success"),
        ("one_success", ["bad"], "upstream_failed"),
        ("one_failed", ["ok", "bad"], "success"),
        ("one_failed", ["ok"], "skipped"),
        ("none_failed", ["ok", "skip"], "success"),
        ("none_failed", ["ok", "bad"], "upstream_failed"),
        ("all_success", ["skip"], "skipped"),
        ("always", ["bad"], "success"),
    ],
)
def test_trigger_rules(rule: str, upstream: list[str], expected: str) -> None:
    """Airflow's trigger rules decide whether a task runs, given its upstream states."""

    def skip(_: Any) -> None:
        raise TaskSkipped("nothing to do")

    makers = {
        "ok": lambda: Fn("ok"),
        "bad": lambda: Fn("bad", fail()),
        "skip": lambda: Fn("skip", skip),
    }
    with Pipeline("p") as p:
        target = Fn("target", trigger_rule=rule)
        for name in upstream:
            makers[name]() >> target
    run = p.run("2026-12-01", record=False)
    assert run.tasks["target"].state == expected
    if "skip" in upstream:
        assert run.tasks["skip"].error == "TaskSkipped: nothing to do"


def test_results_are_masked_and_size_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    """A result holding a secret is kept masked; one over [pipelines] xcom_max_bytes fails."""
    masking.register(CANARY)
    monkeypatch.setenv("HOOKLINE_PIPELINES__XCOM_MAX_BYTES", "100")
    with Pipeline("p") as p:
        Fn("secret", lambda _: {"dsn": f"user:{CANARY}@db", "password": "short", "n": 1})
        Fn("big", lambda _: "x" * 200)
        Fn("odd", lambda _: object())
    run = p.run("2026-12-01", record=False)
    assert run.xcom_pull("secret") == {"dsn": "***", "password": "***", "n": 1}
    assert run.tasks["big"].error == (
        "XComTooLarge: task 'big': XCom 'return_value' is 202 bytes, over the limit of 100 bytes "
        "([pipelines] xcom_max_bytes); return a reference (a path, a key) instead of the data"
    )
    assert "cannot be stored: a object is not JSON-serializable" in (run.tasks["odd"].error or "")


def test_xcom_push_and_pull_by_key() -> None:
    """ti.xcom_push keeps a value under a key for downstream tasks."""

    def push(ctx: dict[str, Any]) -> None:
        ctx["ti"].xcom_push("count", 7)
        assert ctx["ti"].xcom_pull(key="count") == 7

    with Pipeline("p") as p:
        Fn("a", push) >> Fn("b", lambda ctx: ctx["ti"].xcom_pull("a", key="count") * 2)
    run = p.run("2026-12-01", record=False)
    assert run.xcom_pull("a") is None
    assert run.xcom_pull("a", "count") == 7
    assert run.xcom_pull("b") == 14


def test_runs_are_recorded_masked_in_the_metastore_database(isolated_hookline: Path) -> None:
    """The run, its tasks' states/tries/errors and results are in hookline.db; no secret is."""
    masking.register(CANARY)

    @task
    def leak() -> str:
        raise RuntimeError(f"connect failed for password {CANARY}")

    with Pipeline("recorded", params={"region": "eu"}) as p:
        Fn("ok", lambda _: f"result {CANARY}") >> PythonOperator(
            task_id="after", python_callable=lambda: 1
        )
        leak()
    run = p.run("2026-12-01", params={"run_param": 3})
    store = open_store()
    try:
        loaded = store.load_run(run.run_id)
        listed = store.list_runs("recorded")
    finally:
        store.close()
    assert loaded.states() == {"ok": "success", "after": "success", "leak": "failed"}
    assert loaded.state == RunState.FAILED
    assert loaded.params == {"run_param": 3}
    assert loaded.user
    assert loaded.host
    assert loaded.tasks["leak"].error == "RuntimeError: connect failed for password ***"
    assert [r.run_id for r in listed] == [run.run_id]
    assert run.xcom_pull("ok") == "result ***"
    db = isolated_hookline / "hookline.db"
    assert CANARY.encode() not in db.read_bytes()
    with sqlite3.connect(db) as conn:
        tables = {
            row[0] for row in conn.execute("select name from sqlite_master where type='table'")
        }
    assert {"hookline_pipeline_run", "hookline_task_instance", "hookline_xcom"} <= tables


def test_resume_reruns_only_tasks_that_did_not_succeed(isolated_hookline: Path) -> None:
    """--resume keeps successes (not re-run), re-runs failed and upstream_failed tasks."""
    counts = {"a": 0, "b": 0, "c": 0}
    broken = {"b": True}

    def make(name: str) -> Any:
        def work(_: Any) -> str:
            counts[name] += 1
            if broken.get(name):
                raise RuntimeError("down")
            return name

        return work

    with Pipeline("p") as p:
        Fn("a", make("a")) >> Fn("b", make("b")) >> Fn("c", make("c"))
    first = p.run("2026-12-01")
    assert first.states() == {"a": "success", "b": "failed", "c": "upstream_failed"}
    broken["b"] = False
    second = p.run(resume=first.run_id)
    assert second.run_id == first.run_id
    assert second.states() == {"a": "success", "b": "success", "c": "success"}
    assert counts == {"a": 1, "b": 2, "c": 1}
    assert second.tasks["b"].tries == 2
    assert second.logical_date == first.logical_date
    with pytest.raises(RunNotFound, match="no recorded pipeline run has the run id 'nope'"):
        p.run(resume="nope")
    with Pipeline("other") as other:
        Fn("a")
    with pytest.raises(RunNotFound, match="is a run of pipeline 'p', not 'other'"):
        other.run(resume=first.run_id)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"executor": "k8s"}, ConfigurationError, "unknown executor 'k8s'"),
        ({"max_parallel": 0}, ConfigurationError, "max_parallel must be an integer >= 1"),
        ({"logical_date": "yesterday"}, InvalidPipeline, "invalid logical date 'yesterday'"),
    ],
)
def test_bad_run_arguments(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    """Bad executor, parallelism or logical date: typed errors before anything runs."""
    with Pipeline("p") as p:
        Fn("a")
    with pytest.raises(error, match=message):
        p.run(record=False, **kwargs)


def test_logical_dates_are_utc() -> None:
    """A date means midnight UTC; naive date-times are UTC; offsets are converted."""
    from hookline.pipelines.runner import parse_logical_date

    assert parse_logical_date("2026-12-01").isoformat() == "2026-12-01T00:00:00+00:00"
    assert (
        parse_logical_date("2026-12-01T02:00:00+02:00").isoformat() == "2026-12-01T00:00:00+00:00"
    )
    assert parse_logical_date("2026-12-01T05:00Z").hour == 5


def test_progress_listener_sees_every_state() -> None:
    """The listener is called on each change; a failing listener does not stop the run."""
    seen: list[tuple[str, str]] = []
    with Pipeline("p") as p:
        Fn("a") >> Fn("b")
    p.run(
        "2026-12-01",
        record=False,
        progress=lambda run, rec: seen.append((rec.task_id, str(rec.state))),
    )
    assert seen[0] == ("a", "queued")
    assert ("a", "success") in seen
    assert seen[-1] == ("b", "success")
    assert p.run(record=False, progress=lambda *_: 1 / 0).state == RunState.SUCCESS
