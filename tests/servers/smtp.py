"""A real SMTP server for hook tests: an in-process aiosmtpd Controller on a free loopback port.

It records every message it accepts (envelope sender, recipients, raw content, parsed message) and
supports ``AUTH PLAIN``/``AUTH LOGIN`` without TLS against :attr:`SmtpServer.users`, which tests may
change (a rotated password). Authentication is offered but not required, so tests without a login
work too.

Fixtures: ``smtp_server_session`` (session scope) and ``smtp_server`` (the same server, reset per
test): plain SMTP. ``smtp_starttls_server`` offers STARTTLS and accepts AUTH only after it;
``smtp_ssl_server`` speaks implicit TLS (SMTPS). Both TLS servers use a throwaway self-signed
certificate for 127.0.0.1, whose file is :attr:`SmtpServer.cafile`.
"""

from __future__ import annotations

import datetime
import email
import email.policy
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

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


def make_self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for 127.0.0.1/localhost and its key; return both paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile = directory / "cert.pem"
    keyfile = directory / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


class SmtpServer:
    """An aiosmtpd server in a background thread; :attr:`messages` lists what it received.

    Args:
        tls: ``"none"``, ``"starttls"`` (offered; AUTH needs it) or ``"ssl"`` (implicit TLS).
        cert_dir: Where to write the self-signed certificate (TLS modes only).
    """

    def __init__(self, tls: str = "none", cert_dir: Path | None = None) -> None:
        self._lock = threading.Lock()
        self.messages: list[ReceivedMessage] = []
        self.users: dict[str, str] = {SMTP_USER: SMTP_PASSWORD}
        self.auth_attempts = 0
        self.host = "127.0.0.1"
        self.port = free_port()
        from aiosmtpd.controller import Controller  # imported here: plugin loading stays cheap

        self.cafile: Path | None = None
        options: dict[str, Any] = {}
        if tls != "none":
            if cert_dir is None:
                raise ValueError("a TLS server needs cert_dir")
            certfile, keyfile = make_self_signed_cert(cert_dir)
            self.cafile = certfile
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(certfile, keyfile)
            if tls == "starttls":
                options = {"tls_context": context, "require_starttls": False}
            elif tls == "ssl":
                options = {"ssl_context": context}
            else:
                raise ValueError(f"unknown tls mode {tls!r}")
        self._controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            authenticator=self._authenticate,
            auth_require_tls=tls == "starttls",
            auth_required=False,
            ready_timeout=10.0,
            **options,
        )

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

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


@pytest.fixture(scope="session")
def smtp_starttls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    """An SMTP server offering STARTTLS (self-signed certificate), AUTH only after it."""
    server = SmtpServer("starttls", tmp_path_factory.mktemp("smtp-starttls"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def smtp_ssl_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    """An SMTPS server (implicit TLS, self-signed certificate)."""
    server = SmtpServer("ssl", tmp_path_factory.mktemp("smtp-ssl"))
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
