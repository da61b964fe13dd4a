"""HttpHook.run's call forms, checked on the wire against a real recording server.

Each row is one call, as hookline users (``run(method, endpoint, ...)``) and Airflow users
(``run(endpoint, data, headers, extra_options)`` with the method on the hook) write it, and what the
server must receive: method, path, query, body and the headers that matter. The Airflow rows were
sent through Airflow's own HttpHook (apache-airflow-providers-http 6.3.0 on Airflow 3.3.2) against a
recording server: method, path, query, body and headers matched for every row, except that a
``json=`` body is written without spaces (``{"a":1}``) where requests writes ``{"a": 1}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from hookline import Connection
from hookline.hooks.http import AsyncHttpHook, HttpHook
from tests.servers.http_echo import EchoServer

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


@dataclass(frozen=True)
class Wire:
    """What the server must receive."""

    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    absent_headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Form:
    """One call: the hook's method and the positional/keyword arguments of ``run``."""

    hook_method: str | None
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    wire: Wire
    ctor_positional: bool = False


def call(
    hook_method: str | None, *args: Any, **kwargs: Any
) -> tuple[str | None, tuple[Any, ...], dict[str, Any]]:
    return hook_method, args, kwargs


CASES: dict[str, Form] = {
    # -- Airflow's form: run(endpoint, data, headers, extra_options), method on the hook ----------
    "airflow data keyword is the form body, not a header": Form(
        "POST", ("v1/items",), {"data": {"a": "1"}},
        Wire("POST", "/v1/items", body=b"a=1", headers={"content-type": FORM}, absent_headers=("a",)),
    ),
    "airflow data positional": Form(
        "POST", ("v1/items", {"a": "1"}), {},
        Wire("POST", "/v1/items", body=b"a=1", headers={"content-type": FORM}),
    ),
    "airflow headers keyword are sent": Form(
        "POST", ("x",), {"headers": {"X-Call": "k"}},
        Wire("POST", "/x", headers={"x-call": "k"}),
    ),
    "airflow headers positional": Form(
        "POST", ("x", None, {"X-Call": "p"}), {},
        Wire("POST", "/x", headers={"x-call": "p"}),
    ),
    "airflow extra_options keyword is honoured, not sent": Form(
        "POST", ("v1/items",), {"extra_options": {"check_response": False, "timeout": 5}},
        Wire("POST", "/v1/items", absent_headers=("check_response", "timeout")),
    ),
    "airflow json text body with a content-type header": Form(
        "POST", ("v1/items",),
        {"data": json.dumps({"k": 1}), "headers": {"Content-Type": JSON}},
        Wire("POST", "/v1/items", body=b'{"k": 1}', headers={"content-type": JSON}),
    ),
    "airflow endpoint named options is an endpoint": Form(
        "POST", ("options",), {}, Wire("POST", "/options"),
    ),
    "airflow lower-case verb is an endpoint": Form(
        "POST", ("get", "x"), {}, Wire("POST", "/get", body=b"x"),
    ),
    "airflow GET sends data as the query": Form(
        "GET", ("v1/items",), {"data": {"page": "2"}},
        Wire("GET", "/v1/items", query={"page": ["2"]}),
    ),
    "airflow GET data, headers positional": Form(
        "GET", ("v1/items", {"page": "2"}, {"X-Call": "g"}), {},
        Wire("GET", "/v1/items", query={"page": ["2"]}, headers={"x-call": "g"}),
    ),
    "airflow GET query in the endpoint merges with data": Form(
        "GET", ("v1/items?fixed=1",), {"data": {"page": "2"}},
        Wire("GET", "/v1/items", query={"fixed": ["1"], "page": ["2"]}),
    ),
    "airflow HEAD has no body": Form("HEAD", ("h",), {}, Wire("HEAD", "/h")),
    "airflow PUT raw text": Form("PUT", ("put",), {"data": "raw text"}, Wire("PUT", "/put", body=b"raw text")),
    "airflow DELETE": Form("DELETE", ("items/7",), {}, Wire("DELETE", "/items/7")),
    "airflow PATCH with json request kwarg": Form(
        "PATCH", ("p",), {"json": {"a": 1}},
        Wire("PATCH", "/p", body=b'{"a":1}', headers={"content-type": JSON}),
    ),
    "airflow POST json request kwarg": Form(
        "POST", ("v1/items",), {"json": {"a": 1}},
        Wire("POST", "/v1/items", body=b'{"a":1}', headers={"content-type": JSON}),
    ),
    "airflow params request kwarg with a form body": Form(
        "POST", ("v1/items",), {"params": {"q": "1"}, "data": {"a": "1"}},
        Wire("POST", "/v1/items", query={"q": ["1"]}, body=b"a=1"),
    ),
    "airflow pairs as a form with a repeated key": Form(
        "POST", ("v1/items", [("a", "1"), ("a", "2")]), {},
        Wire("POST", "/v1/items", body=b"a=1&a=2", headers={"content-type": FORM}),
    ),
    "airflow all keywords": Form(
        "POST", (), {"endpoint": "/k", "data": {"a": "1"}, "headers": {"X-Call": "kw"}, "extra_options": {}},
        Wire("POST", "/k", body=b"a=1", headers={"x-call": "kw"}),
    ),
    "airflow no arguments posts to the base URL": Form(None, (), {}, Wire("POST", "/")),
    "airflow constructor HttpHook('GET', conn)": Form(
        "GET", ("x", {"q": "1"}), {}, Wire("GET", "/x", query={"q": ["1"]}), ctor_positional=True,
    ),
    # -- hookline's form: run(method, endpoint, data, headers, extra_options) ---------------------
    "hookline GET on a POST hook": Form("POST", ("GET", "/v1/items"), {}, Wire("GET", "/v1/items")),
    "hookline GET with data as the query": Form(
        "POST", ("GET", "/v1/items", {"page": "3"}), {}, Wire("GET", "/v1/items", query={"page": ["3"]}),
    ),
    "hookline POST data and headers positional": Form(
        "GET", ("POST", "/v1/items", {"a": "1"}, {"X-Call": "h"}), {},
        Wire("POST", "/v1/items", body=b"a=1", headers={"x-call": "h"}),
    ),
    "hookline OPTIONS": Form("POST", ("OPTIONS", "/o"), {}, Wire("OPTIONS", "/o")),
    "hookline keywords method and endpoint": Form(
        "POST", (), {"method": "PUT", "endpoint": "/k", "data": "x"}, Wire("PUT", "/k", body=b"x"),
    ),
    "hookline lower-case method keyword": Form(
        "POST", (), {"endpoint": "/v1/items", "method": "delete"}, Wire("DELETE", "/v1/items"),
    ),
    "hookline GET with params": Form(
        "POST", ("GET", "/v1/items"), {"params": {"q": "1"}}, Wire("GET", "/v1/items", query={"q": ["1"]}),
    ),
    "hookline POST json with extra_options": Form(
        "GET", ("POST", "events"), {"json": {"id": 7}, "extra_options": {"timeout": 5}},
        Wire("POST", "/events", body=b'{"id":7}', headers={"content-type": JSON}),
    ),
}  # fmt: skip


def make_hook(server: EchoServer, form: Form) -> HttpHook:
    conn = Connection(
        conn_id="api",
        conn_type="http",
        host="127.0.0.1",
        port=server.port,
        extra={"X-Conn": "c"},
    )
    if form.ctor_positional:
        return HttpHook(form.hook_method, conn, retry_limit=0)
    if form.hook_method is None:
        return HttpHook(conn, retry_limit=0)
    return HttpHook(conn, method=form.hook_method, retry_limit=0)


def check_wire(server: EchoServer, wire: Wire) -> None:
    (request,) = server.requests
    assert (request.method, request.path, request.query) == (wire.method, wire.path, wire.query)
    assert request.body == wire.body
    for name, value in wire.headers.items():
        assert request.headers.get(name, "").startswith(value), (name, request.headers)
    for name in wire.absent_headers:
        assert name not in request.headers, name
    assert request.headers["x-conn"] == "c"  # extras that are not options are headers


def test_the_table_has_at_least_twenty_forms() -> None:
    """The issue asks for at least 20 call forms checked on the wire."""
    assert len(CASES) >= 20


@pytest.mark.parametrize("name", list(CASES))
def test_call_form_on_the_wire(http_echo: EchoServer, name: str) -> None:
    """Each call form reaches the server with the method, path, query, body and headers meant."""
    form = CASES[name]
    with make_hook(http_echo, form) as hook:
        response = hook.run(*form.args, **form.kwargs)
    assert response.status_code == 200
    check_wire(http_echo, form.wire)


@pytest.mark.parametrize(
    "name",
    [n for n in CASES if not CASES[n].ctor_positional and CASES[n].hook_method is not None],
)
def test_async_call_form_on_the_wire(http_echo: EchoServer, name: str) -> None:
    """AsyncHttpHook reads the same call forms the same way."""
    import asyncio

    form = CASES[name]
    conn = Connection(
        conn_id="api",
        conn_type="http",
        host="127.0.0.1",
        port=http_echo.port,
        extra={"X-Conn": "c"},
    )

    async def scenario() -> int:
        async with AsyncHttpHook(conn, method=form.hook_method, retry_limit=0) as hook:
            return (await hook.run(*form.args, **form.kwargs)).status_code

    assert asyncio.run(scenario()) == 200
    check_wire(http_echo, form.wire)


def test_check_response_false_in_extra_options_returns_the_500(http_echo: EchoServer) -> None:
    """Airflow's run("fail500", extra_options={"check_response": False}): the 500 comes back, once."""
    http_echo.fail_next(500, times=5)
    form = Form("GET", ("fail500",), {}, Wire("GET", "/fail500"))
    with make_hook(http_echo, form) as hook:
        response = hook.run("fail500", extra_options={"check_response": False})
    assert response.status_code == 500
    assert len(http_echo.requests) == 1


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("GET", "/x"), {"method": "POST"}, "multiple values for argument 'method'"),
        (("x", {"a": 1}), {"data": {"b": 2}}, "multiple values for argument 'data'"),
        (("x",), {"endpoint": "y"}, "multiple values for argument 'endpoint'"),
        (("x",), {"colour": "red"}, "unexpected keyword argument 'colour'"),
        (("a", None, None, None, None), {}, "at most 4 positional arguments"),
        (("GET", "/x", None, None, None, None), {}, "at most 5 positional arguments"),
        ((), {"method": "GE T"}, "method must be an HTTP method name"),
        ((5,), {}, "endpoint must be text"),
    ],
)
def test_ambiguous_or_wrong_calls_are_type_errors(
    http_echo: EchoServer, args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    """An argument given twice, an unknown keyword or too many positionals: TypeError, nothing sent."""
    form = Form("POST", (), {}, Wire("POST", "/"))
    with make_hook(http_echo, form) as hook, pytest.raises(TypeError, match=message):
        hook.run(*args, **kwargs)
    assert http_echo.requests == []
