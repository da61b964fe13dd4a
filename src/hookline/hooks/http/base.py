"""What the sync and async HTTP hooks share: the constructor, settings, clients, request building,
redirect hops that drop credentials across origins, and error mapping.

:class:`HttpHookBase` is subclassed by :class:`~hookline.hooks.http.HttpHook` and
:class:`~hookline.hooks.http.AsyncHttpHook`; import those (and the errors) from
:mod:`hookline.hooks.http`. The call forms of ``run`` are in :mod:`~hookline.hooks.http.calls`,
what is read from the connection in :mod:`~hookline.hooks.http.settings`, and transports in
:mod:`~hookline.hooks.http.transport`.

**Transports**: ``transport=`` on the constructor replaces the network for every client the hook
builds (``httpx.MockTransport`` in tests); inside :func:`hookline.testing.mock_http`, hooks built
without one get the mock's. An injected transport is never closed by the hook, and TLS and proxy
settings do not apply to it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar, Generic, TypeVar
from urllib.parse import urlencode

import httpx

from hookline import masking
from hookline.connection import Connection
from hookline.exceptions import (
    ConfigurationError,
    HookConnectionError,
    HookError,
    HttpAuthenticationFailed,
    HttpStatusError,
    InvalidConnection,
)
from hookline.hooks._retry import HttpRetryRules, RetryPolicy, mask_httpx_logs
from hookline.hooks.base import BaseHook
from hookline.hooks.http.calls import (
    METHOD_CHARS,
    METHODS,
    RunCall,
    crosses_origin,
    is_credential_header,
)
from hookline.hooks.http.settings import (
    HookArguments,
    HttpSettings,
    OptionReader,
    RequestOptions,
    base_url_of,
    check_header,
    read_settings,
    request_options,
)
from hookline.hooks.http.transport import (
    Transport,
    TransportOptions,
    keep_alive_options,
    transport_override,
)

__all__ = ["HttpHookBase"]

log = logging.getLogger("hookline.hooks.http")

ClientT = TypeVar("ClientT", httpx.Client, httpx.AsyncClient)


def _with_query(url: str, params: Any) -> str:
    """``url`` with ``params`` appended to its query, as requests does (httpx would replace the
    query of an endpoint such as ``items?fixed=1``); None values are dropped, as requests drops them.
    """
    if params is None:
        return url
    if isinstance(params, Mapping):
        params = {k: v for k, v in params.items() if v is not None}
    query = str(httpx.QueryParams(params))
    if not query:
        return url
    separator = "" if url.endswith(("?", "&")) else ("&" if "?" in url else "?")
    return f"{url}{separator}{query}"


class HttpHookBase(BaseHook[ClientT], Generic[ClientT]):
    """What the sync and async HTTP hooks share: settings, call forms, requests, redirects, errors."""

    conn_type: ClassVar[str] = "http"
    hook_name: ClassVar[str] = "HTTP"
    default_conn_name: ClassVar[str] = "http_default"
    conn_name_attr: ClassVar[str] = "http_conn_id"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """``schema`` is the URL scheme (http or https), as in Airflow's HTTP form."""
        return {
            "hidden_fields": [],
            "relabeling": {"schema": "Scheme"},
            "placeholders": {"host": "api.example.com", "schema": "https"},
        }

    def __init__(
        self,
        conn: str | Connection | None = None,
        http_conn_id: str | Connection | None = None,
        *,
        method: str | None = None,
        retry_limit: int | None = None,
        retry_delay_s: float | None = None,
        retry_max_delay_s: float = 30.0,
        retry_after_cap_s: float = 60.0,
        connect_timeout_s: float | None = None,
        read_timeout_s: float | None = None,
        check_response: bool | None = None,
        retry_non_idempotent: bool | None = None,
        auth_type: Any = None,
        transport: Transport | None = None,
        tcp_keep_alive: bool = True,
        tcp_keep_alive_idle: int = 120,
        tcp_keep_alive_count: int = 20,
        tcp_keep_alive_interval: int = 30,
        **kwargs: Any,
    ) -> None:
        # Airflow's signature is HttpHook(method="POST", http_conn_id="http_default", ...): a first
        # positional that is an upper-case standard method name is the method.
        if isinstance(conn, str) and conn in METHODS:
            if method is not None:
                raise TypeError(
                    f"{type(self).__name__} got the method twice: {conn!r} and {method!r}"
                )
            method, conn = conn, http_conn_id
        elif http_conn_id is not None:
            if conn is not None:
                raise TypeError(
                    f"{type(self).__name__} got two connections; a second positional argument is "
                    "accepted only after a method, as in HttpHook('GET', 'my_conn')"
                )
            conn = http_conn_id
        super().__init__(conn, **kwargs)
        method = (method or "POST").upper()
        if not set(method) <= METHOD_CHARS:
            raise TypeError(f"method must be an HTTP method name, got {method!r}")
        self.method = method
        self.auth_type = auth_type
        self._arguments = HookArguments(
            retry_limit=retry_limit,
            retry_delay_s=retry_delay_s,
            retry_max_delay_s=retry_max_delay_s,
            retry_after_cap_s=retry_after_cap_s,
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
            check_response=check_response,
            retry_non_idempotent=retry_non_idempotent,
            auth_type=auth_type,
        )
        self._socket_options = (
            keep_alive_options(tcp_keep_alive_idle, tcp_keep_alive_count, tcp_keep_alive_interval)
            if tcp_keep_alive
            else []
        )
        self._injected: Transport | None = (
            transport if transport is not None else transport_override.get()
        )
        self._settings: HttpSettings | None = None
        self._variants: dict[TransportOptions, ClientT] = {}
        self._lock = threading.Lock()

    # -- settings from the connection ---------------------------------------------------------

    @property
    def settings(self) -> HttpSettings:
        """Everything read from the connection, checked once (re-read after a refresh).

        Raises:
            InvalidConnection: a malformed extra, named with its connection.
        """
        settings = self._settings
        if settings is None:
            conn = self.connection
            settings = read_settings(conn, self._arguments, self.conn_id)
            self._settings = settings
        return settings

    @property
    def base_url(self) -> str:
        """The URL every endpoint is appended to (Airflow's rule; see ``settings.base_url_of``)."""
        return base_url_of(self.connection)

    def url_for(self, endpoint: str | None) -> str:
        """Join the base URL and ``endpoint`` with exactly one ``/`` between them (Airflow's rule)."""
        base = self.base_url
        endpoint = endpoint or ""
        if base and endpoint and not base.endswith("/") and not endpoint.startswith("/"):
            return f"{base}/{endpoint}"
        return base + endpoint

    #: Airflow's name for :meth:`url_for`.
    url_from_endpoint = url_for

    @property
    def retry_policy(self) -> RetryPolicy:
        """The :class:`~hookline.hooks._retry.RetryPolicy` in force (arguments, extras, defaults)."""
        return self.settings.retry

    @property
    def timeout(self) -> httpx.Timeout:
        """Connect and read timeouts: hook arguments, then extras, then ``timeout``, then 10 s / 60 s."""
        return self.settings.request.timeout

    @property
    def check_response_enabled(self) -> bool:
        """Whether 4xx/5xx answers raise (hook argument, else the ``check_response`` extra, else on)."""
        return self.settings.request.check_response

    def reset_client(self) -> None:
        """Drop the clients and the settings read from the connection."""
        self._settings = None
        super().reset_client()

    # -- clients --------------------------------------------------------------------------------

    def _client_kwargs(self, transport: TransportOptions) -> dict[str, Any]:
        """Keyword arguments for ``httpx.Client`` / ``httpx.AsyncClient`` for one transport setting."""
        settings = self.settings
        self._register_secrets(self.connection)
        mask_httpx_logs()
        kwargs: dict[str, Any] = {
            "headers": settings.headers,
            "auth": settings.auth,
            "timeout": settings.request.timeout,
            # Redirects are followed by the hook itself, which drops credentials across origins.
            "follow_redirects": False,
            "trust_env": transport.trust_env,
        }
        if self._injected is not None:
            kwargs["transport"] = self._borrow(self._injected)
            return kwargs
        try:
            context = transport.ssl_context()
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise InvalidConnection(
                f"connection {self.conn_id!r}: the TLS files named by 'verify'/'cert' cannot be "
                f"loaded ({type(exc).__name__})",
                conn_id=self.conn_id,
            ) from None
        kwargs["verify"] = context
        kwargs["transport"] = self._new_transport(
            verify=context, socket_options=self._socket_options
        )
        kwargs["mounts"] = {
            pattern: None
            if url is None
            else self._new_transport(verify=context, socket_options=self._socket_options, proxy=url)
            for pattern, url in transport.proxy_map().items()
        }
        return kwargs

    def _new_transport(self, **kwargs: Any) -> Any:
        raise NotImplementedError

    def _borrow(self, transport: Transport) -> Any:
        raise NotImplementedError

    def _make_client(self, transport: TransportOptions) -> ClientT:
        raise NotImplementedError

    def get_conn(self) -> ClientT:
        """The hook's client, built on first use and kept (keep-alive pool)."""
        return self._client_built_once(
            self._lock, lambda: self._make_client(self.settings.request.transport)
        )

    def _client_for(self, session: ClientT, options: RequestOptions) -> ClientT:
        """The client to send with: ``session``, or one built for the call's TLS/proxy options."""
        if options.transport == self.settings.request.transport or self._injected is not None:
            return session
        if session is not self._client:
            raise ConfigurationError(
                "extra_options 'verify', 'cert', 'proxies' and 'trust_env' apply only to the "
                "hook's own client (from get_conn())"
            )
        with self._lock:
            client = self._variants.get(options.transport)
            if client is None:
                client = self._make_client(options.transport)
                self._variants[options.transport] = client
        return client

    def _take_clients(self) -> list[ClientT]:
        """Forget every client (main and variants) and return them for closing."""
        with self._lock:
            clients = list(self._variants.values())
            self._variants.clear()
            if self._client is not None:
                clients.append(self._client)
        return clients

    # -- requests -------------------------------------------------------------------------------

    def request_options(self, extra_options: Mapping[str, Any] | None) -> RequestOptions:
        """The connection's request options with ``extra_options`` applied.

        Raises:
            ConfigurationError: an unknown ``extra_options`` key (named) or a malformed value.
        """
        return request_options(self.settings.request, extra_options, self.conn_id)

    def build_request(self, client: ClientT, call: RunCall) -> httpx.Request:
        """The request for ``call`` as Airflow builds it: ``data`` is the query of a GET, no body for
        HEAD, the body otherwise (a mapping or pairs as a form, text or bytes as is).

        Raises:
            TypeError: ``data`` and ``params`` both given for a GET, data for a HEAD, or a ``data``
                of a type that cannot be sent.
            ConfigurationError: a per-call header that cannot be sent (named; value not shown).
        """
        kwargs = dict(call.request_kwargs)
        headers: dict[str, str] = {}
        data = call.data
        if call.method == "GET" and data is not None:
            if "params" in kwargs:
                raise TypeError("a GET sends data as its query: give data or params, not both")
            kwargs["params"] = data
        elif call.method == "HEAD" and data is not None:
            raise TypeError("a HEAD request has no body: pass query parameters as params=")
        elif data is not None:
            if "content" in kwargs:
                raise TypeError("give data or content, not both")
            if isinstance(data, Mapping):
                kwargs["data"] = data
            elif isinstance(data, str | bytes):
                kwargs["content"] = data
            elif isinstance(data, bytearray):
                kwargs["content"] = bytes(data)
            elif isinstance(data, list | tuple):
                kwargs["content"] = urlencode(list(data))
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            elif hasattr(data, "read") or hasattr(data, "__iter__"):
                kwargs["content"] = data
            else:
                raise TypeError(f"run() data cannot be sent as a body: {type(data).__name__}")
        if call.headers:
            if not isinstance(call.headers, Mapping):
                raise TypeError(
                    f"run() headers must be a mapping, got {type(call.headers).__name__}"
                )
            reader = OptionReader(
                self.conn_id, ConfigurationError, noun="header", where="in run(headers=...)"
            )
            for name, value in call.headers.items():
                checked = check_header(name, value, reader)
                if checked is not None:
                    headers[checked[0]] = checked[1]
        url = _with_query(self.url_for(call.endpoint), kwargs.pop("params", None))
        return client.build_request(call.method, url, headers=headers, **kwargs)

    def _prepare(self, client: ClientT, call: RunCall) -> tuple[httpx.Request, RequestOptions]:
        """The request for ``call`` and its options (the connection's, with ``extra_options``)."""
        request = self.build_request(client, call)
        return request, self.request_options(call.extra_options)

    def _prepare_test(self, client: ClientT) -> tuple[httpx.Request, RequestOptions]:
        """The connection test's request: one GET of the ``test_endpoint`` extra (default: the base
        URL), its status checked, not streamed."""
        request = self.build_request(client, RunCall("GET", self.settings.test_endpoint))
        return request, replace(self.settings.request, check_response=True, stream=False)

    def _ready_to_send(
        self, session: ClientT, request: httpx.Request, options: RequestOptions
    ) -> tuple[ClientT, HttpRetryRules]:
        """Ready ``request`` for sending: the client for the call's options (``session`` or a TLS /
        proxy variant), the call's timeout set on the request, and the retry rules for its method."""
        client = self._client_for(session, options)
        self._with_timeout(request, options.timeout)
        return client, self._rules(request.method, options)

    @staticmethod
    def _with_timeout(request: httpx.Request, timeout: httpx.Timeout) -> httpx.Request:
        request.extensions = {**request.extensions, "timeout": timeout.as_dict()}
        return request

    def _rules(self, method: str, options: RequestOptions) -> HttpRetryRules:
        return HttpRetryRules(
            method=method,
            retry_non_idempotent=options.retry_non_idempotent,
            retry_statuses=options.check_response,
        )

    def _next_hop(
        self, response: httpx.Response, crossed: bool
    ) -> tuple[httpx.Request, bool] | None:
        """The redirect to follow from ``response`` (None: not a redirect), with credentials
        dropped once the chain has left the first request's origin."""
        following = response.next_request
        if following is None:
            return None
        crossed = crossed or crosses_origin(response.request.url, following.url)
        if crossed:
            for name in [n for n, v in following.headers.items() if is_credential_header(n, v)]:
                del following.headers[name]
        return following, crossed

    def _too_many_redirects(self, request: httpx.Request, limit: int) -> HookError:
        return HookError(
            f"{self._where(request.method, request.url)} was redirected more than {limit} times "
            "(max_redirects)",
            conn_id=self.conn_id,
        )

    # -- errors ---------------------------------------------------------------------------------

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

    def check_response(self, response: httpx.Response) -> None:
        """Raise for a 4xx or 5xx answer (Airflow's ``check_response``); other answers pass.

        Raises:
            HttpAuthenticationFailed: 401 or 403.
            HttpStatusError: another 4xx or 5xx; the message holds the method, the masked origin and
                path, the status and the reason, never the body or headers.
        """
        if response.is_error:
            raise self._status_error(response, 1)

    def _transport_error(
        self, exc: httpx.HTTPError, method: str, url: httpx.URL | str, attempts: int
    ) -> HookError:
        where = self._where(method, url)
        if isinstance(exc, httpx.TooManyRedirects):
            return HookError(f"{where} was redirected too many times", conn_id=self.conn_id)
        timeout = self.timeout
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        limits = f"connect timeout {timeout.connect} s, read timeout {timeout.read} s"
        if isinstance(exc, httpx.TransportError) and not isinstance(
            exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError
        ):
            return HookConnectionError(
                f"{where} failed after {tries}: {type(exc).__name__} ({limits})",
                conn_id=self.conn_id,
            )
        return HookError(f"{where} failed: {type(exc).__name__}", conn_id=self.conn_id)
