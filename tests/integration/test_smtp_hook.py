"""SmtpHook against a real in-process aiosmtpd server: what the server received, auth, failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hookline import Connection
from hookline.exceptions import AuthenticationFailed, HookConnectionError, HookError
from hookline.hooks.smtp import SmtpHook, address_list
from tests.servers._proc import free_port
from tests.servers.smtp import SMTP_PASSWORD, SMTP_USER, SmtpServer

CANARY = SMTP_PASSWORD  # "c4n4ry-S3cret!"


def hook_for(server: SmtpServer, **fields: Any) -> SmtpHook:
    extra = {"from_email": "pipeline@example.com", **fields.pop("extra", {})}
    conn = Connection(
        conn_id="mail",
        conn_type="smtp",
        host=server.host,
        port=server.port,
        extra=extra,
        **fields,
    )
    return SmtpHook(conn, retry_limit=0)


def test_send_text_and_html_with_cc_and_bcc(smtp_server: SmtpServer) -> None:
    """Headers carry To/Cc but not Bcc; the envelope has every recipient; bodies are alternatives."""
    with hook_for(smtp_server) as hook:
        message_id = hook.send_email(
            "a@example.com; b@example.com",
            "Load finished",
            "<p>1,204 <b>rows</b></p>",
            text="1,204 rows",
            cc=["c@example.com"],
            bcc="secret-boss@example.com",
            custom_headers={"X-Pipeline": "nightly"},
        )
    (received,) = smtp_server.messages
    assert received.mail_from == "pipeline@example.com"
    assert sorted(received.rcpt_tos) == [
        "a@example.com",
        "b@example.com",
        "c@example.com",
        "secret-boss@example.com",
    ]
    msg = received.message
    assert msg["Subject"] == "Load finished"
    assert msg["From"] == "pipeline@example.com"
    assert msg["To"] == "a@example.com, b@example.com"
    assert msg["Cc"] == "c@example.com"
    assert msg["Message-ID"] == message_id
    assert msg["X-Pipeline"] == "nightly"
    assert "Bcc" not in msg
    assert b"secret-boss" not in received.content
    assert msg.get_content_type() == "multipart/alternative"
    plain = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    assert plain.get_content().strip() == "1,204 rows"
    assert "<b>rows</b>" in html.get_content()


def test_attachments_from_files_and_data(smtp_server: SmtpServer, tmp_path: Path) -> None:
    """Files and in-memory attachments arrive as MIME parts with their names and bytes."""
    report = tmp_path / "report.csv"
    report.write_text("id,name\n1,alice\n")
    blob = bytes(range(256))
    with hook_for(smtp_server) as hook:
        hook.send_email(
            "a@example.com",
            "With files",
            text="see attached",
            files=[report],
            attachments={"raw.bin": blob},
        )
    msg = smtp_server.messages[0].message
    assert msg.get_content_type() == "multipart/mixed"
    parts = {part.get_filename(): part for part in msg.iter_attachments()}
    assert set(parts) == {"report.csv", "raw.bin"}
    assert parts["report.csv"].get_content_type() == "text/csv"
    assert parts["report.csv"].get_payload(decode=True) == b"id,name\n1,alice\n"
    assert parts["raw.bin"].get_content_type() == "application/octet-stream"
    assert parts["raw.bin"].get_payload(decode=True) == blob


def test_session_is_reused_between_messages(smtp_server: SmtpServer) -> None:
    """Three messages through one hook share one SMTP session (one login)."""
    with hook_for(smtp_server, login=SMTP_USER, password=CANARY) as hook:
        for i in range(3):
            hook.send_email("a@example.com", f"n{i}", text="x")
    assert [m.message["Subject"] for m in smtp_server.messages] == ["n0", "n1", "n2"]
    assert smtp_server.auth_attempts == 1
    assert {m.login for m in smtp_server.messages} == {SMTP_USER}


def test_login_is_used_when_configured(smtp_server: SmtpServer) -> None:
    """With login/password the session authenticates; the server records the user."""
    with hook_for(smtp_server, login=SMTP_USER, password=CANARY) as hook:
        assert hook.test_connection() == (True, "Connection successfully tested")
        hook.send_email("a@example.com", "authed", text="x")
    assert smtp_server.messages[0].login == SMTP_USER


def test_wrong_password_is_authentication_failed(smtp_server: SmtpServer) -> None:
    """A rejected login raises AuthenticationFailed naming the user and code, never the password."""
    wrong = "c4n4ry-Wr0ng!"
    with hook_for(smtp_server, login=SMTP_USER, password=wrong) as hook:
        with pytest.raises(AuthenticationFailed) as info:
            hook.send_email("a@example.com", "nope", text="x")
        ok, message = hook.test_connection()
    text = f"{info.value} {info.value!r}"
    assert SMTP_USER in text
    assert "535" in text
    assert wrong not in text
    assert CANARY not in text
    assert ok is False
    assert wrong not in message
    assert smtp_server.messages == []


def test_rotated_password_is_picked_up(
    smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's password changes and so does the stored connection: refresh, retry, sent."""
    url = (
        f"smtp://{SMTP_USER}:{{}}@{smtp_server.host}:{smtp_server.port}?from_email=p%40example.com"
    )
    monkeypatch.setenv("AIRFLOW_CONN_MAIL", url.format("old-pass-1"))
    smtp_server.users[SMTP_USER] = "old-pass-1"
    with SmtpHook("mail", retry_limit=0) as hook:
        hook.send_email("a@example.com", "one", text="x")
        hook.reset_client()  # a new session is needed for the server to ask for the password again
        smtp_server.users[SMTP_USER] = "new-pass-2"
        monkeypatch.setenv("AIRFLOW_CONN_MAIL", url.format("new-pass-2"))
        hook.send_email("a@example.com", "two", text="x")
        assert hook.refresh_count == 1
    assert [m.message["Subject"] for m in smtp_server.messages] == ["one", "two"]


def test_server_down_is_hook_connection_error() -> None:
    """Nothing listening: HookConnectionError naming host, port, attempts and timeout."""
    port = free_port()
    conn = Connection(
        conn_id="mail",
        conn_type="smtp",
        host="127.0.0.1",
        port=port,
        login=SMTP_USER,
        password=CANARY,
        extra={"from_email": "p@example.com", "timeout_s": 2},
    )
    with SmtpHook(conn, retry_limit=1, retry_delay_s=0.01) as hook:
        with pytest.raises(HookConnectionError) as info:
            hook.send_email("a@example.com", "x", text="x")
        ok, message = hook.test_connection()
    text = str(info.value)
    assert f"127.0.0.1:{port}" in text
    assert "2 attempt(s)" in text
    assert "timeout 2.0 s" in text
    assert CANARY not in text
    assert ok is False
    assert CANARY not in message


def test_starttls_required_but_not_offered_is_refused(smtp_server: SmtpServer) -> None:
    """use_starttls on against a server without TLS: HookError before any password is sent."""
    with (
        hook_for(
            smtp_server, login=SMTP_USER, password=CANARY, extra={"use_starttls": True}
        ) as hook,
        pytest.raises(HookError, match="does not offer STARTTLS") as info,
    ):
        hook.send_email("a@example.com", "x", text="x")
    assert smtp_server.auth_attempts == 0
    assert CANARY not in str(info.value)


def test_dryrun_builds_but_does_not_send(smtp_server: SmtpServer) -> None:
    """dryrun returns a Message-ID without contacting the server."""
    with hook_for(smtp_server) as hook:
        assert hook.send_email("a@example.com", "x", text="x", dryrun=True).startswith("<")
    assert smtp_server.messages == []


def test_defaults_and_validation(smtp_server: SmtpServer) -> None:
    """STARTTLS off for loopback, on elsewhere; SSL on port 465; no sender is a ValueError."""
    hook = hook_for(smtp_server)
    assert (hook.use_ssl, hook.use_starttls, hook.timeout_s) == (False, False, 30.0)
    remote = SmtpHook(Connection(conn_id="m", conn_type="smtp", host="mail.example.com", port=587))
    assert remote.use_starttls is True
    ssl_hook = SmtpHook(
        Connection(conn_id="m", conn_type="smtp", host="mail.example.com", port=465)
    )
    assert (ssl_hook.use_ssl, ssl_hook.use_starttls) == (True, False)
    airflow = SmtpHook(
        Connection(conn_id="m", conn_type="smtp", host="h", extra={"disable_tls": True})
    )
    assert airflow.use_starttls is False
    no_sender = SmtpHook(Connection(conn_id="m", conn_type="smtp", host="h"))
    with pytest.raises(ValueError, match="no sender"):
        no_sender.send_email("a@example.com", "x", text="x", dryrun=True)
    assert address_list("a@x, b@y;c@z") == ["a@x", "b@y", "c@z"]
    assert SmtpHook(smtp_conn_id="relay").conn_id == "relay"
    assert CANARY not in repr(hook_for(smtp_server, password=CANARY))


def test_registered_for_smtp(smtp_server: SmtpServer) -> None:
    """Connection.get_hook() builds a working SmtpHook for smtp connections."""
    conn = Connection(
        conn_id="mail", conn_type="smtp", host=smtp_server.host, port=smtp_server.port
    )
    hook = conn.get_hook()
    assert isinstance(hook, SmtpHook)
    with hook:
        assert hook.test_connection() == (True, "Connection successfully tested")


def tls_hook(server: SmtpServer, **extra: Any) -> SmtpHook:
    server.reset()
    conn = Connection(
        conn_id="mail",
        conn_type="smtp",
        host=server.host,
        port=server.port,
        login=SMTP_USER,
        password=CANARY,
        extra={"from_email": "pipeline@example.com", **extra},
    )
    return SmtpHook(conn, retry_limit=0)


def test_starttls_upgrades_before_login(smtp_starttls_server: SmtpServer) -> None:
    """STARTTLS with the server's CA trusted: the server (AUTH only over TLS) accepts the login."""
    server = smtp_starttls_server
    with tls_hook(server, use_starttls=True, ssl_cafile=str(server.cafile)) as hook:
        hook.send_email("a@example.com", "over tls", text="x")
    (received,) = server.messages
    assert received.login == SMTP_USER
    assert received.message["Subject"] == "over tls"


def test_starttls_with_untrusted_certificate_fails_before_login(
    smtp_starttls_server: SmtpServer,
) -> None:
    """An untrusted certificate stops the session before AUTH: HookConnectionError, no secret."""
    server = smtp_starttls_server
    with (
        tls_hook(server, use_starttls=True) as hook,
        pytest.raises(HookConnectionError, match="SSLCertVerificationError") as info,
    ):
        hook.send_email("a@example.com", "x", text="x")
    assert server.auth_attempts == 0
    assert CANARY not in str(info.value)
    assert server.messages == []


def test_implicit_ssl_with_trusted_ca(smtp_ssl_server: SmtpServer) -> None:
    """use_ssl with the server's CA trusted: SMTPS session, login and delivery."""
    server = smtp_ssl_server
    with tls_hook(server, use_ssl=True, ssl_cafile=str(server.cafile)) as hook:
        assert hook.test_connection() == (True, "Connection successfully tested")
        hook.send_email("a@example.com", "over ssl", text="x")
    assert server.messages[0].login == SMTP_USER


def test_implicit_ssl_untrusted_is_a_clear_tls_error(smtp_ssl_server: SmtpServer) -> None:
    """An untrusted SMTPS certificate: HookConnectionError naming the TLS failure, not retried."""
    with (
        tls_hook(smtp_ssl_server, use_ssl=True) as hook,
        pytest.raises(HookConnectionError, match="TLS handshake failed") as info,
    ):
        hook.send_email("a@example.com", "x", text="x")
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    assert CANARY not in str(info.value)


def test_ssl_verify_false_skips_certificate_checks(smtp_ssl_server: SmtpServer) -> None:
    """ssl_verify false (or Airflow's ssl_context "none") accepts the self-signed certificate."""
    for extra in ({"ssl_verify": False}, {"ssl_context": "none"}):
        with tls_hook(smtp_ssl_server, use_ssl=True, **extra) as hook:
            hook.send_email("a@example.com", "unverified", text="x")
        assert len(smtp_ssl_server.messages) == 1
