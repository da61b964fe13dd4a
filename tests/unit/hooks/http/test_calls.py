"""The call-form rule of HttpHook.run and the credential-header rule for redirects."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hookline import masking
from hookline.hooks.http.calls import (
    RunCall,
    crosses_origin,
    is_credential_header,
    parse_run_arguments,
)


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (("v1/items",), {"data": {"a": "1"}}, RunCall("POST", "v1/items", {"a": "1"})),
        (("x",), {"headers": {"H": "1"}}, RunCall("POST", "x", headers={"H": "1"})),
        (("x", None, None, {"timeout": 1}), {}, RunCall("POST", "x", extra_options={"timeout": 1})),
        (("options",), {}, RunCall("POST", "options")),
        (("OPTIONS",), {}, RunCall("POST", "OPTIONS")),
        (("get", "body"), {}, RunCall("POST", "get", "body")),
        (("GET", "/x"), {}, RunCall("GET", "/x")),
        (("GET", {"q": "1"}), {}, RunCall("POST", "GET", {"q": "1"})),
        (("DELETE", "/x", None, {"H": "1"}), {}, RunCall("DELETE", "/x", headers={"H": "1"})),
        ((), {"method": "patch", "endpoint": "/p"}, RunCall("PATCH", "/p")),
        (("x",), {"method": "PUT"}, RunCall("PUT", "x")),
        (("x",), {"json": {"a": 1}}, RunCall("POST", "x", request_kwargs={"json": {"a": 1}})),
        ((), {}, RunCall("POST")),
    ],
)
def test_call_form_rule(args: tuple[Any, ...], kwargs: dict[str, Any], expected: RunCall) -> None:
    """Hookline's form only when the first positional is an upper-case method AND the second a
    string; keywords mean what they say; the default method is the hook's."""
    assert parse_run_arguments("POST", args, kwargs) == expected


@pytest.mark.parametrize(
    ("name", "value", "credential"),
    [
        ("Authorization", "Bearer x", True),
        ("Proxy-Authorization", "Basic x", True),
        ("Cookie", "a=b", True),
        ("X-Api-Key", "k", True),
        ("api_key", "k", True),
        ("X-Auth", "k", True),
        ("X-Auth-Token", "k", True),
        ("X-Team", "data", False),
        ("Accept", "application/json", False),
        ("X-Custom", "c4n4ry-registered-secret", True),
    ],
)
def test_credential_headers(name: str, value: str, credential: bool) -> None:
    """Auth, cookie and sensitive names, and any value holding a registered secret."""
    masking.register("c4n4ry-registered-secret")
    assert is_credential_header(name, value) is credential


@pytest.mark.parametrize(
    ("source", "target", "crossed"),
    [
        ("http://a:8080/x", "http://a:8080/y", False),
        ("http://a/x", "https://a/x", False),
        ("http://a:80/x", "http://a/x", False),
        ("http://a:8080/x", "http://a:8081/x", True),
        ("http://a/x", "http://b/x", True),
        ("https://a/x", "http://a/x", True),
        ("http://a:8080/x", "https://a:8443/x", True),
    ],
)
def test_crosses_origin(source: str, target: str, crossed: bool) -> None:
    """Scheme, host and port make the origin; http->https on default ports stays (as in httpx)."""
    assert crosses_origin(httpx.URL(source), httpx.URL(target)) is crossed
