"""Hooks: clients for one system each, built from a connection.

Hook classes are imported lazily by name, so ``import hookline.hooks`` stays cheap and loads no driver.
"""

from __future__ import annotations

from typing import Any

from hookline.hooks.base import BaseHook

__all__ = [
    "AsyncHttpHook",
    "BaseHook",
    "HttpHook",
    "MySqlHook",
    "PostgresHook",
    "S3Hook",
    "SlackWebhookHook",
    "SmtpHook",
    "SqlHook",
    "SqliteHook",
]

_LAZY = {
    "SqlHook": "hookline.hooks.sql",
    "SqliteHook": "hookline.hooks.sql",
    "PostgresHook": "hookline.hooks.sql",
    "MySqlHook": "hookline.hooks.sql",
    "HttpHook": "hookline.hooks.http",
    "AsyncHttpHook": "hookline.hooks.http",
    "S3Hook": "hookline.hooks.s3",
    "SlackWebhookHook": "hookline.hooks.slack",
    "SmtpHook": "hookline.hooks.smtp",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'hookline.hooks' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
