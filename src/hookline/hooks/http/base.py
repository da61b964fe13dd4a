"""The parts of the HTTP hooks that do not depend on sync or async: settings from the connection
(base URL, headers, auth, timeouts, TLS, retry policy), URL joining and error mapping.

:class:`HttpHookBase` is subclassed by :class:`~hookline.hooks.http.HttpHook` and
:class:`~hookline.hooks.http.AsyncHttpHook`; import those (and the errors) from
:mod:`hookline.hooks.http`.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, ClassVar, Final, TypeVar

import httpx

from hookline import masking
from hookline.connection import Connection
from hookline.exceptions import (
    HookConnectionError,
    HookError,
    HttpAuthenticationFailed,
    HttpStatusError,
)
from hookline.hooks._retry import (
    NOT_RETRIED_ERRORS,
    RetryPolicy,
    mask_httpx_logs,
    shared_ssl_context,
)
from hookline.hooks.base import BaseHook

__all__ = [
    "OPTION_KEYS",
    "HttpAuthenticationFailed",
    "HttpHookBase",
    "HttpStatusError",
    "as_bool",
    "is_http_method",
]

log = logging.getLogger("hookline.hooks.http")

ClientT = TypeVar("ClientT", httpx.Client, httpx.AsyncClient)

#: Extras consumed as options; every other extra key becomes a request header.
OPTION_KEYS: Final = frozenset(
    {
        "stream",
        "cert",
        "proxies",
        "proxy",
        "timeout",
        "verify",
        "verify_ssl",
        "allow_redirects",
        "max_redirects",
        "trust_env",
        "check_response",
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
_METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_TOKEN_KEYS: Final = ("token", "bearer_token", "api_token")


def _ssl_context(verify: Any, cert: Any) -> ssl.SSLContext | bool:
    """httpx 0.28 wants an SSLContext for CA bundles and client certificates.

    The common cases (default verification, no verification) share one context per process: loading
    the CA bundle costs tens of milliseconds, which would otherwise be paid by every new client.
    """
    if isinstance(verify, str) and verify.lower() in {"false", "0", "no"}:
        verify = False
    if verify is False and not cert:
        return shared_ssl_context(verify=False)
    if verify in (None, True) and not cert:
        return shared_ssl_context()
    cafile = verify if isinstance(verify, str) else None
    context = ssl.create_default_context(cafile=cafile)
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert:
        if isinstance(cert, list | tuple):
            context.load_cert_chain(*cert)
        else:
            context.load_cert_chain(str(cert))
    return context


def is_http_method(value: str) -> bool:
    """True for a standard method in any case (``get``) or any all-capitals token (``PROPFIND``)."""
    return value.upper() in _METHODS or (value.isalpha() and value.isupper())


def _keep_alive_options(idle_s: int, count: int, interval_s: int) -> list[tuple[int, int, int]]:
    """Socket options for TCP keep-alive probes (Airflow's ``tcp_keep_alive*`` arguments)."""
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (
        ("TCP_KEEPIDLE", idle_s),
        ("TCP_KEEPCNT", count),
        ("TCP_KEEPINTVL", interval_s),
    ):
        if hasattr(socket, name):
            options.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    return options


def as_bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() not in {"false", "0", "no", "off", ""}
    return bool(value)


class HttpHookBase(BaseHook[ClientT]):
    """What the sync and async HTTP hooks share: settings from the connection, URLs, errors."""

    conn_type: ClassVar[str] = "http"
    hook_name: ClassVar[str] = "HTTP"
    default_conn_name: ClassVar[str] = "http_default"
    conn_name_attr: ClassVar[str] = "http_conn_id"

    def __init__(
        self,
        conn: str | Connection | None = None,
        *,
        method: str = "POST",
        retry_limit: int | None = None,
        retry_delay_s: float | None = None,
        retry_max_delay_s: float = 30.0,
        retry_after_cap_s: float = 60.0,
        connect_timeout_s: float | None = None,
        read_timeout_s: float | None = None,
        check_response: bool | None = None,
        auth_type: Callable[[str, str], httpx.Auth] | None = None,
        tcp_keep_alive: bool = True,
        tcp_keep_alive_idle: int = 120,
        tcp_keep_alive_count: int = 20,
        tcp_keep_alive_interval: int = 30,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn, **kwargs)
        self.method = method.upper()
        self.auth_type = auth_type
        self._socket_options = (
            _keep_alive_options(tcp_keep_alive_idle, tcp_keep_alive_count, tcp_keep_alive_interval)
            if tcp_keep_alive
            else []
        )
        self._retry_limit = retry_limit
        self._retry_delay_s = retry_delay_s
        self._retry_max_delay_s = retry_max_delay_s
        self._retry_after_cap_s = retry_after_cap_s
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._check_response = check_response
        self._lock = threading.Lock()

    # -- settings from the connection ---------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The URL every endpoint is appended to (Airflow's rule; see the module docstring)."""
        conn = self.connection
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

    def url_for(self, endpoint: str | None) -> str:
        """Join the base URL and ``endpoint`` with exactly one ``/`` between them (Airflow's rule)."""
        base = self.base_url
        endpoint = endpoint or ""
        if base and endpoint and not base.endswith("/") and not endpoint.startswith("/"):
            return f"{base}/{endpoint}"
        return base + endpoint

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy in force: hook arguments, then extras, then defaults."""
        extra = self.connection.extra
        limit = self._retry_limit
        if limit is None:
            limit = int(extra.get("retry_limit", 3))
        delay = self._retry_delay_s
        if delay is None:
            delay = float(extra.get("retry_delay_s", 1.0))
        return RetryPolicy(
            retry_limit=limit,
            retry_delay_s=delay,
            retry_max_delay_s=self._retry_max_delay_s,
            retry_after_cap_s=self._retry_after_cap_s,
        )

    @property
    def timeout(self) -> httpx.Timeout:
        """Connect and read timeouts: hook arguments, then extras, then ``timeout``, then 10 s / 60 s."""
        extra = self.connection.extra
        total = extra.get("timeout")
        connect = self._connect_timeout_s
        if connect is None:
            connect = float(extra.get("connect_timeout_s", total if total is not None else 10.0))
        read = self._read_timeout_s
        if read is None:
            read = float(extra.get("read_timeout_s", total if total is not None else 60.0))
        return httpx.Timeout(read, connect=connect)

    @property
    def check_response_enabled(self) -> bool:
        """Whether 4xx/5xx answers raise (hook argument, else the ``check_response`` extra, else on)."""
        if self._check_response is not None:
            return self._check_response
        return as_bool(self.connection.extra.get("check_response"), True)

    def _headers_and_auth(self) -> tuple[dict[str, str], httpx.Auth | None]:
        conn = self.connection
        headers = {
            str(k): v if isinstance(v, str) else str(v)
            for k, v in conn.extra.items()
            if k not in OPTION_KEYS
        }
        token = next((conn.extra[k] for k in _TOKEN_KEYS if conn.extra.get(k)), None)
        auth: httpx.Auth | None = None
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        elif conn.login:
            auth_type = self.auth_type or httpx.BasicAuth
            auth = auth_type(conn.login, conn.password or "")
        return headers, auth

    def _client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``httpx.Client`` / ``httpx.AsyncClient`` from the connection."""
        conn = self.connection
        self._register_secrets(conn)
        mask_httpx_logs()
        extra = conn.extra
        headers, auth = self._headers_and_auth()
        verify = _ssl_context(extra.get("verify", extra.get("verify_ssl")), extra.get("cert"))
        kwargs: dict[str, Any] = {
            "headers": headers,
            "auth": auth,
            "timeout": self.timeout,
            "verify": verify,
            "transport": self._transport(verify=verify, socket_options=self._socket_options),
            "follow_redirects": as_bool(extra.get("allow_redirects"), True),
            "trust_env": as_bool(extra.get("trust_env"), True),
        }
        if "max_redirects" in extra:
            kwargs["max_redirects"] = int(extra["max_redirects"])
        proxies = extra.get("proxies", extra.get("proxy"))
        if isinstance(proxies, str) and proxies:
            kwargs["proxy"] = proxies
        elif isinstance(proxies, Mapping) and proxies:
            kwargs["mounts"] = {
                (k if "://" in k else f"{k}://"): self._transport(
                    verify=verify, socket_options=self._socket_options, proxy=str(v)
                )
                for k, v in proxies.items()
            }
        return kwargs

    def _transport(self, **kwargs: Any) -> httpx.BaseTransport | httpx.AsyncBaseTransport:
        return httpx.HTTPTransport(**kwargs)

    def _request_args(
        self,
        method: str,
        endpoint: str | None,
        data: Any,
        params: Any,
    ) -> tuple[str, str, Any, Any]:
        """Method, URL, body and params as Airflow sends them (GET: ``data`` becomes params)."""
        method = method.upper()
        url = self.url_for(endpoint)
        if method == "GET" and data is not None and params is None:
            return method, url, None, data
        if method == "HEAD":
            return method, url, None, params
        return method, url, data, params

    # -- errors ------------------------------------------------------------------------------

    def _where(self, method: str, url: httpx.URL | str) -> str:
        """``METHOD origin/path`` with registered secrets masked (no query string, no userinfo)."""
        parsed = httpx.URL(url) if isinstance(url, str) else url
        port = f":{parsed.port}" if parsed.port else ""
        return str(masking.redact(f"{method} {parsed.scheme}://{parsed.host}{port}{parsed.path}"))

    def _status_error(self, response: httpx.Response, attempts: int) -> HttpStatusError:
        status = response.status_code
        reason = response.reason_phrase or ""
        tries = f" after {attempts} attempt{'s' if attempts != 1 else ''}"
        where = self._where(response.request.method, response.request.url)
        message = f"{where} returned HTTP {status} {reason}{tries}".rstrip()
        cls = HttpAuthenticationFailed if status in (401, 403) else HttpStatusError
        return cls(message, conn_id=self.conn_id, status_code=status, reason=reason)

    def _transport_error(
        self, exc: httpx.HTTPError, method: str, url: str, attempts: int
    ) -> HookError:
        timeout = self.timeout
        where = self._where(method, url)
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        limits = f"connect timeout {timeout.connect} s, read timeout {timeout.read} s"
        if isinstance(exc, httpx.TransportError) and not isinstance(exc, NOT_RETRIED_ERRORS):
            return HookConnectionError(
                f"{where} failed after {tries}: {type(exc).__name__} ({limits})",
                conn_id=self.conn_id,
            )
        return HookError(f"{where} failed: {type(exc).__name__}", conn_id=self.conn_id)

    def _checked(self, response: httpx.Response, attempts: int, check: bool) -> httpx.Response:
        if check and response.is_error:
            if not response.is_closed:
                response.close()
            raise self._status_error(response, attempts)
        return response

    def _policy_for(self, retries: bool) -> RetryPolicy:
        policy = self.retry_policy
        return policy if retries else replace(policy, retry_limit=0)
