"""Airflow-compatible connection URI parsing and rendering (internals of :mod:`hookline.connection`).

The algorithm is Airflow's (``Connection._parse_from_uri`` and ``get_uri``), with four deliberate fixes
for its known pitfalls, each documented on :meth:`hookline.Connection.from_uri`:

* schemes with underscores (``google_cloud_platform://``) are read as schemes, not as a path;
* the host keeps its case (Airflow lower-cases it unless it holds a ``/``), so round trips are lossless;
* port 0 is written (Airflow's ``if self.port`` drops it);
* IPv6 hosts are written in brackets (``[::1]``), which Airflow also parses.

Error messages never contain the password: the URI they quote goes through :func:`redact_uri`.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from hookline.exceptions import InvalidConnectionURI

EXTRA_KEY = "__extra__"
REDACTED = "***"

# A URI scheme as RFC 3986 has it, plus "_" (Airflow's own conn types use it; urlsplit rejects it).
_SCHEME_PREFIX = re.compile(r"([A-Za-z][A-Za-z0-9+.\-_]*)://")
_USERINFO = re.compile(r"^(?P<head>[^:/?#]*://(?:[^:/?#]*://)?)(?P<userinfo>.*)@", re.DOTALL)


class ParsedURI(NamedTuple):
    """The fields read from a URI, before they become a Connection."""

    conn_type: str
    host: str
    login: str | None
    password: str | None
    schema: str
    port: int | None
    extra: dict[str, Any] | None
    extra_text: str | None


def normalize_conn_type(conn_type: str) -> str:
    """Airflow's normalization: ``postgresql`` becomes ``postgres``, every ``-`` becomes ``_``."""
    if conn_type == "postgresql":
        return "postgres"
    return conn_type.replace("-", "_")


def redact_uri(uri: str) -> str:
    """Return ``uri`` with its password and query replaced by ``***``, for messages about bad input.

    Works on malformed URIs too: everything between the login and the *last* ``@`` counts as password
    (an unencoded ``/`` or ``@`` in a password is the commonest cause of a bad URI), and the query is
    dropped entirely because extras may hold secrets.
    """
    text = uri
    query_at = text.find("?", text.rfind("@") + 1)
    if query_at != -1:
        text = text[:query_at] + "?" + REDACTED
    match = _USERINFO.match(text)
    if match:
        userinfo = match.group("userinfo")
        login, has_password, _ = userinfo.partition(":")
        hidden = f"{login}:{REDACTED}" if has_password else login
        text = match.group("head") + hidden + text[match.end() - 1 :]
    return text


def _invalid(message: str, uri: str, conn_id: str | None) -> InvalidConnectionURI:
    shown = redact_uri(uri)
    where = f" for conn_id {conn_id!r}" if conn_id else ""
    return InvalidConnectionURI(
        f"Invalid connection URI {shown!r}{where}: {message}", uri=shown, conn_id=conn_id
    )


def parse_uri(uri: str, conn_id: str | None = None) -> ParsedURI:
    """Parse ``uri`` with Airflow's algorithm (AIRFLOW.md 1.4) and hookline's pitfall fixes.

    Raises:
        InvalidConnectionURI: the URI cannot be read; the message quotes it redacted.
    """
    if not isinstance(uri, str):
        raise InvalidConnectionURI(
            f"a connection URI must be a str, not {type(uri).__name__}", uri="", conn_id=conn_id
        )
    separators = uri.count("://")
    if separators > 2:
        raise _invalid("it contains more than two '://'", uri, conn_id)
    match = _SCHEME_PREFIX.match(uri)
    if match:
        conn_type = normalize_conn_type(match.group(1).lower())
        rest = uri[match.end() :]
        with_protocol = separators == 2
    else:
        # No "scheme://" prefix: Airflow reads e.g. "//host" with an empty conn type.
        try:
            scheme = urlsplit(uri).scheme
        except ValueError as exc:
            raise _invalid("it cannot be split into URI parts", uri, conn_id) from exc
        conn_type = normalize_conn_type(scheme)
        rest = uri.replace(f"{scheme}://", "//") if scheme else uri
        with_protocol = False
        separators = rest.count("://")
        if separators:
            raise _invalid("the conn type before '://' is not a valid URI scheme", uri, conn_id)

    protocol: str | None = None
    if with_protocol:
        protocol, _, rest = rest.partition("://")
        if "@" in protocol or ":" in protocol:
            raise _invalid(
                "credentials must come after the inner protocol (type://protocol://user:pass@host)",
                uri,
                conn_id,
            )
        rest = "//" + rest
    elif match:
        rest = "//" + rest
    try:
        parts = urlsplit(rest)
    except ValueError as exc:
        raise _invalid(
            "it cannot be split into URI parts (bad IPv6 brackets?)", uri, conn_id
        ) from exc
    netloc = parts.netloc
    userinfo, has_userinfo, hostinfo = netloc.rpartition("@")
    login: str | None = None
    password: str | None = None
    if has_userinfo:
        raw_login, has_password, raw_password = userinfo.partition(":")
        login = unquote(raw_login)
        password = unquote(raw_password) if has_password and raw_password else None
    _, has_bracket, bracketed = hostinfo.partition("[")
    if has_bracket:
        raw_host, _, after = bracketed.partition("]")
        _, _, raw_port = after.partition(":")
    else:
        raw_host, _, raw_port = hostinfo.partition(":")
    host = unquote(raw_host)
    if protocol is not None and host:
        host = f"{protocol}://{host}"
    port: int | None = None
    if raw_port:
        if not (raw_port.isascii() and raw_port.isdigit()):
            raise _invalid(
                "the port is not a number (is a '/', '?', '#' or '@' in the password not "
                "percent-encoded?)",
                uri,
                conn_id,
            )
        port = int(raw_port)
        if port > 65535:
            raise _invalid(f"port {port} is outside 0-65535", uri, conn_id)
    schema = unquote(parts.path[1:]) if parts.path else ""
    extra, extra_text = _parse_query(parts.query, uri, conn_id) if parts.query else (None, None)
    return ParsedURI(conn_type, host, login, password, schema, port, extra, extra_text)


def _parse_query(
    query: str, uri: str, conn_id: str | None
) -> tuple[dict[str, Any] | None, str | None]:
    pairs = dict(parse_qsl(query, keep_blank_values=True))
    if EXTRA_KEY not in pairs:
        return (pairs or None), None
    text = pairs[EXTRA_KEY]
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise _invalid(f"{EXTRA_KEY} is not valid JSON", uri, conn_id) from exc
    if not isinstance(value, dict):
        raise _invalid(f"{EXTRA_KEY} is JSON but not an object", uri, conn_id)
    return value, text


def _is_flat(extra: dict[str, Any]) -> bool:
    """True when ``extra`` survives flat query parameters: str keys and values, no ``__extra__`` key."""
    for key, value in extra.items():
        if type(value) is not str or type(key) is not str or key == EXTRA_KEY:
            return False
    return True


def _quote_host(host: str) -> str:
    if ":" in host and "%" not in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            pass
        else:
            return f"[{host}]"
    return quote(host, safe="")


def render_uri(
    conn_type: str | None,
    host: str | None,
    login: str | None,
    password: str | None,
    schema: str | None,
    port: int | None,
    extra: dict[str, Any] | None,
    extra_text: str | None,
    *,
    redact_password: bool = False,
) -> str:
    """Render a connection as Airflow's ``get_uri`` does (AIRFLOW.md 1.5), losslessly.

    ``extra`` must already be redacted by the caller when a redacted URI is wanted; with
    ``redact_password`` the password is written as a literal ``***``.
    """
    uri = f"{conn_type.lower().replace('_', '-')}://" if conn_type else "//"
    host_to_use = host
    if host and "://" in host:
        protocol, _, inner = host.partition("://")
        # Airflow writes type://protocol://...; when that cannot be read back (no conn type, same
        # protocol as the type, or an odd protocol) the whole host is quoted as one piece instead.
        if (
            conn_type
            and protocol != conn_type
            and protocol
            and _SCHEME_PREFIX.fullmatch(protocol + "://")
        ):
            uri += f"{protocol}://"
            host_to_use = inner
    authority = ""
    if login is not None or password is not None:
        authority = quote(login, safe="") if login is not None else ""
        if password is not None:
            authority += ":" + (REDACTED if redact_password else quote(password, safe=""))
        authority += "@"
        uri += authority
    host_block = _quote_host(host_to_use) if host_to_use else ""
    if port is not None:
        host_block += f"@:{port}" if not host_block and not authority else f":{port}"
    if schema:
        host_block += "/" + quote(schema, safe="")
    uri += host_block
    if extra:
        uri += "?" if schema else "/?"
        if _is_flat(extra):
            # A redacted URI is for display: keep the "***" placeholders readable.
            uri += urlencode(extra, safe="*" if redact_password else "")
        else:
            text = extra_text if extra_text is not None else json.dumps(extra)
            uri += urlencode({EXTRA_KEY: text})
    return uri
