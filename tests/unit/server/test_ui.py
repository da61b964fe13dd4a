"""The web UI through TestClient: login, CSRF, rate limit, roles, masking (the browser flow is in
tests/integration/test_server_ui.py)."""

from __future__ import annotations

import re

from hookline.connection import Connection
from tests.unit.server.conftest import CANARY, Api


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


def _login(api: Api, role: str) -> str:
    page = api.client.get("/login")
    response = api.client.post(
        "/login", data={"token": api.tokens[role], "csrf": _csrf(page.text)}, follow_redirects=True
    )
    assert response.status_code == 200, response.text
    assert "Connections" in response.text
    return _csrf(response.text)


def test_pages_need_a_session(api: Api) -> None:
    for path in ("/connections", "/connections/new", "/connections/x/edit", "/audit", "/runs"):
        response = api.client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/login"


def test_login_needs_csrf_and_a_valid_token(api: Api) -> None:
    no_csrf = api.client.post("/login", data={"token": api.tokens["admin"]})
    assert no_csrf.status_code == 403
    page = api.client.get("/login")
    bad = api.client.post("/login", data={"token": "nope", "csrf": _csrf(page.text)})
    assert bad.status_code == 401
    assert "invalid token" in bad.text


def test_login_is_rate_limited(api: Api) -> None:
    csrf = _csrf(api.client.get("/login").text)
    codes = [
        api.client.post("/login", data={"token": "nope", "csrf": csrf}).status_code
        for _ in range(12)
    ]
    assert codes[:10] == [401] * 10
    assert codes[10:] == [429, 429]


def test_editor_adds_edits_and_deletes_and_never_sees_the_password(api: Api) -> None:
    csrf = _login(api, "editor")
    form = {
        "csrf": csrf,
        "connection_id": "pg_ui",
        "conn_type": "postgres",
        "host": "db.internal",
        "schema": "app",
        "login": "u",
        "port": "5432",
        "password": CANARY,
        "extra": f'{{"api_key": "{CANARY}"}}',
        "w_sslmode": "require",
    }
    created = api.client.post("/connections/new", data=form, follow_redirects=True)
    assert created.status_code == 200, created.text
    assert "password set" in created.text
    assert CANARY not in created.text
    stored = api.config.chain.lookup("pg_ui").connection
    assert stored is not None
    assert stored.password == CANARY
    assert stored.extra_dejson == {"api_key": CANARY, "sslmode": "require"}
    assert 'value="Database"' not in created.text
    assert ">Database<" in created.text
    # Save the form as shown (password empty, extra with ***): nothing secret is lost.
    edit = {
        "csrf": csrf,
        "conn_type": "postgres",
        "host": "db2",
        "schema": "app",
        "login": "u",
        "port": "5432",
        "password": "",
        "extra": '{"api_key": "***"}',
        "w_sslmode": "disable",
    }
    saved = api.client.post("/connections/pg_ui/edit", data=edit, follow_redirects=True)
    assert saved.status_code == 200
    stored = api.config.chain.lookup("pg_ui").connection
    assert stored is not None
    assert (stored.host, stored.password) == ("db2", CANARY)
    assert stored.extra_dejson == {"api_key": CANARY, "sslmode": "disable"}
    listing = api.client.get("/connections?search=pg_")
    assert "pg_ui" in listing.text
    assert "metastore" in listing.text
    trace = api.client.get("/connections/pg_ui/trace")
    assert "metastore" in trace.text
    deleted = api.client.post(
        "/connections/pg_ui/delete", data={"csrf": csrf}, follow_redirects=True
    )
    assert "deleted pg_ui" in deleted.text
    assert api.config.chain.lookup("pg_ui").connection is None


def test_posts_without_csrf_are_refused(api: Api) -> None:
    _login(api, "editor")
    api.config.chain.set_connection(Connection(conn_id="keep", conn_type="sqlite"))
    response = api.client.post("/connections/keep/delete", data={})
    assert response.status_code == 403
    assert api.config.chain.lookup("keep").connection is not None


def test_viewer_cannot_change_anything(api: Api) -> None:
    csrf = _login(api, "viewer")
    api.config.chain.set_connection(
        Connection(conn_id="keep", conn_type="postgres", host="h", password=CANARY)
    )
    page = api.client.get("/connections/keep/edit")
    assert 'id="save"' not in page.text
    assert 'id="delete"' not in page.text
    assert CANARY not in page.text
    for path, data in (
        ("/connections/keep/delete", {"csrf": csrf}),
        ("/connections/keep/edit", {"csrf": csrf, "conn_type": "postgres", "host": "evil"}),
        ("/connections/keep/test", {"csrf": csrf}),
        ("/connections/new", {"csrf": csrf, "connection_id": "x", "conn_type": "http"}),
    ):
        assert api.client.post(path, data=data).status_code == 403
    stored = api.config.chain.lookup("keep").connection
    assert stored is not None
    assert stored.host == "h"
    assert api.client.get("/audit").status_code == 403


def test_admin_pages(api: Api) -> None:
    _login(api, "admin")
    assert api.client.get("/audit").status_code == 200
    assert api.client.get("/runs").status_code == 200
    assert api.client.get("/connections/new?conn_type=sqlite").status_code == 200
