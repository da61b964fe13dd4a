"""AsyncHttpHook: the asynchronous HTTP hook, on one keep-alive :class:`httpx.AsyncClient`.

It reads the same settings, accepts the same ``run`` call forms, follows the same retry, redirect and
credential rules as :class:`~hookline.hooks.http.HttpHook` (see :mod:`hookline.hooks.http.sync`),
and refreshes credentials once on 401/403 through
:meth:`~hookline.hooks.base.BaseHook.arun_with_refresh`. Airflow's ``HttpAsyncHook.run`` takes
``(session, endpoint, data, json, headers, extra_options)`` in recent providers; pass those by
keyword (``endpoint=``, ``data=``, ``json=``, ``headers=``, ``extra_options=``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, overload

import httpx

from hookline import masking
from hookline.connection import Connection
from hookline.hooks._retry import RetryPolicy
from hookline.hooks.http.base import HttpHookBase
from hookline.hooks.http.calls import RunCall, parse_run_arguments
from hookline.hooks.http.settings import RequestOptions
from hookline.hooks.http.sync import HttpMethod
from hookline.hooks.http.transport import BorrowedAsyncTransport, Transport, TransportOptions

__all__ = ["AsyncHttpHook", "HttpAsyncHook"]

log = logging.getLogger("hookline.hooks.http")


async def _aclose(response: httpx.Response) -> None:
    await response.aclose()


class AsyncHttpHook(HttpHookBase[httpx.AsyncClient]):
    """Asynchronous HTTP hook; same arguments and semantics as :class:`HttpHook`, with an
    ``httpx.AsyncBaseTransport`` for ``transport=``. Use ``async with`` (or ``await hook.aclose()``)
    to close it.
    """

    def __init__(self, conn: str | Connection | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(conn, *args, **kwargs)
        self._stale: list[httpx.AsyncClient] = []
        self._closing: set[asyncio.Task[None]] = set()

    def _new_transport(self, **kwargs: Any) -> httpx.AsyncHTTPTransport:
        return httpx.AsyncHTTPTransport(**kwargs)

    def _borrow(self, transport: Transport) -> httpx.AsyncBaseTransport:
        if not isinstance(transport, httpx.AsyncBaseTransport):
            raise TypeError(
                "AsyncHttpHook needs an async transport (httpx.AsyncBaseTransport), "
                f"got {type(transport).__name__}"
            )
        return BorrowedAsyncTransport(transport)

    def _make_client(self, transport: TransportOptions) -> httpx.AsyncClient:
        return httpx.AsyncClient(**self._client_kwargs(transport))

    def reset_client(self) -> None:
        """Drop the clients; they are closed asynchronously by the next request or :meth:`aclose`."""
        self._settings = None
        self._stale.extend(self._take_clients())
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
        """Close the async clients, including every client replaced by a credential refresh."""
        self.reset_client()
        await self._close_stale()

    async def _close_stale(self) -> None:
        stale, self._stale = self._stale, []
        for client in stale:
            await client.aclose()

    async def __aenter__(self) -> AsyncHttpHook:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- requests -------------------------------------------------------------------------------

    @overload
    async def run(
        self,
        method: HttpMethod,
        endpoint: str,
        data: Any = None,
        headers: Mapping[str, Any] | None = None,
        extra_options: Mapping[str, Any] | None = None,
        *,
        json: Any = None,
        params: Any = None,
        files: Any = None,
        content: Any = None,
    ) -> httpx.Response: ...

    @overload
    async def run(
        self,
        endpoint: str | None = None,
        data: Any = None,
        headers: Mapping[str, Any] | None = None,
        extra_options: Mapping[str, Any] | None = None,
        *,
        method: str | None = None,
        json: Any = None,
        params: Any = None,
        files: Any = None,
        content: Any = None,
    ) -> httpx.Response: ...

    async def run(self, *args: Any, **kwargs: Any) -> httpx.Response:
        """Send one request (see :meth:`HttpHook.run`); refreshes credentials once on 401/403."""
        call = parse_run_arguments(self.method, args, kwargs)
        return await self.arun_with_refresh(lambda: self._run_call(call, self.settings.retry))

    async def _run_call(self, call: RunCall, policy: RetryPolicy) -> httpx.Response:
        if self._stale:
            await self._close_stale()
        client = self.get_conn()
        request, options = self._prepare(client, call)
        return await self._send(client, request, options, policy)

    async def run_and_check(
        self,
        session: httpx.AsyncClient,
        prepped_request: httpx.Request,
        extra_options: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """Async :meth:`HttpHook.run_and_check`."""
        options = self.request_options(extra_options)
        return await self._send(session, prepped_request, options, self.settings.retry)

    async def _send(
        self,
        session: httpx.AsyncClient,
        request: httpx.Request,
        options: RequestOptions,
        policy: RetryPolicy,
    ) -> httpx.Response:
        client, rules = self._ready_to_send(session, request, options)
        attempts = 0

        async def attempt(number: int) -> httpx.Response:
            nonlocal attempts
            attempts = number
            return await self._send_following(client, request, options)

        try:
            response = await policy.acall(
                attempt,
                retry_on_error=rules.on_error,
                retry_on_result=rules.on_response,
                hint_s=rules.hint_s,
                discard=_aclose,
                what=self._where(request.method, request.url),
            )
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, request.method, request.url, attempts) from exc
        if options.check_response and response.is_error:
            await response.aclose()
            raise self._status_error(response, attempts)
        return response

    async def _send_following(
        self, client: httpx.AsyncClient, request: httpx.Request, options: RequestOptions
    ) -> httpx.Response:
        """Send ``request`` and follow redirects, dropping credentials across origins."""
        response = await client.send(request, stream=options.stream)
        history: list[httpx.Response] = []
        crossed = False
        while options.follow_redirects:
            hop = self._next_hop(response, crossed)
            if hop is None:
                break
            await response.aclose()
            if len(history) >= options.max_redirects:
                raise self._too_many_redirects(request, options.max_redirects)
            history.append(response)
            following, crossed = hop
            auth: Any = None if crossed else httpx.USE_CLIENT_DEFAULT
            response = await client.send(following, stream=options.stream, auth=auth)
        if history:
            response.history = history
        return response

    async def _test_once(self) -> None:
        client = self.get_conn()
        request, options = self._prepare_test(client)
        response = await self._send(client, request, options, RetryPolicy.never())
        await response.aclose()

    def _test(self) -> None:
        async def once() -> None:
            try:
                await self._test_once()
            finally:
                await self.aclose()

        asyncio.run(once())

    async def atest_connection(self) -> tuple[bool, str]:
        """Async :meth:`test_connection`: GET the base URL (or the ``test_endpoint`` extra), once."""
        try:
            await self._test_once()
        except Exception as exc:
            return False, str(masking.redact(f"{type(exc).__name__}: {exc}"))
        return True, "Connection successfully tested"


#: Airflow's name for the async hook.
HttpAsyncHook = AsyncHttpHook
