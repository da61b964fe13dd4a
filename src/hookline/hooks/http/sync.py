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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import tenacity

from hookline import masking
from hookline.connection import Connection
from hookline.exceptions import AuthenticationFailed
from hookline.hooks._retry import RetryPolicy, parse_retry_after
from hookline.hooks.http.base import (
    OPTION_KEYS,
    HttpAuthenticationFailed,
    HttpHookBase,
    HttpStatusError,
    as_bool,
    is_http_method,
)

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


class HttpHook(HttpHookBase[httpx.Client]):
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
                check=None if check is None else as_bool(check, True),
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
        leaves a truncated file under ``path``. The status is always checked (an error page is never
        saved as the file), whatever ``check_response`` says.

        Raises:
            HttpStatusError: a 4xx, or a 5xx/429 that outlived the retries.
            HookConnectionError: the server could not be reached, or the stream broke.
        """
        target = Path(path)
        partial = target.with_name(target.name + ".part")

        def fetch() -> int:
            response = self._send(
                method, endpoint, params=params, headers=headers, stream=True, check=True
            )
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


class AsyncHttpHook(HttpHookBase[httpx.AsyncClient]):
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
