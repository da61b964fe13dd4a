"""Pipelines: operators in dependency order, run locally (threads) or on Celery workers.

    from hookline.operators import SQLExecuteQueryOperator, task
    from hookline.pipelines import Pipeline

    with Pipeline("orders", default_args={"retries": 2}) as p:
        create = SQLExecuteQueryOperator(task_id="create", conn_id="warehouse", sql="create.sql")

        @task
        def report(ds: str) -> str: ...

        create >> report()

    run = p.run(logical_date="2026-12-01")      # PipelineRun: states, tries, timings
    print(run.table())

Runs are recorded in the metastore database (``hookline pipelines runs``).
"""

from __future__ import annotations

import logging

from hookline.pipelines.dag import Pipeline, chain
from hookline.pipelines.loader import find_pipeline, load_pipelines
from hookline.pipelines.state import PipelineRun, RunState, TaskRecord, TaskState

__all__ = [
    "Pipeline",
    "PipelineRun",
    "RunState",
    "TaskRecord",
    "TaskState",
    "chain",
    "find_pipeline",
    "load_pipelines",
]

# Task failures are reported in the run's records; their log lines reach the application's
# handlers (the CLI's -v), never Python's last-resort stderr handler.
logging.getLogger("hookline.pipelines").addHandler(logging.NullHandler())
