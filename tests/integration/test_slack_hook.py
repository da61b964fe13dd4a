"""SlackWebhookHook against a real local HTTP server that records what it received."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from hookline import Connection
from hookline.exceptions import AuthenticationFailed, HookConnectionError, HookError
from hookline.hooks.slack import SlackWebhookHook
from tests.servers._proc import free_port
from tests.servers.http_echo import EchoServer

TOKEN = "T000/B000/c4n4ryS3cretT0ken"


def hook_for(port: int, **kwargs: Any) -> SlackWebhookHook:
    conn = Connection(
        conn_id="alerts",
        conn_type="slackwebhook",
        host="127.0.0.1",
        port=port,
        schema="http",
        password=TOKEN,
    )
    kwargs.setdefault("retry_delay_s", 0.01)
    return SlackWebhookHook(conn, **kwargs)


def assert_no_token(exc: BaseException) -> None:
    text = f"{exc!s} {exc!r}"
    assert TOKEN not in text
    assert "c4n4ryS3cretT0ken" not in text
    assert exc.__cause__ is None or "c4n4ry" not in str(exc.__cause__)


def test_send_text_and_blocks_posts_json_to_the_token_path(http_echo: EchoServer) -> None:
    """send() POSTs a JSON payload to ``/<token>``; None fields are dropped."""
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*done*"}}]
    with hook_for(http_echo.port) as hook:
        response = hook.send(text="load finished", blocks=blocks, username=None, unfurl_links=False)
    assert response.status_code == 200
    (request,) = http_echo.requests
    assert request.method == "POST"
    assert request.path == f"/{TOKEN}"
    assert request.headers["content-type"].startswith("application/json")
    assert request.json() == {"text": "load finished", "blocks": blocks, "unfurl_links": False}


def test_send_text_and_send_dict(http_echo: EchoServer) -> None:
    """Airflow's send_text and send_dict post what they are given."""
    with hook_for(http_echo.port) as hook:
        hook.send_text("hello")
        hook.send_dict({"text": "raw", "icon_emoji": ":ghost:"})
    assert [r.json() for r in http_echo.requests] == [
        {"text": "hello"},
        {"text": "raw", "icon_emoji": ":ghost:"},
    ]


def test_429_with_retry_after_is_retried(http_echo: EchoServer) -> None:
    """Slack's 429 with Retry-After is honoured (capped) and the message goes out once accepted."""
    http_echo.fail_next(429, times=2, retry_after="1", body=b"rate_limited")
    with hook_for(http_echo.port, retry_after_cap_s=0.02) as hook:
        assert hook.send(text="x").status_code == 200
    assert len(http_echo.requests) == 3


def test_persistent_429_gives_hook_error_with_status_not_token(http_echo: EchoServer) -> None:
    """429 beyond the retry limit: HookError naming the status and code, never the token."""
    http_echo.fail_next(429, times=100, retry_after="0", body=b"rate_limited")
    with hook_for(http_echo.port, retry_limit=2) as hook, pytest.raises(HookError) as info:
        hook.send(text="x")
    assert len(http_echo.requests) == 3
    assert "HTTP 429" in str(info.value)
    assert "rate_limited" in str(info.value)
    assert "after 3 attempt(s)" in str(info.value)
    assert_no_token(info.value)


def test_5xx_is_not_retried_by_default(http_echo: EchoServer) -> None:
    """A 500 may follow a posted message: one post, then HookError with the status."""
    http_echo.fail_next(500, times=100, body=TOKEN.encode())
    with hook_for(http_echo.port, retry_limit=3) as hook, pytest.raises(HookError) as info:
        hook.send(text="x")
    assert len(http_echo.requests) == 1
    assert "HTTP 500" in str(info.value)
    assert "after 1 attempt" in str(info.value)
    assert_no_token(info.value)


def test_5xx_retried_up_to_the_limit_when_asked(http_echo: EchoServer) -> None:
    """With retry_non_idempotent, 500s are retried retry_limit times, then HookError."""
    http_echo.fail_next(500, times=100, body=TOKEN.encode())
    with (
        hook_for(http_echo.port, retry_limit=1, retry_non_idempotent=True) as hook,
        pytest.raises(HookError) as info,
    ):
        hook.send(text="x")
    assert len(http_echo.requests) == 2
    assert "HTTP 500" in str(info.value)
    assert_no_token(info.value)


def test_invalid_token_is_authentication_failed(http_echo: EchoServer) -> None:
    """403 invalid_token: AuthenticationFailed with Slack's code, no retry, no token."""
    http_echo.fail_next(403, body=b"invalid_token")
    with hook_for(http_echo.port) as hook, pytest.raises(AuthenticationFailed) as info:
        hook.send(text="x")
    assert "invalid_token" in str(info.value)
    assert len(http_echo.requests) == 1
    assert_no_token(info.value)


def test_bad_payload_is_hook_error_without_retry(http_echo: EchoServer) -> None:
    """400 invalid_payload is final: HookError with the code."""
    http_echo.fail_next(400, body=b"invalid_payload")
    with hook_for(http_echo.port) as hook, pytest.raises(HookError, match="invalid_payload"):
        hook.send(text="x")
    assert len(http_echo.requests) == 1


def test_rotated_webhook_token_is_picked_up(
    http_echo: EchoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token changes under a running hook: 403, refresh, retry to the new path."""
    port = http_echo.port

    def conn_json(token: str) -> str:
        return Connection(
            conn_type="slackwebhook", host=f"http://127.0.0.1:{port}", password=token
        ).to_json()

    monkeypatch.setenv("AIRFLOW_CONN_ALERTS", conn_json("old-token-1"))
    with SlackWebhookHook("alerts", retry_delay_s=0.01) as hook:
        hook.send(text="one")
        monkeypatch.setenv("AIRFLOW_CONN_ALERTS", conn_json("new-token-2"))
        http_echo.fail_next(403, body=b"invalid_token")
        hook.send(text="two")
    assert [r.path for r in http_echo.requests] == ["/old-token-1", "/old-token-1", "/new-token-2"]


def test_unreachable_webhook_is_hook_connection_error() -> None:
    """Nothing listening: HookConnectionError after the retries, without the token."""
    with hook_for(free_port(), retry_limit=1) as hook:
        with pytest.raises(HookConnectionError) as info:
            hook.send(text="x")
        ok, message = hook.test_connection()
    assert "after 2 attempt(s)" in str(info.value)
    assert_no_token(info.value)
    assert ok is False
    assert TOKEN not in message


def test_test_connection_posts_an_empty_payload(http_echo: EchoServer) -> None:
    """test_connection(): Slack's 400 no_text means the token is valid; 403 means it is not."""
    http_echo.fail_next(400, body=b"no_text")
    with hook_for(http_echo.port) as hook:
        assert hook.test_connection() == (True, "Connection successfully tested")
        http_echo.fail_next(403, body=b"invalid_token")
        ok, message = hook.test_connection()
    assert ok is False
    assert "invalid_token" in message
    assert TOKEN not in message
    assert http_echo.requests[0].json() == {}


def test_httpx_request_logs_do_not_show_the_token(
    http_echo: EchoServer, caplog: pytest.LogCaptureFixture
) -> None:
    """httpx logs each request URL at INFO; the webhook token in it is masked."""
    http_echo.fail_next(429, retry_after="0")
    with caplog.at_level(logging.DEBUG), hook_for(http_echo.port) as hook:
        hook.send(text="x")
    messages = [record.getMessage() for record in caplog.records]
    assert any("HTTP Request: POST" in m for m in messages)
    assert all("c4n4ryS3cretT0ken" not in m for m in messages)
    assert "c4n4ryS3cretT0ken" not in caplog.text
