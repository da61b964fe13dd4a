"""A local recording HTTP server for hook tests: answers on 127.0.0.1, records every request.

By default it answers ``200`` with a JSON echo of the request (method, path, query, headers, body).
``GET /bytes/<n>`` answers ``n`` bytes of a fixed pattern (for streaming downloads). Tests script
failures with :meth:`EchoServer.fail_next` ("answer 503 twice, then normally"), and read what was
received from :attr:`EchoServer.requests`. The server speaks HTTP/1.1 with keep-alive.

Fixtures: ``http_echo_server`` (session scope), ``http_echo`` (the same server, reset per test) and
``https_echo_server`` (over TLS with a self-signed certificate, session scope).
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

PATTERN = bytes(range(256))


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class _Scripted:
    status: int
    times: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class EchoServer:
    """A threaded HTTP server on a free loopback port (or ``port``, to restart one that was
    stopped) that records requests and scripts failures."""

    def __init__(self, tls_cert: tuple[Path, Path] | None = None, port: int = 0) -> None:
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self.connections = 0
        self.cafile: Path | None = None
        self._script: list[_Scripted] = []
        self._sockets: list[socket.socket] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def setup(self) -> None:
                super().setup()
                with server._lock:
                    server.connections += 1
                    server._sockets.append(self.request)

            def log_message(self, format: str, *args: object) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                record = RecordedRequest(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                status, headers, payload = server._answer(record)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                truncated = "Content-Length" in headers  # a scripted lie: send less, then hang up
                if not truncated:
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                if truncated:
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._httpd.daemon_threads = True
        scheme = "http"
        if tls_cert is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls_cert)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
            scheme = "https"
        self.port: int = int(self._httpd.server_address[1])
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def _answer(self, record: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests.append(record)
            if self._script:
                step = self._script[0]
                step.times -= 1
                if step.times <= 0:
                    self._script.pop(0)
                return step.status, dict(step.headers), step.body
        if record.path.startswith("/bytes/"):
            size = int(record.path.rsplit("/", 1)[1])
            payload = (PATTERN * (size // len(PATTERN) + 1))[:size]
            return 200, {"Content-Type": "application/octet-stream"}, payload
        echo = {
            "method": record.method,
            "path": record.path,
            "query": record.query,
            "headers": record.headers,
            "body": record.body.decode("utf-8", "replace"),
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(echo).encode()

    def fail_next(
        self,
        status: int,
        times: int = 1,
        *,
        retry_after: str | None = None,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` (queued after earlier scripts).

        A ``Content-Length`` in ``headers`` is sent as given and the connection is closed after
        ``body``: a body cut short.
        """
        extra = dict(headers or {})
        if retry_after is not None:
            extra["Retry-After"] = retry_after
        with self._lock:
            self._script.append(_Scripted(status, times, extra, body))

    def reset(self) -> None:
        """Forget recorded requests, connection counts and scripted answers."""
        with self._lock:
            self.requests.clear()
            self._script.clear()
            self.connections = 0

    def start(self) -> None:
        """Serve in a daemon thread."""
        self._thread.start()

    def kill(self) -> None:
        """Stop serving and drop every open connection too, as a crashed server would."""
        self.stop()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture(scope="session")
def http_echo_server() -> Iterator[EchoServer]:
    """One recording HTTP server for the whole session."""
    server = EchoServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def https_echo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EchoServer]:
    """The recording server over TLS with a self-signed certificate (``cafile`` attribute)."""
    from tests.servers.smtp import make_self_signed_cert

    certfile, keyfile = make_self_signed_cert(tmp_path_factory.mktemp("https-echo"))
    server = EchoServer(tls_cert=(certfile, keyfile))
    server.cafile = certfile
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def http_echo(http_echo_server: EchoServer) -> Iterator[EchoServer]:
    """The session's recording HTTP server, reset before and after the test."""
    http_echo_server.reset()
    yield http_echo_server
    http_echo_server.reset()
