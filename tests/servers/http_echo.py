"""A local recording HTTP server for hook tests: answers on 127.0.0.1, records every request.

By default it answers ``200`` with a JSON echo of the request (method, path, query, headers, body).
``GET /bytes/<n>`` answers ``n`` bytes of a fixed pattern (for streaming downloads). Tests script
answers with :meth:`EchoServer.fail_next` ("answer 503 twice, then normally"; also redirects with a
``Location`` header, and slow answers with ``delay_s``), and read what was received from
:attr:`EchoServer.requests`, including the raw request target (absolute-form when the server is
used as a forward proxy). The server speaks HTTP/1.1 with keep-alive.

Fixtures: ``http_echo_server`` (session scope), ``http_echo`` (the same server, reset per test),
``http_echo_other`` (a second server on another port, another origin, reset per test),
``https_echo_server`` (over TLS with a self-signed certificate, session scope) and
``https_mtls_echo_server`` (TLS that requires a client certificate, session scope).
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
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
    target: str = ""

    def json(self) -> object:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class _Scripted:
    status: int
    times: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay_s: float = 0.0


class EchoServer:
    """A threaded HTTP server on a free loopback port (or ``port``, to restart one that was
    stopped) that records requests and scripts failures."""

    def __init__(
        self,
        tls_cert: tuple[Path, Path] | None = None,
        client_ca: Path | None = None,
        port: int = 0,
    ) -> None:
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self.connections = 0
        self.cafile: Path | None = None
        self.client_cert: tuple[Path, Path] | None = None
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
                    target=self.path,
                )
                status, headers, payload, delay_s = server._answer(record)
                if delay_s:
                    time.sleep(delay_s)
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

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._httpd.daemon_threads = True
        scheme = "http"
        if tls_cert is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls_cert)
            if client_ca is not None:
                context.verify_mode = ssl.CERT_REQUIRED
                context.load_verify_locations(cafile=str(client_ca))
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
            scheme = "https"
        self.port: int = int(self._httpd.server_address[1])
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def _answer(self, record: RecordedRequest) -> tuple[int, dict[str, str], bytes, float]:
        with self._lock:
            self.requests.append(record)
            if self._script:
                step = self._script[0]
                step.times -= 1
                if step.times <= 0:
                    self._script.pop(0)
                if step.status:
                    return step.status, dict(step.headers), step.body, step.delay_s
                delay_s = step.delay_s
            else:
                delay_s = 0.0
        if record.path.startswith("/bytes/"):
            size = int(record.path.rsplit("/", 1)[1])
            payload = (PATTERN * (size // len(PATTERN) + 1))[:size]
            return 200, {"Content-Type": "application/octet-stream"}, payload, delay_s
        echo = {
            "method": record.method,
            "path": record.path,
            "query": record.query,
            "headers": record.headers,
            "body": record.body.decode("utf-8", "replace"),
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(echo).encode(), delay_s

    def fail_next(
        self,
        status: int,
        times: int = 1,
        *,
        retry_after: str | None = None,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        delay_s: float = 0.0,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` (queued after earlier scripts).

        A ``Content-Length`` in ``headers`` is sent as given and the connection is closed after
        ``body``: a body cut short. ``status=0`` answers normally (the echo), after ``delay_s``.
        """
        extra = dict(headers or {})
        if retry_after is not None:
            extra["Retry-After"] = retry_after
        with self._lock:
            self._script.append(_Scripted(status, times, extra, body, delay_s))

    def redirect_next(self, location: str, *, status: int = 302, times: int = 1) -> None:
        """Answer the next ``times`` requests with a redirect to ``location``."""
        self.fail_next(status, times, headers={"Location": location})

    def slow_next(self, delay_s: float, times: int = 1) -> None:
        """Answer the next ``times`` requests normally, but only after ``delay_s`` seconds."""
        self.fail_next(0, times, delay_s=delay_s)

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


@pytest.fixture(scope="session")
def http_echo_other_server() -> Iterator[EchoServer]:
    """A second recording HTTP server: another port, so another origin than ``http_echo_server``."""
    server = EchoServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def http_echo_other(http_echo_other_server: EchoServer) -> Iterator[EchoServer]:
    """The second server, reset before and after the test."""
    http_echo_other_server.reset()
    yield http_echo_other_server
    http_echo_other_server.reset()


@pytest.fixture(scope="session")
def https_mtls_echo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EchoServer]:
    """The recording server over TLS, requiring a client certificate signed by ``client_cert``.

    Attributes set: ``cafile`` (the server's certificate, to verify it) and ``client_cert``
    (``(certfile, keyfile)`` of a certificate the server accepts).
    """
    from tests.servers.smtp import make_self_signed_cert

    server_dir = tmp_path_factory.mktemp("mtls-server")
    client_dir = tmp_path_factory.mktemp("mtls-client")
    certfile, keyfile = make_self_signed_cert(server_dir)
    client_cert, client_key = make_self_signed_cert(client_dir)
    server = EchoServer(tls_cert=(certfile, keyfile), client_ca=client_cert)
    server.cafile = certfile
    server.client_cert = (client_cert, client_key)
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
