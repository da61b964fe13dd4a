"""The two call forms of ``HttpHook.run`` and the rule that tells them apart, and which headers
may follow a redirect to another origin.

**Call forms** (:func:`parse_run_arguments`). ``run`` accepts hookline's
``run(method, endpoint, data, headers, extra_options)`` and Airflow's
``run(endpoint, data, headers, extra_options)`` (method from the constructor). The rule: the call is
in hookline's form when its first positional argument is an upper-case standard method name
(``GET``, ``POST``, ``PUT``, ``PATCH``, ``DELETE``, ``HEAD``, ``OPTIONS``, ``TRACE``) **and** its
second positional argument is a string; otherwise the first positional argument is the endpoint.
Keywords always mean what they say (``method=``, ``endpoint=``, ``data=``, ...), and giving one
both positionally and by keyword is a ``TypeError``. So ``run("options")`` and ``run("x", data=...)``
are Airflow calls to the endpoints ``options`` and ``x``; ``run("GET", "/x")`` is a GET of ``/x``;
to call an endpoint literally named ``GET`` with text data, use ``run(endpoint="GET", data="...")``.

**Redirects** (:func:`is_credential_header`, :func:`crosses_origin`): once a redirect leaves the
request's origin, credential headers are dropped (httpx itself drops only ``Authorization``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from hookline import masking

__all__ = [
    "METHODS",
    "REQUEST_KWARGS",
    "RunCall",
    "crosses_origin",
    "is_credential_header",
    "is_http_method",
    "parse_run_arguments",
]

#: Standard methods (RFC 9110 section 9 and PATCH): the upper-case names the call-form rule knows.
METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"})
METHOD_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ-_")
_RUN_ARGUMENTS: Final = ("method", "endpoint", "data", "headers", "extra_options")
#: Keyword arguments passed through to the request (Airflow's ``**request_kwargs``).
REQUEST_KWARGS: Final = frozenset({"json", "params", "files", "content"})
_ALWAYS_CREDENTIALS: Final = frozenset({"authorization", "proxy-authorization", "cookie"})


def is_http_method(value: str) -> bool:
    """True for a standard method name in any case (``get``) or an all-capitals token (``PROPFIND``)."""
    return value.upper() in METHODS or (value.isalpha() and value.isupper())


def is_credential_header(name: str, value: str) -> bool:
    """True for a header that must not follow a redirect to another origin: ``Authorization``,
    ``Proxy-Authorization``, ``Cookie``, any name with ``auth`` in it (``X-Auth``) or that
    :func:`hookline.masking.is_sensitive_key` calls sensitive (``X-Api-Key``, ``api_key``), and any
    header whose value holds a registered secret."""
    lowered = name.lower()
    return (
        lowered in _ALWAYS_CREDENTIALS
        or "auth" in lowered
        or masking.is_sensitive_key(name)
        or masking.redact(value) != value
    )


@dataclass(frozen=True, slots=True)
class RunCall:
    """One ``run`` call, its arguments sorted out by the call-form rule (see the module docstring)."""

    method: str
    endpoint: str | None = None
    data: Any = None
    headers: Mapping[str, Any] | None = None
    extra_options: Mapping[str, Any] | None = None
    request_kwargs: dict[str, Any] = field(default_factory=dict)


def parse_run_arguments(
    default_method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> RunCall:
    """Sort ``run(*args, **kwargs)`` into a :class:`RunCall` by the call-form rule.

    Raises:
        TypeError: too many positional arguments, an argument given twice, an unknown keyword,
            or a method that is not an HTTP token.
    """
    hookline_form = (
        len(args) >= 2
        and isinstance(args[0], str)
        and args[0] in METHODS
        and isinstance(args[1], str)
    )
    names = _RUN_ARGUMENTS if hookline_form else _RUN_ARGUMENTS[1:]
    if len(args) > len(names):
        raise TypeError(
            f"run() takes at most {len(names)} positional arguments ({', '.join(names)}), "
            f"got {len(args)}"
        )
    values: dict[str, Any] = dict(zip(names, args, strict=False))
    request_kwargs: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in _RUN_ARGUMENTS:
            if key in values:
                raise TypeError(f"run() got multiple values for argument {key!r}")
            values[key] = value
        elif key in REQUEST_KWARGS:
            if value is not None:
                request_kwargs[key] = value
        else:
            raise TypeError(
                f"run() got an unexpected keyword argument {key!r} "
                f"(request keywords: {', '.join(sorted(REQUEST_KWARGS))})"
            )
    method = values.get("method") or default_method
    if not isinstance(method, str) or not method or not set(method.upper()) <= METHOD_CHARS:
        raise TypeError(f"run() method must be an HTTP method name, got {method!r}")
    endpoint = values.get("endpoint")
    if endpoint is not None and not isinstance(endpoint, str):
        raise TypeError(f"run() endpoint must be text, got {type(endpoint).__name__}")
    return RunCall(
        method=method.upper(),
        endpoint=endpoint,
        data=values.get("data"),
        headers=values.get("headers"),
        extra_options=values.get("extra_options"),
        request_kwargs=request_kwargs,
    )


def _same_origin(url: httpx.URL, other: httpx.URL) -> bool:
    return url.scheme == other.scheme and url.host == other.host and _port(url) == _port(other)


def _port(url: httpx.URL) -> int | None:
    return url.port if url.port is not None else {"http": 80, "https": 443}.get(url.scheme)


def _is_https_upgrade(url: httpx.URL, location: httpx.URL) -> bool:
    """``http://host`` to ``https://host`` on the default ports: the same site, as httpx treats it."""
    return (
        url.host == location.host
        and url.scheme == "http"
        and _port(url) == 80
        and location.scheme == "https"
        and _port(location) == 443
    )


def crosses_origin(url: httpx.URL, location: httpx.URL) -> bool:
    """True when a redirect from ``url`` to ``location`` leaves the origin (scheme, host, port);
    ``http://host`` to ``https://host`` on the default ports stays, as httpx treats it."""
    return not (_same_origin(url, location) or _is_https_upgrade(url, location))
