"""Findings of the security review of ``hookline serve``, each pinned by a test."""

from __future__ import annotations

import json
import re
import threading
import time

import pytest

from hookline.connection import Connection
from hookline.server import ServerConfig
from hookline.server.security import RateLimiter, client_key
from tests.unit.server.conftest import CANARY, Api
from tests.unit.server.test_ui import _login


def test_nested_masked_extras_keep_their_stored_value(api: Api) -> None:
    # The API and the form show a nested sensitive extra as ***; sending back what was shown
    # must not overwrite the stored secret with the literal "***".
    api.config.chain.set_connection(
        Connection(
            conn_id="nest",
            conn_type="http",
            extra={"outer": {"password": CANARY, "plain": "a"}, "api_key": CANARY},
        )
    )
    shown = api.client.get("/api/v1/connections/nest", headers=api.headers("viewer")).json()
    assert CANARY not in json.dumps(shown)
    patched = api.client.patch(
        "/api/v1/connections/nest", json={"extra": shown["extra"]}, headers=api.headers("editor")
    )
    assert patched.status_code == 200, patched.text
    stored = api.config.chain.lookup("nest").connection
    assert stored is not None
    assert stored.extra_dejson == {"outer": {"password": CANARY, "plain": "a"}, "api_key": CANARY}


def test_nested_masked_extra_without_a_stored_value_is_refused(api: Api) -> None:
    api.config.chain.set_connection(Connection(conn_id="nest", conn_type="http", extra={}))
    response = api.client.patch(
        "/api/v1/connections/nest",
        json={"extra": json.dumps({"outer": {"password": "***"}})},
        headers=api.headers("editor"),
    )
    assert response.status_code == 422
    assert "outer.password" in response.json()["detail"]


def test_ui_form_saved_as_shown_keeps_nested_secrets(api: Api) -> None:
    csrf = _login(api, "editor")
    api.config.chain.set_connection(
        Connection(conn_id="nest", conn_type="http", extra={"outer": {"token": CANARY}})
    )
    page = api.client.get("/connections/nest/edit")
    assert CANARY not in page.text
    match = re.search(r'<textarea id="extra"[^>]*>([^<]*)</textarea>', page.text)
    assert match is not None
    extra = match.group(1).replace("&#34;", '"')
    saved = api.client.post(
        "/connections/nest/edit",
        data={"csrf": csrf, "conn_type": "http", "extra": extra},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    stored = api.config.chain.lookup("nest").connection
    assert stored is not None
    assert stored.extra_dejson == {"outer": {"token": CANARY}}


def _urls(html: str) -> list[str]:
    return re.findall(r'(?:href|action)="([^"]*)"', html)


def test_ui_links_and_form_actions_keep_a_slashed_id_in_one_segment(api: Api) -> None:
    # An id like "x/../victim" (allowed: ids may hold "/" and ".") written raw in an href or a
    # form action is normalised by the browser to /connections/victim/...: the Delete button of
    # one connection would delete another.
    csrf = _login(api, "editor")
    api.config.chain.set_connection(Connection(conn_id="x/../victim", conn_type="http"))
    api.config.chain.set_connection(Connection(conn_id="victim", conn_type="http"))
    listing = api.client.get("/connections")
    assert not [url for url in _urls(listing.text) if "/../" in url]
    assert 'href="/connections/x%2F..%2Fvictim/edit"' in listing.text
    page = api.client.get("/connections/x%2F..%2Fvictim/edit")
    assert page.status_code == 200
    assert not [url for url in _urls(page.text) if "/../" in url]
    assert 'action="/connections/x%2F..%2Fvictim/delete"' in page.text
    deleted = api.client.post(
        "/connections/x%2F..%2Fvictim/delete", data={"csrf": csrf}, follow_redirects=False
    )
    assert deleted.status_code == 303
    assert api.config.chain.lookup("x/../victim").connection is None
    assert api.config.chain.lookup("victim").connection is not None


def test_login_rate_limiter_memory_is_bounded() -> None:
    # Many addresses (an IPv6 attacker has 2^64 of them) must not grow the table without bound,
    # and new addresses beyond the bound share one budget instead of escaping the limit.
    limiter = RateLimiter(attempts=2, window_s=60.0, max_keys=100)
    for n in range(1000):
        limiter.allow(f"client-{n}")
    assert len(limiter) <= 101
    assert [limiter.allow(f"late-{n}") for n in range(3)] == [False, False, False]


def test_login_rate_limit_key_groups_an_ipv6_network() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2")
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("not-an-ip") == "not-an-ip"


def test_hanging_connection_tests_cannot_take_every_worker_thread(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A test that times out keeps its worker thread until the system answers; an editor testing a
    # host that never answers, again and again, would hold every thread and stall every request.
    release = threading.Event()
    calls: list[str] = []

    def hang(self: Connection) -> tuple[bool, str]:
        calls.append(self.conn_id or "")
        release.wait(30)
        return True, "late"

    monkeypatch.setattr(Connection, "test_connection", hang)
    api.config.test_timeout_s = 0.05
    api.config.chain.set_connection(Connection(conn_id="slow", conn_type="http"))
    url, headers = "/api/v1/connections/slow/test", api.headers("editor")
    try:
        answers = [api.client.post(url, headers=headers) for _ in range(6)]
        assert [a.status_code for a in answers[:4]] == [200] * 4
        assert [a.json()["status"] for a in answers[:4]] == [False] * 4
        assert [a.status_code for a in answers[4:]] == [429, 429]
        assert "connection tests" in answers[4].json()["detail"]
        assert len(calls) == 4
    finally:
        release.set()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        answer = api.client.post(url, headers=headers)
        if answer.status_code == 200:
            break
        time.sleep(0.05)
    assert answer.status_code == 200


def test_credentials_in_a_host_never_reach_a_page_and_survive_a_save(api: Api) -> None:
    # The API shows a URL host's password as ***; the list page and the form's value= attribute
    # showed it in clear, to any viewer.
    api.config.chain.set_connection(
        Connection(conn_id="hostcred", conn_type="http", host=f"https://u:{CANARY}@h.example")
    )
    csrf = _login(api, "editor")
    listing = api.client.get("/connections")
    assert "hostcred" in listing.text
    assert CANARY not in listing.text
    page = api.client.get("/connections/hostcred/edit")
    assert CANARY not in page.text
    match = re.search(r'<input id="host" name="host" value="([^"]*)"', page.text)
    assert match is not None
    assert match.group(1) == "https://u:***@h.example"
    saved = api.client.post(
        "/connections/hostcred/edit",
        data={"csrf": csrf, "conn_type": "http", "host": match.group(1), "login": "new"},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    stored = api.config.chain.lookup("hostcred").connection
    assert stored is not None
    assert (stored.host, stored.login) == (f"https://u:{CANARY}@h.example", "new")
    shown = api.client.get("/api/v1/connections/hostcred", headers=api.headers("viewer")).json()
    patched = api.client.patch(
        "/api/v1/connections/hostcred",
        json={"host": shown["host"], "port": 8443},
        headers=api.headers("editor"),
    )
    assert patched.status_code == 200, patched.text
    stored = api.config.chain.lookup("hostcred").connection
    assert stored is not None
    assert (stored.host, stored.port) == (f"https://u:{CANARY}@h.example", 8443)


def test_every_server_setting_is_read() -> None:
    # "Never accept a setting no code reads": ServerConfig.home was set by `hookline serve` and
    # read nowhere.
    import dataclasses
    from pathlib import Path

    import hookline.server
    from hookline.server import ServerConfig

    package = Path(hookline.server.__file__).parent
    source = "\n".join(path.read_text() for path in package.glob("*.py"))
    unread = [
        field.name
        for field in dataclasses.fields(ServerConfig)
        if f"config.{field.name}" not in source
    ]
    assert unread == []


def test_secure_cookies_mean_hsts_and_a_secure_session_cookie(server_config: ServerConfig) -> None:
    # Behind HTTPS (--secure-cookies) the browser must also be told never to use plain HTTP,
    # or a first plain request (and its cookie-less login page) can be intercepted.
    from fastapi.testclient import TestClient

    from hookline.server import create_app

    plain = TestClient(create_app(server_config), base_url="https://testserver")
    with plain:
        page = plain.get("/login")
        assert "strict-transport-security" not in page.headers
        cookie = page.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        assert "secure" not in cookie.replace("samesite", "")
    server_config.secure_cookies = True
    secure = TestClient(create_app(server_config), base_url="https://testserver")
    with secure:
        page = secure.get("/login")
        assert page.headers["strict-transport-security"] == "max-age=31536000"
        assert "; secure" in page.headers["set-cookie"].lower()
        api = secure.get("/api/v1/health")
        assert api.headers["strict-transport-security"] == "max-age=31536000"


def test_a_copied_session_cookie_dies_at_logout_and_after_the_session_lifetime(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The session is a signed cookie re-issued on every response: without a server-side check, a
    # copy taken before logout kept working, and an active session never ended.
    csrf = _login(api, "viewer")
    stolen = api.client.cookies.get("hookline_session")
    assert stolen
    assert api.client.get("/connections", follow_redirects=False).status_code == 200
    api.client.post("/logout", data={"csrf": csrf})
    api.client.cookies.clear()
    api.client.cookies.set("hookline_session", stolen)
    replay = api.client.get("/connections", follow_redirects=False)
    assert replay.status_code == 303
    assert replay.headers["location"] == "/login"

    api.client.cookies.clear()
    _login(api, "viewer")
    assert api.client.get("/connections", follow_redirects=False).status_code == 200
    from hookline.server import ui

    later = time.time() + ui.SESSION_SECONDS + 1
    monkeypatch.setattr(ui, "_now", lambda: later)  # the cookie itself stays fresh
    expired = api.client.get("/connections", follow_redirects=False)
    assert expired.status_code == 303


def test_pages_do_not_reflect_a_message_from_the_url(api: Api) -> None:
    # /connections?msg=... printed any text on a trusted page (content spoofing: "session
    # expired, paste your token at ..."). Messages now come from the server's own session.
    _login(api, "viewer")
    api.config.chain.set_connection(Connection(conn_id="keep", conn_type="http"))
    bait = "Paste your token at evil.example"
    assert bait not in api.client.get("/connections", params={"msg": bait}).text
    assert bait not in api.client.get("/connections/keep/edit", params={"msg": bait}).text


def test_a_sensitive_widget_is_never_written_into_the_page(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A hook may declare a widget "sensitive" under a key the masking rules do not know as secret
    # (here "service_json"); its value went into the input's value= attribute in clear.
    from hookline import registry
    from hookline.hooks.base import BaseHook

    class WidgetHook(BaseHook):
        conn_type = "widgety"
        hook_name = "Widgety"

        @classmethod
        def get_connection_form_widgets(cls) -> dict[str, object]:
            return {"service_json": {"label": "Service JSON", "sensitive": True}}

    monkeypatch.setitem(registry._extra_hooks, "widgety", WidgetHook)
    api.config.chain.set_connection(
        Connection(conn_id="wid", conn_type="widgety", extra={"service_json": CANARY})
    )
    csrf = _login(api, "editor")
    page = api.client.get("/connections/wid/edit")
    assert page.status_code == 200
    assert CANARY not in page.text
    assert re.search(r'name="w_service_json" value="\*\*\*"', page.text)
    saved = api.client.post(
        "/connections/wid/edit",
        data={"csrf": csrf, "conn_type": "widgety", "w_service_json": "***", "host": "h2"},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    stored = api.config.chain.lookup("wid").connection
    assert stored is not None
    assert (stored.host, stored.extra_dejson) == ("h2", {"service_json": CANARY})
