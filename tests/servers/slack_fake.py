"""A small local Slack Web API fake for hook tests: answers on 127.0.0.1 and records every request.

It implements what SlackHook uses, with Slack's wire conventions (HTTP 200 with ``{"ok": false,
"error": ...}`` for API errors; HTTP 429 with ``Retry-After`` for rate limits):

* ``auth.test``, ``chat.postMessage``, ``conversations.list`` (paginated with ``limit`` and
  ``cursor``), ``files.getUploadURLExternal`` (hands out an upload URL on this server),
  ``POST /upload/<file_id>`` (stores the bytes), ``files.completeUploadExternal``, ``files.info``;
* a token not in :attr:`SlackFake.tokens` gets ``invalid_auth`` (no token: ``not_authed``);
* :meth:`SlackFake.rate_limit` makes the next N calls answer 429 with a ``Retry-After``.

Fixtures: ``slack_fake_server`` (session scope) and ``slack_fake`` (the same server, reset per test).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

BOT_TOKEN = "xoxb-c4n4ry-S3cret-b0t-t0ken"


@dataclass(frozen=True)
class SlackRequest:
    """One request as the fake received it."""

    method: str  # the API method (``chat.postMessage``) or ``upload``
    http_method: str
    path: str
    headers: dict[str, str]
    args: dict[str, Any]  # query, form or JSON arguments merged
    body: bytes


@dataclass
class SlackFake:
    """State of the fake: valid tokens, channels, scripted rate limits and what it received."""

    port: int = 0
    tokens: set[str] = field(default_factory=lambda: {BOT_TOKEN})
    channels: list[dict[str, Any]] = field(default_factory=list)
    requests: list[SlackRequest] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    max_page_size: int = 1000
    _limits: list[tuple[int, str | None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        """The Web API base URL for clients (``http://127.0.0.1:PORT/api/``)."""
        return f"http://127.0.0.1:{self.port}/api/"

    def reset(self) -> None:
        """Forget requests, uploads and scripted limits; restore the default token and channels."""
        with self._lock:
            self.tokens = {BOT_TOKEN}
            self.channels = [
                {"id": f"C{i:04d}", "name": f"channel-{i}", "is_archived": False} for i in range(7)
            ]
            self.channels.append({"id": "C0GENERAL", "name": "general", "is_archived": False})
            self.requests.clear()
            self.uploads.clear()
            self._limits.clear()
            self.max_page_size = 1000

    def rate_limit(self, times: int, retry_after: str | None = "1") -> None:
        """Answer the next ``times`` API calls with HTTP 429 (and ``Retry-After`` when given)."""
        with self._lock:
            self._limits.extend([(1, retry_after)] * times)

    def calls(self, method: str) -> list[SlackRequest]:
        """The recorded requests for one API method."""
        return [r for r in self.requests if r.method == method]

    # -- API ---------------------------------------------------------------------------------

    def answer(self, request: SlackRequest) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Status, headers and JSON body for ``request``."""
        with self._lock:
            self.requests.append(request)
            if request.method != "upload" and self._limits:
                _, retry_after = self._limits.pop(0)
                headers = {"Retry-After": retry_after} if retry_after is not None else {}
                return 429, headers, {"ok": False, "error": "ratelimited"}
        if request.method == "upload":
            file_id = request.path.rsplit("/", 1)[-1]
            self.uploads[file_id] = request.body
            return 200, {}, {"ok": True}
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip() or str(request.args.get("token", ""))
        if not token:
            return 200, {}, {"ok": False, "error": "not_authed"}
        if token not in self.tokens:
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        handler = getattr(self, "_api_" + request.method.replace(".", "_"), None)
        if handler is None:
            return 200, {}, {"ok": False, "error": "unknown_method"}
        body: dict[str, Any] = handler(request.args)
        return 200, {}, body

    def _api_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "team": "hookline", "user": "bot", "team_id": "T1", "user_id": "U1"}

    def _channel(self, ref: Any) -> dict[str, Any] | None:
        for channel in self.channels:
            if ref in (channel["id"], channel["name"], "#" + channel["name"]):
                return channel
        return None

    def _api_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if not any(args.get(k) for k in ("text", "blocks", "attachments")):
            return {"ok": False, "error": "no_text"}
        return {"ok": True, "channel": channel["id"], "ts": "1700000000.000100", "message": args}

    def _api_conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        limit = min(int(args.get("limit") or 100), self.max_page_size)
        start = int(args.get("cursor") or 0)
        page = self.channels[start : start + limit]
        following = start + limit
        cursor = str(following) if following < len(self.channels) else ""
        return {"ok": True, "channels": page, "response_metadata": {"next_cursor": cursor}}

    def _api_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = "F" + uuid.uuid4().hex[:10].upper()
        return {
            "ok": True,
            "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}",
            "file_id": file_id,
        }

    def _api_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        items = json.loads(files) if isinstance(files, str) else files or []
        missing = [f["id"] for f in items if f["id"] not in self.uploads]
        if missing:
            return {"ok": False, "error": "file_not_found"}
        channel = args.get("channel_id")
        if channel and self._channel(channel) is None:
            return {"ok": False, "error": "channel_not_found"}
        return {
            "ok": True,
            "files": [
                {"id": f["id"], "title": f.get("title", ""), "name": f.get("title", "")}
                for f in items
            ],
        }

    def _api_files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = str(args.get("file", ""))
        if file_id not in self.uploads:
            return {"ok": False, "error": "file_not_found"}
        return {"ok": True, "file": {"id": file_id, "size": len(self.uploads[file_id])}}


def _parse_args(handler: BaseHTTPRequestHandler, body: bytes) -> dict[str, Any]:
    args: dict[str, Any] = {k: v[-1] for k, v in parse_qs(urlsplit(handler.path).query).items()}
    content_type = handler.headers.get("Content-Type", "")
    if body and content_type.startswith("application/json"):
        parsed = json.loads(body)
        if isinstance(parsed, dict):
            args.update(parsed)
    elif body and content_type.startswith("application/x-www-form-urlencoded"):
        args.update({k: v[-1] for k, v in parse_qs(body.decode()).items()})
    return args


def start_slack_fake() -> tuple[SlackFake, ThreadingHTTPServer, threading.Thread]:
    """Start the fake on a free loopback port in a background thread."""
    fake = SlackFake()
    fake.reset()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:
            return

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = urlsplit(self.path).path
            if path.startswith("/upload/"):
                method = "upload"
            elif path.startswith("/api/"):
                method = path.removeprefix("/api/")
            else:
                self.send_error(404)
                return
            request = SlackRequest(
                method=method,
                http_method=self.command,
                path=path,
                headers={k.lower(): v for k, v in self.headers.items()},
                args=_parse_args(self, body),
                body=body,
            )
            status, headers, payload = fake.answer(request)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = _handle
        do_POST = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    return fake, server, thread


@pytest.fixture(scope="session")
def slack_fake_server() -> Iterator[SlackFake]:
    """The Slack Web API fake for the whole session."""
    fake, server, thread = start_slack_fake()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def slack_fake(slack_fake_server: SlackFake) -> Iterator[SlackFake]:
    """The session's Slack fake, reset before and after the test."""
    slack_fake_server.reset()
    yield slack_fake_server
    slack_fake_server.reset()
