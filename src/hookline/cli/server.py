"""``hookline serve`` (the REST API and web UI) and ``hookline tokens create|list|revoke``.

``serve`` binds 127.0.0.1 unless ``--host`` says otherwise, runs one uvicorn worker, and reads and
writes connections through the configured secrets chain. ``tokens create`` prints only the token on
stdout (so ``TOKEN=$(hookline tokens create ci --role editor)`` works); the token is stored hashed
and cannot be shown again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hookline.cli import common, render
from hookline.cli.common import CliFailure, VerboseOption
from hookline.exceptions import MissingDependency

if TYPE_CHECKING:
    from hookline.server.app import ServerConfig
    from hookline.server.tokens import TokenStore

__all__ = ["serve", "tokens_app"]

tokens_app = typer.Typer(
    help="Create, list and revoke the API tokens of 'hookline serve'.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

SESSION_SECRET_ENV = "HOOKLINE_SESSION_SECRET"


def _store() -> TokenStore:
    try:
        from hookline.server.tokens import TokenStore, metastore_url
    except ImportError as exc:
        raise MissingDependency("sqlalchemy", "server", purpose="API tokens") from exc
    from hookline.config import load_settings

    settings = load_settings()
    return TokenStore(metastore_url(settings.metastore_url, settings.home))


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Argument(help="A name for the token (unique).", show_default=False)],
    role: Annotated[
        str, typer.Option("--role", help="viewer, editor or admin.", show_default=False)
    ],
    verbose: VerboseOption = 0,
) -> None:
    """Create an API token; print only the token on stdout (it cannot be shown again)."""
    store = _store()
    try:
        token, text = store.create(name, role)
    finally:
        store.close()
    render.write_text(common.out_console(), text)
    render.write_text(
        common.err_console(), f"created token {token.name!r} ({token.role}); store it now"
    )


@tokens_app.command("list")
def tokens_list(verbose: VerboseOption = 0) -> None:
    """List the tokens: name, role, creation time, revoked or active (never the token)."""
    import datetime as dt

    store = _store()
    try:
        rows = store.list()
    finally:
        store.close()
    lines = ["name\trole\tcreated\tstatus"]
    for token in rows:
        created = dt.datetime.fromtimestamp(token.created_at, dt.UTC).isoformat(timespec="seconds")
        status = "active" if token.active else "revoked"
        lines.append(f"{token.name}\t{token.role}\t{created}\t{status}")
    render.write_text(common.out_console(), "\n".join(lines))


@tokens_app.command("revoke")
def tokens_revoke(
    name: Annotated[str, typer.Argument(help="The token's name.", show_default=False)],
    verbose: VerboseOption = 0,
) -> None:
    """Revoke a token: requests with it are refused from now on."""
    store = _store()
    try:
        store.revoke(name)
    finally:
        store.close()
    render.write_text(common.out_console(), f"revoked token {name!r}")


def build_config(*, max_body_bytes: int, secure_cookies: bool) -> ServerConfig:
    """The server configuration from hookline's settings (the default chain, the metastore)."""
    from hookline import audit
    from hookline.config import load_settings
    from hookline.server.app import ServerConfig
    from hookline.server.tokens import TokenStore, metastore_url

    settings = load_settings()
    chain = common.chain()  # applies [masking] and [audit] as every command does
    audit_log: Path | None = None
    section = settings.sections.get("audit", {})
    if section:
        audit_settings = audit.AuditSettings.from_mapping(section)
        if audit_settings.enabled and "file" in audit_settings.sinks:
            audit_log = audit.log_path(audit_settings, settings.home)
    return ServerConfig(
        chain=chain,
        tokens=TokenStore(metastore_url(settings.metastore_url, settings.home)),
        audit_log=audit_log,
        metastore_url=settings.metastore_url,
        max_body_bytes=max_body_bytes,
        session_secret=os.environ.get(SESSION_SECRET_ENV) or None,
        secure_cookies=secure_cookies,
    )


def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (default: loopback only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="TCP port to listen on.")] = 8787,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", help="Largest request body accepted.")
    ] = 1_000_000,
    secure_cookies: Annotated[
        bool,
        typer.Option(
            "--secure-cookies",
            help="Behind HTTPS: mark the session cookie Secure and send Strict-Transport-Security.",
        ),
    ] = False,
    trusted_proxies: Annotated[
        str,
        typer.Option(
            "--trusted-proxies",
            help="Comma-separated addresses of reverse proxies whose X-Forwarded-For names the "
            "client (default: none; the login rate limit is then per connecting address).",
        ),
    ] = "",
    verbose: VerboseOption = 0,
) -> None:
    """Serve the REST API (/api/v1) and the web UI (/) until interrupted.

    Authenticate with tokens from 'hookline tokens create'. The UI's session cookie is signed with
    HOOKLINE_SESSION_SECRET, else with a random key (sessions end when the server restarts).
    """
    if not 0 < port < 65536:
        raise CliFailure(f"--port must be between 1 and 65535, got {port}")
    if max_body_bytes < 1024:
        raise CliFailure("--max-body-bytes must be at least 1024")
    try:
        import uvicorn

        from hookline.server import create_app
    except ImportError as exc:
        raise MissingDependency(exc.name or "fastapi", "server", purpose="hookline serve") from exc
    proxies = [item.strip() for item in trusted_proxies.split(",") if item.strip()]
    config = build_config(max_body_bytes=max_body_bytes, secure_cookies=secure_cookies)
    app = create_app(config)
    render.write_text(common.err_console(), f"serving hookline at http://{host}:{port}/")
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            workers=1,
            log_level="warning" if not verbose else "info",
            server_header=False,
            # uvicorn trusts X-Forwarded-For from 127.0.0.1 unless told otherwise: any local
            # client could then pick its "address" and never meet the login rate limit.
            proxy_headers=bool(proxies),
            forwarded_allow_ips=proxies or None,
            access_log=bool(verbose),
        )
    finally:
        config.tokens.close()
