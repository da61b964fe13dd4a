"""What an HTTP hook reads from its connection, checked once: every malformed extra is an
:class:`~hookline.exceptions.InvalidConnection` that names the connection and the key, never the value
of a sensitive key.

:func:`read_settings` turns a :class:`~hookline.connection.Connection` plus the hook's constructor
arguments into :class:`HttpSettings` (base URL, default headers, auth, TLS and proxies, timeouts,
redirects, retries); :func:`request_options` merges a call's ``extra_options`` over them.

Extras named in :data:`OPTION_KEYS` are settings; **every other extra becomes a default request
header**, as in Airflow's HttpHook (plus Airflow's ``headers`` extra, an object of headers). A value
under ``auth_type`` names an auth class from an allowlist (:data:`AUTH_TYPES`, extended with
:func:`register_auth_type`), built with ``(login, password, **auth_kwargs)``: the design of Airflow
PR #35591 (https://github.com/apache/airflow/pull/35591); released Airflow providers send these two
keys as headers instead.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

import httpx

from hookline import masking
from hookline.connection import Connection
from hookline.exceptions import ConfigurationError, HooklineError, InvalidConnection
from hookline.hooks._retry import RetryPolicy
from hookline.hooks.http.transport import TransportOptions
from hookline.options import (
    FALSE_WORDS,
    TRUE_WORDS,
    parse_bool,
    parse_float,
    parse_int,
    resolve_option,
)

__all__ = [
    "AUTH_TYPES",
    "OPTION_KEYS",
    "REQUEST_OPTION_KEYS",
    "HookArguments",
    "HttpSettings",
    "OptionReader",
    "ProxyBasicAuth",
    "RequestOptions",
    "base_url_of",
    "check_header",
    "read_settings",
    "register_auth_type",
    "request_options",
]

#: Keys of ``extra_options`` (per call) and of the connection's extras that tune one request.
REQUEST_OPTION_KEYS: Final = frozenset(
    {
        "timeout",
        "check_response",
        "verify",
        "verify_ssl",
        "proxies",
        "proxy",
        "stream",
        "cert",
        "allow_redirects",
        "max_redirects",
        "trust_env",
        "retry_non_idempotent",
    }
)

#: Extras consumed as settings; every other extra key becomes a request header.
OPTION_KEYS: Final = REQUEST_OPTION_KEYS | frozenset(
    {
        "headers",
        "auth_type",
        "auth_kwargs",
        "token",
        "bearer_token",
        "api_token",
        "connect_timeout_s",
        "read_timeout_s",
        "retry_limit",
        "retry_delay_s",
        "test_endpoint",
    }
)

#: Airflow extras hookline does not implement: refused with a reason instead of sent as headers.
_UNSUPPORTED: Final = {
    "srv_lookup": "DNS SRV lookup is not supported; put the host and port in the connection",
}

_TOKEN_KEYS: Final = ("token", "bearer_token", "api_token")
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE_CHARS: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_PROXY_SCHEMES: Final = frozenset({"http", "https", "socks5", "socks5h"})
_DEFAULT_MAX_REDIRECTS: Final = 30  # requests' DEFAULT_REDIRECT_LIMIT, which Airflow's hook uses


class ProxyBasicAuth(httpx.Auth):
    """``Proxy-Authorization: Basic ...`` on every request (requests' ``HTTPProxyAuth``)."""

    def __init__(self, username: str, password: str = "") -> None:
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._header = f"Basic {token}"

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["Proxy-Authorization"] = self._header
        yield request


#: Names an ``auth_type`` extra may hold, and the httpx auth built for each. Airflow's names map to
#: their httpx equivalents, so an Airflow connection works unchanged.
AUTH_TYPES: dict[str, Callable[..., httpx.Auth]] = {
    "requests.auth.HTTPBasicAuth": httpx.BasicAuth,
    "requests.auth.HTTPDigestAuth": httpx.DigestAuth,
    "requests.auth.HTTPProxyAuth": ProxyBasicAuth,
    "aiohttp.BasicAuth": httpx.BasicAuth,
    "aiohttp.helpers.BasicAuth": httpx.BasicAuth,
    "httpx.BasicAuth": httpx.BasicAuth,
    "httpx.DigestAuth": httpx.DigestAuth,
}


def register_auth_type(name: str, factory: Callable[..., httpx.Auth]) -> None:
    """Allow ``{"auth_type": name}`` in connection extras; ``factory(login, password, **auth_kwargs)``
    (or ``factory()`` when the connection has no login, password or ``auth_kwargs``) builds the auth.

    Only registered names are accepted, so a connection cannot make hookline import arbitrary code.
    """
    AUTH_TYPES[name] = factory


@dataclass(frozen=True, slots=True)
class HookArguments:
    """The constructor arguments of an HTTP hook that override extras (None: not given)."""

    retry_limit: int | None = None
    retry_delay_s: float | None = None
    retry_max_delay_s: float = 30.0
    retry_after_cap_s: float = 60.0
    connect_timeout_s: float | None = None
    read_timeout_s: float | None = None
    check_response: bool | None = None
    retry_non_idempotent: bool | None = None
    auth_type: Callable[..., httpx.Auth] | None = None


@dataclass(frozen=True, slots=True)
class RequestOptions:
    """How one request is sent (connection extras, overridden by the call's ``extra_options``).

    Attributes:
        timeout: Connect/read/write/pool timeouts.
        follow_redirects: Follow 3xx answers (credential headers are dropped across origins).
        max_redirects: How many redirects are followed before giving up.
        stream: Return the response unread (the caller reads and closes it).
        check_response: Raise on 4xx/5xx (and retry transient statuses); off returns any answer.
        retry_non_idempotent: Also retry POST/PATCH failures that may have reached the server.
        transport: The transport settings (verify, cert, proxies, trust_env).
    """

    timeout: httpx.Timeout
    follow_redirects: bool = True
    max_redirects: int = _DEFAULT_MAX_REDIRECTS
    stream: bool = False
    check_response: bool = True
    retry_non_idempotent: bool = False
    transport: TransportOptions = field(default_factory=TransportOptions)


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Everything an HTTP hook reads from its connection, checked.

    Attributes:
        base_url: The URL endpoints are appended to.
        headers: Default request headers (from extras, ``headers`` and a bearer token).
        auth: The auth built from login/password or ``auth_type``, or None.
        request: Default per-request options.
        retry: The retry policy.
        test_endpoint: The endpoint ``test_connection`` GETs (default: the base URL).
    """

    base_url: str
    headers: dict[str, str]
    auth: httpx.Auth | None
    request: RequestOptions
    retry: RetryPolicy
    test_endpoint: str | None = None


def base_url_of(conn: Connection) -> str:
    """Airflow's base URL rule: the host as is when it holds ``://``, else
    ``{schema or http}://host`` (``https`` for an ``https`` conn_type), then ``:port``."""
    host = conn.host or ""
    if "://" in host:
        url = host
    elif host:
        default_scheme = "https" if conn.conn_type == "https" else "http"
        url = f"{conn.schema or default_scheme}://{host}"
    else:
        url = ""
    if conn.port:
        url += f":{conn.port}"
    return url


class OptionReader:
    """Reads and checks option values, with errors naming the key and where it came from (the
    connection's extras by default), never the value of a sensitive key.

    Args:
        conn_id: The connection the values belong to.
        error: The error class raised (:class:`InvalidConnection` for extras,
            :class:`ConfigurationError` for a call's arguments).
        noun: What a key is called in messages (``extra``, ``option``, ``header``).
        where: How the message places the key (default ``of connection '<id>'``).
    """

    def __init__(
        self,
        conn_id: str,
        error: type[HooklineError] = InvalidConnection,
        *,
        noun: str = "extra",
        where: str | None = None,
    ) -> None:
        self.conn_id = conn_id
        self.error = error
        self.noun = noun
        self.where = where if where is not None else f"of connection {conn_id!r}"

    def fail(self, key: str, problem: str) -> HooklineError:
        message = str(masking.redact(f"{self.name(key)} {problem}"))
        if issubclass(self.error, InvalidConnection):
            return self.error(message, conn_id=self.conn_id)
        return self.error(message)

    def name(self, key: str) -> str:
        return f"{self.noun} {key!r} {self.where}"

    def boolean(self, key: str, value: Any) -> bool:
        return parse_bool(value, name=self.name(key), conn_id=self.conn_id, error=self.error)

    def integer(self, key: str, value: Any, minimum: int = 0) -> int:
        return parse_int(
            value, name=self.name(key), minimum=minimum, conn_id=self.conn_id, error=self.error
        )

    def number(self, key: str, value: Any, minimum: float = 0.0) -> float:
        return parse_float(
            value, name=self.name(key), minimum=minimum, conn_id=self.conn_id, error=self.error
        )

    def seconds(self, key: str, value: Any) -> float:
        number = self.number(key, value)
        if number <= 0:
            raise self.fail(key, "must be a number of seconds > 0")
        return number

    def timeout_pair(self, key: str, value: Any) -> tuple[float, float]:
        """Airflow's ``timeout``: seconds, or ``[connect, read]`` as requests takes it."""
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise self.fail(key, "must be seconds or a [connect, read] pair")
            return self.seconds(key, value[0]), self.seconds(key, value[1])
        seconds = self.seconds(key, value)
        return seconds, seconds

    def text(self, key: str, value: Any) -> str:
        if not isinstance(value, str):
            raise self.fail(key, f"must be text, got {type(value).__name__}")
        return value

    def mapping(self, key: str, value: Any) -> dict[str, Any]:
        """An object, or JSON text of one (Airflow accepts both for nested extras)."""
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise self.fail(key, "must be an object or JSON text of one") from None
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise self.fail(key, "must be an object with text keys")
        return dict(value)

    def verify(self, key: str, value: Any) -> bool | str:
        """True/False words, or the path of an existing CA bundle (file or directory)."""
        if isinstance(value, str) and value.strip().lower() not in _BOOL_WORDS:
            if not os.path.exists(value):
                raise self.fail(key, "names a CA bundle that does not exist")
            return value
        return self.boolean(key, value)

    def cert(self, key: str, value: Any) -> tuple[str, ...]:
        files: tuple[Any, ...] = tuple(value) if isinstance(value, list | tuple) else (value,)
        if not 1 <= len(files) <= 2 or not all(isinstance(f, str) and f for f in files):
            raise self.fail(key, "must be a certificate path or a [certfile, keyfile] pair")
        for path in files:
            if not os.path.isfile(path):
                raise self.fail(key, "names a file that does not exist")
        return tuple(files)

    def proxy_url(self, key: str, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(key, "must hold proxy URLs as text")
        url = value if "://" in value else f"http://{value}"
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, ValueError, TypeError):
            raise self.fail(key, "holds a proxy URL that cannot be parsed") from None
        if not parsed.host or "%" in parsed.host:
            raise self.fail(key, "holds a proxy URL without a valid host")
        if parsed.scheme not in _PROXY_SCHEMES:
            raise self.fail(
                key, f"holds a proxy URL whose scheme is not one of {sorted(_PROXY_SCHEMES)}"
            )
        if parsed.scheme.startswith("socks") and importlib.util.find_spec("socksio") is None:
            raise self.fail(key, "names a SOCKS proxy, which needs httpx[socks]")
        return url

    def proxies(self, key: str, value: Any) -> tuple[str | None, tuple[tuple[str, str], ...]]:
        """requests' ``proxies``: one URL, or ``{"http": url, "https": url, "all://host": url}``."""
        if isinstance(value, str):
            return (self.proxy_url(key, value) if value else None), ()
        if not isinstance(value, Mapping):
            raise self.fail(key, "must be a proxy URL or an object of scheme to proxy URL")
        mounts: list[tuple[str, str]] = []
        for pattern, url in value.items():
            if not isinstance(pattern, str) or not pattern:
                raise self.fail(key, "has a key that is not a scheme or URL pattern")
            mount = pattern if "://" in pattern else f"{pattern}://"
            if mount.split("://", 1)[0] not in {"http", "https", "all"}:
                raise self.fail(key, "has a key that is not http, https, all or a URL pattern")
            mounts.append((mount, self.proxy_url(key, url)))
        return None, tuple(sorted(mounts))


_BOOL_WORDS: Final = TRUE_WORDS | FALSE_WORDS


def check_header(
    name: Any, value: Any, reader: OptionReader, key: str | None = None
) -> tuple[str, str] | None:
    """A valid ``(name, value)`` header, or None for a null value (requests drops those too).

    Raises:
        InvalidConnection: (or the reader's error) a name that is not an HTTP token, a value that
            is not text or a number, or holds a non-ASCII or control character. The value is never
            quoted.
    """
    label = key if key is not None else str(name)
    if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
        raise reader.fail(
            label, "is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~)"
        )
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise reader.fail(
            label, f"must be text or a number to be sent as a header, got {type(value).__name__}"
        )
    text = value if isinstance(value, str) else repr(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise reader.fail(label, "must be a finite number")
    if not text.isascii():
        raise reader.fail(label, "holds a non-ASCII character, which HTTP headers cannot carry")
    if _BAD_VALUE_CHARS.search(text):
        raise reader.fail(label, "holds a line break or control character")
    return name, text


def _headers(extra: Mapping[str, Any], reader: OptionReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in extra.items():
        if key in OPTION_KEYS:
            continue
        if key in _UNSUPPORTED:
            raise reader.fail(key, f"is not supported: {_UNSUPPORTED[key]}")
        checked = check_header(key, value, reader)
        if checked is not None:
            headers[checked[0]] = checked[1]
    nested = extra.get("headers")
    if nested is not None:
        for name, value in reader.mapping("headers", nested).items():
            checked = check_header(name, value, reader, key=f"headers.{name}")
            if checked is not None:
                headers[checked[0]] = checked[1]
    for key in _TOKEN_KEYS:
        token = extra.get(key)
        if token in (None, ""):
            continue
        checked = check_header(
            "Authorization", f"Bearer {reader.text(key, token)}", reader, key=key
        )
        assert checked is not None
        headers["Authorization"] = checked[1]
        break
    return headers


def _auth(
    conn: Connection,
    extra: Mapping[str, Any],
    given: Callable[..., httpx.Auth] | None,
    reader: OptionReader,
) -> httpx.Auth | None:
    """Airflow's rule: ``auth_type(login, password, **auth_kwargs)`` when any of them is set, else
    ``auth_type()`` for an explicit auth type; basic auth by default; a bearer token wins."""
    name = extra.get("auth_type")
    kwargs = reader.mapping("auth_kwargs", extra["auth_kwargs"]) if extra.get("auth_kwargs") else {}
    factory: Callable[..., httpx.Auth] | None = given
    if given is not None:
        # Airflow code passes requests' or aiohttp's classes (HTTPBasicAuth): use httpx's equivalent.
        dotted = f"{getattr(given, '__module__', '')}.{getattr(given, '__qualname__', '')}"
        factory = AUTH_TYPES.get(dotted, given)
    if factory is None and name is not None:
        if not isinstance(name, str) or name not in AUTH_TYPES:
            raise reader.fail(
                "auth_type", f"is not an allowed auth type (one of {sorted(AUTH_TYPES)})"
            )
        factory = AUTH_TYPES[name]
    if any(extra.get(key) for key in _TOKEN_KEYS):
        if name is not None or kwargs:
            raise reader.fail("auth_type", "cannot be combined with a bearer token extra")
        return None
    if factory is None and kwargs:
        raise reader.fail("auth_kwargs", "needs an auth_type to build")
    build: Callable[..., httpx.Auth] = factory if factory is not None else httpx.BasicAuth
    try:
        if conn.login or conn.password or kwargs:
            auth = build(conn.login or "", conn.password or "", **kwargs)
        elif factory is not None:
            auth = build()
        else:
            return None
    except (TypeError, ValueError):
        raise reader.fail(
            "auth_kwargs" if kwargs else "auth_type",
            "does not build an auth from the connection's login and password",
        ) from None
    if not isinstance(auth, httpx.Auth):
        raise TypeError(f"auth_type must build an httpx.Auth, built a {type(auth).__name__}")
    return auth


def _transport(extra: Mapping[str, Any], reader: OptionReader) -> TransportOptions:
    verify: bool | str = True
    for key in ("verify", "verify_ssl"):
        if extra.get(key) is not None:
            verify = reader.verify(key, extra[key])
            break
    cert = reader.cert("cert", extra["cert"]) if extra.get("cert") not in (None, "") else None
    proxy: str | None = None
    mounts: tuple[tuple[str, str], ...] = ()
    for key in ("proxies", "proxy"):
        if extra.get(key) is not None:
            proxy, mounts = reader.proxies(key, extra[key])
            break
    trust_env = resolve_option(
        "trust_env", None, extra, True, convert=lambda v: reader.boolean("trust_env", v)
    )
    return TransportOptions(verify, cert, proxy, mounts, trust_env)


def _timeout(extra: Mapping[str, Any], args: HookArguments, reader: OptionReader) -> httpx.Timeout:
    connect, read = 10.0, 60.0
    if extra.get("timeout") is not None:
        connect, read = reader.timeout_pair("timeout", extra["timeout"])
    for_connect = lambda v: reader.seconds("connect_timeout_s", v)  # noqa: E731
    for_read = lambda v: reader.seconds("read_timeout_s", v)  # noqa: E731
    connect = resolve_option(
        "connect_timeout_s", args.connect_timeout_s, extra, connect, convert=for_connect
    )
    read = resolve_option("read_timeout_s", args.read_timeout_s, extra, read, convert=for_read)
    return httpx.Timeout(read, connect=connect)


def read_settings(conn: Connection, args: HookArguments, conn_id: str) -> HttpSettings:
    """Read and check everything the hook needs from ``conn`` (constructor arguments win).

    Raises:
        InvalidConnection: a malformed extra; the message names the connection and the key.
    """
    extra = conn.extra
    reader = OptionReader(conn_id)

    def flag(key: str, argument: bool | None, default: bool) -> bool:
        return resolve_option(
            key, argument, extra, default, convert=lambda v: reader.boolean(key, v)
        )

    def count(key: str, argument: int | None, default: int) -> int:
        return resolve_option(
            key, argument, extra, default, convert=lambda v: reader.integer(key, v)
        )

    request = RequestOptions(
        timeout=_timeout(extra, args, reader),
        follow_redirects=flag("allow_redirects", None, True),
        max_redirects=count("max_redirects", None, _DEFAULT_MAX_REDIRECTS),
        stream=flag("stream", None, False),
        check_response=flag("check_response", args.check_response, True),
        retry_non_idempotent=flag("retry_non_idempotent", args.retry_non_idempotent, False),
        transport=_transport(extra, reader),
    )
    delay = resolve_option(
        "retry_delay_s",
        args.retry_delay_s,
        extra,
        1.0,
        convert=lambda v: reader.number("retry_delay_s", v),
    )
    retry = RetryPolicy(
        retry_limit=count("retry_limit", args.retry_limit, 3),
        retry_delay_s=delay,
        retry_max_delay_s=args.retry_max_delay_s,
        retry_after_cap_s=args.retry_after_cap_s,
    )
    test_endpoint = extra.get("test_endpoint")
    if test_endpoint is not None:
        test_endpoint = reader.text("test_endpoint", test_endpoint)
    headers = _headers(extra, reader)
    auth = _auth(conn, extra, args.auth_type, reader)
    return HttpSettings(base_url_of(conn), headers, auth, request, retry, test_endpoint)


def request_options(
    defaults: RequestOptions, extra_options: Mapping[str, Any] | None, conn_id: str
) -> RequestOptions:
    """``defaults`` with a call's ``extra_options`` (Airflow's keys) applied over them.

    Raises:
        ConfigurationError: an unknown key (named) or a malformed value.
    """
    if not extra_options:
        return defaults
    if not isinstance(extra_options, Mapping):
        raise ConfigurationError(
            f"extra_options must be a mapping of option to value, got {type(extra_options).__name__}"
        )
    unknown = sorted(str(k) for k in extra_options if k not in REQUEST_OPTION_KEYS)
    if unknown:
        raise ConfigurationError(
            f"extra_options key(s) {', '.join(map(repr, unknown))} are not request options "
            f"(known: {', '.join(sorted(REQUEST_OPTION_KEYS))})"
        )
    reader = OptionReader(conn_id, ConfigurationError, noun="option", where="in extra_options")
    opts = dict(extra_options)
    changes: dict[str, Any] = {}
    if opts.get("timeout") is not None:
        connect, read = reader.timeout_pair("timeout", opts["timeout"])
        changes["timeout"] = httpx.Timeout(read, connect=connect)
    for key, attr in (
        ("allow_redirects", "follow_redirects"),
        ("stream", "stream"),
        ("check_response", "check_response"),
        ("retry_non_idempotent", "retry_non_idempotent"),
    ):
        if opts.get(key) is not None:
            changes[attr] = reader.boolean(key, opts[key])
    if opts.get("max_redirects") is not None:
        changes["max_redirects"] = reader.integer("max_redirects", opts["max_redirects"])
    transport = defaults.transport
    tchanges: dict[str, Any] = {}
    for key in ("verify", "verify_ssl"):
        if opts.get(key) is not None:
            tchanges["verify"] = reader.verify(key, opts[key])
            break
    if "cert" in opts:
        tchanges["cert"] = reader.cert("cert", opts["cert"]) if opts["cert"] else None
    for key in ("proxies", "proxy"):
        if key in opts:
            proxy, mounts = reader.proxies(key, opts[key] or {})
            tchanges["proxy"], tchanges["proxy_mounts"] = proxy, mounts
            break
    if opts.get("trust_env") is not None:
        tchanges["trust_env"] = reader.boolean("trust_env", opts["trust_env"])
    if tchanges:
        changes["transport"] = _replace(transport, tchanges)
    return _replace(defaults, changes) if changes else defaults


def _replace(obj: Any, changes: Mapping[str, Any]) -> Any:
    return replace(obj, **changes)
