"""SlackWebhookHook: post messages to a Slack incoming webhook held by a connection.

Where the webhook URL comes from (Airflow's ``slackwebhook`` connection layout):

* ``password`` holds the webhook token, the part after ``https://hooks.slack.com/services/``
  (``T000/B000/XXXX``), and ``host`` the base URL (default ``https://hooks.slack.com/services``;
  a host without ``://`` gets ``schema`` (default ``https``) and ``:port``, as HttpHook does);
* or ``password`` holds the whole URL (starts with ``http://`` or ``https://``);
* or, with no password, ``host`` holds the whole URL.

The URL is a secret: it is registered for masking and never appears in ``repr``, logs or error
messages, which name the connection, the status and Slack's short error code (``invalid_token``).
Retries follow hookline's one policy (:mod:`hookline.hooks._retry`): a post that never reached Slack
(connection refused, connect timeout) and a 429 (Slack does not post a rate-limited message) are
retried, honouring ``Retry-After`` up to a cap; a 5xx or a dropped connection may follow a message
that was posted, so it is retried only with ``retry_non_idempotent`` (argument or extra).
Extras: ``timeout_s`` (or Airflow's ``timeout``), ``proxy``, ``retry_limit``, ``retry_non_idempotent``.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any, ClassVar, Final

import httpx

from hookline import masking
from hookline.connection import Connection
from hookline.exceptions import (
    AuthenticationFailed,
    HookConnectionError,
    HookError,
    InvalidConnection,
)
from hookline.hooks._options import retry_limit_option, timeout_s_option
from hookline.hooks._retry import HttpRetryRules, RetryPolicy, mask_httpx_logs, shared_ssl_context
from hookline.hooks.base import BaseHook
from hookline.hooks.http.transport import transport_override
from hookline.options import parse_bool, resolve_option

__all__ = ["DEFAULT_WEBHOOK_BASE_URL", "SlackWebhookHook"]

log = logging.getLogger(__name__)

DEFAULT_WEBHOOK_BASE_URL: Final = "https://hooks.slack.com/services"
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")
_AUTH_ERRORS: Final = frozenset(
    {"invalid_token", "no_service", "no_team", "team_disabled", "no_service_id"}
)


class SlackWebhookHook(BaseHook[httpx.Client]):
    """Send text or Block Kit messages to a Slack incoming webhook.

    Args:
        conn: A conn_id or a Connection (``slack_webhook_conn_id=`` is accepted too).
        timeout_s: Request timeout (default: extra ``timeout_s`` or ``timeout``, else 30 s).
        retry_limit: Retries after the first attempt (default: extra ``retry_limit``, else 3).
        retry_delay_s: First backoff delay when the server gives no ``Retry-After``.
        retry_after_cap_s: Cap on a server's ``Retry-After``.
        retry_non_idempotent: Also retry 5xx answers and dropped connections, which may follow a
            posted message (default: extra ``retry_non_idempotent``, else False).
        transport: An :class:`httpx.BaseTransport` used instead of the network (tests); default:
            the one set by :func:`hookline.testing.mock_http`, else the network.

    Example:
        >>> with SlackWebhookHook("alerts") as slack:  # doctest: +SKIP
        ...     slack.send(text="load finished: 1,204 rows")
    """

    conn_type: ClassVar[str] = "slackwebhook"
    hook_name: ClassVar[str] = "Slack Incoming Webhook"
    default_conn_name: ClassVar[str] = "slack_default"
    conn_name_attr: ClassVar[str] = "slack_webhook_conn_id"

    def __init__(
        self,
        conn: str | Connection | None = None,
        *,
        timeout_s: float | None = None,
        retry_limit: int | None = None,
        retry_delay_s: float = 1.0,
        retry_after_cap_s: float = 60.0,
        retry_non_idempotent: bool | None = None,
        transport: httpx.BaseTransport | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn, **kwargs)
        self._timeout_s = timeout_s
        self._retry_limit = retry_limit
        self._retry_delay_s = retry_delay_s
        self._retry_after_cap_s = retry_after_cap_s
        self._retry_non_idempotent = retry_non_idempotent
        override = transport_override.get()
        self._transport = transport or (
            override if isinstance(override, httpx.BaseTransport) else None
        )
        self._lock = threading.Lock()

    # -- settings ----------------------------------------------------------------------------

    def _webhook_url(self) -> str:
        """The full webhook URL (a secret: registered for masking, never shown)."""
        conn = self.connection
        token = conn.password or ""
        host = conn.host or ""
        if token.startswith(("http://", "https://")):
            url = token
        elif not token and "://" in host:
            url = host
        elif not token:
            raise InvalidConnection(
                f"connection {self.conn_id!r} has no webhook token: put the token or the whole "
                "webhook URL in its password",
                conn_id=self.conn_id,
            )
        else:
            if "://" in host:
                base = host
            elif host:
                base = f"{conn.schema or 'https'}://{host}"
            else:
                base = DEFAULT_WEBHOOK_BASE_URL
            if host and conn.port:
                base += f":{conn.port}"
            url = f"{base.rstrip('/')}/{token.lstrip('/')}"
        masking.register(token)
        masking.register(url)
        mask_httpx_logs()
        return url

    @property
    def timeout_s(self) -> float:
        """The request timeout in seconds (argument, else extra ``timeout_s`` or ``timeout``, else 30).

        Raises:
            InvalidConnection: the extra is not a number of seconds.
        """
        return timeout_s_option(
            self._timeout_s, self.connection.extra, conn_id=self.conn_id, default=30.0
        )

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy: ``retry_limit`` (argument, else extra, else 3) and the delays.

        Raises:
            InvalidConnection: the ``retry_limit`` extra is not a whole number >= 0.
        """
        limit = retry_limit_option(
            self._retry_limit, self.connection.extra, conn_id=self.conn_id, default=3
        )
        return RetryPolicy(
            retry_limit=limit,
            retry_delay_s=self._retry_delay_s,
            retry_after_cap_s=self._retry_after_cap_s,
        )

    @property
    def retry_rules(self) -> HttpRetryRules:
        """What is retried: unsent posts and 429 always, the rest only with retry_non_idempotent."""
        again = resolve_option(
            "retry_non_idempotent",
            self._retry_non_idempotent,
            self.connection.extra,
            False,
            convert=lambda v: parse_bool(v, name="retry_non_idempotent", conn_id=self.conn_id),
        )
        return HttpRetryRules("POST", retry_non_idempotent=again, safe_statuses=frozenset({429}))

    # -- client ------------------------------------------------------------------------------

    def get_conn(self) -> httpx.Client:
        """An :class:`httpx.Client` for the webhook (kept and reused; the URL is not in it)."""
        client = self._client
        if client is None:
            with self._lock:
                client = self._client
                if client is None:
                    proxy = self.connection.extra.get("proxy")
                    client = httpx.Client(
                        timeout=self.timeout_s,
                        proxy=str(proxy) if proxy and self._transport is None else None,
                        verify=shared_ssl_context(),
                        headers={"Content-Type": "application/json; charset=utf-8"},
                        transport=self._transport,
                    )
                    self._client = client
        return client

    def close_conn(self) -> None:
        """Close the client and its pooled connections."""
        if self._client is not None:
            self._client.close()

    # -- sending -----------------------------------------------------------------------------

    def send(
        self,
        text: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Post a message; retried on 429 and 5xx.

        Args:
            text: The message text (also the notification fallback when ``blocks`` are given).
            blocks: Block Kit blocks.
            **kwargs: Other payload fields (``attachments``, ``unfurl_links``, ``username``, ...);
                None values are dropped.

        Returns:
            Slack's response (``200`` with body ``ok``).

        Raises:
            ValueError: neither text, blocks nor attachments were given.
            AuthenticationFailed: the webhook token was rejected (after one refresh).
            HookError: Slack answered another error, or 429/5xx outlived the retries.
            HookConnectionError: the webhook could not be reached.
        """
        body: dict[str, Any] = {"text": text, "blocks": blocks, **kwargs}
        body = {k: v for k, v in body.items() if v is not None}
        if not any(k in body for k in ("text", "blocks", "attachments")):
            raise ValueError("a Slack message needs text, blocks or attachments")
        return self.send_dict(body)

    def send_text(self, text: str) -> httpx.Response:
        """Post a plain text message (Airflow's ``send_text``)."""
        return self.send(text=text)

    def send_dict(self, body: dict[str, Any]) -> httpx.Response:
        """Post a payload as is (Airflow's ``send_dict``); see :meth:`send`."""
        return self.run_with_refresh(lambda: self._post(body, accept_statuses=()))

    def _post(
        self,
        body: dict[str, Any],
        accept_statuses: tuple[int, ...],
        policy: RetryPolicy | None = None,
    ) -> httpx.Response:
        url = self._webhook_url()
        client = self.get_conn()
        rules = self.retry_rules
        attempts = 0

        def attempt(number: int) -> httpx.Response:
            nonlocal attempts
            attempts = number
            return client.post(url, json=body)

        try:
            response = (policy or self.retry_policy).call(
                attempt,
                retry_on_error=rules.on_error,
                retry_on_result=rules.on_response,
                hint_s=rules.hint_s,
                discard=lambda r: r.close(),
                what=f"Slack webhook of connection {self.conn_id!r}",
            )
        except httpx.HTTPError as exc:
            # ``from None``: httpx errors carry the request, whose URL holds the webhook token.
            if isinstance(exc, httpx.TransportError):
                raise HookConnectionError(
                    f"Slack webhook of connection {self.conn_id!r} could not be reached after "
                    f"{attempts} attempt(s): {type(exc).__name__} (timeout {self.timeout_s} s)",
                    conn_id=self.conn_id,
                ) from None
            raise HookError(
                f"Slack webhook of connection {self.conn_id!r} failed: {type(exc).__name__}",
                conn_id=self.conn_id,
            ) from None
        if response.is_success or response.status_code in accept_statuses:
            return response
        raise self._error(response, attempts)

    def _error(self, response: httpx.Response, attempts: int) -> HookError:
        code = response.text.strip()[:64]
        code = code if _ERROR_CODE.fullmatch(code) else ""
        status = response.status_code
        detail = f" ({code})" if code else ""
        message = (
            f"Slack webhook of connection {self.conn_id!r} answered HTTP {status} "
            f"{response.reason_phrase}{detail} after {attempts} attempt(s)"
        )
        message = str(masking.redact(message))
        if status in (401, 403) or code in _AUTH_ERRORS:
            return AuthenticationFailed(message, conn_id=self.conn_id)
        return HookError(message, conn_id=self.conn_id)

    def _test(self) -> None:
        """Post an empty payload: Slack answers 400 ``no_text`` (token valid) or 403/404 (invalid).

        Nothing is posted to the channel, and nothing is retried: an unreachable webhook fails at once.
        """
        response = self._post({}, accept_statuses=(400,), policy=RetryPolicy.never())
        if response.status_code == 400:
            code = response.text.strip()
            if code in _AUTH_ERRORS:
                raise self._error(response, 1)
