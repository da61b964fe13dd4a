"""Operators: units of pipeline work over hookline's hooks, with Airflow's names and arguments.

Each operator holds conn_ids and non-secret parameters; its hook resolves the connection where the
task runs. Classes are imported lazily by name, so ``import hookline.operators`` loads no driver.
"""

from __future__ import annotations

import importlib
from typing import Any

from hookline.operators.base import BaseOperator, XComArg

__all__ = [
    "BaseOperator",
    "EmailOperator",
    "HttpOperator",
    "PostgresOperator",
    "PythonOperator",
    "S3CopyObjectOperator",
    "S3CreateObjectOperator",
    "S3DeleteObjectsOperator",
    "S3ListOperator",
    "S3ToSqlOperator",
    "SQLCheckOperator",
    "SQLExecuteQueryOperator",
    "SQLValueCheckOperator",
    "SimpleHttpOperator",
    "SlackWebhookOperator",
    "SqlToFileOperator",
    "SqlToS3Operator",
    "XComArg",
    "task",
]

_LAZY = {
    "PythonOperator": "hookline.operators.python",
    "task": "hookline.operators.python",
    "SQLExecuteQueryOperator": "hookline.operators.sql",
    "SQLCheckOperator": "hookline.operators.sql",
    "SQLValueCheckOperator": "hookline.operators.sql",
    "PostgresOperator": "hookline.operators.sql",
    "HttpOperator": "hookline.operators.http",
    "SimpleHttpOperator": "hookline.operators.http",
    "S3CreateObjectOperator": "hookline.operators.s3",
    "S3CopyObjectOperator": "hookline.operators.s3",
    "S3DeleteObjectsOperator": "hookline.operators.s3",
    "S3ListOperator": "hookline.operators.s3",
    "SqlToS3Operator": "hookline.operators.transfer",
    "SqlToFileOperator": "hookline.operators.transfer",
    "S3ToSqlOperator": "hookline.operators.transfer",
    "SlackWebhookOperator": "hookline.operators.notify",
    "EmailOperator": "hookline.operators.notify",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'hookline.operators' has no attribute {name!r}")
    return getattr(importlib.import_module(module_name), name)
