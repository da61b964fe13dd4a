"""Retry policy shared by the HTTP-based hooks (HttpHook, AsyncHttpHook, SlackWebhookHook).

A :class:`RetryPolicy` is turned into ``tenacity.Retrying`` / ``AsyncRetrying`` arguments: retry on
transport errors (connect errors, timeouts), on 429 and on 5xx other than 501; wait for the server's
``Retry-After`` (capped) when it sent one, else back off exponentially (capped); when attempts run
out, hand back the last response (the caller turns it into an error) or re-raise the last exception.

:func:`shared_ssl_context` gives the process-wide TLS contexts the HTTP clients share, and
:func:`mask_httpx_logs` makes httpx's own request log lines (which hold full URLs, such as a Slack
webhook URL with its token) pass through hookline's masking filter.
"""

from __future__ import annotations

import email.utils
import functools
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any, Final

import httpx
import tenacity

from hookline import masking

__all__ = [
    "NOT_RETRIED_ERRORS",
    "RETRYABLE_ERRORS",
    "RetryPolicy",
    "mask_httpx_logs",
    "parse_retry_after",
    "shared_ssl_context",
]

log = logging.getLogger("hookline.hooks.http")

#: Transport errors that are retried ...
RETRYABLE_ERRORS: Final = (httpx.TransportError,)
#: ... except these, which no retry can fix.
NOT_RETRIED_ERRORS: Final = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how long to wait before a request is sent again.

    Attributes:
        retry_limit: How many times a failed request is retried (total attempts = ``retry_limit + 1``).
        retry_delay_s: First backoff delay; doubled after every attempt.
        retry_max_delay_s: Cap of the exponential backoff.
        retry_after_cap_s: Cap applied to a server's ``Retry-After``.
    """

    retry_limit: int = 3
    retry_delay_s: float = 1.0
    retry_max_delay_s: float = 30.0
    retry_after_cap_s: float = 60.0

    @staticmethod
    def is_retryable_status(status_code: int) -> bool:
        """429 and 5xx are retried (other than 501 Not Implemented)."""
        return status_code == 429 or (status_code >= 500 and status_code != 501)

    def should_retry(self, state: tenacity.RetryCallState) -> bool:
        """tenacity ``retry=`` predicate: transport errors and retryable statuses."""
        outcome = state.outcome
        if outcome is None:
            return False
        if outcome.failed:
            exc = outcome.exception()
            return isinstance(exc, RETRYABLE_ERRORS) and not isinstance(exc, NOT_RETRIED_ERRORS)
        response = outcome.result()
        return isinstance(response, httpx.Response) and self.is_retryable_status(
            response.status_code
        )

    def wait_s(self, state: tenacity.RetryCallState) -> float:
        """tenacity ``wait=``: ``Retry-After`` (capped) when the server sent one, else backoff."""
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            response = outcome.result()
            if isinstance(response, httpx.Response):
                after = parse_retry_after(response.headers.get("retry-after"))
                if after is not None:
                    return min(after, self.retry_after_cap_s)
        exponent = max(state.attempt_number - 1, 0)
        return float(min(self.retry_delay_s * (2**exponent), self.retry_max_delay_s))

    def tenacity_kwargs(self) -> dict[str, Any]:
        """Arguments for ``tenacity.Retrying`` / ``AsyncRetrying`` implementing this policy."""
        return {
            "stop": tenacity.stop_after_attempt(max(self.retry_limit, 0) + 1),
            "wait": self.wait_s,
            "retry": self.should_retry,
            "before_sleep": _discard_response,
            "retry_error_callback": _last_outcome,
            "reraise": True,
        }


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


def _discard_response(state: tenacity.RetryCallState) -> None:
    """Before sleeping: release the connection of a response that is being retried; log why."""
    outcome = state.outcome
    if outcome is None:
        return
    if outcome.failed:
        reason = type(outcome.exception()).__name__
    else:
        response = outcome.result()
        reason = f"status {response.status_code}"
        if isinstance(response, httpx.Response) and not response.is_closed:
            response.close()
    log.info("HTTP attempt %d failed (%s); retrying", state.attempt_number, reason)


def _last_outcome(state: tenacity.RetryCallState) -> Any:
    """When attempts run out: return the last response, or raise the last exception."""
    assert state.outcome is not None
    return state.outcome.result()


@functools.cache
def shared_ssl_context(*, verify: bool = True) -> ssl.SSLContext:
    """The process-wide TLS context for ``verify`` (CA bundle loaded once; contexts are thread-safe).

    ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` are read when the context is first built.
    """
    return httpx.create_ssl_context(verify=verify)


@functools.cache
def mask_httpx_logs() -> None:
    """Attach a masking filter to the ``httpx`` and ``httpcore`` loggers (once per process).

    httpx logs every request line with its full URL at INFO; a filter on those loggers masks the
    registered secrets in those records before any handler sees them.
    """
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).addFilter(masking.MaskingFilter())
