"""HttpHook options against real servers: which requests are retried, redirects that must not carry
credentials to another origin (two servers), and Airflow's ``extra_options`` keys on the wire."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hookline import Connection
from hookline.exceptions import ConfigurationError, HookConnectionError, HookError, HttpStatusError
from hookline.hooks.http import AsyncHttpHook, HttpHook, register_auth_type
from hookline.hooks.http.settings import AUTH_TYPES
from tests.servers._proc import free_port
from tests.servers.http_echo import EchoServer

CANARY = "c4n4ry-S3cret!"
TOKEN = "c4n4ry-T0ken!"
API_KEY = "c4n4ry-ApiKey1"


def conn_for(server: EchoServer, **fields: Any) -> Connection:
    fields.setdefault("conn_type", "http")
    fields.setdefault("host", "127.0.0.1")
    fields.setdefault("port", server.port)
    return Connection(conn_id="api", **fields)


def hook_for(server: EchoServer, *, retry_limit: int = 3, **fields: Any) -> HttpHook:
    return HttpHook(conn_for(server, **fields), retry_limit=retry_limit, retry_delay_s=0.01)


# -- which requests are retried ---------------------------------------------------------------------


def test_one_post_to_a_500_endpoint_is_one_request(http_echo: EchoServer) -> None:
    """Airflow's run("fail500") on a POST hook: exactly one POST reaches the server, then the error."""
    http_echo.fail_next(500, times=10)
    with hook_for(http_echo) as hook, pytest.raises(HttpStatusError) as info:
        hook.run("fail500", data={"order": "1"})
    assert [r.method for r in http_echo.requests] == ["POST"]
    assert info.value.status_code == 500
    assert "after 1 attempt" in str(info.value)


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_non_idempotent_failures_are_not_retried(http_echo: EchoServer, method: str) -> None:
    """503 and 429 after a POST or PATCH: one request each, whatever retry_limit says."""
    for status in (503, 429):
        http_echo.reset()
        http_echo.fail_next(status, times=10, retry_after="0")
        with hook_for(http_echo, retry_limit=5) as hook, pytest.raises(HttpStatusError):
            hook.run(method, "/charge", json={"amount": 5})
        assert len(http_echo.requests) == 1


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"])
def test_idempotent_methods_are_retried(http_echo: EchoServer, method: str) -> None:
    """GET, HEAD, OPTIONS, PUT and DELETE are retried on 503 and recover."""
    http_echo.fail_next(503, times=2)
    with hook_for(http_echo) as hook:
        assert hook.run(method, "/resource").status_code == 200
    assert [r.method for r in http_echo.requests] == [method] * 3


@pytest.mark.parametrize("where", ["hook", "connection", "call"])
def test_post_retries_when_asked(http_echo: EchoServer, where: str) -> None:
    """retry_non_idempotent per hook, per connection (extra) or per call (extra_options)."""
    http_echo.fail_next(500, times=2)
    extra = {"retry_non_idempotent": "true"} if where == "connection" else {}
    hook = HttpHook(
        conn_for(http_echo, extra=extra),
        retry_limit=3,
        retry_delay_s=0.01,
        retry_non_idempotent=True if where == "hook" else None,
    )
    options = {"retry_non_idempotent": True} if where == "call" else None
    with hook:
        assert hook.run("POST", "/charge", json={"a": 1}, extra_options=options).status_code == 200
    assert len(http_echo.requests) == 3


def test_check_response_off_means_no_retry_on_status(http_echo: EchoServer) -> None:
    """With check_response off, a GET meeting 503 is answered at once with the 503."""
    http_echo.fail_next(503, times=10)
    with hook_for(http_echo, extra={"check_response": False}) as hook:
        assert hook.run("GET", "/x").status_code == 503
    assert len(http_echo.requests) == 1


def test_connect_refused_post_is_retried_because_nothing_was_sent() -> None:
    """A POST whose connection was refused never reached a server: it is retried (as urllib3
    does), and the error says how many attempts were made."""
    conn = Connection(conn_id="down", conn_type="http", host="127.0.0.1", port=free_port())
    with (
        HttpHook(conn, retry_limit=2, retry_delay_s=0.01) as hook,
        pytest.raises(HookConnectionError) as info,
    ):
        hook.run("POST", "/x", data={"a": "1"})
    assert "after 3 attempts" in str(info.value)


def test_test_connection_is_never_retried(caplog: pytest.LogCaptureFixture) -> None:
    """test_connection() tries once: a refused connection fails at once, with no retry logged."""
    conn = Connection(conn_id="down", conn_type="http", host="127.0.0.1", port=free_port())
    with caplog.at_level(logging.INFO), HttpHook(conn, retry_limit=5) as hook:
        ok, message = hook.test_connection()
    assert ok is False
    assert "after 1 attempt" in message
    assert "retrying" not in caplog.text


# -- redirects and credentials ------------------------------------------------------------------------

CREDENTIAL_EXTRAS = {
    "X-Api-Key": API_KEY,
    "api_key": API_KEY + "2",
    "X-Auth": "c4n4ry-XAuth",
    "Cookie": "session=c4n4ry-Cookie",
    "X-Team": "data",
}
CREDENTIAL_HEADERS = ("authorization", "x-api-key", "api_key", "x-auth", "cookie", "x-signature")


def assert_no_credentials(server: EchoServer) -> None:
    for request in server.requests:
        for name in CREDENTIAL_HEADERS:
            assert name not in request.headers, name
        text = json.dumps(request.headers)
        for canary in ("c4n4ry",):
            assert canary not in text


@pytest.mark.parametrize("auth", ["bearer", "basic"])
def test_cross_origin_redirect_drops_every_credential_header(
    http_echo: EchoServer, http_echo_other: EchoServer, auth: str
) -> None:
    """Server A redirects to server B (another port: another origin). A receives every credential;
    B receives none of them (not X-Api-Key, api_key, X-Auth, Cookie, a header carrying the
    password, nor Authorization), but still the plain headers."""
    fields: dict[str, Any] = {"extra": dict(CREDENTIAL_EXTRAS)}
    if auth == "bearer":
        fields["extra"]["token"] = TOKEN
    else:
        fields.update(login="alice", password=CANARY)
    http_echo.redirect_next(f"{http_echo_other.url}/landing")
    with hook_for(http_echo, **fields) as hook:
        response = hook.run(
            "GET", "/start", headers={"X-Signature": CANARY if auth == "basic" else TOKEN}
        )
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [302]
    (first,) = http_echo.requests
    for name in CREDENTIAL_HEADERS:
        assert name in first.headers, name
    (second,) = http_echo_other.requests
    assert second.path == "/landing"
    assert second.headers["x-team"] == "data"
    assert_no_credentials(http_echo_other)


def test_same_origin_redirect_keeps_credentials(http_echo: EchoServer) -> None:
    """A redirect within the origin keeps the credential headers and the auth."""
    http_echo.redirect_next("/elsewhere", status=307)
    with hook_for(http_echo, login="alice", password=CANARY, extra={"X-Api-Key": API_KEY}) as hook:
        hook.run("GET", "/start")
    first, second = http_echo.requests
    assert second.path == "/elsewhere"
    assert second.headers["x-api-key"] == API_KEY
    assert second.headers["authorization"] == first.headers["authorization"]


def test_back_to_the_origin_after_leaving_it_stays_without_credentials(
    http_echo: EchoServer, http_echo_other: EchoServer
) -> None:
    """A -> B -> A: once the chain left the origin, credentials stay dropped."""
    http_echo.redirect_next(f"{http_echo_other.url}/bounce")
    http_echo_other.redirect_next(f"{http_echo.url}/home")
    with hook_for(http_echo, extra={"X-Api-Key": API_KEY, "token": TOKEN}) as hook:
        assert hook.run("GET", "/start").status_code == 200
    assert [r.path for r in http_echo.requests] == ["/start", "/home"]
    assert "x-api-key" not in http_echo.requests[1].headers
    assert "authorization" not in http_echo.requests[1].headers
    assert_no_credentials(http_echo_other)


def test_async_cross_origin_redirect_drops_credentials(
    http_echo: EchoServer, http_echo_other: EchoServer
) -> None:
    """AsyncHttpHook follows the same rule."""
    http_echo.redirect_next(f"{http_echo_other.url}/landing", status=303)

    async def scenario() -> int:
        conn = conn_for(http_echo, login="bob", password=CANARY, extra=dict(CREDENTIAL_EXTRAS))
        async with AsyncHttpHook(conn, retry_limit=0) as hook:
            return (await hook.run("POST", "/start", data={"a": "1"})).status_code

    assert asyncio.run(scenario()) == 200
    assert http_echo_other.requests[0].method == "GET"  # 303: the body is not re-sent
    assert_no_credentials(http_echo_other)


def test_allow_redirects_off_returns_the_redirect(
    http_echo: EchoServer, http_echo_other: EchoServer
) -> None:
    """extra_options allow_redirects=False: the 302 is the answer; B is never contacted."""
    http_echo.redirect_next(f"{http_echo_other.url}/x")
    with hook_for(http_echo) as hook:
        response = hook.run("GET", "/start", extra_options={"allow_redirects": False})
    assert response.status_code == 302
    assert response.headers["location"].endswith("/x")
    assert http_echo_other.requests == []


def test_max_redirects_is_enforced(http_echo: EchoServer) -> None:
    """A redirect loop stops after max_redirects hops with a HookError that says so."""
    http_echo.redirect_next("/loop", times=50)
    with hook_for(http_echo, extra={"max_redirects": 3}) as hook, pytest.raises(HookError) as info:
        hook.run("GET", "/loop")
    assert "more than 3 times" in str(info.value)
    assert len(http_echo.requests) == 4


# -- extra_options keys on the wire ---------------------------------------------------------------


def test_timeout_option_limits_the_wait(http_echo: EchoServer) -> None:
    """extra_options timeout: a server slower than the timeout gives HookConnectionError."""
    http_echo.slow_next(1.0)
    with hook_for(http_echo, retry_limit=0) as hook, pytest.raises(HookConnectionError) as info:
        hook.run("GET", "/slow", extra_options={"timeout": 0.2})
    assert "ReadTimeout" in str(info.value)


def test_stream_option_returns_an_unread_response(http_echo: EchoServer) -> None:
    """extra_options stream: the body is read only when the caller asks for it."""
    with hook_for(http_echo) as hook:
        response = hook.run("GET", "/bytes/100000", extra_options={"stream": True})
        assert not response.is_stream_consumed
        assert len(response.read()) == 100000
        response.close()
        eager = hook.run("GET", "/bytes/10")
        assert eager.is_stream_consumed


def test_verify_option_per_call_and_per_connection(https_echo_server: EchoServer) -> None:
    """verify: a CA bundle per call or per connection makes the TLS request pass; without it the
    self-signed certificate is refused."""
    https_echo_server.reset()
    conn = Connection(
        conn_id="tls",
        conn_type="http",
        schema="https",
        host="127.0.0.1",
        port=https_echo_server.port,
    )
    with HttpHook(conn, retry_limit=0) as hook:
        with pytest.raises(HookConnectionError):
            hook.run("GET", "/s")
        ok = hook.run("GET", "/s", extra_options={"verify": str(https_echo_server.cafile)})
        assert ok.status_code == 200
        assert hook.run("GET", "/s", extra_options={"verify": False}).status_code == 200
        variants = list(hook._variants.values())
    assert len(variants) == 2  # one client per distinct TLS setting, closed with the hook
    assert all(client.is_closed for client in variants)


def test_cert_option_presents_a_client_certificate(https_mtls_echo_server: EchoServer) -> None:
    """cert: the server requires a client certificate; with the ``cert`` extra (or per call) the
    request passes, without it the handshake fails."""
    server = https_mtls_echo_server
    server.reset()
    assert server.client_cert is not None
    client_cert = [str(path) for path in server.client_cert]
    base = {"verify": str(server.cafile)}
    conn = Connection(
        conn_id="mtls", conn_type="https", host="127.0.0.1", port=server.port, extra=base
    )
    with HttpHook(conn, retry_limit=0) as hook:
        with pytest.raises(HookConnectionError):
            hook.run("GET", "/no-cert")
        assert hook.run("GET", "/per-call", extra_options={"cert": client_cert}).status_code == 200
    with_cert = conn.replace(extra={**base, "cert": client_cert})
    with HttpHook(with_cert, retry_limit=0) as hook:
        assert hook.run("GET", "/per-connection").status_code == 200
    assert [r.path for r in server.requests] == ["/per-call", "/per-connection"]


def test_proxies_option_sends_through_the_proxy(http_echo: EchoServer) -> None:
    """proxies (per connection, and per call): the request goes to the proxy in absolute form;
    the target is never contacted directly."""
    target = f"127.0.0.1:{free_port()}"  # nothing listens there
    conn = Connection(
        conn_id="px",
        conn_type="http",
        host=f"http://{target}",
        extra={"proxies": {"http": http_echo.url}},
    )
    with HttpHook(conn, retry_limit=0) as hook:
        assert hook.run("GET", "/via-extra").status_code == 200
    direct = conn.replace(extra={})
    with HttpHook(direct, retry_limit=0) as hook:
        options = {"proxies": {"http": http_echo.url}}
        assert hook.run("GET", "/via-call", extra_options=options).status_code == 200
        with pytest.raises(HookConnectionError):
            hook.run("GET", "/direct")
    assert [r.target for r in http_echo.requests] == [
        f"http://{target}/via-extra",
        f"http://{target}/via-call",
    ]


@pytest.fixture
def env_proxy(http_echo: EchoServer, monkeypatch: pytest.MonkeyPatch) -> EchoServer:
    """HTTP_PROXY points at the recording server (which then acts as the forward proxy)."""
    monkeypatch.setenv("HTTP_PROXY", http_echo.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    return http_echo


def test_trust_env_uses_the_environment_proxy(env_proxy: EchoServer) -> None:
    """trust_env (default on) honours HTTP_PROXY; trust_env false (per call) goes direct."""
    target = f"127.0.0.1:{free_port()}"
    conn = Connection(conn_id="px", conn_type="http", host=f"http://{target}")
    with HttpHook(conn, retry_limit=0) as hook:
        assert hook.run("GET", "/env").status_code == 200
        with pytest.raises(HookConnectionError):
            hook.run("GET", "/direct", extra_options={"trust_env": False})
    assert [r.target for r in env_proxy.requests] == [f"http://{target}/env"]


def test_unknown_extra_options_key_is_an_error_and_sends_nothing(http_echo: EchoServer) -> None:
    """An extra_options key no code reads is a ConfigurationError naming it, not silence."""
    with hook_for(http_echo) as hook, pytest.raises(ConfigurationError) as info:
        hook.run("GET", "/x", extra_options={"timeout": 5, "retries": 3})
    assert "'retries'" in str(info.value)
    assert http_echo.requests == []


# -- auth from extras ------------------------------------------------------------------------------


def test_auth_type_extras_on_the_wire(http_echo: EchoServer) -> None:
    """auth_type names an allowed class (Airflow's requests names map to httpx ones), built with
    (login, password, **auth_kwargs); a registered custom type receives auth_kwargs."""

    class HeaderAuth(httpx.Auth):
        def __init__(self, login: str, password: str, *, header: str) -> None:
            self.header, self.value = header, f"{login}:{password}"

        def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
            request.headers[self.header] = self.value
            yield request

    register_auth_type("tests.HeaderAuth", HeaderAuth)
    try:
        rows = [
            {"auth_type": "requests.auth.HTTPBasicAuth"},
            {"auth_type": "requests.auth.HTTPProxyAuth"},
            {"auth_type": "tests.HeaderAuth", "auth_kwargs": {"header": "X-Login"}},
            {"auth_type": "tests.HeaderAuth", "auth_kwargs": json.dumps({"header": "X-Json"})},
        ]
        for extra in rows:
            with hook_for(http_echo, login="alice", password=CANARY, extra=extra) as hook:
                hook.run("GET", "/a")
    finally:
        AUTH_TYPES.pop("tests.HeaderAuth")
    basic = "Basic " + base64.b64encode(f"alice:{CANARY}".encode()).decode()
    first, second, third, fourth = http_echo.requests
    assert first.headers["authorization"] == basic
    assert second.headers["proxy-authorization"] == basic
    assert "authorization" not in second.headers
    assert third.headers["x-login"] == f"alice:{CANARY}"
    assert fourth.headers["x-json"] == f"alice:{CANARY}"
    for request in http_echo.requests:
        assert "auth_type" not in request.headers
        assert "auth_kwargs" not in request.headers
