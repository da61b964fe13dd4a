"""SmtpHook: send email through the SMTP server a connection describes.

Connection fields: ``host``, ``port``, ``login``, ``password``. Extras:

* ``use_ssl``: implicit TLS (``SMTP_SSL``); default on when the port is 465, else off.
* ``use_starttls``: upgrade with STARTTLS before logging in; default on, except for loopback hosts
  (``localhost``, ``127.0.0.1``, ``::1``), where local test and relay servers rarely offer TLS.
  Airflow's ``disable_ssl`` / ``disable_tls`` are read when ours are absent.
* ``timeout_s`` (or Airflow's ``timeout``): socket timeout, default 30 s.
* ``from_email``: the default sender; ``retry_limit``: connect retries (default 2).
* ``ssl_cafile``: a CA bundle to trust (a private CA); ``ssl_verify``: false to skip certificate
  checks (Airflow's ``ssl_context: "none"`` means the same).

With ``use_starttls`` on, a server that does not offer STARTTLS is an error: the hook never sends
the password in clear text by accident. The SMTP session is kept open between messages and rebuilt
when the server has dropped it. A rejected login raises
:class:`~hookline.exceptions.AuthenticationFailed`, so :meth:`SmtpHook.send_email` refreshes the
connection once (a rotated password) and retries.
"""

from __future__ import annotations

import codecs
import mimetypes
import os
import re
import smtplib
import ssl
import threading
from collections.abc import Iterable, Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path
from typing import Any, ClassVar, Final

from hookline import masking
from hookline.connection import Connection
from hookline.exceptions import (
    AuthenticationFailed,
    HookArgumentError,
    HookConnectionError,
    HookError,
)
from hookline.hooks._options import retry_limit_option, timeout_s_option
from hookline.hooks._retry import RetryPolicy
from hookline.hooks.base import BaseHook
from hookline.options import parse_bool

__all__ = ["SmtpHook", "send_email", "send_email_smtp"]

_LOOPBACK: Final = frozenset({"localhost", "127.0.0.1", "::1", "ip6-localhost"})
_SPLIT: Final = re.compile(r"[,;]")

#: Attachments given as data: ``{"name.csv": b"..."}``.
Attachments = Mapping[str, bytes | str]


def _retryable_connect_error(exc: Exception) -> bool:
    """Connect failures worth another attempt: network errors, not a TLS handshake that failed."""
    return isinstance(
        exc, OSError | smtplib.SMTPConnectError | smtplib.SMTPServerDisconnected
    ) and not isinstance(exc, ssl.SSLError)


def address_list(value: str | Iterable[str] | None) -> list[str]:
    """Split ``"a@x, b@y; c@z"`` or a list of such strings into addresses (Airflow's rule)."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        out.extend(part.strip() for part in _SPLIT.split(item) if part.strip())
    return out


class SmtpHook(BaseHook[smtplib.SMTP]):
    """Send email over SMTP, with SSL or STARTTLS, login, attachments, cc and bcc.

    Args:
        conn: A conn_id or a Connection (``smtp_conn_id=`` is accepted too).
        timeout_s: Socket timeout (default: extra ``timeout_s`` or ``timeout``, else 30 s).
        retry_limit: Connect retries after the first attempt (default: extra, else 2).
        retry_delay_s: Delay between connect attempts.

    Example:
        >>> with SmtpHook("mail") as smtp:  # doctest: +SKIP
        ...     smtp.send_email("ops@example.com", "Load done", text="1,204 rows")
    """

    conn_type: ClassVar[str] = "smtp"
    hook_name: ClassVar[str] = "SMTP"
    default_conn_name: ClassVar[str] = "smtp_default"
    conn_name_attr: ClassVar[str] = "smtp_conn_id"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """No schema; the extras choose TLS (Airflow's SMTP form hides schema too)."""
        return {"hidden_fields": ["schema"], "placeholders": {"host": "smtp.example.com"}}

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The sender address and TLS choice (extras)."""
        return {
            "from_email": {"label": "From address", "placeholder": "noreply@example.com"},
            "disable_tls": {"label": "Disable STARTTLS", "choices": ["", "false", "true"]},
        }

    def __init__(
        self,
        conn: str | Connection | None = None,
        *,
        timeout_s: float | None = None,
        retry_limit: int | None = None,
        retry_delay_s: float = 0.5,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn, **kwargs)
        self._timeout_s = timeout_s
        self._retry_limit = retry_limit
        self._retry_delay_s = retry_delay_s
        self._lock = threading.RLock()

    # -- settings ----------------------------------------------------------------------------

    def _flag(self, key: str, value: Any) -> bool:
        """An extra read as a boolean; anything but true/false words is an InvalidConnection."""
        return parse_bool(value, name=f"extra {key!r}", conn_id=self.conn_id)

    @property
    def use_ssl(self) -> bool:
        """Implicit TLS (SMTP over SSL)."""
        conn = self.connection
        extra = conn.extra
        if "use_ssl" in extra:
            return self._flag("use_ssl", extra["use_ssl"])
        if "disable_ssl" in extra:
            return not self._flag("disable_ssl", extra["disable_ssl"])
        return conn.port == 465

    @property
    def use_starttls(self) -> bool:
        """STARTTLS before login (off when ``use_ssl`` is on)."""
        if self.use_ssl:
            return False
        conn = self.connection
        extra = conn.extra
        if "use_starttls" in extra:
            return self._flag("use_starttls", extra["use_starttls"])
        if "disable_tls" in extra:
            return not self._flag("disable_tls", extra["disable_tls"])
        return (conn.host or "localhost").lower() not in _LOOPBACK

    @property
    def timeout_s(self) -> float:
        """The socket timeout in seconds (argument, else extra ``timeout_s`` or ``timeout``, else 30)."""
        return timeout_s_option(
            self._timeout_s, self.connection.extra, conn_id=self.conn_id, default=30.0
        )

    @property
    def retry_limit(self) -> int:
        """Connect retries after the first attempt."""
        return retry_limit_option(
            self._retry_limit, self.connection.extra, conn_id=self.conn_id, default=2
        )

    @property
    def from_email(self) -> str | None:
        """The default sender: extra ``from_email``, else the login when it is an address."""
        conn = self.connection
        sender = conn.extra.get("from_email")
        if sender:
            return str(sender)
        return conn.login if conn.login and "@" in conn.login else None

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context for SSL and STARTTLS: system CAs plus ``ssl_cafile``; verification on
        unless ``ssl_verify`` is false (or Airflow's ``ssl_context`` is ``"none"``)."""
        extra = self.connection.extra
        cafile = extra.get("ssl_cafile")
        context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
        verify = self._flag("ssl_verify", extra.get("ssl_verify", True))
        if str(extra.get("ssl_context", "default")).lower() == "none":
            verify = False
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _where(self) -> str:
        conn = self.connection
        port = conn.port or (465 if self.use_ssl else 25)
        return f"SMTP server {conn.host or 'localhost'}:{port} of connection {self.conn_id!r}"

    # -- client ------------------------------------------------------------------------------

    def get_conn(self) -> smtplib.SMTP:
        """A connected, logged-in SMTP session, opened on first use and kept.

        Raises:
            HookConnectionError: the server could not be reached after the retries.
            AuthenticationFailed: the server rejected the login.
            HookError: STARTTLS was required but not offered, or another SMTP error.
        """
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> smtplib.SMTP:
        conn = self.connection
        host = conn.host or "localhost"
        port = conn.port or (465 if self.use_ssl else 25)
        # One retry policy for every hook: a constant delay between connect attempts.
        policy = RetryPolicy(
            retry_limit=self.retry_limit,
            retry_delay_s=self._retry_delay_s,
            retry_max_delay_s=self._retry_delay_s,
        )
        attempts = 0

        def attempt(number: int) -> smtplib.SMTP:
            nonlocal attempts
            attempts = number
            return self._open(host, port)

        try:
            client = policy.call(
                attempt, retry_on_error=_retryable_connect_error, what=self._where()
            )
        except ssl.SSLError as exc:
            raise HookConnectionError(
                f"{self._where()}: TLS handshake failed: {type(exc).__name__} "
                f"({exc.reason or 'no reason given'})",
                conn_id=self.conn_id,
            ) from exc
        except (OSError, smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected) as exc:
            raise HookConnectionError(
                f"{self._where()} could not be reached after {attempts} attempt(s): "
                f"{type(exc).__name__} (timeout {self.timeout_s} s)",
                conn_id=self.conn_id,
            ) from exc
        try:
            self._secure_and_login(client)
        except BaseException:
            _quietly_close(client)
            raise
        return client

    def _open(self, host: str, port: int) -> smtplib.SMTP:
        if self.use_ssl:
            return smtplib.SMTP_SSL(host, port, timeout=self.timeout_s, context=self.ssl_context())
        return smtplib.SMTP(host, port, timeout=self.timeout_s)

    def _secure_and_login(self, client: smtplib.SMTP) -> None:
        conn = self.connection
        try:
            client.ehlo_or_helo_if_needed()
            if self.use_starttls:
                if not client.has_extn("starttls"):
                    raise HookError(
                        f"{self._where()} does not offer STARTTLS; set the extra "
                        '"use_starttls": false to send without TLS',
                        conn_id=self.conn_id,
                    )
                client.starttls(context=self.ssl_context())
                client.ehlo()
            if conn.login:
                client.login(conn.login, conn.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise AuthenticationFailed(
                f"{self._where()} rejected the login of user {conn.login!r} (SMTP {exc.smtp_code})",
                conn_id=self.conn_id,
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise HookError(
                f"{self._where()} does not support AUTH; remove the login or use TLS",
                conn_id=self.conn_id,
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            if isinstance(exc, HookError):
                raise
            raise HookConnectionError(
                f"{self._where()} failed during setup: {type(exc).__name__}",
                conn_id=self.conn_id,
            ) from exc

    def close_conn(self) -> None:
        """Say QUIT and close the session."""
        client = self._client
        if client is not None:
            _quietly_close(client)

    # -- sending -----------------------------------------------------------------------------

    def build_message(
        self,
        to: str | Iterable[str],
        subject: str,
        html_content: str | None = None,
        *,
        text: str | None = None,
        files: Sequence[str | os.PathLike[str]] | None = None,
        attachments: Attachments | None = None,
        cc: str | Iterable[str] | None = None,
        from_email: str | None = None,
        custom_headers: Mapping[str, str] | None = None,
        mime_subtype: str | None = None,
        mime_charset: str = "utf-8",
    ) -> EmailMessage:
        """Build the MIME message (no Bcc header: bcc recipients go in the envelope only).

        With ``mime_subtype`` (``"mixed"``, ``"alternative"`` or ``"related"``) the message is
        always a ``multipart/<mime_subtype>`` container, as Airflow's ``send_email`` builds it; text
        parts use ``mime_charset``.

        Raises:
            ValueError: no sender or no recipient.
            HookArgumentError: an unknown MIME subtype or charset.
        """
        try:
            codecs.lookup(mime_charset)
        except LookupError:
            raise HookArgumentError(
                f"unknown mime_charset {mime_charset!r}", conn_id=self.conn_id
            ) from None
        sender = from_email or self.from_email
        if not sender:
            raise ValueError(
                "no sender: pass from_email or set the extra from_email on the connection"
            )
        recipients = address_list(to)
        if not recipients:
            raise ValueError("no recipient in 'to'")
        msg = EmailMessage()
        msg["Subject"] = subject
        msg["From"] = sender
        msg["To"] = ", ".join(recipients)
        copies = address_list(cc)
        if copies:
            msg["Cc"] = ", ".join(copies)
        msg["Date"] = formatdate(localtime=True)
        domain = sender.rsplit("@", 1)[-1].strip("> ") or None
        msg["Message-ID"] = make_msgid(domain=domain)
        for key, value in (custom_headers or {}).items():
            msg[key] = value
        charset = mime_charset
        if text is not None:
            msg.set_content(text, charset=charset)
            if html_content is not None:
                msg.add_alternative(html_content, subtype="html", charset=charset)
        elif html_content is not None:
            msg.set_content(html_content, subtype="html", charset=charset)
        else:
            msg.set_content("", charset=charset)
        if mime_subtype is not None:
            self._make_multipart(msg, mime_subtype)
        for path in files or ():
            file = Path(path)
            self._attach(msg, file.name, file.read_bytes())
        for name, data in (attachments or {}).items():
            self._attach(msg, name, data.encode() if isinstance(data, str) else data)
        return msg

    def _make_multipart(self, msg: EmailMessage, subtype: str) -> None:
        makers = {
            "mixed": msg.make_mixed,
            "alternative": msg.make_alternative,
            "related": msg.make_related,
        }
        maker = makers.get(subtype)
        if maker is None:
            raise HookArgumentError(
                f"mime_subtype must be one of {', '.join(makers)}, not {subtype!r}",
                conn_id=self.conn_id,
            )
        if msg.get_content_type() == f"multipart/{subtype}":
            return
        try:
            maker()
        except ValueError:
            raise HookArgumentError(
                f"a {msg.get_content_type()} message cannot become multipart/{subtype}",
                conn_id=self.conn_id,
            ) from None

    @staticmethod
    def _attach(msg: EmailMessage, name: str, data: bytes) -> None:
        mime, _ = mimetypes.guess_type(name)
        maintype, subtype = (mime or "application/octet-stream").split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)

    def send_email(
        self,
        to: str | Iterable[str],
        subject: str,
        html_content: str | None = None,
        *,
        text: str | None = None,
        files: Sequence[str | os.PathLike[str]] | None = None,
        attachments: Attachments | None = None,
        cc: str | Iterable[str] | None = None,
        bcc: str | Iterable[str] | None = None,
        from_email: str | None = None,
        custom_headers: Mapping[str, str] | None = None,
        dryrun: bool = False,
        mime_subtype: str | None = None,
        mime_charset: str = "utf-8",
    ) -> str:
        """Send one email; return its Message-ID.

        Args:
            to: Recipients: a list, or a string separated by ``,`` or ``;``.
            subject: The subject.
            html_content: An HTML body (with ``text``, sent as multipart/alternative).
            text: A plain-text body.
            files: Paths of files to attach.
            attachments: Attachments given as data, ``{"report.csv": b"..."}``.
            cc: Copy recipients (in the ``Cc`` header and the envelope).
            bcc: Blind copy recipients (in the envelope only, never in a header).
            from_email: The sender (default: the connection's ``from_email`` extra).
            custom_headers: Extra headers.
            dryrun: Build the message but do not send it.
            mime_subtype: ``"mixed"`` (Airflow's default), ``"alternative"`` or ``"related"``: send a
                ``multipart/<mime_subtype>`` message as Airflow does; None sends the simplest form.
            mime_charset: The charset of the text parts (default ``utf-8``).

        Raises:
            ValueError: no sender or no recipient.
            AuthenticationFailed: the login was rejected (after one connection refresh).
            HookConnectionError: the server could not be reached.
            HookError: the server refused the sender, every recipient, or the data.
            HookArgumentError: an unknown MIME subtype or charset.
        """
        msg = self.build_message(
            to,
            subject,
            html_content,
            text=text,
            files=files,
            attachments=attachments,
            cc=cc,
            from_email=from_email,
            custom_headers=custom_headers,
            mime_subtype=mime_subtype,
            mime_charset=mime_charset,
        )
        envelope_to = [
            addr
            for _, addr in getaddresses([*address_list(to), *address_list(cc), *address_list(bcc)])
            if addr
        ]
        sender = getaddresses([str(msg["From"])])[0][1] or str(msg["From"])
        if not dryrun:
            self.run_with_refresh(lambda: self._send(msg, sender, envelope_to))
        return str(msg["Message-ID"])

    send_email_smtp = send_email

    def _send(self, msg: EmailMessage, sender: str, recipients: list[str]) -> None:
        with self._lock:
            for attempt in (1, 2):
                client = self.get_conn()
                try:
                    refused = client.send_message(msg, sender, recipients)
                except smtplib.SMTPServerDisconnected as exc:
                    self.reset_client()
                    if attempt == 2:
                        raise HookConnectionError(
                            f"{self._where()} closed the connection while sending",
                            conn_id=self.conn_id,
                        ) from exc
                    continue
                except smtplib.SMTPRecipientsRefused as exc:
                    raise HookError(
                        f"{self._where()} refused every recipient: "
                        f"{', '.join(sorted(exc.recipients))}",
                        conn_id=self.conn_id,
                    ) from exc
                except smtplib.SMTPSenderRefused as exc:
                    raise HookError(
                        f"{self._where()} refused the sender {sender!r} (SMTP {exc.smtp_code})",
                        conn_id=self.conn_id,
                    ) from exc
                except (smtplib.SMTPException, OSError) as exc:
                    self.reset_client()
                    raise HookError(
                        f"{self._where()} failed to send: {type(exc).__name__}",
                        conn_id=self.conn_id,
                    ) from exc
                if refused:
                    self.log.warning(
                        "%s refused some recipients: %s", self._where(), ", ".join(sorted(refused))
                    )
                return

    def _test(self) -> None:
        """Connect, secure, log in and NOOP."""
        client = self.get_conn()
        try:
            code, _ = client.noop()
        except (smtplib.SMTPException, OSError) as exc:
            self.reset_client()
            raise HookConnectionError(
                f"{self._where()} did not answer NOOP: {type(exc).__name__}", conn_id=self.conn_id
            ) from exc
        if code != 250:
            raise HookError(f"{self._where()} answered NOOP with {code}", conn_id=self.conn_id)

    def __repr__(self) -> str:
        return str(masking.redact(super().__repr__()))


def _quietly_close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        client.close()


def send_email(
    to: str | Iterable[str],
    subject: str,
    html_content: str,
    files: Sequence[str | os.PathLike[str]] | None = None,
    dryrun: bool = False,
    cc: str | Iterable[str] | None = None,
    bcc: str | Iterable[str] | None = None,
    mime_subtype: str = "mixed",
    mime_charset: str = "utf-8",
    conn_id: str | Connection = "smtp_default",
    from_email: str | None = None,
    custom_headers: Mapping[str, str] | None = None,
) -> str:
    """Airflow's ``send_email``: send an HTML email through the SMTP connection ``conn_id``.

    The message is a ``multipart/<mime_subtype>`` container holding the HTML part (in
    ``mime_charset``) and the ``files`` as attachments, as Airflow builds it. The connection may be
    of type ``smtp`` or ``email``. Returns the Message-ID.

    Raises:
        ValueError: no sender (pass ``from_email`` or set the extra) or no recipient.
        HookArgumentError: an unknown MIME subtype or charset.
        AuthenticationFailed, HookConnectionError, HookError: as :meth:`SmtpHook.send_email`.
    """
    with SmtpHook(conn_id) as hook:
        return hook.send_email(
            to,
            subject,
            html_content,
            files=files,
            cc=cc,
            bcc=bcc,
            from_email=from_email,
            custom_headers=custom_headers,
            dryrun=dryrun,
            mime_subtype=mime_subtype,
            mime_charset=mime_charset,
        )


#: Airflow's ``send_email_smtp`` (the SMTP backend of ``send_email``).
send_email_smtp = send_email
