"""HttpHook: an httpx client built from a connection, with Airflow's call forms, retries and timeouts.

The base URL is built as Airflow's HttpHook builds it: the host as is when it contains ``://``,
otherwise ``f"{schema or 'http'}://{host}"`` (``https`` when the conn_type is ``https`` and no schema
is set, which fixes an Airflow surprise), then ``:port`` when a port is set. Login and password give
HTTP basic auth (or the ``auth_type`` extra, see :mod:`~hookline.hooks.http.settings`); an extra
``token``, ``bearer_token`` or ``api_token`` gives a bearer token instead.

Extras named in :data:`~hookline.hooks.http.settings.OPTION_KEYS` are settings (``timeout``,
``verify``, ``cert``, ``proxies``, ``allow_redirects``, ``max_redirects``, ``stream``,
``check_response``, ``retry_limit``, ...); **every other extra becomes an HTTP header**, as in
Airflow. A malformed extra raises :class:`~hookline.exceptions.InvalidConnection` naming the key.

**Retries** (:class:`~hookline.hooks._retry.HttpRetryRules`): a request that never reached the server
(connection refused, connect timeout) is retried whatever its method; a failure that may have
reached it (read timeout, 429, 5xx other than 501) is retried only for idempotent methods (``GET``,
``HEAD``, ``OPTIONS``, ``PUT``, ``DELETE``), unless ``retry_non_idempotent`` is on for the hook, the
connection (extra) or the call (``extra_options``). One ``POST`` to a failing server is one request,
as with Airflow's ``run``. With ``check_response`` off no status is retried: the first answer is
returned. Waits honour ``Retry-After`` up to a cap and back off exponentially otherwise.

**Redirects** are followed by the hook (``allow_redirects``, ``max_redirects``); once a redirect
leaves the request's origin, every credential header (``Authorization``, ``Cookie``, ``X-Api-Key``,
``X-Auth``, any header holding a secret: see
:func:`~hookline.hooks.http.base.is_credential_header`) and the connection's auth are dropped.

Error messages hold the method, the origin and path (with registered secrets masked), the status and
the reason: never the body or the headers. 401 and 403 raise
:class:`~hookline.exceptions.HttpAuthenticationFailed`, so the hook refreshes its connection once and
retries (credential rotation, written once in :class:`~hookline.hooks.base.BaseHook`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, overload

import httpx
import tenacity

from hookline.hooks._retry import RetryPolicy
from hookline.hooks.http.base import HttpHookBase
from hookline.hooks.http.calls import RunCall, parse_run_arguments
from hookline.hooks.http.settings import RequestOptions
from hookline.hooks.http.transport import BorrowedTransport, Transport, TransportOptions

__all__ = ["HttpHook", "HttpMethod"]

#: The method names ``run``'s first positional argument may take in hookline's call form.
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"]


def _close(response: httpx.Response) -> None:
    response.close()


class HttpHook(HttpHookBase[httpx.Client]):
    """Synchronous HTTP hook on one keep-alive :class:`httpx.Client`.

    Args:
        conn: A conn_id or a Connection (``http_conn_id=`` is accepted too). As in Airflow's
            ``HttpHook(method, http_conn_id)``, a first positional argument that is an upper-case
            standard method name (``"GET"``) is the method, and the second one the connection.
        method: Default method of :meth:`run` (Airflow's default is ``POST``).
        retry_limit: Retries after the first attempt (default: extra ``retry_limit``, else 3).
        retry_delay_s: First backoff delay, doubled per attempt (default: extra, else 1 s).
        retry_max_delay_s: Backoff cap.
        retry_after_cap_s: Cap on a server's ``Retry-After``.
        connect_timeout_s: Connect timeout (default: extra ``connect_timeout_s``, ``timeout``, 10 s).
        read_timeout_s: Read timeout (default: extra ``read_timeout_s``, ``timeout``, 60 s).
        check_response: Raise on 4xx/5xx (default: extra ``check_response``, else True).
        retry_non_idempotent: Retry POST/PATCH failures that may have reached the server
            (default: extra ``retry_non_idempotent``, else False).
        auth_type: Builds the auth from ``(login, password, **auth_kwargs)`` (default: the
            ``auth_type`` extra, else :class:`httpx.BasicAuth`).
        transport: An :class:`httpx.BaseTransport` used instead of the network (for example
            ``httpx.MockTransport(handler)``); the hook never closes it.
        tcp_keep_alive: Turn on TCP keep-alive probes on the pooled sockets (Airflow's default),
            with ``tcp_keep_alive_idle`` / ``_count`` / ``_interval`` (seconds, probes, seconds).

    Example:
        >>> with HttpHook("billing_api") as api:  # doctest: +SKIP
        ...     invoice = api.run("GET", "/invoices/42").json()
        >>> airflow_style = HttpHook(method="GET", http_conn_id="billing_api")  # doctest: +SKIP
        >>> airflow_style.run("invoices/42", data={"expand": "lines"})  # doctest: +SKIP
    """

    def _new_transport(self, **kwargs: Any) -> httpx.HTTPTransport:
        return httpx.HTTPTransport(**kwargs)

    def _borrow(self, transport: Transport) -> httpx.BaseTransport:
        if not isinstance(transport, httpx.BaseTransport):
            raise TypeError(
                f"HttpHook needs a sync transport (httpx.BaseTransport), got {type(transport).__name__}"
            )
        return BorrowedTransport(transport)

    def _make_client(self, transport: TransportOptions) -> httpx.Client:
        return httpx.Client(**self._client_kwargs(transport))

    def close_conn(self) -> None:
        """Close the clients and their pooled connections."""
        for client in self._take_clients():
            client.close()

    # -- requests -------------------------------------------------------------------------------

    @overload
    def run(
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
    def run(
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

    def run(self, *args: Any, **kwargs: Any) -> httpx.Response:
        """Send one request and return the response.

        Two call forms (the rule is in :mod:`hookline.hooks.http.base`):

        * hookline's ``run("GET", "/v1/items", data, headers, extra_options)``: the first positional
          argument is an upper-case method name and the second a string;
        * Airflow's ``run("v1/items", data, headers, extra_options)`` with the hook's ``method``.

        Args:
            method: HTTP method (default: the hook's ``method``).
            endpoint: Path appended to the base URL.
            data: For GET the query parameters, for HEAD nothing, otherwise the body: a mapping or
                pairs as a form, text or bytes as they are (Airflow's rule).
            headers: Extra headers for this request.
            extra_options: Airflow's per-request options: ``timeout`` (seconds or ``[connect,
                read]``), ``check_response``, ``verify``, ``cert``, ``proxies``, ``stream``,
                ``allow_redirects``, ``max_redirects``, ``trust_env``, ``retry_non_idempotent``.
                An unknown key is a :class:`~hookline.exceptions.ConfigurationError`.
            json: A JSON body.
            params: Query parameters.
            files: Multipart files.
            content: A raw body.

        Raises:
            HttpAuthenticationFailed: 401/403 (after one credential refresh when they changed).
            HttpStatusError: another 4xx, or a 5xx/429 that was not retried or outlived retries.
            HookConnectionError: the server could not be reached or timed out, after the retries.
            InvalidConnection: a malformed connection extra.
            ConfigurationError: an unknown or malformed ``extra_options`` key or per-call header.
            TypeError: arguments that fit neither call form.
        """
        call = parse_run_arguments(self.method, args, kwargs)
        return self.run_with_refresh(lambda: self._run_call(call, self.settings.retry))

    def _run_call(self, call: RunCall, policy: RetryPolicy) -> httpx.Response:
        client = self.get_conn()
        request, options = self._prepare(client, call)
        return self._send(client, request, options, policy)

    def run_and_check(
        self,
        session: httpx.Client,
        prepped_request: httpx.Request,
        extra_options: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """Send a built request with the call's options, retry by the rules, check the answer
        (Airflow's ``run_and_check``, with an :class:`httpx.Client` and :class:`httpx.Request`).

        Raises:
            HttpStatusError: a 4xx/5xx answer while ``check_response`` is on.
            HookConnectionError: the server could not be reached, after the retries.
            ConfigurationError: an unknown or malformed ``extra_options`` key.
        """
        options = self.request_options(extra_options)
        return self._send(session, prepped_request, options, self.settings.retry)

    def _send(
        self,
        session: httpx.Client,
        request: httpx.Request,
        options: RequestOptions,
        policy: RetryPolicy,
    ) -> httpx.Response:
        client, rules = self._ready_to_send(session, request, options)
        attempts = 0

        def attempt(number: int) -> httpx.Response:
            nonlocal attempts
            attempts = number
            return self._send_following(client, request, options)

        try:
            response = policy.call(
                attempt,
                retry_on_error=rules.on_error,
                retry_on_result=rules.on_response,
                hint_s=rules.hint_s,
                discard=_close,
                what=self._where(request.method, request.url),
            )
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, request.method, request.url, attempts) from exc
        if options.check_response and response.is_error:
            response.close()
            raise self._status_error(response, attempts)
        return response

    def _send_following(
        self, client: httpx.Client, request: httpx.Request, options: RequestOptions
    ) -> httpx.Response:
        """Send ``request`` and follow redirects, dropping credentials across origins."""
        response = client.send(request, stream=options.stream)
        history: list[httpx.Response] = []
        crossed = False
        while options.follow_redirects:
            hop = self._next_hop(response, crossed)
            if hop is None:
                break
            response.close()
            if len(history) >= options.max_redirects:
                raise self._too_many_redirects(request, options.max_redirects)
            history.append(response)
            following, crossed = hop
            auth: Any = None if crossed else httpx.USE_CLIENT_DEFAULT
            response = client.send(following, stream=options.stream, auth=auth)
        if history:
            response.history = history
        return response

    def run_with_advanced_retry(
        self, _retry_args: Mapping[str, Any], *args: Any, **kwargs: Any
    ) -> httpx.Response:
        """Run :meth:`run` under ``tenacity.Retrying(**_retry_args)``; the hook's own retries are
        off, so the given policy alone decides (Airflow's method, same argument name).

        Example:
            >>> hook.run_with_advanced_retry(  # doctest: +SKIP
            ...     dict(wait=tenacity.wait_exponential(), stop=tenacity.stop_after_attempt(10),
            ...          retry=tenacity.retry_if_exception_type(HookConnectionError)),
            ...     "GET", "/status")
        """
        call = parse_run_arguments(self.method, args, kwargs)
        retrying = tenacity.Retrying(**dict(_retry_args))
        response: httpx.Response = retrying(
            lambda: self.run_with_refresh(lambda: self._run_call(call, RetryPolicy.never()))
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
        call = RunCall(
            method=method.upper(),
            endpoint=endpoint,
            headers=headers,
            request_kwargs={"params": params} if params is not None else {},
        )

        def fetch() -> int:
            client = self.get_conn()
            request = self.build_request(client, call)
            options = replace(self.settings.request, stream=True, check_response=True)
            response = self._send(client, request, options, self.settings.retry)
            written = 0
            try:
                with partial.open("wb") as out:
                    for chunk in response.iter_bytes(chunk_size):
                        out.write(chunk)
                        written += len(chunk)
            except httpx.HTTPError as exc:
                partial.unlink(missing_ok=True)
                raise self._transport_error(exc, call.method, response.request.url, 1) from exc
            finally:
                response.close()
            partial.replace(target)
            return written

        return self.run_with_refresh(fetch)

    def _test(self) -> None:
        """One GET of the ``test_endpoint`` extra (default: the base URL), never retried, so a
        host that does not resolve or refuses fails at once."""
        client = self.get_conn()
        request, options = self._prepare_test(client)
        self._send(client, request, options, RetryPolicy.never()).close()
