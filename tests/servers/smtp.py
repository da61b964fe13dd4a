"""A real SMTP server for hook tests: an in-process aiosmtpd Controller on a free loopback port.

It records every message it accepts (envelope sender, recipients, raw content, parsed message) and
supports ``AUTH PLAIN``/``AUTH LOGIN`` without TLS against :attr:`SmtpServer.users`, which tests may
change (a rotated password). Authentication is offered but not required, so tests without a login
work too.

Fixtures: ``smtp_server_session`` (session scope) and ``smtp_server`` (the same server, reset per test).
"""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.servers._proc import free_port

SMTP_USER = "mailer"
SMTP_PASSWORD = "c4n4ry-S3cret!"


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    message: EmailMessage
    login: str | None


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        login = session.auth_data if session.authenticated else None
        with self._server._lock:
            self._server.messages.append(
                ReceivedMessage(envelope.mail_from, list(envelope.rcpt_tos), raw, parsed, login)
            )
        return "250 Message accepted for delivery"


class SmtpServer:
    """An aiosmtpd server in a background thread; :attr:`messages` lists what it received."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.messages: list[ReceivedMessage] = []
        self.users: dict[str, str] = {SMTP_USER: SMTP_PASSWORD}
        self.auth_attempts = 0
        self.host = "127.0.0.1"
        self.port = free_port()
        self._controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            authenticator=self._authenticate,
            auth_require_tls=False,
            auth_required=False,
            ready_timeout=10.0,
        )

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        with self._lock:
            self.auth_attempts += 1
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode()
        ok = self.users.get(user) == auth_data.password.decode()
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)

    def reset(self) -> None:
        """Forget received messages and auth attempts; restore the default user."""
        with self._lock:
            self.messages.clear()
            self.auth_attempts = 0
            self.users = {SMTP_USER: SMTP_PASSWORD}

    def start(self) -> None:
        """Start serving (fails loudly when the server does not come up)."""
        self._controller.start()

    def stop(self) -> None:
        """Stop the server thread."""
        self._controller.stop()


@pytest.fixture(scope="session")
def smtp_server_session() -> Iterator[SmtpServer]:
    """One SMTP server for the whole session."""
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_server(smtp_server_session: SmtpServer) -> Iterator[SmtpServer]:
    """The session's SMTP server, reset before and after the test."""
    smtp_server_session.reset()
    yield smtp_server_session
    smtp_server_session.reset()
