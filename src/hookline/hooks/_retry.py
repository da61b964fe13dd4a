"""The one retry policy of hookline: how often and how long to wait before trying again.

:class:`RetryPolicy` is a small frozen value (limit, first delay, cap, ``Retry-After`` cap, optional
total deadline) with one loop, :meth:`RetryPolicy.call` (and :meth:`RetryPolicy.acall` for
coroutines). *What* is worth retrying is the caller's business, given as two predicates: one for an
exception, one for a result (an HTTP response with status 503, say). HttpHook, AsyncHttpHook,
SlackWebhookHook and SmtpHook all run their retries through it; a remote secrets backend can too.

:class:`HttpRetryRules` holds the HTTP rules shared by the HTTP and Slack hooks:

* A request that never reached the server (connection refused, connect timeout, no free pooled
  connection) is retried whatever its method: nothing was sent, as urllib3's ``Retry`` also assumes.
  Permanent failures are not retried: an unknown host name (DNS "name or service not known") and a
  TLS certificate that does not verify.
* Any other failure (a read timeout, a dropped connection, 429, or 5xx other than 501) may have
  happened after the server acted, so it is retried only for idempotent methods (``GET``, ``HEAD``,
  ``OPTIONS``, ``PUT``, ``DELETE``, ``TRACE``; RFC 9110 section 9.2.2) unless the caller opts in
  (``retry_non_idempotent``), or for statuses the caller declares safe (Slack's 429: a rate-limited
  webhook call is not posted).
* Statuses are retried only when responses are checked: with ``check_response`` off the caller gets
  the first answer as it is.

:func:`shared_ssl_context` gives the process-wide TLS contexts the HTTP clients share, and
:func:`mask_httpx_logs` makes httpx's own request log lines (which hold full URLs, such as a Slack
webhook URL with its token) pass through hookline's masking filter.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, TypeVar

import httpx

from hookline import masking
from hookline.exceptions import ConfigurationError

__all__ = [
    "IDEMPOTENT_METHODS",
    "HttpRetryRules",
    "RetryPolicy",
    "mask_httpx_logs",
    "parse_retry_after",
    "shared_ssl_context",
]

log = logging.getLogger("hookline.retry")

T = TypeVar("T")

#: Methods whose repetition has the same effect as one request (RFC 9110 section 9.2.2).
IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})

#: Failures that happen before a byte of the request is sent: safe to retry for every method.
_NOT_SENT: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: Failures no retry can fix.
_NEVER_RETRIED: Final = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)
#: getaddrinfo errors meaning "this name does not exist" (not "the resolver is unreachable").
_DNS_PERMANENT: Final = frozenset(
    code
    for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None))
    if code is not None
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times a failed call is tried again, and how long to wait in between.

    The wait before retry ``n`` (1-based) is ``retry_delay_s * 2 ** (n - 1)``, capped at
    ``retry_max_delay_s``; when the failed result carries a server hint (HTTP ``Retry-After``),
    the hint is used instead, capped at ``retry_after_cap_s``. With ``deadline_s`` set, no retry
    starts whose wait would end later than ``deadline_s`` after the first attempt began.

    Attributes:
        retry_limit: Retries after the first attempt (total attempts = ``retry_limit + 1``).
        retry_delay_s: The first wait; doubled after every attempt.
        retry_max_delay_s: Cap of the exponential backoff.
        retry_after_cap_s: Cap applied to a server's ``Retry-After``.
        deadline_s: Total time budget for all attempts and waits, or None for no budget.

    Raises:
        ConfigurationError: a negative limit, delay, cap or deadline.
    """

    retry_limit: int = 3
    retry_delay_s: float = 1.0
    retry_max_delay_s: float = 30.0
    retry_after_cap_s: float = 60.0
    deadline_s: float | None = None

    def __post_init__(self) -> None:
        for name in ("retry_limit", "retry_delay_s", "retry_max_delay_s", "retry_after_cap_s"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"RetryPolicy.{name} must be >= 0")
        if self.deadline_s is not None and self.deadline_s < 0:
            raise ConfigurationError("RetryPolicy.deadline_s must be >= 0")

    @classmethod
    def never(cls) -> RetryPolicy:
        """A policy that tries once."""
        return cls(retry_limit=0)

    def wait_s(self, retry: int, hint_s: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based), given the server's hint."""
        if hint_s is not None:
            return min(max(hint_s, 0.0), self.retry_after_cap_s)
        return float(min(self.retry_delay_s * (2 ** max(retry - 1, 0)), self.retry_max_delay_s))

    def _next_wait(self, attempt: int, started: float, hint_s: float | None) -> float | None:
        """The wait before the next attempt, or None when the limit or the deadline is reached."""
        if attempt > self.retry_limit:
            return None
        delay = self.wait_s(attempt, hint_s)
        if self.deadline_s is not None and time.monotonic() - started + delay > self.deadline_s:
            return None
        return delay

    def _wait_after_error(
        self,
        exc: Exception,
        retry_on_error: Callable[[Exception], bool],
        number: int,
        started: float,
    ) -> float | None:
        """The wait before retrying after attempt ``number`` raised ``exc``; None: raise it."""
        if not retry_on_error(exc):
            return None
        return self._next_wait(number, started, None)

    def _wait_after_result(
        self,
        result: T,
        retry_on_result: Callable[[T], bool] | None,
        hint_s: Callable[[T], float | None] | None,
        number: int,
        started: float,
    ) -> float | None:
        """The wait before retrying after attempt ``number`` returned ``result``; None: return it."""
        if retry_on_result is None or not retry_on_result(result):
            return None
        return self._next_wait(number, started, hint_s(result) if hint_s else None)

    def call(
        self,
        attempt: Callable[[int], T],
        *,
        retry_on_error: Callable[[Exception], bool] = lambda exc: False,
        retry_on_result: Callable[[T], bool] | None = None,
        hint_s: Callable[[T], float | None] | None = None,
        discard: Callable[[T], None] | None = None,
        what: str = "call",
    ) -> T:
        """Run ``attempt(n)`` (``n`` = 1, 2, ...) until it succeeds, fails for good, or the policy ends.

        Args:
            attempt: The work; receives the attempt number.
            retry_on_error: True for an exception worth retrying; others propagate at once.
            retry_on_result: True for a result worth retrying (such as a 503 response).
            hint_s: The server's suggested wait for a result (``Retry-After``), or None.
            discard: Releases a result that is about to be retried (closes a response).
            what: Names the work in the retry log line.

        Returns:
            The first result not worth retrying, or the last result when the policy ends.

        Raises:
            Exception: the last exception, when it is not worth retrying or the policy ends.
        """
        started = time.monotonic()
        number = 0
        while True:
            number += 1
            try:
                result = attempt(number)
            except Exception as exc:
                delay = self._wait_after_error(exc, retry_on_error, number, started)
                if delay is None:
                    raise
                reason = type(exc).__name__
            else:
                delay = self._wait_after_result(result, retry_on_result, hint_s, number, started)
                if delay is None:
                    return result
                reason = _describe(result)
                if discard is not None:
                    discard(result)
            log.info("%s attempt %d failed (%s); retrying in %.2f s", what, number, reason, delay)
            time.sleep(delay)

    async def acall(
        self,
        attempt: Callable[[int], Awaitable[T]],
        *,
        retry_on_error: Callable[[Exception], bool] = lambda exc: False,
        retry_on_result: Callable[[T], bool] | None = None,
        hint_s: Callable[[T], float | None] | None = None,
        discard: Callable[[T], Awaitable[None]] | None = None,
        what: str = "call",
    ) -> T:
        """:meth:`call` for a coroutine: the same rules; waits with ``asyncio.sleep``."""
        started = time.monotonic()
        number = 0
        while True:
            number += 1
            try:
                result = await attempt(number)
            except Exception as exc:
                delay = self._wait_after_error(exc, retry_on_error, number, started)
                if delay is None:
                    raise
                reason = type(exc).__name__
            else:
                delay = self._wait_after_result(result, retry_on_result, hint_s, number, started)
                if delay is None:
                    return result
                reason = _describe(result)
                if discard is not None:
                    await discard(result)
            log.info("%s attempt %d failed (%s); retrying in %.2f s", what, number, reason, delay)
            await asyncio.sleep(delay)


def _describe(result: object) -> str:
    if isinstance(result, httpx.Response):
        return f"status {result.status_code}"
    return type(result).__name__


@dataclass(frozen=True, slots=True)
class HttpRetryRules:
    """Which HTTP failures are worth retrying for one request (see the module docstring).

    Attributes:
        method: The request method (upper case).
        retry_non_idempotent: Retry failures that may have reached the server also for methods
            that are not idempotent (``POST``, ``PATCH``).
        retry_statuses: Retry 429 and 5xx (other than 501) answers; off when the caller checks
            responses itself (``check_response=False``).
        safe_statuses: Statuses that mean "not processed", retried for every method.
    """

    method: str
    retry_non_idempotent: bool = False
    retry_statuses: bool = True
    safe_statuses: frozenset[int] = frozenset()

    @property
    def idempotent(self) -> bool:
        """Whether a failure that may have reached the server can be retried."""
        return self.retry_non_idempotent or self.method.upper() in IDEMPOTENT_METHODS

    @staticmethod
    def is_retryable_status(status_code: int) -> bool:
        """429 and 5xx are transient (other than 501 Not Implemented)."""
        return status_code == 429 or (status_code >= 500 and status_code != 501)

    def on_error(self, exc: Exception) -> bool:
        """True when the transport error ``exc`` is worth retrying for this request."""
        if not isinstance(exc, httpx.TransportError) or isinstance(exc, _NEVER_RETRIED):
            return False
        if isinstance(exc, _NOT_SENT):
            return not is_permanent_connect_error(exc)
        return self.idempotent

    def on_response(self, response: httpx.Response) -> bool:
        """True when ``response`` is a transient failure worth retrying for this request."""
        status = response.status_code
        if not self.retry_statuses or not self.is_retryable_status(status):
            return False
        return self.idempotent or status in self.safe_statuses

    @staticmethod
    def hint_s(response: httpx.Response) -> float | None:
        """The server's ``Retry-After``, in seconds, or None."""
        return parse_retry_after(response.headers.get("retry-after"))


def is_permanent_connect_error(exc: BaseException) -> bool:
    """True for a connect failure that retrying cannot fix: an unknown host, a bad certificate."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, socket.gaierror) and current.errno in _DNS_PERMANENT:
            return True
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        current = current.__cause__ or current.__context__
    return False


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def shared_ssl_context(*, verify: bool = True) -> ssl.SSLContext:
    """The process-wide TLS context for ``verify`` (CA bundle loaded once; contexts are thread-safe).

    ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` are read when the context is first built.
    """
    return _ssl_context(bool(verify))


@functools.cache
def _ssl_context(verify: bool) -> ssl.SSLContext:
    # One cache key per value: shared_ssl_context() and shared_ssl_context(verify=True) share it.
    return httpx.create_ssl_context(verify=verify)


@functools.cache
def mask_httpx_logs() -> None:
    """Attach a masking filter to the ``httpx`` and ``httpcore`` loggers (once per process).

    httpx logs every request line with its full URL at INFO; a filter on those loggers masks the
    registered secrets in those records before any handler sees them.
    """
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).addFilter(masking.MaskingFilter())
