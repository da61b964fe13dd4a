"""A local OAuth 2.0 token endpoint for service-account keys (the JWT-bearer grant), as a fixture.

A service-account key whose ``token_uri`` points here is exchanged for an access token when the
JWT's ``kid`` (the key's ``private_key_id``) is in :attr:`TokenServer.accepted`; any other key gets
HTTP 400 ``invalid_grant``, as Google answers a deleted key. Signatures are not checked: the server
tests which key a client uses, not cryptography. :attr:`TokenServer.grants` records each ``kid`` asked.

Fixture: ``gcp_token_server`` (function scope).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest


class TokenServer:
    """The token endpoint on a free 127.0.0.1 port in a background thread."""

    def __init__(self) -> None:
        self.accepted: set[str] = set()
        self.grants: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                assertion = form.get("assertion", [""])[0]
                header = assertion.split(".")[0]
                kid = ""
                if header:
                    padded = header + "=" * (-len(header) % 4)
                    kid = str(json.loads(base64.urlsafe_b64decode(padded)).get("kid", ""))
                server.grants.append(kid)
                if kid in server.accepted:
                    status = 200
                    body = {
                        "access_token": f"ya29.{kid}",
                        "expires_in": 3600,
                        "token_type": "Bearer",
                    }
                else:
                    status = 400
                    body = {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def token_uri(self) -> str:
        """The ``token_uri`` to put in a service-account key."""
        return f"http://127.0.0.1:{self.port}/token"

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture
def gcp_token_server() -> Iterator[TokenServer]:
    """A token endpoint for the test."""
    server = TokenServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
