"""Notification operators: a Slack incoming webhook message and an email over SMTP.

Both send through hookline's hooks (retries on 429/5xx for Slack, STARTTLS/SSL and login for
SMTP); the webhook URL and the SMTP password stay in their connections and are masked everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from hookline.hooks.slack import SlackWebhookHook
from hookline.hooks.smtp import SmtpHook
from hookline.operators.base import BaseOperator

__all__ = ["EmailOperator", "SlackWebhookOperator"]


class SlackWebhookOperator(BaseOperator):
    """Post a message to a Slack incoming webhook.

    Args:
        task_id: The task id.
        slack_webhook_conn_id: The webhook connection (token or URL in its password).
        message: The text (templated).
        attachments: Legacy attachments (templated).
        blocks: Block Kit blocks (templated).
        channel: Override the channel (legacy webhooks only).
        username: Override the bot name (legacy webhooks only).
        icon_emoji: Override the icon.
        icon_url: Override the icon.
        **kwargs: :class:`BaseOperator` arguments.
    """

    template_fields = ("message", "attachments", "blocks", "channel", "username")

    def __init__(
        self,
        *,
        task_id: str,
        slack_webhook_conn_id: str = "slack_default",
        message: str = "",
        attachments: list[dict[str, Any]] | None = None,
        blocks: list[dict[str, Any]] | None = None,
        channel: str | None = None,
        username: str | None = None,
        icon_emoji: str | None = None,
        icon_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(task_id, **kwargs)
        self.slack_webhook_conn_id = slack_webhook_conn_id
        self.message = message
        self.attachments = attachments
        self.blocks = blocks
        self.channel = channel
        self.username = username
        self.icon_emoji = icon_emoji
        self.icon_url = icon_url

    def execute(self, context: dict[str, Any]) -> Any:
        """Send the message; return Slack's answer text (``ok``)."""
        with SlackWebhookHook(self.slack_webhook_conn_id) as hook:
            response = hook.send(
                text=self.message or None,
                blocks=self.blocks,
                attachments=self.attachments,
                channel=self.channel,
                username=self.username,
                icon_emoji=self.icon_emoji,
                icon_url=self.icon_url,
            )
        return response.text


class EmailOperator(BaseOperator):
    """Send an email through an SMTP connection.

    Args:
        task_id: The task id.
        to: Recipients: a list, or a string separated by ``,`` or ``;`` (templated).
        subject: The subject (templated).
        html_content: The HTML body (templated).
        files: Paths of files to attach (templated).
        cc: Copy recipients.
        bcc: Blind copy recipients (envelope only).
        conn_id: The SMTP connection (default ``smtp_default``).
        from_email: The sender (default: the connection's ``from_email`` extra); templated.
        custom_headers: Extra headers.
        **kwargs: :class:`BaseOperator` arguments.
    """

    template_fields = ("to", "from_email", "subject", "html_content", "files")
    template_ext = (".html",)

    def __init__(
        self,
        *,
        task_id: str,
        to: str | Sequence[str],
        subject: str,
        html_content: str,
        files: Sequence[str | os.PathLike[str]] | None = None,
        cc: str | Sequence[str] | None = None,
        bcc: str | Sequence[str] | None = None,
        conn_id: str = "smtp_default",
        from_email: str | None = None,
        custom_headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(task_id, **kwargs)
        self.to = to
        self.subject = subject
        self.html_content = html_content
        self.files = [str(f) for f in files or ()]
        self.cc = cc
        self.bcc = bcc
        self.conn_id = conn_id
        self.from_email = from_email
        self.custom_headers = dict(custom_headers or {})

    def execute(self, context: dict[str, Any]) -> Any:
        """Send the email; return its Message-ID."""
        with SmtpHook(self.conn_id) as hook:
            return hook.send_email(
                self.to,
                self.subject,
                self.html_content,
                files=self.files,
                cc=self.cc,
                bcc=self.bcc,
                from_email=self.from_email,
                custom_headers=self.custom_headers or None,
            )
