"""HTTP hooks over httpx: :class:`HttpHook` (sync) and :class:`AsyncHttpHook`.

* :mod:`~hookline.hooks.http.base`: what both share (client options from the connection, TLS,
  authentication, error mapping);
* :mod:`~hookline.hooks.http.sync`: the hooks themselves, with Airflow's ``run`` call forms.
"""

from __future__ import annotations

from hookline.hooks.http.sync import (
    OPTION_KEYS,
    AsyncHttpHook,
    HttpAsyncHook,
    HttpAuthenticationFailed,
    HttpHook,
    HttpStatusError,
    RetryPolicy,
    is_http_method,
    parse_retry_after,
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
