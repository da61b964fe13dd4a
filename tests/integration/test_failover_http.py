"""HttpHook over several base URLs (MultiHostHook), against real local HTTP servers.

The first server is killed (listener and open keep-alive connections dropped) while 4 threads send
GET requests: no request started after its breaker opened fails (a GET that meets the dead server
moves on to the second within the call), a POST is never sent twice, and when the first server
comes back on its port the background probe returns traffic to it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from hookline import Connection
from hookline.exceptions import HookConnectionError
from hookline.failover import BreakerSettings
from hookline.hooks.http import HttpHook
from hookline.hooks.multihost import MultiHostHook
from tests.servers.http_echo import EchoServer

THREADS = 4


@pytest.fixture
def servers() -> Iterator[list[EchoServer]]:
    started = [EchoServer(), EchoServer()]
    for server in started:
        server.start()
    yield started
    for server in started:
        with contextlib.suppress(OSError):
            server.kill()


def _wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what} did not happen within {timeout_s} s")


def test_http_over_two_base_urls_first_killed_then_back(servers: list[EchoServer]) -> None:
    """GETs fail over inside the call; POSTs are raised, never repeated; traffic returns."""
    first, second = servers
    conn = Connection(
        conn_id="billing_api",
        conn_type="http",
        host=f"{first.url},{second.url}",
        extra={"retry_limit": 0, "connect_timeout_s": 1, "read_timeout_s": 5},
    )
    api: MultiHostHook[HttpHook] = MultiHostHook(
        conn,
        HttpHook,
        settings=BreakerSettings(failure_threshold=2, reset_timeout_s=0.5, probe_interval_s=0.1),
    )
    results: list[tuple[float, str]] = []  # (start, port or error)
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                response = api.call(lambda hook: hook.run("GET", "/status"), repeatable=True)
                results.append((started, (response.url.port and str(response.url.port)) or ""))
            except Exception as exc:
                results.append((started, f"error {exc!r}"))
            time.sleep(0.005)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    try:
        _wait_for(lambda: len(results) > 40, 30, "warm-up requests")
        assert {r for _, r in results} == {str(first.port)}
        killed_at = time.monotonic()
        first.kill()
        _wait_for(lambda: api.group.members[0].breaker.state != "closed", 10, "breaker opening")
        time.sleep(0.5)
        # A POST may have been carried out: with the first host open it goes to the second
        # once; it is never sent to both.
        second.reset()
        api.call(lambda hook: hook.run("POST", "/orders", json={"n": 1}))
        assert [r.path for r in second.requests if r.method == "POST"] == ["/orders"]

        restarted = EchoServer(port=first.port)
        restarted.start()
        servers.append(restarted)
        back_at = time.monotonic()
        _wait_for(
            lambda: any(r == str(first.port) for s, r in list(results) if s >= back_at),
            10,
            "traffic returning to the first server",
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        api.close()
    after_kill = [(s, r) for s, r in results if s >= killed_at]
    assert [r for _, r in after_kill if r.startswith("error")] == []
    assert any(r == str(second.port) for _, r in after_kill)


def test_non_repeatable_request_is_raised_and_counted(servers: list[EchoServer]) -> None:
    """A POST that meets a dead host is raised (it may have been carried out), counted against
    the host's breaker, and not sent to the other host."""
    first, second = servers
    conn = Connection(
        conn_id="orders_api",
        conn_type="http",
        host=f"{first.url},{second.url}",
        extra={"retry_limit": 0, "connect_timeout_s": 1},
    )
    api: MultiHostHook[HttpHook] = MultiHostHook(conn)
    try:
        api.call(lambda hook: hook.run("GET", "/"), repeatable=True)
        first.kill()
        second.reset()
        with pytest.raises(HookConnectionError):
            api.call(lambda hook: hook.run("POST", "/orders", json={"n": 1}))
        assert second.requests == []
        assert api.group.members[0].breaker.failures == 1
        assert api.call(lambda hook: hook.run("GET", "/"), repeatable=True).status_code == 200
    finally:
        api.close()
