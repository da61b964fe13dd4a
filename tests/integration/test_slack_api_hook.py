"""SlackHook (Web API, slack_sdk) against the local Slack Web API fake started by the suite."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest

from hookline import Connection
from hookline.exceptions import (
    AuthenticationFailed,
    HookConnectionError,
    SlackApiError,
    SlackChannelNotFound,
    SlackRateLimited,
)
from hookline.hooks.slack import SlackHook
from hookline.testing import override_connections
from tests.servers._proc import free_port
from tests.servers.slack_fake import BOT_TOKEN, SlackFake


def conn_for(fake: SlackFake, token: str = BOT_TOKEN, **extra: Any) -> Connection:
    return Connection(
        conn_id="slack_api_default",
        conn_type="slack",
        password=token,
        extra={"base_url": fake.base_url, **extra},
    )


def assert_no_token(text: str) -> None:
    assert BOT_TOKEN not in text
    assert "c4n4ry" not in text


def test_chat_post_message_sends_bearer_token_and_json(slack_fake: SlackFake) -> None:
    """chat_postMessage posts JSON with the token as a Bearer header, once."""
    with SlackHook(conn_for(slack_fake)) as hook:
        response = hook.chat_postMessage(channel="#general", text="load finished")
    assert response["ok"] is True
    assert response["channel"] == "C0GENERAL"
    (request,) = slack_fake.calls("chat.postMessage")
    assert request.headers["authorization"] == f"Bearer {BOT_TOKEN}"
    assert request.args["text"] == "load finished"
    assert request.headers["content-type"].startswith("application/json")


def test_call_any_method_and_prefixed_base_url(slack_fake: SlackFake) -> None:
    """call(api_method, **kwargs) reaches any method; base_url is read with Airflow's prefix too."""
    conn = Connection(
        conn_id="s",
        conn_type="slack",
        password=BOT_TOKEN,
        extra={"extra__slack__base_url": slack_fake.base_url},
    )
    with SlackHook(conn) as hook:
        response = hook.call("auth.test")
        assert response["team"] == "hookline"
        hook.call("chat.postMessage", json={"channel": "C0001", "text": "via call"})
    assert slack_fake.calls("chat.postMessage")[0].args["channel"] == "C0001"


def test_get_channel_id_pages_through_conversations_list(slack_fake: SlackFake) -> None:
    """get_channel_id follows the cursor; a second lookup is served from the hook's cache."""
    slack_fake.max_page_size = 3  # 8 channels: pages of 3, 3, 2
    with SlackHook(conn_for(slack_fake)) as hook:
        assert hook.get_channel_id("general") == "C0GENERAL"
        assert len(slack_fake.calls("conversations.list")) == 3
        assert hook.get_channel_id("#channel-2") == "C0002"
        assert len(slack_fake.calls("conversations.list")) == 3
        with pytest.raises(SlackChannelNotFound) as info:
            hook.get_channel_id("nope")
    assert isinstance(info.value, LookupError)
    assert info.value.error == "channel_not_found"
    cursors = [c.args.get("cursor") for c in slack_fake.calls("conversations.list")]
    assert cursors == [None, "3", "6", None, "3", "6"]


def test_files_upload_v2_and_send_file(slack_fake: SlackFake, tmp_path: Path) -> None:
    """send_file_v2 and send_file (v1 arguments) upload through the v2 flow."""
    path = tmp_path / "report.csv"
    path.write_text("id,name\n1,ada\n")
    with SlackHook(conn_for(slack_fake)) as hook:
        hook.send_file_v2(
            channel_id="C0GENERAL",
            file_uploads={"file": str(path), "filename": "report.csv", "title": "Report"},
            initial_comment="today's report",
        )
        hook.send_file(channels="#channel-1", content="hello", filename="hello.txt")
    assert sorted(slack_fake.uploads.values()) == [b"hello", b"id,name\n1,ada\n"]
    completes = slack_fake.calls("files.completeUploadExternal")
    assert [c.args.get("channel_id") for c in completes] == ["C0GENERAL", "C0001"]
    assert completes[0].args.get("initial_comment") == "today's report"


def test_429_retry_after_is_honoured_then_succeeds(slack_fake: SlackFake) -> None:
    """Two 429s with Retry-After: 1 -> the hook waits ~1 s each time, then the message goes once."""
    slack_fake.rate_limit(times=2, retry_after="1")
    started = time.monotonic()
    with SlackHook(conn_for(slack_fake)) as hook:
        response = hook.chat_postMessage(channel="C0001", text="eventually")
    elapsed = time.monotonic() - started
    assert response["ok"] is True
    assert len(slack_fake.calls("chat.postMessage")) == 3
    assert elapsed >= 1.9


def test_429_beyond_the_retry_limit_or_the_cap_is_slack_rate_limited(
    slack_fake: SlackFake,
) -> None:
    """More 429s than retry_limit, or a Retry-After above the cap: SlackRateLimited, no early retry."""
    slack_fake.rate_limit(times=10, retry_after="0")
    with (
        SlackHook(conn_for(slack_fake, retry_limit=2)) as hook,
        pytest.raises(SlackRateLimited) as info,
    ):
        hook.chat_postMessage(channel="C0001", text="x")
    assert len(slack_fake.calls("chat.postMessage")) == 3
    assert info.value.status_code == 429
    slack_fake.reset()
    slack_fake.rate_limit(times=1, retry_after="3600")
    started = time.monotonic()
    with (
        SlackHook(conn_for(slack_fake), retry_after_cap_s=5) as hook,
        pytest.raises(SlackRateLimited) as capped,
    ):
        hook.chat_postMessage(channel="C0001", text="x")
    assert time.monotonic() - started < 2
    assert capped.value.retry_after_s == 3600
    assert "asked to wait 3600 s" in str(capped.value)
    assert len(slack_fake.calls("chat.postMessage")) == 1


def test_invalid_auth_is_authentication_failed_and_token_never_shown(
    slack_fake: SlackFake, caplog: pytest.LogCaptureFixture
) -> None:
    """invalid_auth -> AuthenticationFailed; test_connection says so without the token."""
    slack_fake.tokens = {"xoxb-some-other-token"}
    caplog.set_level(logging.DEBUG)
    with SlackHook(conn_for(slack_fake)) as hook:
        with pytest.raises(AuthenticationFailed) as info:
            hook.chat_postMessage(channel="C0001", text="x")
        ok, message = hook.test_connection()
        assert repr(hook) == "SlackHook(conn_id='slack_api_default')"
    assert "invalid_auth" in str(info.value)
    assert not ok
    assert "invalid_auth" in message
    for text in (
        str(info.value),
        repr(info.value),
        str(info.value.__cause__),
        message,
        caplog.text,
    ):
        assert_no_token(text)


def test_other_api_errors_are_slack_api_error(slack_fake: SlackFake) -> None:
    """ok=false with another code -> SlackApiError carrying Slack's code."""
    with SlackHook(conn_for(slack_fake)) as hook, pytest.raises(SlackApiError) as info:
        hook.chat_postMessage(channel="C9999", text="x")
    assert info.value.error == "channel_not_found"
    assert info.value.api_method == "chat.postMessage"


def test_rotated_token_is_picked_up_once(slack_fake: SlackFake) -> None:
    """The stored connection got a new token: invalid_auth -> one refresh -> success."""
    new_token = "xoxb-c4n4ry-rotated-t0ken"
    slack_fake.tokens = {new_token}
    stored = {"slack_api_default": conn_for(slack_fake)}
    with override_connections(stored) as backend:
        hook = SlackHook("slack_api_default")
        hook.get_conn()
        backend.set_connection(conn_for(slack_fake, token=new_token))
        assert hook.chat_postMessage(channel="C0001", text="after rotation")["ok"]
    assert hook.refresh_count == 1


def test_connection_test_through_the_registry(slack_fake: SlackFake) -> None:
    """Connection(conn_type="slack").test_connection() runs auth.test through SlackHook."""
    assert conn_for(slack_fake).test_connection() == (True, "Connection successfully tested")
    assert len(slack_fake.calls("auth.test")) == 1


def test_unreachable_base_url_is_a_connection_error() -> None:
    """Nothing listening: HookConnectionError naming the base URL."""
    conn = Connection(
        conn_id="s",
        conn_type="slack",
        password=BOT_TOKEN,
        extra={"base_url": f"http://127.0.0.1:{free_port()}/api/", "timeout": 2},
    )
    with SlackHook(conn) as hook, pytest.raises(HookConnectionError) as info:
        hook.call("auth.test")
    assert "could not be reached" in str(info.value)
    assert_no_token(str(info.value))
