"""Unit tests of SlackHook settings: token, base_url, timeouts and retry bounds from the connection."""

from __future__ import annotations

from typing import Any

import pytest

from hookline import Connection
from hookline.exceptions import InvalidConnection
from hookline.hooks.slack import SlackHook

TOKEN = "xoxb-c4n4ry-unit-t0ken"


def make(password: str | None = TOKEN, **extra: Any) -> SlackHook:
    return SlackHook(Connection(conn_id="s", conn_type="slack", password=password, extra=extra))


def test_defaults() -> None:
    """Slack's base URL, 30 s timeout, 3 retries of a 429, a 60 s cap on Retry-After."""
    hook = make()
    assert (hook.base_url, hook.timeout, hook.retry_limit, hook.retry_after_cap_s) == (
        "https://slack.com/api/",
        30.0,
        3,
        60.0,
    )
    assert hook.conn_type == "slack"
    assert SlackHook(slack_conn_id="x").conn_id == "x"
    assert SlackHook().conn_id == "slack_api_default"


def test_extras_with_airflow_prefix_and_arguments_win() -> None:
    """extra__slack__base_url / timeout are read; hook arguments override extras."""
    hook = make(extra__slack__base_url="http://127.0.0.1:1/api", extra__slack__timeout="5")
    assert (hook.base_url, hook.timeout) == ("http://127.0.0.1:1/api/", 5.0)
    hook = make(base_url="http://a/api/", retry_limit="1")
    assert SlackHook(hook.connection, base_url="http://b/api", retry_limit=0).base_url == (
        "http://b/api/"
    )
    assert hook.retry_limit == 1


def test_missing_token_and_bad_numbers_are_typed_errors() -> None:
    """No password: InvalidConnection; a non-numeric timeout or retry limit names the option."""
    with pytest.raises(InvalidConnection, match="no Slack token"):
        _ = make(password=None).token
    with pytest.raises(InvalidConnection, match="timeout must be a number"):
        _ = make(timeout="soon").timeout
    with pytest.raises(InvalidConnection, match="retry_limit must be an integer >= 0"):
        _ = make(retry_limit="-1").retry_limit


def test_repr_and_client_hold_no_token_in_text() -> None:
    """repr shows the conn_id only; the client is built once and reused."""
    hook = make()
    assert TOKEN not in repr(hook)
    client = hook.get_conn()
    assert hook.client is client
    assert client.base_url == "https://slack.com/api/"
