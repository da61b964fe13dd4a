"""Airflow's ``send_email`` and the ``email`` conn type against the real aiosmtpd server."""

from __future__ import annotations

from pathlib import Path

import pytest

from hookline import Connection
from hookline.exceptions import AuthenticationFailed, HookArgumentError
from hookline.hooks.smtp import SmtpHook, send_email, send_email_smtp
from hookline.testing import override_connections
from tests.servers.smtp import SMTP_PASSWORD, SMTP_USER, SmtpServer


def email_conn(server: SmtpServer, conn_id: str = "smtp_default", **fields: object) -> Connection:
    return Connection(
        conn_id=conn_id,
        conn_type="email",
        host=server.host,
        port=server.port,
        extra={"from_email": "airflow@example.com", "retry_limit": 0},
        **fields,  # type: ignore[arg-type]
    )


def test_email_conn_type_resolves_to_the_smtp_hook(smtp_server: SmtpServer) -> None:
    """conn_type "email" builds SmtpHook and test_connection does a NOOP round trip."""
    conn = email_conn(smtp_server)
    assert isinstance(conn.get_hook(), SmtpHook)
    assert conn.test_connection() == (True, "Connection successfully tested")


def test_send_email_as_airflow_builds_it(smtp_server: SmtpServer, tmp_path: Path) -> None:
    """send_email(to, subject, html_content, files, cc, bcc, mime_subtype, mime_charset, conn_id,
    from_email): multipart/mixed with an HTML part in the charset and the files attached."""
    report = tmp_path / "report.csv"
    report.write_text("id,name\n1,ada\n")
    with override_connections(email_conn(smtp_server, conn_id="alerts_mail")):
        message_id = send_email(
            to=["ops@example.com"],
            subject="Load finished",
            html_content="<p>Café: 1,204 rows</p>",
            files=[str(report)],
            cc="cc@example.com",
            bcc=["boss@example.com"],
            mime_subtype="mixed",
            mime_charset="iso-8859-1",
            conn_id="alerts_mail",
            from_email="etl@example.com",
        )
    (received,) = smtp_server.messages
    assert received.mail_from == "etl@example.com"
    assert sorted(received.rcpt_tos) == ["boss@example.com", "cc@example.com", "ops@example.com"]
    msg = received.message
    assert msg["Message-ID"] == message_id
    assert msg.get_content_type() == "multipart/mixed"
    html, attachment = list(msg.iter_parts())
    assert html.get_content_type() == "text/html"
    assert html.get_content_charset() == "iso-8859-1"
    assert html.get_content().strip() == "<p>Café: 1,204 rows</p>"
    assert attachment.get_filename() == "report.csv"
    assert attachment.get_payload(decode=True) == b"id,name\n1,ada\n"
    assert "Bcc" not in msg


def test_send_email_alternative_subtype_and_default_conn(smtp_server: SmtpServer) -> None:
    """mime_subtype="alternative" and the default conn_id smtp_default; send_email_smtp is the same."""
    with override_connections(email_conn(smtp_server)):
        send_email("a@example.com", "s", "<b>x</b>", mime_subtype="alternative")
        send_email_smtp("a@example.com", "s2", "<i>y</i>")
    first, second = smtp_server.messages
    assert first.message.get_content_type() == "multipart/alternative"
    assert first.message["From"] == "airflow@example.com"
    assert second.message.get_content_type() == "multipart/mixed"


def test_unknown_subtype_or_charset_is_a_typed_error_and_sends_nothing(
    smtp_server: SmtpServer,
) -> None:
    """Bad mime_subtype / mime_charset: HookArgumentError before anything is sent."""
    with override_connections(email_conn(smtp_server)):
        with pytest.raises(HookArgumentError, match="mime_subtype must be one of"):
            send_email("a@example.com", "s", "x", mime_subtype="bogus")
        with pytest.raises(HookArgumentError, match="unknown mime_charset"):
            send_email("a@example.com", "s", "x", mime_charset="no-such-charset")
    assert smtp_server.messages == []


def test_send_email_login_failure_never_shows_the_password(smtp_server: SmtpServer) -> None:
    """A wrong password: AuthenticationFailed; the message holds no password."""
    conn = email_conn(smtp_server, login=SMTP_USER, password=SMTP_PASSWORD + "-wrong")
    with override_connections(conn), pytest.raises(AuthenticationFailed) as info:
        send_email("a@example.com", "s", "x")
    assert SMTP_PASSWORD not in f"{info.value} {info.value!r}"
