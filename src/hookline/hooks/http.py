"""HttpHook and AsyncHttpHook: an httpx client built from a connection, with retries and timeouts.

The base URL is built as Airflow's HttpHook builds it: the host as is when it contains ``://``,
otherwise ``f"{schema or 'http'}://{host}"`` (``https`` when the conn_type is ``https`` and no schema
is set, which fixes an Airflow surprise), then ``:port`` when a port is set. Login and password give
HTTP basic auth; an extra ``token``, ``bearer_token`` or ``api_token`` gives a bearer token instead.

Extras named in :data:`OPTION_KEYS` are client options (``timeout``, ``verify``, ``proxies``,
``connect_timeout_s``, ``retry_limit``, ...); **every other extra becomes an HTTP header**, as in Airflow.

Each hook keeps one keep-alive :class:`httpx.Client` (pooled connections), closed by ``close()``.
Requests are retried with tenacity on connect errors and timeouts, on 5xx and on 429, honouring
``Retry-After`` up to a cap, with exponential backoff otherwise. Error messages hold the method, the
origin and path (with registered secrets masked), the status and the reason: never the body or the
headers. 401 and 403 raise :class:`~hookline.exceptions.AuthenticationFailed`, so the hook refreshes its
connection once and retries (credential rotation).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, Final, TypeVar

import httpx
import tenacity

from hookline import masking
from hookline.connection import Connection
from hookline.exceptions import AuthenticationFailed, HookConnectionError, HookError
from hookline.hooks._http_retry import (
    NOT_RETRIED_ERRORS,
    RetryPolicy,
    parse_retry_after,
    shared_ssl_context,
)
from hookline.hooks.base import BaseHook

__all__ = [
    "OPTION_KEYS",
    "AsyncHttpHook",
    "HttpAsyncHook",
    "HttpAuthenticationFailed",
    "HttpHook",
    "HttpStatusError",
    "RetryPolicy",
    "is_http_method",
    "parse_retry_after",
]

log = logging.getLogger(__name__)

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


class HttpStatusError(HookError):
    """The server answered with a 4xx or 5xx status.

    The message holds the method, the masked origin and path, the status and the reason, and how many
    attempts were made; never the body or headers.

    Attributes:
        status_code: The HTTP status.
        reason: The reason phrase.
    """

    def __init__(
        self, message: str, *, conn_id: str | None = None, status_code: int = 0, reason: str = ""
    ) -> None:
        super().__init__(message, conn_id=conn_id)
        self.status_code = status_code
        self.reason = reason


class HttpAuthenticationFailed(AuthenticationFailed, HttpStatusError):
    """The server answered 401 or 403: the hook refreshes its connection once and retries."""


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


def _as_bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() not in {"false", "0", "no", "off", ""}
    return bool(value)


class _HttpHookBase(BaseHook[ClientT]):
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
        return _as_bool(self.connection.extra.get("check_response"), True)

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
        extra = conn.extra
        headers, auth = self._headers_and_auth()
        verify = _ssl_context(extra.get("verify", extra.get("verify_ssl")), extra.get("cert"))
        kwargs: dict[str, Any] = {
            "headers": headers,
            "auth": auth,
            "timeout": self.timeout,
            "verify": verify,
            "transport": self._transport(verify=verify, socket_options=self._socket_options),
            "follow_redirects": _as_bool(extra.get("allow_redirects"), True),
            "trust_env": _as_bool(extra.get("trust_env"), True),
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


class HttpHook(_HttpHookBase[httpx.Client]):
    """Synchronous HTTP hook on one keep-alive :class:`httpx.Client`.

    Args:
        conn: A conn_id or a Connection (``http_conn_id=`` is accepted too).
        method: Default method of :meth:`run` (Airflow's default is ``POST``).
        retry_limit: Retries after the first attempt (default: extra ``retry_limit``, else 3).
        retry_delay_s: First backoff delay, doubled per attempt (default: extra, else 1 s).
        retry_max_delay_s: Backoff cap.
        retry_after_cap_s: Cap on a server's ``Retry-After``.
        connect_timeout_s: Connect timeout (default: extra ``connect_timeout_s``, ``timeout``, 10 s).
        read_timeout_s: Read timeout (default: extra ``read_timeout_s``, ``timeout``, 60 s).
        check_response: Raise on 4xx/5xx (default: extra ``check_response``, else True).
        auth_type: Builds the auth from ``(login, password)`` (default :class:`httpx.BasicAuth`).
        tcp_keep_alive: Turn on TCP keep-alive probes on the pooled sockets (Airflow's default),
            with ``tcp_keep_alive_idle`` / ``_count`` / ``_interval`` (seconds, probes, seconds).

    Example:
        >>> with HttpHook("billing_api") as api:  # doctest: +SKIP
        ...     invoice = api.run("GET", "/invoices/42").json()
    """

    def get_conn(self) -> httpx.Client:
        """The hook's :class:`httpx.Client`, built on first use and kept (keep-alive pool)."""
        client = self._client
        if client is None:
            with self._lock:
                client = self._client
                if client is None:
                    client = httpx.Client(**self._client_kwargs())
                    self._client = client
        return client

    def close_conn(self) -> None:
        """Close the client and its pooled connections."""
        client = self._client
        if client is not None:
            client.close()

    def _send(
        self,
        method: str,
        endpoint: str | None,
        *,
        json: Any = None,
        data: Any = None,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        stream: bool = False,
        retries: bool = True,
        check: bool | None = None,
    ) -> httpx.Response:
        method, url, body, query = self._request_args(method, endpoint, data, params)
        policy = self._policy_for(retries)
        client = self.get_conn()
        content, form = (body, None) if isinstance(body, str | bytes) else (None, body)

        def attempt() -> httpx.Response:
            request = client.build_request(
                method,
                url,
                json=json,
                content=content,
                data=form,
                params=query,
                headers=headers,
                timeout=timeout_s if timeout_s is not None else httpx.USE_CLIENT_DEFAULT,
            )
            return client.send(request, stream=stream)

        retrying = tenacity.Retrying(**policy.tenacity_kwargs())
        try:
            response: httpx.Response = retrying(attempt)
        except httpx.HTTPError as exc:
            raise self._transport_error(
                exc, method, url, retrying.statistics.get("attempt_number", 1)
            ) from exc
        attempts = int(retrying.statistics.get("attempt_number", 1))
        return self._checked(
            response, attempts, self.check_response_enabled if check is None else check
        )

    def run(
        self,
        method: str | None = None,
        endpoint: str | None = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        extra_options: Mapping[str, Any] | None = None,
        *,
        json: Any = None,
        params: Any = None,
    ) -> httpx.Response:
        """Send one request, retried by the hook's policy, and return the response.

        Args:
            method: HTTP method (default: the hook's ``method``). When the first argument is not
                an HTTP method (see :func:`is_http_method`), the call is read in Airflow's order
                ``run(endpoint, data, headers, extra_options)``.
            endpoint: Path appended to the base URL.
            data: Form data or raw body (for GET: query parameters, as in Airflow).
            headers: Extra headers for this request.
            extra_options: Airflow-style per-request options: ``timeout``, ``check_response``.
            json: A JSON body.
            params: Query parameters.

        Raises:
            HttpAuthenticationFailed: 401/403 (after one credential refresh when they changed).
            HttpStatusError: another 4xx, or a 5xx/429 that outlived the retries.
            HookConnectionError: the server could not be reached or timed out, after the retries.
        """
        return self._run(method, endpoint, data, headers, extra_options, json=json, params=params)

    def _run(
        self,
        method: str | None = None,
        endpoint: str | None = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        extra_options: Mapping[str, Any] | None = None,
        *,
        json: Any = None,
        params: Any = None,
        retries: bool = True,
    ) -> httpx.Response:
        if method is not None and not is_http_method(method):
            # Airflow's positional order: run(endpoint, data, headers, extra_options).
            method, endpoint, data, headers, extra_options = (
                None, method, endpoint, data, headers,
            )  # fmt: skip
        options = dict(extra_options or {})
        timeout = options.get("timeout")
        check = options.get("check_response")
        return self.run_with_refresh(
            lambda: self._send(
                method or self.method,
                endpoint,
                json=json,
                data=data,
                params=params,
                headers=headers,
                timeout_s=float(timeout) if timeout is not None else None,
                check=None if check is None else _as_bool(check, True),
                retries=retries,
            )
        )

    def run_with_advanced_retry(
        self, retry_args: Mapping[str, Any], /, *args: Any, **kwargs: Any
    ) -> httpx.Response:
        """Run :meth:`run` under ``tenacity.Retrying(**retry_args)`` (the hook's own retries are off).

        Example:
            >>> hook.run_with_advanced_retry(  # doctest: +SKIP
            ...     dict(wait=tenacity.wait_exponential(), stop=tenacity.stop_after_attempt(10),
            ...          retry=tenacity.retry_if_exception_type(HookConnectionError)),
            ...     "GET", "/status")
        """
        retrying = tenacity.Retrying(**dict(retry_args))
        response: httpx.Response = retrying(
            functools.partial(self._run, retries=False), *args, **kwargs
        )
        return response

    def download(
        self,
        endpoint: str | None,
        path: str | os.PathLike[str],
        *,
        method: str = "GET",
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        chunk_size: int = 64 * 1024,
    ) -> int:
        """Stream the response body of ``endpoint`` into ``path``; return the number of bytes written.

        The body is written to ``<path>.part`` and renamed when complete, so a failed download never
        leaves a truncated file under ``path``.
        """
        target = Path(path)
        partial = target.with_name(target.name + ".part")

        def fetch() -> int:
            response = self._send(method, endpoint, params=params, headers=headers, stream=True)
            written = 0
            try:
                with partial.open("wb") as out:
                    for chunk in response.iter_bytes(chunk_size):
                        out.write(chunk)
                        written += len(chunk)
            except httpx.HTTPError as exc:
                partial.unlink(missing_ok=True)
                raise self._transport_error(exc, method, str(response.request.url), 1) from exc
            finally:
                response.close()
            partial.replace(target)
            return written

        return self.run_with_refresh(fetch)

    def _test(self) -> None:
        endpoint = self.connection.extra.get("test_endpoint")
        self._send("GET", endpoint, check=True)


class AsyncHttpHook(_HttpHookBase[httpx.AsyncClient]):
    """Asynchronous HTTP hook on one keep-alive :class:`httpx.AsyncClient`; same semantics as
    :class:`HttpHook`. Use ``async with`` (or ``await hook.aclose()``) to close it.
    """

    def __init__(self, conn: str | Connection | None = None, **kwargs: Any) -> None:
        super().__init__(conn, **kwargs)
        self._stale: list[httpx.AsyncClient] = []
        self._closing: set[asyncio.Task[None]] = set()

    def get_conn(self) -> httpx.AsyncClient:
        """The hook's :class:`httpx.AsyncClient`, built on first use and kept."""
        client = self._client
        if client is None:
            with self._lock:
                client = self._client
                if client is None:
                    client = httpx.AsyncClient(**self._client_kwargs())
                    self._client = client
        return client

    def _transport(self, **kwargs: Any) -> httpx.AsyncBaseTransport:
        return httpx.AsyncHTTPTransport(**kwargs)

    def reset_client(self) -> None:
        """Drop the client; it is closed asynchronously by the next request or :meth:`aclose`."""
        if self._client is not None:
            self._stale.append(self._client)
        self._client = None

    def close_conn(self) -> None:
        """Best-effort synchronous close; prefer ``async with`` or :meth:`aclose`.

        Inside a running event loop the close is scheduled as a task; outside one it runs in a
        new loop, which works unless the client's connections belong to a loop already closed
        (then a warning says so).
        """
        self.reset_client()
        stale, self._stale = self._stale, []
        for client in stale:
            if client.is_closed:
                continue
            try:
                loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is not None:
                task = loop.create_task(client.aclose())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
                continue
            try:
                asyncio.run(client.aclose())
            except RuntimeError:
                log.warning(
                    "AsyncHttpHook(%r): its client belongs to an event loop that is closed; "
                    "close it with 'async with' or 'await hook.aclose()' inside that loop",
                    self.conn_id,
                )

    async def aclose(self) -> None:
        """Close the async client and every client replaced by a credential refresh."""
        self.reset_client()
        stale, self._stale = self._stale, []
        for client in stale:
            await client.aclose()

    async def __aenter__(self) -> AsyncHttpHook:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _send(
        self,
        method: str,
        endpoint: str | None,
        *,
        json: Any = None,
        data: Any = None,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        retries: bool = True,
        check: bool | None = None,
    ) -> httpx.Response:
        if self._stale:
            stale, self._stale = self._stale, []
            for old in stale:
                await old.aclose()
        method, url, body, query = self._request_args(method, endpoint, data, params)
        policy = self._policy_for(retries)
        client = self.get_conn()
        content, form = (body, None) if isinstance(body, str | bytes) else (None, body)

        async def attempt() -> httpx.Response:
            return await client.request(
                method, url, json=json, content=content, data=form, params=query, headers=headers
            )

        retrying = tenacity.AsyncRetrying(**policy.tenacity_kwargs())
        try:
            response: httpx.Response = await retrying(attempt)
        except httpx.HTTPError as exc:
            raise self._transport_error(
                exc, method, url, retrying.statistics.get("attempt_number", 1)
            ) from exc
        attempts = int(retrying.statistics.get("attempt_number", 1))
        return self._checked(
            response, attempts, self.check_response_enabled if check is None else check
        )

    async def run(
        self,
        method: str | None = None,
        endpoint: str | None = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        *,
        json: Any = None,
        params: Any = None,
    ) -> httpx.Response:
        """Send one request (see :meth:`HttpHook.run`); refreshes credentials once on 401/403."""
        if method is not None and not is_http_method(method):
            method, endpoint, data, headers = None, method, endpoint, data

        async def once() -> httpx.Response:
            return await self._send(
                method or self.method,
                endpoint,
                json=json,
                data=data,
                params=params,
                headers=headers,
            )

        try:
            return await once()
        except AuthenticationFailed:
            if not self._resolvable or not self.refresh_connection():
                raise
            log.info("credentials of %r changed; retrying once with the new ones", self.conn_id)
            return await once()

    def _test(self) -> None:
        async def once() -> None:
            try:
                await self._send("GET", self.connection.extra.get("test_endpoint"), check=True)
            finally:
                await self.aclose()

        asyncio.run(once())

    async def atest_connection(self) -> tuple[bool, str]:
        """Async :meth:`test_connection`: GET the base URL (or the ``test_endpoint`` extra)."""
        try:
            await self._send("GET", self.connection.extra.get("test_endpoint"), check=True)
        except Exception as exc:
            return False, str(masking.redact(f"{type(exc).__name__}: {exc}"))
        return True, "Connection successfully tested"


#: Airflow's name for the async hook.
HttpAsyncHook = AsyncHttpHook
