"""Data the API and the UI both show: audit records, pipeline runs, metrics, hook form fields."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from hookline import masking

if TYPE_CHECKING:
    from hookline.server.app import ServerConfig

__all__ = ["audit_records", "form_fields", "metrics_text", "pipeline_runs"]

_AUDIT_FIELDS = ("seq", "ts", "kind", "conn_id", "backend", "outcome", "count", "user", "host")


def audit_records(
    config: ServerConfig,
    conn_id: str | None = None,
    kind: str | None = None,
    since: float | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Records of the audit file log matching the filters, newest first (none without a log)."""
    from hookline.audit.log import read_records

    path = config.audit_log
    if path is None:
        return []
    found: list[dict[str, Any]] = []
    for _, _, line in read_records(path):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        if conn_id and data.get("conn_id") != conn_id:
            continue
        if kind and data.get("kind") != kind:
            continue
        if since is not None and float(data.get("ts", 0)) < since:
            continue
        record = {name: data.get(name) for name in _AUDIT_FIELDS}
        record["detail"] = masking.redact(str(data.get("detail", "")))
        record["backend"] = str(record["backend"] or "")
        record["outcome"] = str(record["outcome"] or "")
        record["user"] = str(record["user"] or "")
        record["host"] = str(record["host"] or "")
        record["actor"] = str(data.get("actor") or "")
        record["count"] = int(record["count"] or 1)
        found.append(record)
    found.reverse()
    return found[:limit]


def pipeline_runs(
    config: ServerConfig, pipeline_id: str | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    """Recent pipeline runs from the run store (newest first)."""
    from hookline.pipelines.store import open_store

    store = open_store(config.runs_url or config.metastore_url)
    try:
        runs = store.list_runs(pipeline_id, limit)
    finally:
        store.close()
    return [
        {
            "run_id": run.run_id,
            "pipeline_id": run.pipeline_id,
            "logical_date": run.logical_date.isoformat(),
            "state": str(run.state),
            "executor": run.executor,
            "started_at": run.started_at,
            "ended_at": run.ended_at,
            "tasks": {task_id: str(rec.state) for task_id, rec in run.tasks.items()},
        }
        for run in runs
    ]


def metrics_text() -> str:
    """The process's metrics in the Prometheus text format (metrics on from the first call)."""
    from prometheus_client import generate_latest

    from hookline import metrics

    registry = metrics.enable()
    return generate_latest(registry).decode()


def form_fields(conn_type: str) -> dict[str, Any]:
    """The connection form of ``conn_type``: its hook's ``get_ui_field_behaviour()`` (hidden fields,
    relabeling, placeholders) and ``get_connection_form_widgets()`` (extra fields), or the plain
    form when no hook is registered for the type."""
    from hookline.registry import hook_class_for, hook_types

    behaviour: dict[str, Any] = {}
    widgets: dict[str, Any] = {}
    hook_name = ""
    if conn_type in hook_types():
        hook = hook_class_for(conn_type)
        behaviour = dict(hook.get_ui_field_behaviour())
        widgets = dict(hook.get_connection_form_widgets())
        hook_name = hook.hook_name or conn_type
    return {
        "hook_name": hook_name,
        "hidden": set(behaviour.get("hidden_fields", ())),
        "labels": dict(behaviour.get("relabeling", {})),
        "placeholders": dict(behaviour.get("placeholders", {})),
        "widgets": widgets,
    }
