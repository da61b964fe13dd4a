"""Unit tests of SlackWebhookHook: where the webhook URL comes from, settings, no leaked token."""

from __future__ import annotations

from typing import Any

import pytest

from hookline import Connection, masking
from hookline.exceptions import InvalidConnection
from hookline.hooks.slack import SlackWebhookHook

TOKEN = "T000/B000/c4n4ryS3cretT0ken"


def make(**fields: Any) -> SlackWebhookHook:
    fields.setdefault("conn_type", "slackwebhook")
    return SlackWebhookHook(Connection(conn_id="alerts", **fields))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"password": TOKEN}, f"https://hooks.slack.com/services/{TOKEN}"),
        ({"password": "/" + TOKEN}, f"https://hooks.slack.com/services/{TOKEN}"),
        (
            {"password": TOKEN, "host": "https://hooks.example.com/services/"},
            f"https://hooks.example.com/services/{TOKEN}",
        ),
        (
            {"password": TOKEN, "host": "127.0.0.1", "port": 8080, "schema": "http"},
            f"http://127.0.0.1:8080/{TOKEN}",
        ),
        ({"password": TOKEN, "host": "hooks.example.com"}, f"https://hooks.example.com/{TOKEN}"),
        (
            {"password": f"https://hooks.slack.com/services/{TOKEN}", "host": "ignored"},
            f"https://hooks.slack.com/services/{TOKEN}",
        ),
        (
            {"host": f"https://hooks.slack.com/services/{TOKEN}"},
            f"https://hooks.slack.com/services/{TOKEN}",
        ),
    ],
)
def test_webhook_url_from_connection(fields: dict[str, Any], expected: str) -> None:
    """Token in password + host as base (default Slack), or the whole URL in password or host."""
    assert make(**fields)._webhook_url() == expected


def test_webhook_url_is_registered_for_masking() -> None:
    """Building the URL registers the token and the URL, so they are masked in any text."""
    hook = make(password=TOKEN)
    url = hook._webhook_url()
    assert masking.redact(f"posting to {url}") == "posting to ***"
    assert TOKEN not in masking.redact(f"token {TOKEN}")


def test_missing_token_is_invalid_connection() -> None:
    """A connection without token or URL is an InvalidConnection naming the fix."""
    with pytest.raises(InvalidConnection, match="no webhook token") as info:
        make(host="hooks.example.com")._webhook_url()
    assert info.value.conn_id == "alerts"


def test_settings_from_extras_and_arguments() -> None:
    """timeout_s and retry_limit: hook argument, then extras (``timeout`` too), then defaults."""
    assert make(password=TOKEN).timeout_s == 30.0
    assert make(password=TOKEN, extra={"timeout": 5}).timeout_s == 5.0
    assert make(password=TOKEN, extra={"timeout_s": 2, "timeout": 5}).timeout_s == 2.0
    assert make(password=TOKEN).retry_policy.retry_limit == 3
    assert make(password=TOKEN, extra={"retry_limit": 1}).retry_policy.retry_limit == 1
    conn = Connection(conn_id="alerts", conn_type="slackwebhook", password=TOKEN)
    hook = SlackWebhookHook(conn, timeout_s=1.5, retry_limit=0)
    assert (hook.timeout_s, hook.retry_policy.retry_limit) == (1.5, 0)


def test_airflow_class_attributes_and_conn_id_keyword() -> None:
    """Airflow's names: conn_type slackwebhook, ``slack_webhook_conn_id=``, default slack_default."""
    assert SlackWebhookHook.conn_type == "slackwebhook"
    assert SlackWebhookHook().conn_id == "slack_default"
    assert SlackWebhookHook(slack_webhook_conn_id="ops").conn_id == "ops"


def test_send_needs_content() -> None:
    """send() without text, blocks or attachments is a ValueError, before any request."""
    with pytest.raises(ValueError, match="needs text, blocks or attachments"):
        make(password=TOKEN).send()


def test_repr_hides_the_token() -> None:
    """repr and str name the connection only."""
    hook = make(password=TOKEN)
    hook._webhook_url()
    assert TOKEN not in repr(hook)
    assert repr(hook) == "SlackWebhookHook(conn_id='alerts')"


def test_registered_for_slackwebhook() -> None:
    """Connection.get_hook() builds a SlackWebhookHook for slackwebhook connections."""
    from hookline.registry import hook_class_for

    assert hook_class_for("slackwebhook") is SlackWebhookHook
    conn = Connection(conn_id="alerts", conn_type="slackwebhook", password=TOKEN)
    assert isinstance(conn.get_hook(), SlackWebhookHook)


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"retry_limit": "three"}, "retry_limit"),
        ({"retry_limit": -1}, "retry_limit"),
        ({"timeout_s": "soon"}, "timeout_s"),
        ({"timeout": "soon"}, "timeout"),
        ({"retry_non_idempotent": "maybe"}, "retry_non_idempotent"),
    ],
)
def test_malformed_extras_are_invalid_connection(extra: dict[str, Any], key: str) -> None:
    """Options are read by hookline.options: a malformed one is typed and named, no token shown."""
    hook = make(password=TOKEN, extra=extra)
    reads = {
        "retry_limit": lambda: hook.retry_policy,
        "timeout_s": lambda: hook.timeout_s,
        "timeout": lambda: hook.timeout_s,
        "retry_non_idempotent": lambda: hook.retry_rules,
    }
    with pytest.raises(InvalidConnection, match=key) as info:
        reads[key]()
    assert "c4n4ry" not in str(info.value)


def test_retry_rules_retry_unsent_posts_and_429_only_by_default() -> None:
    """A webhook post is not idempotent: 429 (not posted) is retried, 5xx only when asked."""
    import httpx

    rules = make(password=TOKEN).retry_rules
    assert rules.on_response(httpx.Response(429))
    assert not rules.on_response(httpx.Response(503))
    asked = make(password=TOKEN, extra={"retry_non_idempotent": "yes"}).retry_rules
    assert asked.on_response(httpx.Response(503))
    assert SlackWebhookHook(
        Connection(conn_id="a", conn_type="slackwebhook", password=TOKEN), retry_non_idempotent=True
    ).retry_rules.retry_non_idempotent
