"""Unit tests of HttpHook's settings: base URL, headers and auth from extras, timeouts, retry policy."""

from __future__ import annotations

import asyncio
import email.utils
import socket
import ssl
import time
from typing import Any

import httpx
import pytest

from hookline import Connection
from hookline.exceptions import AuthenticationFailed, HookError
from hookline.hooks._retry import shared_ssl_context
from hookline.hooks.http import (
    AsyncHttpHook,
    HttpAsyncHook,
    HttpAuthenticationFailed,
    HttpHook,
    HttpRetryRules,
    HttpStatusError,
    RetryPolicy,
    is_http_method,
    parse_retry_after,
)

CANARY = "c4n4ry-S3cret!"


def make(**fields: Any) -> HttpHook:
    fields.setdefault("conn_type", "http")
    return HttpHook(Connection(conn_id="api", **fields))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"host": "example.com"}, "http://example.com"),
        ({"host": "example.com", "schema": "https"}, "https://example.com"),
        ({"host": "example.com", "port": 8080}, "http://example.com:8080"),
        ({"host": "https://api.example.com"}, "https://api.example.com"),
        ({"host": "https://api.example.com", "port": 8443}, "https://api.example.com:8443"),
        ({"host": "example.com", "conn_type": "https"}, "https://example.com"),
        ({}, ""),
    ],
)
def test_base_url_is_built_like_airflow(fields: dict[str, Any], expected: str) -> None:
    """Host with ``://`` is used as is, else schema (default http) + host, then ``:port``."""
    assert make(**fields).base_url == expected


@pytest.mark.parametrize(
    ("host", "endpoint", "expected"),
    [
        ("example.com", "v1/x", "http://example.com/v1/x"),
        ("example.com", "/v1/x", "http://example.com/v1/x"),
        ("https://example.com/", "v1", "https://example.com/v1"),
        ("example.com", None, "http://example.com"),
    ],
)
def test_url_for_joins_with_one_slash(host: str, endpoint: str | None, expected: str) -> None:
    """Endpoint and base URL are joined with exactly one slash (Airflow's url_from_endpoint)."""
    assert make(host=host).url_for(endpoint) == expected


def test_extras_that_are_not_options_become_headers() -> None:
    """Every extra key that is not an option is sent as a header; options are not."""
    hook = make(host="h", extra={"X-Team": "data", "Retries": 2, "timeout": 3, "verify": False})
    client = hook.get_conn()
    try:
        assert client.headers["X-Team"] == "data"
        assert client.headers["Retries"] == "2"
        assert "timeout" not in client.headers
        assert "verify" not in client.headers
    finally:
        hook.close()


def test_login_gives_basic_auth_and_token_gives_bearer() -> None:
    """Login/password give basic auth; a ``token`` extra gives a bearer header and wins."""
    basic = make(host="h", login="alice", password=CANARY)
    assert isinstance(basic.get_conn().auth, httpx.BasicAuth)
    basic.close()
    for key in ("token", "bearer_token", "api_token"):
        bearer = make(host="h", login="alice", password="pw", extra={key: CANARY})
        client = bearer.get_conn()
        assert client.headers["Authorization"] == f"Bearer {CANARY}"
        assert key not in client.headers
        bearer.close()


def test_timeouts_hook_arguments_then_extras_then_defaults() -> None:
    """connect/read timeouts come from the hook, then extras, then ``timeout``, then 10 s / 60 s."""
    assert make(host="h").timeout == httpx.Timeout(60.0, connect=10.0)
    assert make(host="h", extra={"timeout": 5}).timeout == httpx.Timeout(5.0, connect=5.0)
    hook = make(host="h", extra={"timeout": 5, "connect_timeout_s": 1.5})
    assert hook.timeout == httpx.Timeout(5.0, connect=1.5)
    conn = Connection(conn_id="api", conn_type="http", host="h", extra={"read_timeout_s": 9})
    explicit = HttpHook(conn, connect_timeout_s=0.5, read_timeout_s=2.0)
    assert explicit.timeout == httpx.Timeout(2.0, connect=0.5)
    assert HttpHook(conn).timeout == httpx.Timeout(9.0, connect=10.0)


def test_retry_policy_from_arguments_and_extras() -> None:
    """retry_limit and retry_delay_s come from the hook, then the extras, then 3 and 1 s."""
    assert make(host="h").retry_policy.retry_limit == 3
    assert make(host="h", extra={"retry_limit": 7}).retry_policy.retry_limit == 7
    conn = Connection(conn_id="api", conn_type="http", host="h", extra={"retry_limit": 7})
    policy = HttpHook(conn, retry_limit=1, retry_delay_s=0.25).retry_policy
    assert (policy.retry_limit, policy.retry_delay_s) == (1, 0.25)


def test_http_conn_id_keyword_is_accepted() -> None:
    """Airflow's ``http_conn_id=`` names the connection; the default is ``http_default``."""
    assert HttpHook(http_conn_id="billing").conn_id == "billing"
    assert HttpHook().conn_id == "http_default"
    assert HttpHook.conn_type == "http"
    assert HttpHook.conn_name_attr == "http_conn_id"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("0", 0.0), ("2", 2.0), ("1.5", 1.5), ("-3", 0.0), ("soon", None)],
)
def test_parse_retry_after_seconds(value: str | None, expected: float | None) -> None:
    """Retry-After as delta seconds; junk gives None; negative values clamp to 0."""
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    """Retry-After as an HTTP date gives the seconds until then."""
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    seconds = parse_retry_after(when)
    assert seconds is not None
    assert 25 <= seconds <= 31


def test_wait_honours_retry_after_with_a_cap_else_backs_off() -> None:
    """The wait is Retry-After (capped at retry_after_cap_s), else exponential and capped."""
    policy = RetryPolicy(retry_delay_s=0.5, retry_max_delay_s=3.0, retry_after_cap_s=10.0)
    hint = HttpRetryRules.hint_s
    assert policy.wait_s(1, hint(httpx.Response(429, headers={"Retry-After": "4"}))) == 4.0
    assert policy.wait_s(1, hint(httpx.Response(429, headers={"Retry-After": "999"}))) == 10.0
    assert policy.wait_s(1, hint(httpx.Response(503))) == 0.5
    assert policy.wait_s(2, hint(httpx.Response(503))) == 1.0
    assert policy.wait_s(6, hint(httpx.Response(503))) == 3.0


@pytest.mark.parametrize(
    ("status", "retried"),
    [(200, False), (404, False), (401, False), (429, True), (500, True), (501, False), (503, True)],
)
def test_retryable_statuses(status: int, retried: bool) -> None:
    """429 and 5xx (not 501) are transient; other statuses are final."""
    assert HttpRetryRules.is_retryable_status(status) is retried


def test_auth_failure_is_both_authentication_failed_and_status_error() -> None:
    """401/403 errors are AuthenticationFailed (refresh once) and HttpStatusError (status kept)."""
    exc = HttpAuthenticationFailed("GET x returned HTTP 401", conn_id="api", status_code=401)
    assert isinstance(exc, AuthenticationFailed)
    assert isinstance(exc, HttpStatusError)
    assert isinstance(exc, HookError)
    assert exc.status_code == 401


def test_repr_and_headers_never_show_secrets() -> None:
    """repr of a hook with a password and a bearer token shows neither."""
    hook = make(host="h", login="alice", password=CANARY, extra={"token": CANARY + "2"})
    text = repr(hook) + str(hook)
    assert CANARY not in text
    assert text == "HttpHook(conn_id='api')" * 2


def test_async_hook_shares_the_settings() -> None:
    """AsyncHttpHook builds the same base URL, headers and timeouts."""
    conn = Connection(
        conn_id="api", conn_type="http", host="h", port=81, extra={"X-A": "1", "timeout": 2}
    )
    hook = AsyncHttpHook(conn)
    assert hook.base_url == "http://h:81"
    assert hook.timeout == httpx.Timeout(2.0, connect=2.0)
    client = hook.get_conn()
    assert client.headers["X-A"] == "1"
    hook.reset_client()
    assert hook._client is None
    asyncio.run(hook.aclose())
    assert client.is_closed


def test_auth_type_builds_the_auth_from_login_and_password() -> None:
    """Airflow's ``auth_type``: a callable of (login, password) giving the auth."""
    seen: list[tuple[str, str]] = []

    def digest(login: str, password: str) -> httpx.Auth:
        seen.append((login, password))
        return httpx.DigestAuth(login, password)

    conn = Connection(conn_id="api", conn_type="http", host="h", login="u", password="pw")
    hook = HttpHook(conn, auth_type=digest)
    assert isinstance(hook.get_conn().auth, httpx.DigestAuth)
    assert seen == [("u", "pw")]
    hook.close()


def _client_verify(hook: HttpHook) -> ssl.SSLContext:
    context: ssl.SSLContext = hook._client_kwargs(hook.settings.request.transport)["verify"]
    return context


def test_clients_share_one_tls_context() -> None:
    """Every client with default verification reuses one TLS context (CA bundle loaded once)."""
    first = _client_verify(make(host="h"))
    second = _client_verify(make(host="other", extra={"verify": True}))
    assert first is second is shared_ssl_context()
    unverified = _client_verify(make(host="h", extra={"verify": "false"}))
    assert unverified is shared_ssl_context(verify=False)
    assert unverified.verify_mode == ssl.CERT_NONE


def test_tcp_keep_alive_socket_options() -> None:
    """tcp_keep_alive (on by default) sets SO_KEEPALIVE and the idle/count/interval options."""
    on = HttpHook(Connection(conn_id="api", conn_type="http", host="h"), tcp_keep_alive_idle=77)
    assert (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1) in on._socket_options
    if hasattr(socket, "TCP_KEEPIDLE"):
        assert (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 77) in on._socket_options
    off = HttpHook(Connection(conn_id="api", conn_type="http", host="h"), tcp_keep_alive=False)
    assert off._socket_options == []
    assert HttpAsyncHook is AsyncHttpHook


@pytest.mark.parametrize("conn_type", ["http", "https"])
def test_registered_for_http_and_https(conn_type: str) -> None:
    """Connection.get_hook() builds an HttpHook for http and https connections."""
    from hookline.registry import hook_class_for

    assert hook_class_for(conn_type) is HttpHook
    conn = Connection.from_uri(f"{conn_type}://api.example.com", conn_id="api")
    hook = conn.get_hook()
    assert isinstance(hook, HttpHook)
    assert hook.base_url == f"{conn_type}://api.example.com"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("GET", True), ("get", True), ("Patch", True), ("PROPFIND", True), ("/x", False),
     ("status", False), ("v1/items", False)],
)  # fmt: skip
def test_is_http_method(value: str, expected: bool) -> None:
    """Standard methods in any case and all-capitals tokens are methods; paths are not."""
    assert is_http_method(value) is expected


# -- DNS failures fail fast ------------------------------------------------------------------------


@pytest.fixture
def unknown_host(monkeypatch: pytest.MonkeyPatch) -> str:
    """``nosuch.invalid`` fails name resolution as a real resolver does (EAI_NONAME), without
    sending a DNS query from the test machine."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "nosuch.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return "nosuch.invalid"


def test_test_connection_with_an_unknown_host_fails_at_once(
    unknown_host: str, caplog: pytest.LogCaptureFixture
) -> None:
    """test_connection never retries, and an unknown host is not retried by run() either (it was
    8 s of backoff before): one attempt each, no retry logged."""
    import logging

    conn = Connection(conn_id="api", conn_type="http", host=unknown_host, password=CANARY)
    with caplog.at_level(logging.INFO), HttpHook(conn, retry_limit=3) as hook:
        ok, message = hook.test_connection()
        with pytest.raises(HookError) as info:
            hook.run("GET", "/x")
    assert ok is False
    assert "ConnectError" in message
    assert "after 1 attempt" in message
    assert "after 1 attempt" in str(info.value)
    assert "retrying" not in caplog.text
    assert CANARY not in message


def test_async_test_connection_with_an_unknown_host_fails_at_once(unknown_host: str) -> None:
    """AsyncHttpHook.atest_connection: the same, one attempt."""
    conn = Connection(conn_id="api", conn_type="http", host=unknown_host)

    async def scenario() -> tuple[bool, str]:
        async with AsyncHttpHook(conn, retry_limit=3) as hook:
            return await hook.atest_connection()

    ok, message = asyncio.run(scenario())
    assert ok is False
    assert "after 1 attempt" in message


# -- constructor ---------------------------------------------------------------------------------


def test_airflow_positional_constructor_method_first() -> None:
    """HttpHook('GET', 'conn') is Airflow's (method, http_conn_id); anything else is the conn."""
    hook = HttpHook("GET", "billing")
    assert (hook.method, hook.conn_id) == ("GET", "billing")
    assert HttpHook("GET", http_conn_id="billing").conn_id == "billing"
    assert HttpHook("GET").conn_id == "http_default"
    assert HttpHook("billing").method == "POST"
    assert HttpHook(method="get", http_conn_id="x").method == "GET"
    with pytest.raises(TypeError, match="method twice"):
        HttpHook("GET", "billing", method="POST")
    with pytest.raises(TypeError, match="two connections"):
        HttpHook("billing", "other")


def test_401_refresh_emits_an_event_through_the_http_hook() -> None:
    """A 401 with rotated credentials: one refresh, one CredentialsRefreshed, a retry that passes."""
    from hookline import events
    from hookline.testing import capture_events, mock_http, override_connections

    answers = iter([401, 200])
    with (
        capture_events() as seen,
        override_connections({"api": "http://u:old-pass1@api.example.com"}) as backend,
        mock_http(lambda request: httpx.Response(next(answers))) as http,
    ):
        hook = HttpHook("api")
        hook.get_conn()
        backend.set_connection(
            Connection.from_uri("http://u:new-pass2@api.example.com", conn_id="api")
        )
        assert hook.run("GET", "/x").status_code == 200
    assert [type(e).__name__ for e in seen if isinstance(e, events.CredentialsRefreshed)] == [
        "CredentialsRefreshed"
    ]
    assert len(http.requests) == 2


def test_run_with_advanced_retry_airflow_keyword_form() -> None:
    """Airflow's documented call: run_with_advanced_retry(endpoint=..., _retry_args=...); the given
    tenacity policy alone decides, also for a POST."""
    import tenacity

    from hookline.testing import mock_http

    answers = iter([500, 500, 200])
    retry_args = {
        "stop": tenacity.stop_after_attempt(3),
        "wait": tenacity.wait_none(),
        "retry": tenacity.retry_if_exception_type(HttpStatusError),
        "reraise": True,
    }
    with mock_http(lambda request: httpx.Response(next(answers))) as http:
        hook = HttpHook(Connection(conn_id="api", conn_type="http", host="h"), method="POST")
        response = hook.run_with_advanced_retry(endpoint="v1/test", _retry_args=retry_args)
    assert response.status_code == 200
    assert [(r.method, r.url.path) for r in http.requests] == [("POST", "/v1/test")] * 3
