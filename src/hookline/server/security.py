"""Safe defaults for every response of ``hookline serve``: headers, a body size limit, a login rate limit.

* :class:`GuardMiddleware` (pure ASGI, so it costs little per request) refuses a request body
  larger than the limit with 413, before the application reads it (by ``Content-Length``, or by
  counting a chunked body), and adds security headers to every response: no sniffing, no framing,
  no referrer, a strict Content-Security-Policy (scripts and styles only from the server itself),
  and ``Cache-Control: no-store`` so no page or API answer with connection details is cached.
* :class:`RateLimiter`: a sliding window per client address, for the login form.
* :func:`new_csrf_token` / :func:`csrf_ok`: the synchronizer token of the UI's forms.
"""

from __future__ import annotations

import collections
import hmac
import ipaddress
import json
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

__all__ = ["GuardMiddleware", "RateLimiter", "client_key", "csrf_ok", "new_csrf_token"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SECURITY_HEADERS: Final[tuple[tuple[bytes, bytes], ...]] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
    ),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
)

#: Sent when the server is behind HTTPS (``--secure-cookies``): the browser uses HTTPS only.
HSTS_HEADER: Final[tuple[tuple[bytes, bytes], ...]] = (
    (b"strict-transport-security", b"max-age=31536000"),
)


class GuardMiddleware:
    """Body size limit and security headers around an ASGI app.

    Args:
        app: The application.
        max_body_bytes: The largest request body accepted.
        hsts: Also send ``Strict-Transport-Security`` (the server is behind HTTPS).
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, hsts: bool = False) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.headers = SECURITY_HEADERS + (HSTS_HEADER if hsts else ())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        length: int | None = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = limit + 1
        if length is not None and length > limit:
            await _too_large(send, limit, self.headers)
            return
        if length is None and scope.get("method") in {"POST", "PUT", "PATCH", "DELETE"}:
            # No Content-Length (a chunked body): read it here, up to the limit, then replay it.
            body = bytearray()
            more = True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                body.extend(message.get("body", b""))
                more = bool(message.get("more_body", False))
                if len(body) > limit:
                    await _too_large(send, limit, self.headers)
                    return
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}

            receive = replay

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k != b"cache-control"]
                headers.extend(self.headers)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _too_large(send: Send, limit: int, extra: tuple[tuple[bytes, bytes], ...]) -> None:
    body = json.dumps({"detail": f"request body larger than {limit} bytes", "status": 413}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RateLimiter:
    """At most ``attempts`` per ``window_s`` seconds per key (a client address, see
    :func:`client_key`).

    Memory is bounded: at most ``max_keys`` keys are tracked; when that many are active at once,
    idle ones are forgotten, and if none is idle a new key shares one overflow budget (so a flood
    of addresses neither grows the table nor escapes the limit).

    Args:
        attempts: Allowed attempts in the window.
        window_s: The window's length.
        max_keys: The most keys tracked.
    """

    OVERFLOW: Final = "\x00overflow"

    def __init__(self, attempts: int = 10, window_s: float = 60.0, max_keys: int = 10_000) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self.max_keys = max_keys
        self._hits: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._hits)

    def allow(self, key: str) -> bool:
        """Count one attempt by ``key``; False when it is over the limit (the attempt is refused)."""
        now = time.monotonic()
        with self._lock:
            if key not in self._hits and len(self._hits) >= self.max_keys:
                # forget idle clients so memory stays bounded
                self._hits = {
                    k: q for k, q in self._hits.items() if q and q[-1] > now - self.window_s
                }
                if len(self._hits) >= self.max_keys:
                    key = self.OVERFLOW
            hits = self._hits.setdefault(key, collections.deque())
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            if len(hits) >= self.attempts:
                return False
            hits.append(now)
            return True


def client_key(address: str) -> str:
    """The rate-limit key of a client address: an IPv4 address itself, an IPv6 address's /64
    network (one host usually holds a whole /64, so per-address keys would not limit it)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def new_csrf_token() -> str:
    """A fresh random CSRF token for a session."""
    return secrets.token_urlsafe(32)


def csrf_ok(session_token: object, form_token: object) -> bool:
    """Whether a form's CSRF token matches the session's (constant time)."""
    if not isinstance(session_token, str) or not isinstance(form_token, str) or not session_token:
        return False
    return hmac.compare_digest(session_token.encode(), form_token.encode())
