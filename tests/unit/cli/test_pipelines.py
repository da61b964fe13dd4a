"""``hookline pipelines run|list|runs|show``: plain progress lines, the task table, exit status,
recorded runs, masked output."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from hookline.cli.app import app

CANARY = "canary-Cli-Pw-31c7"

FLOWS = """
import hookline
from hookline.operators import PythonOperator, SQLExecuteQueryOperator
from hookline.pipelines import Pipeline

state = {"tries": 0}


def flaky():
    state["tries"] += 1
    if state["tries"] == 1:
        raise RuntimeError("first try fails")
    return "ok"


def leak():
    raise RuntimeError("cannot log in with " + hookline.get_connection("db").password)


with Pipeline("good", description="all fine") as good:
    create = SQLExecuteQueryOperator(task_id="create", conn_id="db", sql="create table t (ds text)")
    load = SQLExecuteQueryOperator(task_id="load", conn_id="db", sql="insert into t values ('{{ ds }}')")
    retry = PythonOperator(task_id="retry", python_callable=flaky, retries=1, retry_delay_s=0)
    create >> load >> retry

with Pipeline("bad") as bad:
    PythonOperator(task_id="leak", python_callable=leak) >> PythonOperator(task_id="after", python_callable=print)
"""


@pytest.fixture
def flows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "flows.py"
    path.write_text(FLOWS)
    monkeypatch.setenv("HOOKLINE_CONN_DB", f"sqlite://etl:{CANARY}@/{tmp_path / 'w.db'}")
    return path


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_run_prints_progress_lines_and_the_table(flows: Path) -> None:
    """Off a terminal: one line per state change, then the task table and a summary; exit 0."""
    result = invoke("pipelines", "run", str(flows), "good", "--logical-date", "2026-12-01")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "create: queued" in out
    assert "load: success" in out
    assert "retry: up_for_retry (try 1/2): RuntimeError: first try fails" in out
    lines = out.splitlines()
    assert any(line.split()[:4] == ["retry", "success", "2/2", line.split()[3]] for line in lines)
    assert "of good: success (3 tasks," in out


def test_failed_run_exits_1_names_the_task_and_masks_the_secret(flows: Path) -> None:
    """A failed task: exit status 1, a stderr line naming it and how to resume; no secret."""
    result = invoke("pipelines", "run", str(flows), "bad", "--logical-date", "2026-12-01")
    assert result.exit_code == 1
    assert "leak: failed" in result.stdout
    assert "after: upstream_failed" in result.stdout
    assert "RuntimeError: cannot log in with ***" in result.stdout
    assert (
        "error: pipeline 'bad' failed: task(s) leak failed; resume with --resume manual__"
        in result.stderr
    )
    assert CANARY not in result.output


def test_runs_and_show_read_the_records(flows: Path) -> None:
    """runs lists recorded runs newest first; show prints one run's task table."""
    invoke("pipelines", "run", str(flows), "good", "--logical-date", "2026-12-01")
    invoke("pipelines", "run", str(flows), "bad", "--logical-date", "2026-12-02")
    listed = invoke("pipelines", "runs")
    assert listed.exit_code == 0
    rows = [line for line in listed.stdout.splitlines() if "manual__" in line]
    assert len(rows) == 2
    assert " bad " in rows[0]
    assert " good " in rows[1]
    assert "1/2 ok" not in rows[1]
    assert "3/3 ok" in rows[1]
    only_bad = invoke("pipelines", "runs", "bad")
    assert "good" not in only_bad.stdout
    run_id = rows[0].split()[0]
    shown = invoke("pipelines", "show", run_id)
    assert f"run {run_id} of bad: failed" in shown.stdout
    assert re.search(r"^leak\s+failed\s+1/1", shown.stdout, re.MULTILINE)
    assert CANARY not in shown.output
    missing = invoke("pipelines", "show", "nope")
    assert missing.exit_code == 1
    assert "no recorded pipeline run has the run id 'nope'" in missing.stderr


def test_resume_reruns_failed_tasks(
    flows: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--resume RUN_ID runs the failed tasks again in the same run."""
    first = invoke("pipelines", "run", str(flows), "bad", "--logical-date", "2026-12-01")
    run_id = first.stdout.split("run ")[-1].split()[0]
    again = invoke("pipelines", "run", str(flows), "bad", "--resume", run_id)
    assert again.exit_code == 1
    assert f"run {run_id} of bad: failed" in again.stdout
    assert re.search(r"^leak\s+failed\s+2/2", again.stdout, re.MULTILINE)


def test_list_shows_pipelines_and_order(flows: Path) -> None:
    """list prints each pipeline with its tasks in dependency order."""
    result = invoke("pipelines", "list", str(flows))
    assert result.exit_code == 0
    assert result.stdout.splitlines()[:4] == [
        "bad  (2 tasks)",
        "  leak  PythonOperator",
        "  after  PythonOperator  after leak",
        "good  (3 tasks)  all fine",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--executor", "k8s"], "unknown executor 'k8s'; use local or celery"),
        (["--param", "novalue"], "--param takes NAME=VALUE, got 'novalue'"),
        (["--logical-date", "soon"], "invalid logical date 'soon'"),
    ],
)
def test_bad_arguments_exit_1(flows: Path, args: list[str], message: str) -> None:
    """Bad executor, param or date: exit 1 with one error line."""
    result = invoke("pipelines", "run", str(flows), "good", *args)
    assert result.exit_code == 1
    assert message in result.stderr


def test_unknown_pipeline_and_file(flows: Path, tmp_path: Path) -> None:
    """A file with several pipelines needs an id; unknown ids and files are named."""
    several = invoke("pipelines", "run", str(flows))
    assert several.exit_code == 1
    assert "defines 2 pipelines (bad, good); name one" in several.stderr
    missing = invoke("pipelines", "list", str(tmp_path / "nope.py"))
    assert missing.exit_code == 1
    assert "does not exist" in missing.stderr
