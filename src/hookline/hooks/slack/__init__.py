"""Slack hooks: :class:`SlackWebhookHook` (incoming webhooks, httpx) and :class:`SlackHook` (the Web
API with a bot token, slack_sdk).

``SlackHook`` is imported lazily, so importing this package does not load slack_sdk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hookline.hooks.slack.webhook import DEFAULT_WEBHOOK_BASE_URL, SlackWebhookHook

if TYPE_CHECKING:
    from hookline.hooks.slack.api import SlackHook

__all__ = ["DEFAULT_WEBHOOK_BASE_URL", "SlackHook", "SlackWebhookHook"]


def __getattr__(name: str) -> Any:
    if name == "SlackHook":
        from hookline.hooks.slack.api import SlackHook

        return SlackHook
    raise AttributeError(f"module 'hookline.hooks.slack' has no attribute {name!r}")
