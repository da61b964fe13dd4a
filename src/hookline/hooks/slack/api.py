"""SlackHook: the Slack Web API with a bot token, on slack_sdk's ``WebClient``.

Connection (Airflow's ``slack`` type): ``password`` holds the token (``xoxb-...``; registered for
masking, never in a repr, log line or error). Extras, under their short name or Airflow's
``extra__slack__`` prefix: ``base_url`` (default ``https://slack.com/api/``; a local fake in tests),
``timeout`` (seconds, default 30), ``proxy``, ``retry_limit`` (default 3) and
``retry_after_cap_s`` (default 60).

Rate limits: Slack answers HTTP 429 with ``Retry-After``. The hook waits exactly that long and tries
again, at most ``retry_limit`` times, and only while the wait asked for is within
``retry_after_cap_s``; beyond either bound it raises
:class:`~hookline.exceptions.SlackRateLimited`. A 429 means Slack did not process the call, so the
retry cannot post twice; nothing else is retried (a 5xx or a dropped connection may have posted).

Errors: ``invalid_auth``, ``not_authed``, ``token_revoked``, ``token_expired``, ``account_inactive``
raise :class:`~hookline.exceptions.AuthenticationFailed` (the hook refreshes its connection once and
retries: a rotated token); another ``"ok": false`` raises :class:`~hookline.exceptions.SlackApiError`
with Slack's error code; an unreachable endpoint raises
:class:`~hookline.exceptions.HookConnectionError`.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Final, TypeVar

from hookline import masking
from hookline.connection import Connection
from hookline.exceptions import (
    AuthenticationFailed,
    HookConnectionError,
    HookError,
    InvalidConnection,
    MissingDependency,
    SlackApiError,
    SlackChannelNotFound,
    SlackRateLimited,
)
from hookline.hooks._retry import parse_retry_after
from hookline.hooks.base import BaseHook
from hookline.options import parse_float, parse_int

__all__ = ["DEFAULT_BASE_URL", "SlackHook"]

T = TypeVar("T")

DEFAULT_BASE_URL: Final = "https://slack.com/api/"
EXTRA_PREFIX: Final = "extra__slack__"
_AUTH_ERRORS: Final = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)


def _slack_sdk() -> Any:
    try:
        import slack_sdk
    except ImportError as exc:
        raise MissingDependency("slack_sdk", "slack", purpose="SlackHook") from exc
    return slack_sdk


@functools.cache
def _mask_sdk_logs() -> None:
    """slack_sdk logs request and response bodies at DEBUG: pass them through the masking filter."""
    logging.getLogger("slack_sdk").addFilter(masking.MaskingFilter())


def _rate_limit_handler(max_retries: int, cap_s: float) -> Any:
    """A slack_sdk retry handler for HTTP 429 that honours ``Retry-After`` within ``cap_s``."""
    from slack_sdk.http_retry.handler import RetryHandler

    class BoundedRateLimitHandler(RetryHandler):
        def _can_retry(
            self, *, state: Any, request: Any, response: Any = None, error: Any = None
        ) -> bool:
            if response is None or response.status_code != 429:
                return False
            wait = _retry_after(response)
            return wait is None or wait <= cap_s

        def prepare_for_next_attempt(
            self, *, state: Any, request: Any, response: Any = None, error: Any = None
        ) -> None:
            wait = _retry_after(response) if response is not None else None
            if wait is None:
                wait = min(2.0 ** max(state.current_attempt, 0), cap_s)
            state.next_attempt_requested = True
            time.sleep(wait)
            state.increment_current_attempt()

    return BoundedRateLimitHandler(max_retry_count=max_retries)


def _retry_after(response: Any) -> float | None:
    headers = getattr(response, "headers", None) or {}
    value = None
    for name, values in headers.items():
        if str(name).lower() == "retry-after":
            value = values[0] if isinstance(values, list | tuple) and values else values
            break
    return parse_retry_after(str(value)) if value is not None else None


class SlackHook(BaseHook[Any]):
    """Call the Slack Web API.

    Args:
        slack_conn_id: The connection id (or a Connection).
        base_url: Overrides the ``base_url`` extra.
        timeout: Request timeout in seconds (default: extra, else 30).
        proxy: Overrides the ``proxy`` extra.
        retry_limit: Retries of a rate-limited call (default: extra, else 3).
        retry_after_cap_s: The longest ``Retry-After`` that is waited for (default: extra, else 60).

    Example:
        >>> with SlackHook("slack_api_default") as slack:  # doctest: +SKIP
        ...     slack.chat_postMessage(channel="#alerts", text="load finished")
    """

    conn_type: ClassVar[str] = "slack"
    hook_name: ClassVar[str] = "Slack API"
    default_conn_name: ClassVar[str] = "slack_api_default"
    conn_name_attr: ClassVar[str] = "slack_conn_id"

    def __init__(
        self,
        slack_conn_id: str | Connection | None = None,
        *,
        base_url: str | None = None,
        timeout: float | None = None,
        proxy: str | None = None,
        retry_limit: int | None = None,
        retry_after_cap_s: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(slack_conn_id, **kwargs)
        self._base_url = base_url
        self._timeout = timeout
        self._proxy = proxy
        self._retry_limit = retry_limit
        self._retry_after_cap_s = retry_after_cap_s
        self._lock = threading.Lock()
        self._channel_ids: dict[str, str] = {}

    # -- settings ----------------------------------------------------------------------------

    def _extra(self, name: str) -> Any:
        extra = self.connection.extra
        value = extra[name] if name in extra else extra.get(EXTRA_PREFIX + name)
        return None if value == "" else value

    @property
    def token(self) -> str:
        """The token from the connection's password (a secret)."""
        token = self.connection.password
        if not token:
            raise InvalidConnection(
                f"connection {self.conn_id!r} has no Slack token: put it in the password",
                conn_id=self.conn_id,
            )
        masking.register(token)
        return token

    @property
    def base_url(self) -> str:
        """The Web API base URL (ends with ``/``)."""
        url = self._base_url or self._extra("base_url") or DEFAULT_BASE_URL
        return str(url).rstrip("/") + "/"

    @property
    def timeout(self) -> float:
        """The request timeout in seconds."""
        value = self._timeout if self._timeout is not None else self._extra("timeout")
        if value is None:
            return 30.0
        return parse_float(value, name="timeout", minimum=0.001, conn_id=self.conn_id)

    @property
    def retry_limit(self) -> int:
        """How many times a rate-limited call is tried again."""
        value = self._retry_limit if self._retry_limit is not None else self._extra("retry_limit")
        if value is None:
            return 3
        return parse_int(value, name="retry_limit", minimum=0, conn_id=self.conn_id)

    @property
    def retry_after_cap_s(self) -> float:
        """The longest ``Retry-After`` the hook waits for."""
        value = self._retry_after_cap_s
        if value is None:
            value = self._extra("retry_after_cap_s")
        if value is None:
            return 60.0
        return parse_float(value, name="retry_after_cap_s", minimum=0, conn_id=self.conn_id)

    # -- client ------------------------------------------------------------------------------

    def get_conn(self) -> Any:
        """The slack_sdk ``WebClient`` (built on first use, then kept; thread-safe)."""
        return self._client_built_once(self._lock, self._new_client)

    @property
    def client(self) -> Any:
        """Airflow's name for :meth:`get_conn`."""
        return self.get_conn()

    def _new_client(self) -> Any:
        sdk = _slack_sdk()
        _mask_sdk_logs()
        proxy = self._proxy or self._extra("proxy")
        return sdk.WebClient(
            token=self.token,
            base_url=self.base_url,
            timeout=int(max(self.timeout, 1)),
            proxy=str(proxy) if proxy else None,
            retry_handlers=[_rate_limit_handler(self.retry_limit, self.retry_after_cap_s)],
        )

    # -- calls -------------------------------------------------------------------------------

    def _invoke(self, api_method: str, action: Callable[[Any], T]) -> T:
        """Run ``action(client)`` with error translation and one refresh on an auth failure."""

        def once() -> T:
            try:
                return action(self.get_conn())
            except HookError:
                raise
            except Exception as exc:
                raise self._error(api_method, exc) from exc

        return self.run_with_refresh(once)

    def _error(self, api_method: str, exc: Exception) -> HookError:
        from slack_sdk.errors import SlackApiError as SdkApiError
        from slack_sdk.errors import SlackClientError

        where = f"Slack {api_method} (connection {self.conn_id!r})"
        if isinstance(exc, SdkApiError):
            response = exc.response
            status = int(getattr(response, "status_code", 0) or 0)
            data = getattr(response, "data", None)
            code = str(data.get("error", "")) if isinstance(data, dict) else ""
            if status == 429:
                wait = _retry_after(response)
                asked = f"; Slack asked to wait {wait:g} s" if wait is not None else ""
                return SlackRateLimited(
                    masking.redact(
                        f"{where} is rate limited (HTTP 429) after {self.retry_limit} retr"
                        f"{'y' if self.retry_limit == 1 else 'ies'}{asked} "
                        f"(cap {self.retry_after_cap_s:g} s)"
                    ),
                    conn_id=self.conn_id,
                    api_method=api_method,
                    retry_after_s=wait,
                )
            if code in _AUTH_ERRORS or status in (401, 403):
                return AuthenticationFailed(
                    f"{where} rejected the token: {code or f'HTTP {status}'}",
                    conn_id=self.conn_id,
                )
            return SlackApiError(
                masking.redact(f"{where} failed: {code or 'error'} (HTTP {status})"),
                conn_id=self.conn_id,
                api_method=api_method,
                error=code,
                status_code=status,
            )
        if isinstance(exc, OSError):  # urllib's URLError, timeouts, refused connections
            return HookConnectionError(
                f"{where}: {self.base_url} could not be reached ({type(exc).__name__}, timeout "
                f"{self.timeout:g} s)",
                conn_id=self.conn_id,
            )
        if isinstance(exc, SlackClientError):
            return SlackApiError(
                f"{where} failed: {type(exc).__name__}", conn_id=self.conn_id, api_method=api_method
            )
        return HookError(f"{where} failed: {type(exc).__name__}", conn_id=self.conn_id)

    def call(self, api_method: str, **kwargs: Any) -> Any:
        """Call any Web API method (Airflow's ``call``); ``kwargs`` go to ``WebClient.api_call``
        (``json=``, ``data=``, ``params=``, ``http_verb=``, ``files=``). Returns the SlackResponse."""
        return self._invoke(api_method, lambda c: c.api_call(api_method, **kwargs))

    def chat_postMessage(self, **kwargs: Any) -> Any:
        """``chat.postMessage`` (``channel=``, ``text=``, ``blocks=``, ...); returns the response."""
        return self._invoke("chat.postMessage", lambda c: c.chat_postMessage(**kwargs))

    def files_upload_v2(self, **kwargs: Any) -> Any:
        """slack_sdk's ``files_upload_v2`` (``channel=``, ``file=`` or ``content=``, ``filename=``,
        ``file_uploads=``, ...): upload URL, upload, complete."""
        return self._invoke("files.completeUploadExternal", lambda c: c.files_upload_v2(**kwargs))

    def send_file_v2(
        self,
        *,
        channel_id: str | None = None,
        file_uploads: dict[str, Any] | Sequence[dict[str, Any]],
        initial_comment: str | None = None,
    ) -> Any:
        """Airflow's ``send_file_v2``: upload one file (a dict) or several (a list of dicts with
        ``file`` or ``content``, ``filename``, ``title``) to ``channel_id``."""
        uploads = [file_uploads] if isinstance(file_uploads, dict) else list(file_uploads)
        return self.files_upload_v2(
            channel=channel_id, file_uploads=uploads, initial_comment=initial_comment
        )

    def send_file_v1_to_v2(
        self,
        *,
        channels: str | Sequence[str] | None = None,
        file: str | None = None,
        content: str | None = None,
        filename: str | None = None,
        initial_comment: str | None = None,
        title: str | None = None,
        snippet_type: str | None = None,
    ) -> list[Any]:
        """Airflow's ``send_file_v1_to_v2``: the old ``files.upload`` arguments, uploaded with the
        v2 flow once per channel (names such as ``#general`` are looked up)."""
        if (file is None) == (content is None):
            raise ValueError("pass exactly one of file and content")
        upload: dict[str, Any] = {"file": file} if file is not None else {"content": content}
        upload.update({"filename": filename, "title": title, "snippet_type": snippet_type})
        upload = {k: v for k, v in upload.items() if v is not None}
        targets = [channels] if isinstance(channels, str) else list(channels or [None])  # type: ignore[list-item]
        responses = []
        for channel in targets:
            channel_id = None
            if channel:
                ref = channel.strip()
                channel_id = self.get_channel_id(ref[1:]) if ref.startswith("#") else ref
            responses.append(
                self.send_file_v2(
                    channel_id=channel_id, file_uploads=upload, initial_comment=initial_comment
                )
            )
        return responses

    send_file = send_file_v1_to_v2

    def get_channel_id(self, channel_name: str) -> str:
        """The id of the channel named ``channel_name`` (public and private; cached per hook).

        Raises:
            SlackChannelNotFound: no channel of that name is visible to the token.
        """
        name = channel_name.lstrip("#")
        cached = self._channel_ids.get(name)
        if cached is not None:
            return cached
        cursor: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "exclude_archived": True,
                "types": "public_channel,private_channel",
                "limit": 200,
            }
            if cursor:
                kwargs["cursor"] = cursor
            page = self._invoke(
                "conversations.list",
                lambda c, kwargs=kwargs: c.conversations_list(**kwargs),  # type: ignore[misc]
            )
            for channel in page.get("channels") or ():
                self._channel_ids[str(channel["name"])] = str(channel["id"])
            if name in self._channel_ids:
                return self._channel_ids[name]
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                raise SlackChannelNotFound(
                    f"no Slack channel named {name!r} is visible to connection {self.conn_id!r}",
                    conn_id=self.conn_id,
                    api_method="conversations.list",
                    error="channel_not_found",
                )

    def _test(self) -> None:
        """``auth.test``: checks the token with one round trip."""
        self._invoke("auth.test", lambda c: c.auth_test())

    def __repr__(self) -> str:
        return f"SlackHook(conn_id={self.conn_id!r})"
