"""Hooks: clients for one system each, built from a connection.

Hook classes are imported lazily by name, so ``import hookline.hooks`` stays cheap and loads no driver;
type checkers see the real classes through the ``TYPE_CHECKING`` imports below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hookline.hooks.base import BaseHook

if TYPE_CHECKING:
    from hookline.hooks.google import BigQueryHook, GoogleBaseHook
    from hookline.hooks.http import AsyncHttpHook, HttpHook
    from hookline.hooks.s3 import S3Hook
    from hookline.hooks.slack import SlackHook, SlackWebhookHook
    from hookline.hooks.smtp import SmtpHook
    from hookline.hooks.sql import MySqlHook, PostgresHook, SqlHook, SqliteHook

__all__ = [
    "AsyncHttpHook",
    "BaseHook",
    "BigQueryHook",
    "GoogleBaseHook",
    "HttpHook",
    "MySqlHook",
    "PostgresHook",
    "S3Hook",
    "SlackHook",
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
    "SlackHook": "hookline.hooks.slack",
    "GoogleBaseHook": "hookline.hooks.google",
    "BigQueryHook": "hookline.hooks.google",
    "SmtpHook": "hookline.hooks.smtp",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'hookline.hooks' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
