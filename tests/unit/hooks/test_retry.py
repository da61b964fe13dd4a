"""The one retry policy (hooks/_retry.py): waits, limits, the deadline, sync and async loops, and the
HTTP rules (what is retried for which method)."""

from __future__ import annotations

import asyncio
import socket
import ssl

import httpx
import pytest

from hookline.exceptions import ConfigurationError
from hookline.hooks._retry import (
    IDEMPOTENT_METHODS,
    HttpRetryRules,
    RetryPolicy,
    is_permanent_connect_error,
)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the waits instead of sleeping."""
    waited: list[float] = []
    monkeypatch.setattr("hookline.hooks._retry.time.sleep", waited.append)
    return waited


class Flaky:
    """Fails ``failures`` times with ``error``, then returns ``"ok"``; counts calls."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.numbers: list[int] = []

    def __call__(self, number: int) -> str:
        self.numbers.append(number)
        if len(self.numbers) <= self.failures:
            raise self.error
        return "ok"


def test_waits_back_off_exponentially_with_a_cap() -> None:
    """retry_delay_s * 2**(n-1), capped; a server hint wins, capped at retry_after_cap_s."""
    policy = RetryPolicy(retry_delay_s=0.5, retry_max_delay_s=3.0, retry_after_cap_s=10.0)
    assert [policy.wait_s(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.wait_s(1, 4.0) == 4.0
    assert policy.wait_s(1, 999.0) == 10.0
    assert policy.wait_s(1, -5.0) == 0.0


def test_call_retries_what_the_predicate_allows(sleeps: list[float]) -> None:
    """Two retryable failures, then success: three attempts, two waits."""
    attempt = Flaky(2, OSError("down"))
    policy = RetryPolicy(retry_limit=3, retry_delay_s=0.1)
    assert policy.call(attempt, retry_on_error=lambda e: isinstance(e, OSError)) == "ok"
    assert attempt.numbers == [1, 2, 3]
    assert sleeps == [0.1, 0.2]


def test_call_raises_the_last_error_when_the_limit_is_reached(sleeps: list[float]) -> None:
    """retry_limit=2: three attempts, then the last error itself."""
    error = OSError("still down")
    attempt = Flaky(10, error)
    with pytest.raises(OSError, match="still down") as info:
        RetryPolicy(retry_limit=2, retry_delay_s=0.0).call(attempt, retry_on_error=lambda e: True)
    assert info.value is error
    assert attempt.numbers == [1, 2, 3]


def test_call_does_not_retry_what_the_predicate_refuses(sleeps: list[float]) -> None:
    """A non-retryable error propagates at once."""
    attempt = Flaky(10, ValueError("bad"))
    with pytest.raises(ValueError, match="bad"):
        RetryPolicy().call(attempt, retry_on_error=lambda e: isinstance(e, OSError))
    assert attempt.numbers == [1]
    assert sleeps == []


def test_results_are_retried_and_discarded_until_the_last(sleeps: list[float]) -> None:
    """A result worth retrying is discarded before the wait; the last one is returned as is."""
    results = iter([503, 503, 503])
    discarded: list[int] = []
    policy = RetryPolicy(retry_limit=2, retry_delay_s=0.0)
    last = policy.call(
        lambda n: next(results),
        retry_on_result=lambda status: status >= 500,
        discard=discarded.append,
    )
    assert last == 503
    assert discarded == [503, 503]


def test_server_hint_sets_the_wait(sleeps: list[float]) -> None:
    """hint_s (Retry-After) replaces the backoff for that wait."""
    answers = iter([429, 200])
    RetryPolicy(retry_delay_s=5.0).call(
        lambda n: next(answers), retry_on_result=lambda s: s == 429, hint_s=lambda s: 0.25
    )
    assert sleeps == [0.25]


def test_deadline_stops_retries_that_would_end_too_late() -> None:
    """With deadline_s, a retry whose wait would pass the budget is not started (real waits)."""
    attempt = Flaky(10, OSError("down"))
    policy = RetryPolicy(retry_limit=10, retry_delay_s=0.05, deadline_s=0.12)
    with pytest.raises(OSError, match="down"):
        policy.call(attempt, retry_on_error=lambda e: True)
    assert attempt.numbers == [1, 2]  # the second wait (0.1 s) would end after the budget


def test_never_tries_once(sleeps: list[float]) -> None:
    """RetryPolicy.never(): one attempt."""
    attempt = Flaky(10, OSError("down"))
    with pytest.raises(OSError, match="down"):
        RetryPolicy.never().call(attempt, retry_on_error=lambda e: True)
    assert attempt.numbers == [1]


@pytest.mark.parametrize(
    "fields",
    [{"retry_limit": -1}, {"retry_delay_s": -0.1}, {"retry_after_cap_s": -1}, {"deadline_s": -1}],
)
def test_negative_settings_are_configuration_errors(fields: dict[str, float]) -> None:
    """A negative limit, delay, cap or deadline is refused with a typed error naming it."""
    with pytest.raises(ConfigurationError, match=next(iter(fields))):
        RetryPolicy(**fields)  # type: ignore[arg-type]


def test_acall_follows_the_same_rules() -> None:
    """The async loop retries, discards and returns like the sync one."""
    seen: list[int] = []
    discarded: list[str] = []

    async def attempt(number: int) -> str:
        seen.append(number)
        return "retry" if number < 3 else "done"

    async def discard(result: str) -> None:
        discarded.append(result)

    async def scenario() -> str:
        return await RetryPolicy(retry_limit=5, retry_delay_s=0.0).acall(
            attempt, retry_on_result=lambda r: r == "retry", discard=discard
        )

    assert asyncio.run(scenario()) == "done"
    assert seen == [1, 2, 3]
    assert discarded == ["retry", "retry"]


def test_acall_raises_non_retryable_errors_at_once() -> None:
    """An error the predicate refuses propagates from the async loop after one attempt."""
    seen: list[int] = []

    async def attempt(number: int) -> str:
        seen.append(number)
        raise KeyError("x")

    with pytest.raises(KeyError):
        asyncio.run(RetryPolicy().acall(attempt, retry_on_error=lambda e: False))
    assert seen == [1]


# -- HTTP rules ---------------------------------------------------------------------------------------

REQUEST = httpx.Request("GET", "http://h/")


def connect_error(cause: BaseException | None = None) -> httpx.ConnectError:
    error = httpx.ConnectError("connect failed", request=REQUEST)
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("method", "error", "retried"),
    [
        ("POST", connect_error(ConnectionRefusedError()), True),
        ("PATCH", httpx.ConnectTimeout("t", request=REQUEST), True),
        ("POST", httpx.PoolTimeout("t", request=REQUEST), True),
        ("GET", connect_error(socket.gaierror(socket.EAI_NONAME, "unknown")), False),
        ("GET", connect_error(socket.gaierror(socket.EAI_AGAIN, "try again")), True),
        ("GET", connect_error(ssl.SSLCertVerificationError("bad cert")), False),
        ("GET", httpx.ReadTimeout("t", request=REQUEST), True),
        ("POST", httpx.ReadTimeout("t", request=REQUEST), False),
        ("PUT", httpx.RemoteProtocolError("dropped", request=REQUEST), True),
        ("POST", httpx.RemoteProtocolError("dropped", request=REQUEST), False),
        ("GET", httpx.LocalProtocolError("bad header", request=REQUEST), False),
        ("GET", httpx.UnsupportedProtocol("ftp", request=REQUEST), False),
        ("GET", ValueError("not a transport error"), False),
    ],
)
def test_which_errors_are_retried(method: str, error: Exception, retried: bool) -> None:
    """Unsent requests are retried for every method, except for permanent failures (unknown host,
    bad certificate); anything that may have reached the server only for idempotent methods."""
    assert HttpRetryRules(method).on_error(error) is retried


@pytest.mark.parametrize(
    ("method", "status", "rules", "retried"),
    [
        ("GET", 503, {}, True),
        ("DELETE", 500, {}, True),
        ("GET", 429, {}, True),
        ("GET", 501, {}, False),
        ("GET", 404, {}, False),
        ("POST", 503, {}, False),
        ("POST", 429, {}, False),
        ("PATCH", 502, {}, False),
        ("POST", 503, {"retry_non_idempotent": True}, True),
        ("POST", 429, {"safe_statuses": frozenset({429})}, True),
        ("POST", 500, {"safe_statuses": frozenset({429})}, False),
        ("GET", 503, {"retry_statuses": False}, False),
    ],
)
def test_which_statuses_are_retried(
    method: str, status: int, rules: dict[str, object], retried: bool
) -> None:
    """429/5xx (not 501) for idempotent methods, or when opted in, or declared safe; never with
    response checking off."""
    assert HttpRetryRules(method, **rules).on_response(httpx.Response(status)) is retried  # type: ignore[arg-type]


def test_idempotent_methods_are_rfc_9110s() -> None:
    """The idempotent set is RFC 9110's: GET, HEAD, OPTIONS, PUT, DELETE, TRACE."""
    assert frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"}) == IDEMPOTENT_METHODS


def test_permanent_connect_error_found_through_the_chain() -> None:
    """The DNS or certificate cause is found through __cause__ and __context__ chains."""
    inner = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    middle = OSError("wrapped")
    middle.__context__ = inner
    assert is_permanent_connect_error(connect_error(middle))
    assert not is_permanent_connect_error(connect_error(ConnectionRefusedError()))
