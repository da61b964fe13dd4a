"""How an HTTP hook's requests reach the network: transport settings (TLS, client certificate,
proxies, ``trust_env``), TCP keep-alive, and the test seam.

* :class:`TransportOptions`: the hashable transport settings a client is built from (one client per
  distinct value, so a call's ``verify``/``cert``/``proxies`` options get their own client);
* :data:`transport_override` / :func:`use_transport`: the transport hooks built in a context use
  when given none (:func:`hookline.testing.mock_http` sets it; a ``ContextVar``, so it does not
  leak into other threads or asyncio tasks);
* :class:`BorrowedTransport` / :class:`BorrowedAsyncTransport`: a transport passed in by the caller,
  which closing the hook's client leaves open;
* :func:`mock_http` (re-exported as :func:`hookline.testing.mock_http`): answer the requests of hooks
  built in a block with a handler instead of the network.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpx

from hookline.hooks._retry import shared_ssl_context

__all__ = [
    "BorrowedAsyncTransport",
    "BorrowedTransport",
    "MockHttp",
    "Transport",
    "TransportOptions",
    "environment_proxies",
    "keep_alive_options",
    "mock_http",
    "transport_override",
    "use_transport",
]

#: A transport for the sync or the async client.
Transport = httpx.BaseTransport | httpx.AsyncBaseTransport

#: The transport hooks built in this context use when given none (set by ``mock_http``).
transport_override: ContextVar[Transport | None] = ContextVar(
    "hookline_http_transport_override", default=None
)


@contextmanager
def use_transport(transport: Transport) -> Iterator[Transport]:
    """Inside the block, HTTP hooks built without ``transport=`` use ``transport``."""
    token = transport_override.set(transport)
    try:
        yield transport
    finally:
        transport_override.reset(token)


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """What a client's transport is built from (hashable: one client per distinct value).

    Attributes:
        verify: True (system CAs), False (no verification) or the path of a CA bundle.
        cert: Client certificate: ``(certfile,)`` or ``(certfile, keyfile)``, or None.
        proxy: One proxy URL for every request, or None.
        proxy_mounts: ``(pattern, proxy URL)`` pairs (httpx mount patterns such as ``"https://"``).
        trust_env: Read proxies from ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` when none is set.
    """

    verify: bool | str = True
    cert: tuple[str, ...] | None = None
    proxy: str | None = None
    proxy_mounts: tuple[tuple[str, str], ...] = ()
    trust_env: bool = True

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context: a shared one for plain verify on/off, else built from the files."""
        if self.cert is None and isinstance(self.verify, bool):
            return shared_ssl_context(verify=self.verify)
        if isinstance(self.verify, str):
            if os.path.isdir(self.verify):
                context = ssl.create_default_context(capath=self.verify)
            else:
                context = ssl.create_default_context(cafile=self.verify)
        else:
            context = ssl.create_default_context()
            if not self.verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        if self.cert is not None:
            context.load_cert_chain(*self.cert)
        return context

    def proxy_map(self) -> dict[str, str | None]:
        """httpx mount pattern to proxy URL (None: go direct), explicit or from the environment."""
        if self.proxy is not None:
            return {"all://": self.proxy}
        if self.proxy_mounts:
            return dict(self.proxy_mounts)
        if self.trust_env:
            return environment_proxies()
        return {}


def environment_proxies() -> dict[str, str | None]:
    """Proxies from ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` and ``NO_PROXY``, as httpx reads
    them when it builds its own transport (hookline always builds the transport itself)."""
    found = urllib.request.getproxies()
    mounts: dict[str, str | None] = {}
    for scheme in ("http", "https", "all"):
        url = found.get(scheme)
        if url:
            mounts[f"{scheme}://"] = url if "://" in url else f"http://{url}"
    for host in (h.strip() for h in found.get("no", "").split(",")):
        if not host:
            continue
        if host == "*":
            return {}
        if "://" in host:
            mounts[host] = None
        elif re.fullmatch(r"[\d.]+", host) or host.lower() == "localhost":
            mounts[f"all://{host}"] = None
        elif re.fullmatch(r"[0-9a-fA-F]*:[0-9a-fA-F:]*", host):
            mounts[f"all://[{host}]"] = None
        else:
            mounts[f"all://*{host}"] = None
    return mounts


class BorrowedTransport(httpx.BaseTransport):
    """A sync transport the hook uses but does not own: closing the client leaves it open."""

    def __init__(self, transport: httpx.BaseTransport) -> None:
        self._transport = transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._transport.handle_request(request)

    def close(self) -> None:
        """Do nothing: the transport belongs to whoever passed it in."""


class BorrowedAsyncTransport(httpx.AsyncBaseTransport):
    """An async transport the hook uses but does not own: closing the client leaves it open."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        """Do nothing: the transport belongs to whoever passed it in."""


def keep_alive_options(idle_s: int, count: int, interval_s: int) -> list[tuple[int, int, int]]:
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


@dataclass
class MockHttp:
    """What :func:`mock_http` yields.

    Attributes:
        transport: The ``httpx.MockTransport``; pass it as ``transport=`` to hooks built elsewhere
            (for example in another thread).
        requests: Every request the transport received, in order, with its body read.
    """

    transport: httpx.MockTransport
    requests: list[httpx.Request] = field(default_factory=list)


@contextmanager
def mock_http(
    handler: Callable[[httpx.Request], httpx.Response]
    | Callable[[httpx.Request], Coroutine[Any, Any, httpx.Response]]
    | None = None,
) -> Iterator[MockHttp]:
    """Answer the HTTP requests of hooks built inside the block with ``handler``, not the network.

    :class:`~hookline.hooks.http.HttpHook`, :class:`~hookline.hooks.http.AsyncHttpHook` and
    :class:`~hookline.hooks.slack.SlackWebhookHook` built inside the block without ``transport=``
    send every request through an ``httpx.MockTransport`` that calls ``handler(request)``; the
    hooks run their whole request path (headers, auth, retries, redirects, status checks) on top of
    it. A hook keeps the transport for its lifetime, also after the block.

    Args:
        handler: ``request -> httpx.Response`` (or an awaitable of one, for async hooks). Default:
            200 with an empty JSON object.

    Yields:
        A :class:`MockHttp` with the transport and the requests received.

    The setting lives in a ``ContextVar``: it does not leak into other threads (which start with
    an empty context) or into asyncio tasks created before the block.

    Example:
        >>> from hookline import Connection
        >>> from hookline.hooks.http import HttpHook
        >>> with mock_http(lambda request: httpx.Response(201, json={"id": 7})) as http:
        ...     hook = HttpHook(Connection(conn_id="api", conn_type="http", host="example.com"))
        ...     hook.run("POST", "/items", json={"name": "x"}).json()
        {'id': 7}
        >>> str(http.requests[0].url)
        'http://example.com/items'
    """
    received: list[httpx.Request] = []

    def record(request: httpx.Request) -> Any:
        received.append(request)
        if handler is None:
            return httpx.Response(200, json={})
        return handler(request)

    transport = httpx.MockTransport(record)
    with use_transport(transport):
        yield MockHttp(transport=transport, requests=received)
