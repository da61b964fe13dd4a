"""The transport seam: ``transport=`` on the HTTP hooks and ``hookline.testing.mock_http``."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from hookline import Connection
from hookline.hooks.http import AsyncHttpHook, HttpHook
from hookline.hooks.http.transport import TransportOptions, environment_proxies
from hookline.hooks.slack import SlackWebhookHook
from hookline.testing import MockHttp, mock_http

CONN = Connection(conn_id="api", conn_type="http", host="api.example.com", extra={"X-Team": "d"})


def test_transport_argument_replaces_the_network() -> None:
    """HttpHook(transport=MockTransport) sends through it, with the connection's headers."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"ok": True})

    with HttpHook(CONN, transport=httpx.MockTransport(handler)) as hook:
        assert hook.run("POST", "/items", json={"a": 1}).json() == {"ok": True}
    (request,) = seen
    assert str(request.url) == "http://api.example.com/items"
    assert request.headers["X-Team"] == "d"


def test_an_injected_transport_is_never_closed() -> None:
    """Closing the hook (or a credential refresh) leaves the caller's transport open."""

    class Counting(httpx.MockTransport):
        closed = 0

        def close(self) -> None:
            Counting.closed += 1

    transport = Counting(lambda request: httpx.Response(200))
    hook = HttpHook(CONN, transport=transport)
    hook.run("GET", "/a")
    hook.close()
    hook.run("GET", "/b")
    hook.close()
    assert Counting.closed == 0


def test_wrong_kind_of_transport_is_a_type_error() -> None:
    """A sync hook needs a sync transport, an async hook an async one."""
    with pytest.raises(TypeError, match="sync transport"):
        HttpHook(CONN, transport=httpx.AsyncHTTPTransport()).get_conn()  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="async transport"):
        AsyncHttpHook(CONN, transport=httpx.HTTPTransport()).get_conn()


def test_mock_http_answers_sync_async_and_slack_hooks() -> None:
    """Hooks built inside mock_http() send to the handler; every request is recorded."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="ok" if "hooks" in str(request.url) else "{}")

    with mock_http(handler) as http:
        assert isinstance(http, MockHttp)
        sync = HttpHook(CONN)
        asynchronous = AsyncHttpHook(CONN)
        slack = SlackWebhookHook(
            Connection(conn_id="alerts", conn_type="slackwebhook", password="T0/B0/c4n4ryT0ken")
        )
    sync.run("GET", "/one")

    async def scenario() -> None:
        async with asynchronous:
            await asynchronous.run("GET", "/two")

    asyncio.run(scenario())
    slack.send(text="hi")
    urls = [str(r.url) for r in http.requests]
    assert urls[:2] == ["http://api.example.com/one", "http://api.example.com/two"]
    assert urls[2].startswith("https://hooks.slack.com/services/")


def test_mock_http_default_handler_and_async_handler() -> None:
    """Without a handler: 200 with {}; an async handler serves async hooks."""

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202)

    with mock_http():
        assert HttpHook(CONN).run("GET", "/x").json() == {}
    with mock_http(handler):
        hook = AsyncHttpHook(CONN)

    async def scenario() -> int:
        async with hook:
            return (await hook.run("GET", "/x")).status_code

    assert asyncio.run(scenario()) == 202


def test_mock_http_does_not_leak_into_other_threads() -> None:
    """A hook built in another thread during the block does not see the mock (a ContextVar)."""
    built: list[HttpHook] = []
    with mock_http():
        thread = threading.Thread(target=lambda: built.append(HttpHook(CONN)))
        thread.start()
        thread.join()
        inside = HttpHook(CONN)
    assert built[0]._injected is None
    assert inside._injected is not None
    assert HttpHook(CONN)._injected is None


def test_mock_http_runs_the_whole_request_path() -> None:
    """Retries, status checks and the 401 refresh all run on top of the mock transport."""
    answers = iter([503, 200])
    with mock_http(lambda request: httpx.Response(next(answers))) as http:
        hook = HttpHook(CONN, retry_delay_s=0.0)
    assert hook.run("GET", "/flaky").status_code == 200
    assert len(http.requests) == 2


def test_environment_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP(S)_PROXY and NO_PROXY become mounts when trust_env is on and no proxy is set."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy",
                 "all_proxy", "no_proxy"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.internal,10.0.0.1")
    mounts = environment_proxies()
    assert mounts["http://"] == "http://proxy.internal:3128"
    assert mounts["all://localhost"] is None
    assert mounts["all://*.internal"] is None
    assert mounts["all://10.0.0.1"] is None
    assert TransportOptions(trust_env=False).proxy_map() == {}
    assert TransportOptions(proxy="http://p:1").proxy_map() == {"all://": "http://p:1"}
