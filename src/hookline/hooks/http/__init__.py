"""HTTP hooks over httpx: :class:`HttpHook` (sync) and :class:`AsyncHttpHook`.

* :mod:`~hookline.hooks.http.settings`: what a hook reads from its connection, checked once;
* :mod:`~hookline.hooks.http.calls`: the two call forms of ``run``, and which headers are credentials;
* :mod:`~hookline.hooks.http.transport`: TLS, proxies, keep-alive, and the transport test seam;
* :mod:`~hookline.hooks.http.base`: what both hooks share (clients, requests, redirect hops, errors);
* :mod:`~hookline.hooks.http.sync` and :mod:`~hookline.hooks.http.aio`: the hooks themselves.
"""

from __future__ import annotations

from hookline.exceptions import HttpAuthenticationFailed, HttpStatusError
from hookline.hooks._retry import HttpRetryRules, RetryPolicy, parse_retry_after
from hookline.hooks.http.aio import AsyncHttpHook, HttpAsyncHook
from hookline.hooks.http.calls import is_credential_header, is_http_method
from hookline.hooks.http.settings import AUTH_TYPES, OPTION_KEYS, register_auth_type
from hookline.hooks.http.sync import HttpHook, HttpMethod

__all__ = [
    "AUTH_TYPES",
    "OPTION_KEYS",
    "AsyncHttpHook",
    "HttpAsyncHook",
    "HttpAuthenticationFailed",
    "HttpHook",
    "HttpMethod",
    "HttpRetryRules",
    "HttpStatusError",
    "RetryPolicy",
    "is_credential_header",
    "is_http_method",
    "parse_retry_after",
    "register_auth_type",
]
