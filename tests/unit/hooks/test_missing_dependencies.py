"""Each hook with an optional SDK raises MissingDependency naming its extra when the SDK is absent."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from hookline import Connection
from hookline.exceptions import MissingDependency


def _s3() -> Any:
    from hookline.hooks.s3 import S3Hook

    conn = Connection(conn_id="a", conn_type="aws", extra={"bucket_name": "b"})
    return S3Hook(conn).check_for_key("k")


def _s3_load_file() -> Any:
    from hookline.hooks.s3 import S3Hook

    conn = Connection(conn_id="a", conn_type="aws", extra={"bucket_name": "b"})
    return S3Hook(conn).load_file_obj(None, "k", replace=True)  # type: ignore[arg-type]


def _slack() -> Any:
    from hookline.hooks.slack import SlackHook

    return SlackHook(Connection(conn_id="s", conn_type="slack", password="xoxb-1")).get_conn()


def _bigquery() -> Any:
    from hookline.hooks.google.bigquery import BigQueryHook

    conn = Connection(conn_id="g", conn_type="google_cloud_platform", extra={"anonymous": True})
    return BigQueryHook(conn).get_client()


def _google() -> Any:
    from hookline.hooks.google.base import GoogleBaseHook

    conn = Connection(conn_id="g", conn_type="google_cloud_platform", extra={"anonymous": True})
    return GoogleBaseHook(conn).get_conn()


@pytest.mark.parametrize(
    ("blocked", "call", "extra"),
    [
        (["boto3", "botocore"], _s3, "s3"),
        (["boto3", "botocore"], _s3_load_file, "s3"),
        (["slack_sdk"], _slack, "slack"),
        (["google.cloud.bigquery"], _bigquery, "bigquery"),
        (["google.auth"], _google, "google"),
    ],
)
def test_missing_sdk_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, blocked: list[str], call: Callable[[], Any], extra: str
) -> None:
    """With the SDK not importable, the hook raises MissingDependency (an ImportError) that says
    ``pip install 'hookline[<extra>]'``, not a raw ModuleNotFoundError."""
    for name in list(sys.modules):
        if any(name == b or name.startswith(b + ".") for b in blocked):
            monkeypatch.delitem(sys.modules, name)
    for name in blocked:
        monkeypatch.setitem(sys.modules, name, None)
        parent_name, _, child = name.rpartition(".")
        parent = sys.modules.get(parent_name) if parent_name else None
        if parent is not None:  # ``from google.cloud import bigquery`` reads the attribute first
            monkeypatch.delattr(parent, child, raising=False)
    with pytest.raises(MissingDependency) as info:
        call()
    assert info.value.extra == extra
    assert f"hookline[{extra}]" in str(info.value)
    assert isinstance(info.value, ImportError)
