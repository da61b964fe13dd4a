"""The FastAPI application of ``hookline serve``: its state, authentication and error handling.

:func:`create_app` builds the app: the REST API under ``/api/v1`` (:mod:`hookline.server.api`),
the web UI (:mod:`hookline.server.ui`), the OpenAPI document at ``/api/v1/openapi.json``, and the
guards of :mod:`hookline.server.security`. The interactive docs pages are off: they load scripts
from a CDN, which the Content-Security-Policy forbids.

Errors are JSON ``{"detail": ..., "status": ...}``: masked with :mod:`hookline.masking`, without
a traceback, and a request validation error never echoes the input (it may be a password). An
unexpected exception answers 500 ``internal error`` and is logged (masked) on the server.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from hookline import __version__, masking
from hookline.exceptions import (
    ApiTokenError,
    AuditUnavailable,
    BackendPermissionDenied,
    BackendUnavailable,
    ConnectionNotFound,
    HooklineError,
    InvalidConnection,
    InvalidVariable,
    MissingDependency,
    RunNotFound,
    VariableNotFound,
)
from hookline.server.security import GuardMiddleware, RateLimiter
from hookline.server.tokens import ApiToken, TokenStore, role_allows

if TYPE_CHECKING:
    from hookline.resolve.chain import SecretsChain

__all__ = ["ServerConfig", "ServerState", "create_app", "require"]

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
DEFAULT_MAX_BODY_BYTES = 1_000_000


@dataclasses.dataclass
class ServerConfig:
    """How the server runs.

    Attributes:
        chain: The secrets chain read and written (uncached: every read is fresh).
        tokens: The API token store.
        audit_log: The audit log file searched by ``/audit`` (None: from the ``[audit]`` settings).
        runs_url: The database of pipeline runs (None: the metastore).
        metastore_url: ``[metastore] url`` (None: SQLite in the home).
        max_body_bytes: Largest request body accepted.
        session_secret: Signs the UI's session cookie (None: random for this process).
        secure_cookies: Behind HTTPS: mark the session cookie ``Secure`` and send
            ``Strict-Transport-Security``.
        login_attempts_per_minute: Per client address.
        test_timeout_s: How long ``POST .../test`` waits for the system.
        max_concurrent_tests: Connection tests running at once (a test that timed out counts
            until its thread ends); more answer 429.
    """

    chain: SecretsChain
    tokens: TokenStore
    audit_log: Path | None = None
    runs_url: str | None = None
    metastore_url: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    session_secret: str | None = None
    secure_cookies: bool = False
    login_attempts_per_minute: int = 10
    test_timeout_s: float = 15.0
    max_concurrent_tests: int = 4


@dataclasses.dataclass
class ServerState:
    """What request handlers share (``app.state.hookline``)."""

    config: ServerConfig
    login_limiter: RateLimiter
    test_slots: threading.BoundedSemaphore
    #: UI sessions ended by logout: session id -> when its cookie would have expired anyway.
    ended_sessions: dict[str, float] = dataclasses.field(default_factory=dict)


def state(request: Request) -> ServerState:
    """The server state of the app serving ``request``."""
    server_state: ServerState = request.app.state.hookline
    return server_state


_bearer_scheme = HTTPBearer(auto_error=False, description="An API token: hookline tokens create")


def _bearer(request: Request, credentials: HTTPAuthorizationCredentials | None) -> ApiToken | None:
    if credentials is None or not credentials.credentials:
        return None
    return state(request).config.tokens.authenticate(credentials.credentials)


def require(role: str) -> Any:
    """A dependency: the request's API token, which must allow ``role`` (401 without a valid token,
    403 when its role is too low)."""

    def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)],
    ) -> ApiToken:
        token = _bearer(request, credentials)
        if token is None:
            raise HTTPException(
                401, "a valid API token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        if not role_allows(token.role, role):
            raise HTTPException(403, f"the {token.role} role may not do this (needs {role})")
        request.state.token = token
        return token

    return Depends(dependency)


Viewer = Annotated[ApiToken, require("viewer")]
Editor = Annotated[ApiToken, require("editor")]
Admin = Annotated[ApiToken, require("admin")]


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"detail": masking.redact(detail), "status": status}, status_code=status, headers=headers
    )


_STATUS: tuple[tuple[type[HooklineError], int], ...] = (
    (ConnectionNotFound, 404),
    (VariableNotFound, 404),
    (RunNotFound, 404),
    (InvalidConnection, 422),
    (InvalidVariable, 422),
    (ApiTokenError, 422),
    (BackendUnavailable, 503),
    (BackendPermissionDenied, 502),
    (AuditUnavailable, 503),
)


def _install_error_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return _error(exc.status_code, str(exc.detail), dict(exc.headers or {}) or None)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        # Location and message only: pydantic's "input" and "ctx" may hold a password.
        problems = [
            f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg', '')}"
            for error in exc.errors()[:10]
        ]
        return _error(422, "invalid request: " + "; ".join(problems))

    async def hookline_error(request: Request, exc: Exception) -> JSONResponse:
        for cls, status in _STATUS:
            if isinstance(exc, cls):
                detail = str(exc)
                if isinstance(exc, ConnectionNotFound):
                    detail = f"connection {exc.conn_id!r} not found"
                return _error(status, detail.splitlines()[0] if detail else type(exc).__name__)
        log.error("request failed: %s: %s", type(exc).__name__, masking.redact(str(exc)))
        return _error(500, f"internal error ({type(exc).__name__})")

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected %s while serving %s", type(exc).__name__, request.url.path)
        return _error(500, "internal error")

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HooklineError, hookline_error)
    app.add_exception_handler(Exception, unexpected)


def _build(config: ServerConfig | None) -> FastAPI:
    from starlette.middleware.sessions import SessionMiddleware

    from hookline.server import api, ui

    app = FastAPI(
        title="hookline",
        version=__version__,
        description="Connections, variables, lookup traces, audit records and pipeline runs of "
        "hookline. Authenticate with `Authorization: Bearer <token>` (`hookline tokens create`).",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    _install_error_handlers(app)
    app.include_router(api.router, prefix=API_PREFIX)
    app.include_router(ui.router)
    if config is None:
        return app
    app.state.hookline = ServerState(
        config=config,
        login_limiter=RateLimiter(config.login_attempts_per_minute, 60.0),
        test_slots=threading.BoundedSemaphore(config.max_concurrent_tests),
    )
    ui.mount_static(app)
    app.add_middleware(
        SessionMiddleware,
        secret_key=config.session_secret or secrets.token_urlsafe(32),
        session_cookie="hookline_session",
        max_age=ui.SESSION_SECONDS,
        same_site="strict",
        https_only=config.secure_cookies,
    )
    app.add_middleware(
        GuardMiddleware, max_body_bytes=config.max_body_bytes, hsts=config.secure_cookies
    )
    return app


def _check_packages() -> None:
    """Fail at startup, not at the first login: the UI needs Jinja2 (pages), python-multipart
    (forms) and itsdangerous (signed session cookies), which FastAPI imports only when used."""
    try:
        import itsdangerous
        import jinja2
        import python_multipart
    except ImportError as exc:
        raise MissingDependency(exc.name or "jinja2", "server", purpose="the web UI") from exc
    del itsdangerous, jinja2, python_multipart


def create_app(config: ServerConfig) -> FastAPI:
    """The ``hookline serve`` application for ``config``.

    Raises:
        MissingDependency: a package of the ``server`` extra is not installed.
    """
    _check_packages()
    return _build(config)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the API (what ``/api/v1/openapi.json`` serves; docs/openapi.json)."""
    document: dict[str, Any] = _build(None).openapi()
    return document
