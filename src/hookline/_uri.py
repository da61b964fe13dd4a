"""Airflow-compatible connection URI parsing and rendering (internals of :mod:`hookline.connection`).

The algorithm is Airflow's (``Connection._parse_from_uri`` and ``get_uri`` in ``airflow/models/connection.py``), written
as a single pass over the string rather than through ``urllib.parse.urlsplit`` (it is 5-10x faster and
gives precise error messages). It keeps every rule of Airflow's parser and fixes its known pitfalls, each
documented on :meth:`hookline.Connection.from_uri`:

* schemes with underscores (``google_cloud_platform://``) are read as schemes, not as a path;
* only the leading ``type://`` is removed (Airflow's ``str.replace`` removes every occurrence, so
  ``http://http://host`` loses its host), and a second ``://`` inside the path or query is not an
  inner protocol;
* the host keeps its case (Airflow lower-cases it unless it holds a ``/``), so round trips are lossless;
* port 0 is written (Airflow's ``if self.port`` drops it), and a port without host or login is written
  ``type://:1234`` (Airflow writes ``type://@:1234``, which reads back with login ``""``);
* IPv6 hosts are written in brackets (``[::1]``), which Airflow also parses.

Error messages never contain the password: the URI they quote goes through :func:`redact_uri`.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Any, NamedTuple, TypeVar
from urllib.parse import unquote_to_bytes, urlsplit

from hookline.exceptions import InvalidConnectionURI
from hookline.masking import is_sensitive_key

EXTRA_KEY = "__extra__"
REDACTED = "***"

# A URI scheme as RFC 3986 has it, plus "_" (Airflow's own conn types use it; urlsplit rejects it).
_SCHEME_PREFIX = re.compile(r"([A-Za-z][A-Za-z0-9+.\-_]*)://")
# An inner protocol written unquoted (type://protocol://host): what urlsplit reads back unchanged.
_PROTOCOL = re.compile(r"[a-z][a-z0-9+.\-]*")
_IPV_FUTURE = re.compile(r"v[a-fA-F0-9]+\..+")
_ESCAPES = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
# What a host[:port] shown in an error message may look like; anything else is hidden.
_PLAIN_HOST = re.compile(r"(?:\[[0-9A-Za-z:.%]*\]|[A-Za-z0-9.\-_~%]*)(?::[0-9]{0,5})?")
_PLAIN_PATH = re.compile(r"[A-Za-z0-9.\-_~%]*")
# The common shape, read in one regex call:
#   <type>://[protocol://][login[:password]@]host[:port][/path][?query][#fragment]
# with no brackets, tab or non-ASCII character. Whenever it matches, its groups are
# exactly what the general path below computes (login holds no ':' or '@', so the '@' it stops at is
# the last one); anything else falls back to the general path.
_FAST = re.compile(
    r"([A-Za-z][A-Za-z0-9+.\-_]*)://(?:([^/?#:@\[\]]+)://)?"
    r"(?:([^/?#:@\[\]]*)(?::([^/?#\[\]]*))?@)?"
    r"([^/?#:@\[\]]*)(?::([0-9]{1,5}))?"
    r"(?:/([^?#]*))?(?:\?([^#]*))?(?:#.*)?",
    re.DOTALL,
)
# What urlsplit strips or removes before parsing (WHATWG URL rules).
_C0_OR_SPACE = "".join(map(chr, range(0x21)))
_MAX_CACHED = 1024
_SHARED_FIELD_MAX_CHARS = 64
_MAX_SHARED_FIELDS = 4096

K = TypeVar("K")
V = TypeVar("V")


class _Memo(dict[K, V]):
    """The one speed trick of this module: a bounded memo of pieces that repeat across connections.

    Parsing and rendering keep small, non-secret pieces (schemes, ports, ``sslmode=require`` query
    fields) once they are decoded, so 10,000 connections share them and the second parse of a field
    is a dict lookup (benchmark rows "URI parse" / "URI render" and "10,000 connections, resident
    memory"). Callers never memoize a secret: only values under names that
    :func:`~hookline.masking.is_sensitive_key` does not flag, and never a password. A full memo stops
    growing (nothing is evicted: the pieces that repeat were seen first).
    """

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def remember(self, key: K, value: V) -> V:
        """Keep ``value`` under ``key`` while the memo is not full; return ``value``."""
        if len(self) < self.limit:
            self[key] = value
        return value


# Decoded query fields (``name=value`` -> (name, value)) of names that are not secret.
_query_fields: _Memo[str, tuple[str, str]] = _Memo(_MAX_SHARED_FIELDS)
# Whole query strings made only of such shared fields (``sslmode=require&connect_timeout=10``) ->
# their decoded fields; filled on the second parse (when the fields themselves are shared).
_query_dicts: _Memo[str, dict[str, str]] = _Memo(_MAX_CACHED)
_port_ints: _Memo[str, int] = _Memo(_MAX_CACHED)  # ints above 256 are not shared by CPython
_scheme_cache: _Memo[str, str] = _Memo(_MAX_CACHED)
_render_scheme_cache: _Memo[str, str] = _Memo(_MAX_CACHED)


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


_new_parsed: Any = tuple.__new__


def normalize_conn_type(conn_type: str) -> str:
    """Airflow's normalization: ``postgresql`` becomes ``postgres``, every ``-`` becomes ``_``."""
    if conn_type == "postgresql":
        return "postgres"
    return conn_type.replace("-", "_")


def _scheme_to_conn_type(scheme: str) -> str:
    conn_type = _scheme_cache.get(scheme)
    if conn_type is None:
        conn_type = _scheme_cache.remember(scheme, normalize_conn_type(scheme.lower()))
    return conn_type


def _decode_escapes(match: re.Match[str]) -> str:
    return bytes.fromhex(match.group().replace("%", "")).decode("utf-8", "replace")


def unquote(text: str) -> str:
    """``urllib.parse.unquote`` (UTF-8, errors replaced), faster: ASCII text is decoded as one byte
    string; other text has each run of ``%XX`` escapes decoded as one UTF-8 byte string (a UTF-8
    sequence never spans a literal ASCII character, so both give exactly urllib's result)."""
    if "%" not in text:
        return text
    if text.isascii():  # urllib's own byte-level loop is the fastest there
        return unquote_to_bytes(text).decode("utf-8", "replace")
    return _ESCAPES.sub(_decode_escapes, text)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


_scan_once = _DECODER.scan_once  # type: ignore[attr-defined]


def load_json(text: str) -> Any:
    """``json.loads`` that rejects ``NaN``/``Infinity`` (not JSON; NaN breaks equality)."""
    if text[:1] == "{" and text[-1:] == "}":
        # An object without surrounding whitespace: the scanner alone, without decode()'s two
        # whitespace matches. On any failure, decode() runs and raises its precise error.
        try:
            value, end = _scan_once(text, 0)
        except (StopIteration, ValueError, RecursionError):
            pass
        else:
            if end == len(text):
                return value
    return _DECODER.decode(text)


# -- redaction of bad input -------------------------------------------------------------------------


def redact_uri(uri: str) -> str:
    """Return ``uri`` with anything that may be secret replaced by ``***``, for messages about bad input.

    Works on malformed URIs too, and errs on the side of hiding: everything between the login and the
    *last* ``@`` counts as password (an unencoded ``/``, ``#`` or ``@`` in a password is the commonest
    cause of a bad URI), and when that stretch holds a character that ends or splits the authority
    (``@ / ? # [ ]``) what follows the ``@`` is hidden too, since the ``@`` may belong to the password;
    a host or path that is not plain text is hidden; the query is replaced entirely (extras may hold
    secrets); without ``@``, whatever follows the first ``:`` of the authority is hidden unless it is
    a valid port.
    """
    head_end = 0
    while (match := _SCHEME_PREFIX.match(uri, head_end)) is not None:
        head_end = match.end()
    if head_end == 0 and uri.lstrip(_C0_OR_SPACE).startswith("//"):
        head_end = uri.index("//") + 2
    head, body = uri[:head_end], uri[head_end:]
    userinfo, has_at, after = body.rpartition("@")
    if has_at:
        login, has_colon, _ = userinfo.partition(":")
        if any(ch in login for ch in "/?#"):
            return head + REDACTED  # the '@' may sit in a path or query: hide all of it
        shown = f"{login}:{REDACTED}@" if has_colon else f"{login}@"
        if any(ch in userinfo for ch in "@/?#[]"):
            # The password holds a character that ends or splits the authority: the '@' may be
            # part of it, and so may what follows.
            return f"{head}{shown}{REDACTED}"
        protocol = _SCHEME_PREFIX.match(after)  # credentials before an inner protocol
        if protocol is not None:
            shown += protocol.group()
            after = after[protocol.end() :]
        return head + shown + _redact_host_and_path(after, check_port=False)
    return head + _redact_host_and_path(body, check_port=True)


def _redact_host_and_path(text: str, *, check_port: bool) -> str:
    """``host[:port][/path]`` shown only where plain; the query is always hidden."""
    query = ""
    cut = min((i for i in (text.find("?"), text.find("#")) if i != -1), default=-1)
    if cut != -1:
        text, query = text[:cut], "?" + REDACTED
    authority, slash, path = text.partition("/")
    if _PLAIN_HOST.fullmatch(authority) is None:
        host, has_colon, _ = authority.partition(":")
        if not check_port or not has_colon:
            return REDACTED  # not a host: likely the rest of a password that an '@' cut short
        return f"{host}:{REDACTED}"  # no '@': what follows ':' may be a password
    if slash and _PLAIN_PATH.fullmatch(path) is None:
        path = REDACTED
    return authority + slash + path + query


def _invalid(message: str, uri: str, conn_id: str | None) -> InvalidConnectionURI:
    shown = redact_uri(uri)
    where = f" for conn_id {conn_id!r}" if conn_id else ""
    return InvalidConnectionURI(
        f"Invalid connection string {shown!r}{where}: {message}", uri=shown, conn_id=conn_id
    )


# -- parsing ----------------------------------------------------------------------------------------


def parse_uri(uri: str, conn_id: str | None = None, *, fast: bool = True) -> ParsedURI:
    """Parse ``uri`` with Airflow's algorithm and hookline's pitfall fixes.

    ``fast=False`` skips the one-regex path for common URIs (tests check both give the same).

    Raises:
        InvalidConnectionURI: the URI cannot be read; the message quotes it redacted.
    """
    if not isinstance(uri, str):
        raise InvalidConnectionURI(
            f"a connection URI must be a str, not {type(uri).__name__}", uri="", conn_id=conn_id
        )
    is_ascii = uri.isascii()
    if not is_ascii:
        try:
            uri.encode("utf-8")
        except UnicodeEncodeError:
            raise _invalid(
                "it contains a lone surrogate, which is not valid Unicode text", uri, conn_id
            ) from None
    separators = uri.count("://")
    if (
        fast
        and is_ascii
        and 0 < separators < 3
        and "\t" not in uri
        and "\n" not in uri
        and "\r" not in uri
    ):
        fast_match = _FAST.fullmatch(uri)
        if fast_match is not None:
            return _from_fast_match(fast_match, uri, conn_id)
    if separators > 2:
        raise _invalid(
            f"it has {separators} '://' separators; at most two are allowed "
            "(type://protocol://host)",
            uri,
            conn_id,
        )
    protocol: str | None = None
    match = _SCHEME_PREFIX.match(uri)
    if match is not None:
        conn_type = _scheme_to_conn_type(match.group(1))
        rest = uri[match.end() :]
        if separators == 2:
            head, _, tail = rest.partition("://")
            # A '/', '?' or '#' before the second '://' means it sits in the path or query.
            if "/" not in head and "?" not in head and "#" not in head:
                if "@" in head or ":" in head:
                    raise _invalid(
                        "credentials must come after the inner protocol: write "
                        "type://protocol://LOGIN:PASSWORD@host, not type://LOGIN:PASSWORD@protocol://host",
                        uri,
                        conn_id,
                    )
                if not head:
                    raise _invalid(
                        "the inner protocol before the second '://' is empty", uri, conn_id
                    )
                protocol, rest = head, tail
        netloc, path, query = _split_rest(rest, uri, conn_id)
    else:
        conn_type, netloc, path, query = _parse_unusual(uri, separators, conn_id)

    # The authority: [login[:password]@]host[:port], as urllib reads it (the last '@' ends userinfo).
    login: str | None = None
    password: str | None = None
    if "@" in netloc:
        userinfo, _, hostinfo = netloc.rpartition("@")
        raw_login, _, raw_password = userinfo.partition(":")
        login = unquote(raw_login)
        if raw_password:
            password = unquote(raw_password)
    else:
        hostinfo = netloc
    if "[" in hostinfo:
        raw_host, _, after = hostinfo.partition("[")[2].partition("]")
        raw_port = after.partition(":")[2]
    else:
        raw_host, _, raw_port = hostinfo.partition(":")
    host = unquote(raw_host)
    if protocol is not None and host:
        host = f"{protocol}://{host}"
    port: int | None = None
    if raw_port:
        if not (raw_port.isdigit() and raw_port.isascii()):
            raise _invalid(
                "the port (after the ':' that follows the host) is not a number; a '/', '?', "
                "'#' or '@' in the password must be percent-encoded (%2F, %3F, %23, %40)",
                uri,
                conn_id,
            )
        port = int(raw_port)
        if port > 65535:
            raise _invalid("the port number is outside 0-65535", uri, conn_id)
    schema = unquote(path[1:]) if path else ""
    if query:
        extra, extra_text = _parse_query(query, uri, conn_id)
    else:
        extra, extra_text = None, None
    return ParsedURI(conn_type, host, login, password, schema, port, extra, extra_text)


def _from_fast_match(match: re.Match[str], uri: str, conn_id: str | None) -> ParsedURI:
    scheme, protocol, raw_login, raw_password, raw_host, raw_port, raw_path, query = match.groups()
    port: int | None = None
    if raw_port is not None:
        port = _port_ints.get(raw_port)
        if port is None:
            port = int(raw_port)
            if port > 65535:
                raise _invalid("the port number is outside 0-65535", uri, conn_id)
            _port_ints.remember(raw_port, port)
    if query:
        extra, extra_text = _parse_query(query, uri, conn_id)
    else:
        extra, extra_text = None, None
    host = unquote(raw_host) if "%" in raw_host else raw_host
    if protocol is not None and host:
        host = f"{protocol}://{host}"
    fields = (
        _scheme_to_conn_type(scheme),
        host,
        None if raw_login is None else unquote(raw_login),
        unquote(raw_password) if raw_password else None,
        unquote(raw_path) if raw_path else "",
        port,
        extra,
        extra_text,
    )
    parsed: ParsedURI = _new_parsed(ParsedURI, fields)  # ParsedURI(*fields), minus a Python frame
    return parsed


def _split_rest(rest: str, uri: str, conn_id: str | None) -> tuple[str, str, str]:
    """Split what follows ``type://`` into netloc, path and query, as ``urlsplit`` does."""
    if "\t" in rest or "\r" in rest or "\n" in rest:
        rest = rest.replace("\t", "").replace("\r", "").replace("\n", "")
    end = len(rest)
    for sep in "/?#":
        i = rest.find(sep, 0, end)
        if i != -1:
            end = i
    netloc = rest[:end]
    tail = rest[end:]
    if tail:
        if "#" in tail:
            tail = tail.partition("#")[0]
        path, _, query = tail.partition("?")
    else:
        path = query = ""
    _check_netloc(netloc, uri, conn_id)
    return netloc, path, query


def _check_netloc(netloc: str, uri: str, conn_id: str | None) -> None:
    """The validations ``urlsplit`` applies to a netloc: IPv6 brackets and NFKC look-alikes."""
    if "[" in netloc or "]" in netloc:
        if "[" not in netloc or "]" not in netloc:
            raise _invalid(
                "the host part has an unbalanced '[' or ']' (write an IPv6 address as [address]; "
                "percent-encode a '[' or ']' in the login or password as %5B, %5D)",
                uri,
                conn_id,
            )
        bracketed = netloc.partition("[")[2].partition("]")[0]
        if _IPV_FUTURE.fullmatch(bracketed) is None:
            try:
                ipaddress.IPv6Address(bracketed)
            except ValueError:
                raise _invalid("the host in '[' ']' is not an IPv6 address", uri, conn_id) from None
    if not netloc.isascii():
        try:
            urlsplit("//" + netloc)
        except ValueError:
            raise _invalid(
                "the host part has characters that normalize (NFKC) to '/', '?', '#', '@' or ':'",
                uri,
                conn_id,
            ) from None


def _parse_unusual(uri: str, separators: int, conn_id: str | None) -> tuple[str, str, str, str]:
    """URIs without a ``type://`` prefix: ``//host`` (no conn type), leading whitespace, bad types."""
    stripped = uri.lstrip(_C0_OR_SPACE)
    if not separators and not stripped.startswith("//"):
        what = "it is empty" if not stripped else "it has no 'type://' prefix"
        raise _invalid(
            f"{what} (expected type://login:password@host:port/schema?extras)", uri, conn_id
        )
    try:
        scheme = urlsplit(uri).scheme
        rest = uri
        if separators:
            if not scheme:
                raise _invalid(
                    "the conn type before '://' is not a valid URI scheme (a letter, then letters, "
                    "digits, '+', '.', '-' or '_')",
                    uri,
                    conn_id,
                )
            rest = uri.replace(f"{scheme}://", "//")
            if "://" in rest:
                raise _invalid("the conn type before '://' is not a valid URI scheme", uri, conn_id)
        parts = urlsplit(rest)
    except ValueError as exc:
        if isinstance(exc, InvalidConnectionURI):
            raise
        raise _invalid(
            "it cannot be split into URI parts (unbalanced IPv6 brackets?)", uri, conn_id
        ) from None
    return normalize_conn_type(scheme), parts.netloc, parts.path, parts.query


def _parse_query(
    query: str, uri: str, conn_id: str | None
) -> tuple[dict[str, Any] | None, str | None]:
    """Airflow's ``dict(parse_qsl(query, keep_blank_values=True))``, then ``__extra__`` handling."""
    whole = _query_dicts.get(query)
    if whole is not None:
        return dict(whole), None  # a fresh dict: the Connection owns it
    pairs: dict[str, str] = {}
    fields = _query_fields
    shared = True  # every field is a shared (short, not secret) one
    for field in query.split("&"):
        known = fields.get(field)
        if known is not None:
            pairs[known[0]] = known[1]
            continue
        if not field:
            continue
        shared = False
        name, _, value = field.partition("=")
        if "+" in name:
            name = name.replace("+", " ")
        if "+" in value:
            value = value.replace("+", " ")
        name = unquote(name)
        value = unquote(value)
        pairs[name] = value
        # Short fields whose name is not secret (sslmode=require) repeat across connections: decoded
        # once, then shared (10,000 connections hold one "sslmode" and one "require", not 10,000).
        if len(field) <= _SHARED_FIELD_MAX_CHARS and not is_sensitive_key(name):
            fields.remember(field, (name, value))
    if EXTRA_KEY not in pairs:
        if shared and pairs:
            _query_dicts.remember(query, dict(pairs))
        return (pairs or None), None
    text = pairs[EXTRA_KEY]
    if not text:
        return None, None  # Airflow treats an empty extra as no extra
    try:
        value = load_json(text)
    except (ValueError, RecursionError) as exc:
        where = ""
        if isinstance(exc, json.JSONDecodeError):
            where = f" (line {exc.lineno}, column {exc.colno})"
        raise _invalid(
            f"the {EXTRA_KEY} query parameter is non-JSON text{where}", uri, conn_id
        ) from None
    if not isinstance(value, dict):
        raise _invalid(
            f"the {EXTRA_KEY} query parameter is JSON but does not parse as a dictionary "
            f"(got a JSON {type(value).__name__})",
            uri,
            conn_id,
        )
    return value, text


# -- rendering --------------------------------------------------------------------------------------


def _percent_encode(match: re.Match[str]) -> str:
    data = match.group().encode("utf-8")  # a lone surrogate raises, as quote() does
    return "%%%02X" * len(data) % tuple(data)


_UNSAFE_RUNS = {
    "": re.compile(r"[^A-Za-z0-9_.~\-]+"),
    "*": re.compile(r"[^A-Za-z0-9_.~*\-]+"),
}


def _ascii_table(safe: str, plus: bool) -> dict[int, str]:
    table = {code: f"%{code:02X}" for code in range(128)}
    for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.~-" + safe:
        table[ord(ch)] = ch
    if plus:
        table[ord(" ")] = "+"
    return table


# str.translate tables for ASCII text: (safe, plus) -> table.
_ASCII_TABLES = {
    (safe, plus): _ascii_table(safe, plus) for safe in ("", "*") for plus in (False, True)
}


_PLAIN_TABLE = _ASCII_TABLES["", False]


def _quote(text: str, safe: str = "") -> str:
    """``urllib.parse.quote(text, safe=safe)`` for ``safe`` in ``""``/``"*"``, 2-6x faster."""
    if text.isascii():
        return text.translate(_ASCII_TABLES[safe, False])
    return _UNSAFE_RUNS[safe].sub(_percent_encode, text)


def _quote_plus(text: str, safe: str) -> str:
    """``urllib.parse.quote_plus(text, safe=safe)``: a space is ``+`` (``%20`` only comes from one)."""
    if text.isascii():
        return text.translate(_ASCII_TABLES[safe, True])
    return _UNSAFE_RUNS[safe].sub(_percent_encode, text).replace("%20", "+")


def _quote_host(host: str) -> str:
    if ":" in host and "%" not in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            pass
        else:
            return f"[{host}]"
    return _quote(host)


def _render_scheme(conn_type: str | None) -> str:
    if not conn_type:
        return "//"
    scheme = _render_scheme_cache.get(conn_type)
    if scheme is None:
        scheme = _render_scheme_cache.remember(
            conn_type, f"{conn_type.lower().replace('_', '-')}://"
        )
    return scheme


# Rendered ``key=value`` query fields, for short fields whose name is not secret (sslmode=require):
# rendered once, then reused (the same policy as the parse side's _query_fields).
_rendered_fields: _Memo[tuple[str, str, str], str] = _Memo(_MAX_SHARED_FIELDS)


def _render_flat(extra: Mapping[str, Any], safe: str) -> str | None:
    """Flat ``k=v&...`` when every key and value is a str and no key is ``__extra__``, else None."""
    parts: list[str] = []
    rendered = _rendered_fields
    for key, value in extra.items():
        if type(value) is not str or type(key) is not str or key == EXTRA_KEY:
            return None
        field = rendered.get((key, value, safe))
        if field is None:
            field = f"{_quote_plus(key, safe)}={_quote_plus(value, safe)}"
            if len(key) + len(value) < _SHARED_FIELD_MAX_CHARS and not is_sensitive_key(key):
                rendered.remember((key, value, safe), field)
        parts.append(field)
    return "&".join(parts)


def render_query(
    extra: Mapping[str, Any], extra_text: str | None, *, redacted: bool = False
) -> str:
    """The query part (without ``?``): flat ``k=v`` pairs when every value is a string, else
    ``__extra__=<JSON>`` (the original JSON text when known)."""
    safe = "*" if redacted else ""  # a redacted URI is for display: keep "***" readable
    try:
        flat = _render_flat(extra, safe)
    except UnicodeEncodeError:
        flat = None  # a lone surrogate: only JSON's \\u escapes can carry it
    if flat is not None:
        return flat
    text = extra_text if extra_text is not None else json.dumps(_thaw(extra))
    try:
        return f"{EXTRA_KEY}={_quote_plus(text, safe)}"
    except UnicodeEncodeError:
        return f"{EXTRA_KEY}={_quote_plus(json.dumps(_thaw(extra)), safe)}"


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_thaw(v) for v in value]
    return value


def render_uri(
    conn_type: str | None,
    host: str | None,
    login: str | None,
    password: str | None,
    schema: str | None,
    port: int | None,
    extra: Mapping[str, Any] | None,
    extra_text: str | None,
    *,
    redact_password: bool = False,
) -> str:
    """Render a connection as Airflow's ``get_uri`` does, losslessly.

    ``extra`` must already be redacted by the caller when a redacted URI is wanted; with
    ``redact_password`` the password is written as a literal ``***``.
    """
    uri = _render_scheme(conn_type)
    host_to_use = host
    if host and "://" in host:
        protocol, _, inner = host.partition("://")
        # Airflow writes type://protocol://host. When that would not read back the same (no conn
        # type, protocol equal to the type, an empty or odd protocol, another '://' in the host),
        # the whole host is quoted as one piece instead, which both parsers read back unchanged.
        if (
            conn_type
            and inner
            and protocol != conn_type
            and uri != f"{protocol}://"
            and "://" not in inner
            and _PROTOCOL.fullmatch(protocol) is not None
        ):
            uri += f"{protocol}://"
            host_to_use = inner
    table = _PLAIN_TABLE  # _quote(text) for ASCII text, without the call
    if login is not None or password is not None:
        if login is not None:
            uri += login.translate(table) if login.isascii() else _quote(login)
        if password is not None:
            if redact_password:
                uri += ":" + REDACTED
            else:
                uri += ":" + (password.translate(table) if password.isascii() else _quote(password))
        uri += "@"
    if host_to_use:
        if ":" not in host_to_use and host_to_use.isascii():
            uri += host_to_use.translate(table)
        else:
            uri += _quote_host(host_to_use)
    if port is not None:
        uri += f":{port}"
    if schema:
        uri += "/" + (schema.translate(table) if schema.isascii() else _quote(schema))
    if extra:
        uri += ("?" if schema else "/?") + render_query(extra, extra_text, redacted=redact_password)
    return uri
