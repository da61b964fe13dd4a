"""The web UI in headless Chromium (Playwright) against a real ``hookline serve`` and PostgreSQL.

Set ``HOOKLINE_UPDATE_SCREENSHOTS=1`` to write the screenshots of the main pages to docs/img/.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.servers.hookline_server import HooklineServer
from tests.servers.postgres import PostgresServer

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
# Read at import: the autouse fixture clears HOOKLINE_* variables before each test.
UPDATE_SCREENSHOTS = bool(os.environ.get("HOOKLINE_UPDATE_SCREENSHOTS"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/bootstrap-servers.sh (apt chromium)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


def _shot(page: Page, name: str, tmp_path: Path) -> None:
    target = DOCS_IMG if UPDATE_SCREENSHOTS else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / f"{name}.png"), full_page=True)


def _login(page: Page, server: HooklineServer, role: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill("#token", server.tokens[role])
    page.click("#login")
    expect(page.locator("h1")).to_have_text("Connections")


def test_add_test_edit_mask_delete_and_viewer(
    browser: Browser,
    hookline_server: HooklineServer,
    postgres_server: PostgresServer,
    tmp_path: Path,
) -> None:
    server = hookline_server
    password = "ui-" + secrets.token_hex(8)
    name = postgres_server.unique_name("ui")
    postgres_server.create_database(name, owner_password=password)
    # Something for the list and the trace pages to show besides the new connection.
    httpx.post(
        f"{server.url}/api/v1/connections",
        json={
            "connection_id": "web_api",
            "conn_type": "http",
            "host": "api.example.com",
            "schema": "https",
        },
        headers=server.headers("editor"),
    ).raise_for_status()

    context = browser.new_context(viewport={"width": 1100, "height": 700})
    page = context.new_page()
    _login(page, server, "editor")
    page.click("#add")
    page.select_option("#conn_type", "postgres")
    page.wait_for_load_state()
    expect(page.locator("label[for=schema]")).to_have_text("Database")  # the hook's relabeling
    page.fill("#connection_id", "pg_ui")
    page.fill("#description", "the app database")
    page.fill("#host", postgres_server.host)
    page.fill("#port", str(postgres_server.port))
    page.fill("#schema", name)
    page.fill("#login", name)
    page.fill("#password", password)
    page.select_option("#w_sslmode", "disable")
    page.fill("#w_application_name", "hookline-ui")
    _shot(page, "connection-form", tmp_path)
    page.click("#save")
    expect(page.locator("#msg")).to_have_text("saved")
    expect(page.locator("#password-state")).to_contain_text("********")
    assert password not in page.content()

    page.click("#test")
    expect(page.locator("#test-result")).to_contain_text("Test succeeded")
    _shot(page, "connection-tested", tmp_path)

    page.fill("#description", "edited in the browser")
    page.click("#save")
    expect(page.locator("#description")).to_have_value("edited in the browser")
    assert password not in page.content()
    page.click("#test")  # the password was kept although the field was left empty
    expect(page.locator("#test-result")).to_contain_text("Test succeeded")

    page.goto(f"{server.url}/connections")
    expect(page.locator("#connections")).to_contain_text("pg_ui")
    expect(page.locator("#connections")).to_contain_text("metastore")
    _shot(page, "connections", tmp_path)
    page.goto(f"{server.url}/connections/pg_ui/trace")
    expect(page.locator("#trace-source")).to_have_text("metastore")
    _shot(page, "trace", tmp_path)

    # A viewer sees the connection but no way to change it; a forged POST is refused.
    viewer = browser.new_context(viewport={"width": 1100, "height": 700}).new_page()
    _login(viewer, server, "viewer")
    viewer.goto(f"{server.url}/connections/pg_ui/edit")
    expect(viewer.locator("#host")).to_have_value(postgres_server.host)
    assert viewer.locator("#save").count() == 0
    assert viewer.locator("#delete").count() == 0
    assert viewer.locator("#add").count() == 0
    csrf = viewer.locator("input[name=csrf]").first.get_attribute("value")
    forged = viewer.request.post(
        f"{server.url}/connections/pg_ui/delete", form={"csrf": csrf or ""}
    )
    assert forged.status == 403
    viewer.context.close()

    page.goto(f"{server.url}/connections/pg_ui/edit")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete")
    expect(page.locator("#msg")).to_have_text("deleted pg_ui")
    expect(page.locator("#connections")).not_to_contain_text("pg_ui")

    admin = browser.new_context(viewport={"width": 1100, "height": 700}).new_page()
    _login(admin, server, "admin")
    admin.goto(f"{server.url}/audit")
    expect(admin.locator("h1")).to_have_text("Audit log")
    admin.goto(f"{server.url}/runs")
    expect(admin.locator("h1")).to_have_text("Pipeline runs")
    admin.context.close()
    context.close()
    log = server.log.read_text(errors="replace")
    assert password not in log
