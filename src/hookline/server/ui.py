"""The web UI of ``hookline serve``: server-rendered Jinja2 pages, plain forms, a little plain JS.

Log in with an API token (``hookline tokens create NAME --role ROLE``); the session cookie is signed,
``HttpOnly``, ``SameSite=Strict``, and holds only the token's id (the role is read again on each
request, so a revoked token ends its sessions), a session id and the login time: a session ends 8
hours after login whatever its activity, and at logout for every copy of its cookie (this process
remembers the ended session ids). Every form carries the session's CSRF token; a POST
without it is refused (403). Login attempts are rate limited per client address (429).

Pages: connections (search, type filter, the backend that holds each), the connection form of each
conn type (the fields its hook declares with ``get_ui_field_behaviour`` and
``get_connection_form_widgets``), a Test button, the lookup trace, audit search (admin) and pipeline
runs. A password is never put in a page: the form shows whether one is set, and an empty password
field keeps it.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from hookline import masking
from hookline.connection import Connection
from hookline.exceptions import HooklineError, InvalidConnection
from hookline.server.app import state
from hookline.server.security import client_key, csrf_ok, new_csrf_token
from hookline.server.tokens import ApiToken, role_allows

__all__ = ["mount_static", "router"]

_HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(_HERE / "templates"))


def conn_path(conn_id: object) -> str:
    """A connection id as ONE URL path segment: ``/`` too is percent-encoded, so a browser never
    resolves an id like ``x/../victim`` to another connection's page or form action."""
    return quote(str(conn_id), safe="")


templates.env.filters["conn_path"] = conn_path
router = APIRouter(include_in_schema=False)

STANDARD_FIELDS: Final = ("host", "schema", "login", "password", "port", "extra")
_LABELS: Final = {
    "host": "Host",
    "schema": "Schema",
    "login": "Login",
    "password": "Password",
    "port": "Port",
    "extra": "Extra (JSON)",
}
#: How long a UI session lasts after login, whatever its activity.
SESSION_SECONDS: Final = 8 * 3600
#: Logged-out sessions remembered (until their end); beyond, the oldest is forgotten.
MAX_ENDED_SESSIONS: Final = 100_000
_COMMON_TYPES: Final = ("postgres", "mysql", "sqlite", "http", "smtp", "aws", "slack")


def mount_static(app: FastAPI) -> None:
    """Serve the UI's CSS and JS under ``/static``."""
    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")


def _now() -> float:
    return time.time()


def _user(request: Request) -> ApiToken | None:
    """The session's token, while the session lasts: the cookie is signed and re-issued on every
    response, so the server checks that the session is not over (logged out, or older than
    :data:`SESSION_SECONDS` since login) and that the token is still active."""
    session = request.session
    token_id, sid, started = session.get("tid"), session.get("sid"), session.get("iat")
    if not isinstance(token_id, str) or not isinstance(sid, str):
        return None
    if not isinstance(started, int | float) or not 0 <= _now() - started <= SESSION_SECONDS:
        return None
    if sid in state(request).ended_sessions:
        return None
    return state(request).config.tokens.get(token_id)


def _end_session(request: Request) -> None:
    """Refuse the session's cookie from now on, copies included (until it would expire anyway)."""
    sid, started = request.session.get("sid"), request.session.get("iat")
    if isinstance(sid, str) and isinstance(started, int | float):
        ended = state(request).ended_sessions
        now = _now()
        for key in [k for k, until in ended.items() if until < now]:
            del ended[key]
        if len(ended) >= MAX_ENDED_SESSIONS:
            del ended[next(iter(ended))]
        ended[sid] = started + SESSION_SECONDS


def _csrf(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = new_csrf_token()
        request.session["csrf"] = token
    return token


def _page(
    request: Request, name: str, user: ApiToken | None, status: int = 200, **context: Any
) -> HTMLResponse:
    context.update(request=request, user=user, csrf=_csrf(request))
    response: HTMLResponse = templates.TemplateResponse(request, name, context, status_code=status)
    return response


def _error_page(request: Request, user: ApiToken | None, status: int, message: str) -> HTMLResponse:
    return _page(request, "error.html", user, status, message=masking.redact(message))


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _flash(request: Request) -> str:
    """The message the previous POST left for the next page (never text from the URL, which
    anyone could write: a page must not print an attacker's words)."""
    message = request.session.pop("msg", "")
    return message if isinstance(message, str) else ""


def _login_redirect() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


# -- login ----------------------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request) -> Response:
    return _page(request, "login.html", None)


@router.post("/login")
async def login(request: Request) -> Response:
    server = state(request)
    client = client_key(request.client.host) if request.client else "unknown"
    if not server.login_limiter.allow(client):
        return _page(request, "login.html", None, 429, error="too many attempts; wait a minute")
    form = await _form(request)
    if not csrf_ok(request.session.get("csrf"), form.get("csrf")):
        return _page(request, "login.html", None, 403, error="the form expired; try again")
    token = await run_in_threadpool(server.config.tokens.authenticate, form.get("token", ""))
    if token is None:
        return _page(request, "login.html", None, 401, error="invalid token")
    request.session.clear()
    request.session["tid"] = token.token_id
    request.session["sid"] = secrets.token_urlsafe(16)
    request.session["iat"] = _now()
    request.session["csrf"] = new_csrf_token()
    return RedirectResponse("/connections", status_code=303)


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await _form(request)
    if csrf_ok(request.session.get("csrf"), form.get("csrf")):
        _end_session(request)
        request.session.clear()
    return _login_redirect()


@router.get("/")
def index(request: Request) -> Response:
    return RedirectResponse("/connections", status_code=303)


# -- connections ----------------------------------------------------------------------------------


@router.get("/connections")
def connections_page(request: Request, search: str = "", conn_type: str = "") -> Response:
    user = _user(request)
    if user is None:
        return _login_redirect()
    from hookline.server.api import list_connections

    rows = list_connections(request)
    types = sorted({conn.conn_type or "" for _, conn in rows} - {""})
    if conn_type:
        rows = [row for row in rows if (row[1].conn_type or "") == conn_type]
    if search:
        rows = [row for row in rows if search.lower() in (row[1].conn_id or "").lower()]
    return _page(
        request,
        "connections.html",
        user,
        rows=[(source, conn, conn.to_dict(redact=True)) for source, conn in rows],
        types=types,
        search=search,
        conn_type=conn_type,
        msg=_flash(request),
        can_edit=role_allows(user.role, "editor"),
    )


def _form_context(conn_type: str, conn: Connection | None) -> dict[str, Any]:
    from hookline.registry import hook_types
    from hookline.server.api import MASK
    from hookline.server.views import form_fields

    spec = form_fields(conn_type)
    widgets = spec["widgets"]
    shown = conn.to_dict(redact=True) if conn is not None else {}
    extra = dict(shown["extra"]) if conn is not None else {}
    widget_values = {name: extra.pop(name, "") for name in widgets}
    for name, widget in widgets.items():
        if dict(widget).get("sensitive") and widget_values[name] not in ("", None):
            widget_values[name] = MASK  # whatever its key: never a secret in a value= attribute
    fields = []
    for name in STANDARD_FIELDS:
        if name in spec["hidden"] or name == "password":
            continue
        value: Any = ""
        if conn is not None and name != "extra":
            value = shown.get(name) or ""  # redacted: a URL host's password is ***
        elif name == "extra":
            value = json.dumps(extra, indent=1) if extra else ""
        fields.append(
            {
                "name": name,
                "label": spec["labels"].get(name, _LABELS[name]),
                "placeholder": spec["placeholders"].get(name, ""),
                "value": value,
                "multiline": name == "extra",
            }
        )
    return {
        "fields": fields,
        "show_password": "password" not in spec["hidden"],
        "password_label": spec["labels"].get("password", "Password"),
        "widgets": [
            {"name": name, "value": widget_values[name], **dict(widget)}
            for name, widget in widgets.items()
        ],
        "hook_name": spec["hook_name"],
        "conn_types": sorted(set(hook_types()) | set(_COMMON_TYPES)),
    }


@router.get("/connections/new")
def new_connection_page(request: Request, conn_type: str = "postgres") -> Response:
    user = _user(request)
    if user is None:
        return _login_redirect()
    if not role_allows(user.role, "editor"):
        return _error_page(request, user, 403, f"the {user.role} role may not add connections")
    return _page(
        request,
        "form.html",
        user,
        conn=None,
        conn_id="",
        conn_type=conn_type,
        has_password=False,
        source=None,
        **_form_context(conn_type, None),
    )


def _fields_from_form(
    form: dict[str, str], conn_type: str, old: Connection | None
) -> dict[str, Any]:
    from hookline.server.api import MASK, _parse_extra, _plain
    from hookline.server.views import form_fields

    spec = form_fields(conn_type)
    fields: dict[str, Any] = {
        "conn_type": conn_type,
        "description": form.get("description") or None,
    }
    for name in ("host", "schema", "login"):
        if name not in spec["hidden"]:
            fields[name] = form.get(name) or None
    if "port" not in spec["hidden"]:
        port = form.get("port", "").strip()
        if port and not port.isdigit():
            raise HooklineError("port must be a number")
        fields["port"] = int(port) if port else None
    if form.get("password"):
        fields["password"] = form["password"]
    extra = _parse_extra(form.get("extra"))
    for name, widget in spec["widgets"].items():
        value: Any = form.get(f"w_{name}", "")
        if value == MASK and dict(widget).get("sensitive"):
            stored = old.extra_dejson if old is not None else {}
            if name not in stored:
                raise InvalidConnection(f"extra {name!r} is *** but has no stored value")
            value = _plain(stored[name])
        if value:
            extra[name] = value
    # A sensitive extra shown as *** is restored from the stored connection by merged_connection.
    fields["extra"] = json.dumps(extra) if extra else None
    return fields


async def _save(request: Request, conn_id: str | None) -> Response:
    from hookline.server.api import _stored, audit_write, merged_connection

    user = _user(request)
    if user is None:
        return _login_redirect()
    form = await _form(request)
    if not csrf_ok(request.session.get("csrf"), form.get("csrf")):
        return _error_page(request, user, 403, "missing or wrong CSRF token; reload the page")
    if not role_allows(user.role, "editor"):
        return _error_page(request, user, 403, f"the {user.role} role may not change connections")
    new = conn_id is None
    conn_id = conn_id or form.get("connection_id", "").strip()
    conn_type = form.get("conn_type", "").strip()
    chain = state(request).config.chain
    try:
        old = await run_in_threadpool(_stored, request, conn_id) if conn_id else None
        if new and old is not None:
            return _error_page(request, user, 409, f"connection {conn_id!r} already exists")
        if not new and old is None:
            return _error_page(request, user, 404, f"connection {conn_id!r} is not stored here")
        conn = merged_connection(conn_id, _fields_from_form(form, conn_type, old), old)
        await run_in_threadpool(chain.set_connection, conn, overwrite=not new)
    except HooklineError as exc:
        return _error_page(request, user, 422, str(exc).splitlines()[0])
    audit_write("api_write", user, conn_id, "create" if new else "update")
    request.session["msg"] = "saved"
    return RedirectResponse(f"/connections/{quote(conn_id, safe='')}/edit", 303)


@router.post("/connections/new")
async def create_connection(request: Request) -> Response:
    return await _save(request, None)


@router.get("/connections/{conn_id:path}/edit")
def edit_page(request: Request, conn_id: str) -> Response:
    from hookline.server.api import lookup

    user = _user(request)
    if user is None:
        return _login_redirect()
    try:
        conn, source = lookup(request, conn_id)
    except HooklineError as exc:
        return _error_page(request, user, 404, str(exc).splitlines()[0])
    conn_type = conn.conn_type or ""
    return _page(
        request,
        "form.html",
        user,
        conn=conn,
        conn_id=conn_id,
        conn_type=conn_type,
        has_password=conn.password is not None,
        source=source,
        msg=_flash(request),
        test=request.session.pop("test", None),
        can_edit=role_allows(user.role, "editor"),
        **_form_context(conn_type, conn),
    )


@router.post("/connections/{conn_id:path}/edit")
async def update_connection(request: Request, conn_id: str) -> Response:
    return await _save(request, conn_id)


@router.post("/connections/{conn_id:path}/delete")
async def delete_connection(request: Request, conn_id: str) -> Response:
    from hookline.server.api import audit_write

    user = _user(request)
    if user is None:
        return _login_redirect()
    form = await _form(request)
    if not csrf_ok(request.session.get("csrf"), form.get("csrf")):
        return _error_page(request, user, 403, "missing or wrong CSRF token; reload the page")
    if not role_allows(user.role, "editor"):
        return _error_page(request, user, 403, f"the {user.role} role may not delete connections")
    chain = state(request).config.chain
    if not await run_in_threadpool(chain.delete_connection, conn_id):
        return _error_page(request, user, 404, f"connection {conn_id!r} is not stored here")
    audit_write("api_write", user, conn_id, "delete")
    request.session["msg"] = f"deleted {conn_id}"
    return RedirectResponse("/connections", 303)


@router.post("/connections/{conn_id:path}/test")
async def test_connection(request: Request, conn_id: str) -> Response:
    from hookline.server.api import test_connection as api_test

    user = _user(request)
    if user is None:
        return _login_redirect()
    form = await _form(request)
    if not csrf_ok(request.session.get("csrf"), form.get("csrf")):
        return _error_page(request, user, 403, "missing or wrong CSRF token; reload the page")
    if not role_allows(user.role, "editor"):
        return _error_page(request, user, 403, f"the {user.role} role may not test connections")
    try:
        result = await api_test(request, user, conn_id)
    except HooklineError as exc:
        return _error_page(request, user, 404, str(exc).splitlines()[0])
    except HTTPException as exc:
        return _error_page(request, user, exc.status_code, str(exc.detail))
    request.session["test"] = {"status": result.status, "message": result.message}
    return RedirectResponse(f"/connections/{quote(conn_id, safe='')}/edit", 303)


@router.get("/connections/{conn_id:path}/trace")
def trace_page(request: Request, conn_id: str) -> Response:
    user = _user(request)
    if user is None:
        return _login_redirect()
    try:
        trace = state(request).config.chain.lookup(conn_id).trace
    except HooklineError as exc:
        return _error_page(request, user, 422, str(exc).splitlines()[0])
    return _page(request, "trace.html", user, trace=trace.to_dict(), conn_id=conn_id)


# -- audit, runs ----------------------------------------------------------------------------------


@router.get("/audit")
def audit_page(request: Request, conn_id: str = "", kind: str = "") -> Response:
    from hookline.server.views import audit_records

    user = _user(request)
    if user is None:
        return _login_redirect()
    if not role_allows(user.role, "admin"):
        return _error_page(request, user, 403, "only the admin role may search the audit log")
    config = state(request).config
    records = audit_records(config, conn_id or None, kind or None, None, 200)
    return _page(
        request,
        "audit.html",
        user,
        records=records,
        conn_id=conn_id,
        kind=kind,
        enabled=config.audit_log is not None,
    )


@router.get("/runs")
def runs_page(request: Request, pipeline_id: str = "") -> Response:
    from hookline.server.views import pipeline_runs

    user = _user(request)
    if user is None:
        return _login_redirect()
    runs = pipeline_runs(state(request).config, pipeline_id or None, 50)
    return _page(request, "runs.html", user, runs=runs, pipeline_id=pipeline_id)
