"""HttpHook and AsyncHttpHook against a real local HTTP server that records what it received."""

from __future__ import annotations

import asyncio
import base64
import logging
from pathlib import Path
from typing import Any

import pytest
import tenacity

from hookline import Connection
from hookline.exceptions import AuthenticationFailed, HookConnectionError
from hookline.hooks.http import AsyncHttpHook, HttpAuthenticationFailed, HttpHook, HttpStatusError
from tests.servers._proc import free_port
from tests.servers.http_echo import PATTERN, EchoServer

CANARY = "c4n4ry-S3cret!"
TOKEN = "c4n4ry-T0ken!"


def conn_for(server: EchoServer, **fields: Any) -> Connection:
    fields.setdefault("conn_type", "http")
    return Connection(conn_id="api", host="127.0.0.1", port=server.port, **fields)


def hook_for(server: EchoServer, *, retry_limit: int = 3, **fields: Any) -> HttpHook:
    return HttpHook(conn_for(server, **fields), retry_limit=retry_limit, retry_delay_s=0.01)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def assert_no_secret(exc: BaseException) -> None:
    text = f"{exc!s} {exc!r}"
    assert CANARY not in text
    assert TOKEN not in text


def test_get_sends_auth_headers_and_data_as_params(http_echo: EchoServer) -> None:
    """GET: basic auth from login/password, extras as headers, ``data`` as query parameters."""
    with hook_for(http_echo, login="alice", password=CANARY, extra={"X-Team": "data"}) as hook:
        response = hook.run("GET", "/v1/items", data={"page": "2"})
    assert response.status_code == 200
    (request,) = http_echo.requests
    assert request.method == "GET"
    assert request.path == "/v1/items"
    assert request.query == {"page": ["2"]}
    assert request.headers["authorization"] == basic("alice", CANARY)
    assert request.headers["x-team"] == "data"


def test_post_json_with_bearer_token_from_extras(http_echo: EchoServer) -> None:
    """A ``token`` extra is sent as a bearer token; ``json=`` is sent as a JSON body."""
    with hook_for(http_echo, extra={"token": TOKEN}) as hook:
        hook.run("POST", "events", json={"id": 7}, params={"dry": "1"})
    (request,) = http_echo.requests
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.json() == {"id": 7}
    assert request.query == {"dry": ["1"]}
    assert "token" not in request.headers


def test_default_method_is_post_like_airflow(http_echo: EchoServer) -> None:
    """Without a method the hook's ``method`` (Airflow's default POST) is used; form data is sent."""
    with hook_for(http_echo) as hook:
        hook.run(endpoint="/submit", data={"a": "1"})
    (request,) = http_echo.requests
    assert request.method == "POST"
    assert request.body == b"a=1"


def test_keep_alive_reuses_one_connection(http_echo: EchoServer) -> None:
    """Twenty requests through one hook use one pooled TCP connection; close() ends it."""
    hook = hook_for(http_echo)
    for i in range(20):
        hook.run("GET", f"/n/{i}")
    client = hook.get_conn()
    hook.close()
    assert len(http_echo.requests) == 20
    assert http_echo.connections == 1
    assert client.is_closed


def test_5xx_is_retried_up_to_the_limit_then_status_error(http_echo: EchoServer) -> None:
    """A persistent 503 is tried retry_limit + 1 times, then HttpStatusError with the status only."""
    http_echo.fail_next(503, times=100, body=f'{{"secret": "{CANARY}"}}'.encode())
    with (
        hook_for(http_echo, retry_limit=2, login="alice", password=CANARY) as hook,
        pytest.raises(HttpStatusError) as info,
    ):
        hook.run("GET", "/flaky")
    assert len(http_echo.requests) == 3
    assert info.value.status_code == 503
    assert "503" in str(info.value)
    assert "Service Unavailable" in str(info.value)
    assert "after 3 attempts" in str(info.value)
    assert info.value.conn_id == "api"
    assert_no_secret(info.value)


def test_transient_5xx_recovers(http_echo: EchoServer) -> None:
    """Two 500s then a normal answer: the caller gets the 200 after three requests."""
    http_echo.fail_next(500, times=2)
    with hook_for(http_echo) as hook:
        response = hook.run("GET", "/recovering")
    assert response.status_code == 200
    assert len(http_echo.requests) == 3


@pytest.mark.parametrize("retry_after", ["0", "1"])
def test_429_honours_retry_after_capped(http_echo: EchoServer, retry_after: str) -> None:
    """429 with Retry-After is retried after the (capped) delay and then succeeds."""
    http_echo.fail_next(429, times=1, retry_after=retry_after)
    hook = HttpHook(conn_for(http_echo), retry_limit=1, retry_after_cap_s=0.05)
    with hook:
        response = hook.run("GET", "/throttled")
    assert response.status_code == 200
    assert len(http_echo.requests) == 2


def test_4xx_is_not_retried(http_echo: EchoServer) -> None:
    """A 404 is final: one request, HttpStatusError with the status."""
    http_echo.fail_next(404)
    with hook_for(http_echo) as hook, pytest.raises(HttpStatusError) as info:
        hook.run("GET", "/missing")
    assert info.value.status_code == 404
    assert len(http_echo.requests) == 1


def test_check_response_off_returns_the_error_response(http_echo: EchoServer) -> None:
    """With check_response off (extra or per-request option) a 404 is returned, not raised."""
    http_echo.fail_next(404, times=2)
    with hook_for(http_echo, extra={"check_response": False}) as hook:
        assert hook.run("GET", "/a").status_code == 404
    with hook_for(http_echo) as hook:
        assert hook.run("GET", "/b", extra_options={"check_response": False}).status_code == 404


def test_connect_refused_is_hook_connection_error() -> None:
    """Nothing listening: HookConnectionError after the retries, naming the timeouts, no secret."""
    conn = Connection(
        conn_id="down",
        conn_type="http",
        host="127.0.0.1",
        port=free_port(),
        login="alice",
        password=CANARY,
        extra={"token": TOKEN},
    )
    with HttpHook(conn, retry_limit=1, retry_delay_s=0.01) as hook:
        with pytest.raises(HookConnectionError) as info:
            hook.run("GET", "/x")
        ok, message = hook.test_connection()
    assert "after 2 attempts" in str(info.value)
    assert "connect timeout" in str(info.value)
    assert_no_secret(info.value)
    assert ok is False
    assert "HookConnectionError" in message
    assert CANARY not in message
    assert TOKEN not in message


def test_401_without_new_credentials_raises_authentication_failed(
    http_echo: EchoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """401: refresh finds the same credentials, so AuthenticationFailed is raised; no retry."""
    monkeypatch.setenv("AIRFLOW_CONN_API", f"http://alice:{CANARY}@127.0.0.1:{http_echo.port}")
    http_echo.fail_next(401)
    with HttpHook("api") as hook, pytest.raises(HttpAuthenticationFailed) as info:
        hook.run("GET", "/private")
    assert isinstance(info.value, AuthenticationFailed)
    assert info.value.status_code == 401
    assert len(http_echo.requests) == 1
    assert_no_secret(info.value)


def test_401_after_rotation_refreshes_once_and_retries(
    http_echo: EchoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The password changes under a running hook: 401, refresh, rebuilt client, retry succeeds."""
    monkeypatch.setenv("AIRFLOW_CONN_API", f"http://alice:old-pass1@127.0.0.1:{http_echo.port}")
    with HttpHook("api", retry_delay_s=0.01) as hook:
        hook.run("GET", "/before")
        monkeypatch.setenv("AIRFLOW_CONN_API", f"http://alice:new-pass2@127.0.0.1:{http_echo.port}")
        http_echo.fail_next(401)
        response = hook.run("GET", "/after")
    assert response.status_code == 200
    auths = [r.headers["authorization"] for r in http_echo.requests]
    assert auths == [
        basic("alice", "old-pass1"),
        basic("alice", "old-pass1"),
        basic("alice", "new-pass2"),
    ]


def test_error_message_masks_secrets_in_the_path(http_echo: EchoServer) -> None:
    """A registered secret in the endpoint path is masked in the error message."""
    http_echo.fail_next(400)
    with hook_for(http_echo, password=CANARY, login="u") as hook:
        hook.get_conn()  # registers the connection's secrets
        with pytest.raises(HttpStatusError) as info:
            hook.run("GET", f"/keys/{CANARY}")
    assert "/keys/***" in str(info.value)
    assert_no_secret(info.value)


def test_streaming_download_writes_the_whole_body(http_echo: EchoServer, tmp_path: Path) -> None:
    """download() streams 1 MiB into the file and reports the byte count."""
    target = tmp_path / "blob.bin"
    with hook_for(http_echo) as hook:
        written = hook.download("/bytes/1048576", target, chunk_size=8192)
    assert written == 1048576
    data = target.read_bytes()
    assert len(data) == written
    assert data[:512] == PATTERN * 2
    assert not (tmp_path / "blob.bin.part").exists()


def test_download_retries_5xx_and_leaves_no_file_on_failure(
    http_echo: EchoServer, tmp_path: Path
) -> None:
    """A download that only meets 500s raises HttpStatusError and leaves no file behind."""
    http_echo.fail_next(500, times=10)
    target = tmp_path / "never.bin"
    with hook_for(http_echo, retry_limit=2) as hook, pytest.raises(HttpStatusError):
        hook.download("/bytes/10", target)
    assert len(http_echo.requests) == 3
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_run_with_advanced_retry_uses_only_the_given_policy(http_echo: EchoServer) -> None:
    """run_with_advanced_retry: tenacity args decide; the hook's own retries are switched off."""
    http_echo.fail_next(500, times=2)
    retry_args = {
        "stop": tenacity.stop_after_attempt(3),
        "wait": tenacity.wait_none(),
        "retry": tenacity.retry_if_exception_type(HttpStatusError),
        "reraise": True,
    }
    with hook_for(http_echo, retry_limit=5) as hook:
        response = hook.run_with_advanced_retry(retry_args, "GET", "/advanced")
        assert response.status_code == 200
        assert len(http_echo.requests) == 3
        http_echo.reset()
        http_echo.fail_next(500, times=10)
        with pytest.raises(HttpStatusError):
            hook.run_with_advanced_retry(retry_args, "GET", "/advanced")
    assert len(http_echo.requests) == 3


def test_test_connection_gets_the_test_endpoint(http_echo: EchoServer) -> None:
    """test_connection() GETs the ``test_endpoint`` extra and reports success."""
    with hook_for(http_echo, extra={"test_endpoint": "/health"}) as hook:
        assert hook.test_connection() == (True, "Connection successfully tested")
    (request,) = http_echo.requests
    assert (request.method, request.path) == ("GET", "/health")
    assert "test_endpoint" not in request.headers


def test_test_connection_reports_status_without_secrets(http_echo: EchoServer) -> None:
    """A 403 makes test_connection() return False with the status, never the password or body."""
    http_echo.fail_next(403, body=CANARY.encode())
    with hook_for(http_echo, login="u", password=CANARY) as hook:
        ok, message = hook.test_connection()
    assert ok is False
    assert "403" in message
    assert CANARY not in message


# -- async ------------------------------------------------------------------------------------


def test_async_run_and_keep_alive(http_echo: EchoServer) -> None:
    """AsyncHttpHook sends auth and headers, and reuses one connection for sequential requests."""

    async def scenario() -> list[int]:
        conn = conn_for(http_echo, login="alice", password=CANARY, extra={"X-A": "1"})
        async with AsyncHttpHook(conn, retry_delay_s=0.01) as hook:
            return [(await hook.run("GET", f"/a/{i}")).status_code for i in range(5)]

    assert asyncio.run(scenario()) == [200] * 5
    assert http_echo.connections == 1
    assert http_echo.requests[0].headers["authorization"] == basic("alice", CANARY)
    assert http_echo.requests[0].headers["x-a"] == "1"


def test_async_5xx_retried_then_status_error(http_echo: EchoServer) -> None:
    """Async: a persistent 502 is tried retry_limit + 1 times, then HttpStatusError."""
    http_echo.fail_next(502, times=100)

    async def scenario() -> None:
        async with AsyncHttpHook(conn_for(http_echo), retry_limit=2, retry_delay_s=0.01) as hook:
            await hook.run("GET", "/x")

    with pytest.raises(HttpStatusError) as info:
        asyncio.run(scenario())
    assert info.value.status_code == 502
    assert len(http_echo.requests) == 3


def test_async_429_with_retry_after_then_success(http_echo: EchoServer) -> None:
    """Async: 429 with Retry-After 0 is retried for a PUT (idempotent) and the answer is returned."""
    http_echo.fail_next(429, times=2, retry_after="0")

    async def scenario() -> int:
        async with AsyncHttpHook(conn_for(http_echo), retry_limit=3) as hook:
            return (await hook.run("PUT", "/x", json={"a": 1})).status_code

    assert asyncio.run(scenario()) == 200
    assert len(http_echo.requests) == 3
    assert http_echo.requests[-1].json() == {"a": 1}


def test_async_post_is_not_retried_unless_asked(http_echo: EchoServer) -> None:
    """Async: a POST meeting 429 is sent once; with retry_non_idempotent it is retried."""
    http_echo.fail_next(429, times=2, retry_after="0")

    async def scenario(**kwargs: Any) -> int:
        async with AsyncHttpHook(conn_for(http_echo), retry_limit=3, **kwargs) as hook:
            return (await hook.run("POST", "/x", json={"a": 1})).status_code

    with pytest.raises(HttpStatusError) as info:
        asyncio.run(scenario())
    assert info.value.status_code == 429
    assert len(http_echo.requests) == 1
    http_echo.reset()
    http_echo.fail_next(429, times=2, retry_after="0")
    assert asyncio.run(scenario(retry_non_idempotent=True)) == 200
    assert len(http_echo.requests) == 3


def test_async_connect_refused() -> None:
    """Async: nothing listening gives HookConnectionError without secrets."""
    conn = Connection(
        conn_id="down", conn_type="http", host="127.0.0.1", port=free_port(), password=CANARY
    )

    async def scenario() -> None:
        async with AsyncHttpHook(conn, retry_limit=1, retry_delay_s=0.01) as hook:
            await hook.run("GET", "/")

    with pytest.raises(HookConnectionError) as info:
        asyncio.run(scenario())
    assert_no_secret(info.value)


def test_async_rotation_refreshes_once(
    http_echo: EchoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Async: a 401 after the password changed refreshes, rebuilds the client and retries."""
    monkeypatch.setenv("AIRFLOW_CONN_API", f"http://bob:old-pass1@127.0.0.1:{http_echo.port}")

    async def scenario() -> int:
        async with AsyncHttpHook("api") as hook:
            await hook.run("GET", "/before")
            monkeypatch.setenv(
                "AIRFLOW_CONN_API", f"http://bob:new-pass2@127.0.0.1:{http_echo.port}"
            )
            http_echo.fail_next(401)
            return (await hook.run("GET", "/after")).status_code

    assert asyncio.run(scenario()) == 200
    assert http_echo.requests[-1].headers["authorization"] == basic("bob", "new-pass2")


def test_async_hook_sync_test_connection(http_echo: EchoServer) -> None:
    """The sync test_connection() of AsyncHttpHook runs one GET in its own event loop."""
    assert AsyncHttpHook(conn_for(http_echo)).test_connection() == (
        True,
        "Connection successfully tested",
    )
    assert len(http_echo.requests) == 1


def test_pooled_socket_has_tcp_keep_alive(http_echo: EchoServer) -> None:
    """The pooled connection's socket has SO_KEEPALIVE and the configured idle time."""
    import socket

    with hook_for(http_echo) as hook:
        hook.run("GET", "/x")
        pool = hook.get_conn()._transport._pool  # type: ignore[attr-defined]
        (connection,) = pool.connections
        sock = connection._connection._network_stream.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        if hasattr(socket, "TCP_KEEPIDLE"):
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 120


def test_async_hook_sync_close_inside_a_loop_closes_the_client(http_echo: EchoServer) -> None:
    """close() (sync) inside a running loop schedules aclose(); the client ends closed."""

    async def scenario() -> bool:
        hook = AsyncHttpHook(conn_for(http_echo))
        await hook.run("GET", "/x")
        client = hook.get_conn()
        hook.close()
        for _ in range(100):
            if client.is_closed:
                break
            await asyncio.sleep(0.01)
        return client.is_closed

    assert asyncio.run(scenario()) is True


def test_airflow_positional_order_is_understood(http_echo: EchoServer) -> None:
    """``run(endpoint, data, headers)`` as Airflow callers write it still works."""
    conn = conn_for(http_echo)
    with HttpHook(conn, method="GET") as hook:
        hook.run("/v1/items", {"page": "3"}, {"X-Call": "airflow"})
    with HttpHook(conn) as hook:
        hook.run("status", {"a": "1"})
    first, second = http_echo.requests
    assert (first.method, first.path, first.query) == ("GET", "/v1/items", {"page": ["3"]})
    assert first.headers["x-call"] == "airflow"
    assert (second.method, second.path, second.body) == ("POST", "/status", b"a=1")


def test_https_with_a_ca_bundle_from_the_verify_extra(https_echo_server: EchoServer) -> None:
    """schema https + ``verify`` naming a CA bundle: the TLS request succeeds."""
    https_echo_server.reset()
    conn = Connection(
        conn_id="tls",
        conn_type="http",
        schema="https",
        host="127.0.0.1",
        port=https_echo_server.port,
        extra={"verify": str(https_echo_server.cafile)},
    )
    with HttpHook(conn, retry_limit=0) as hook:
        assert hook.base_url.startswith("https://")
        assert hook.run("GET", "/secure").status_code == 200
    assert https_echo_server.requests[0].path == "/secure"


def test_https_untrusted_certificate_is_connection_error(https_echo_server: EchoServer) -> None:
    """Default verification against a self-signed certificate fails: HookConnectionError."""
    conn = Connection(
        conn_id="tls",
        conn_type="https",
        host="127.0.0.1",
        port=https_echo_server.port,
        password=CANARY,
        login="u",
    )
    with HttpHook(conn, retry_limit=0) as hook, pytest.raises(HookConnectionError) as info:
        hook.run("GET", "/secure")
    assert_no_secret(info.value)


def test_logs_of_retries_hold_no_secret(
    http_echo: EchoServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Retry logs (hookline's and httpx's) never show the password, the token or a secret path."""
    import logging

    http_echo.fail_next(503, times=2, body=CANARY.encode())
    with caplog.at_level(logging.DEBUG), hook_for(http_echo, extra={"token": TOKEN}) as hook:
        hook.get_conn()
        hook.run("GET", f"/keys/{TOKEN}")
    assert "retrying" in caplog.text
    assert "HTTP Request: GET" in caplog.text
    assert TOKEN not in caplog.text
    assert CANARY not in caplog.text


def test_download_cut_short_leaves_no_file(http_echo: EchoServer, tmp_path: Path) -> None:
    """The server promises 1 MB and hangs up after 1 KB: HookConnectionError, no file left."""
    http_echo.fail_next(200, body=b"x" * 1024, headers={"Content-Length": "1000000"})
    target = tmp_path / "cut.bin"
    with hook_for(http_echo) as hook, pytest.raises(HookConnectionError) as info:
        hook.download("/bytes/1000000", target)
    assert "RemoteProtocolError" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_download_never_saves_an_error_page(http_echo: EchoServer, tmp_path: Path) -> None:
    """Even with check_response off, a 404 download raises instead of saving the error body."""
    http_echo.fail_next(404, body=b"not here")
    target = tmp_path / "missing.bin"
    with (
        hook_for(http_echo, extra={"check_response": False}) as hook,
        pytest.raises(HttpStatusError) as info,
    ):
        hook.download("/nothing", target)
    assert info.value.status_code == 404
    assert not target.exists()


def test_request_log_hides_query_secrets_that_were_never_registered(
    http_echo: EchoServer, caplog: pytest.LogCaptureFixture
) -> None:
    """httpx logs each request line with its full URL at INFO: a token passed as a query parameter
    (by ``data``/``params`` or in the endpoint) is hidden by its key, even short or unregistered."""
    caplog.set_level(logging.INFO, logger="httpx")
    with hook_for(http_echo, login="alice", password=CANARY) as hook:
        hook.run("GET", "/v1/items", data={"api_key": "Qk3", "page": "2"})
        hook.run("GET", f"/v1/items?access_token={TOKEN}&client_secret=Qk4")
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert any("api_key=***&page=2" in line for line in lines)
    assert any("access_token=***&client_secret=***" in line for line in lines)
    for leaked in ("Qk3", "Qk4", TOKEN, CANARY):
        assert not any(leaked in line for line in lines)
