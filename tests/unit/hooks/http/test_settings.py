"""Settings read from an HTTP connection: every malformed extra is a typed InvalidConnection that
names the connection and the key and never quotes a secret; per-call options and headers likewise
(ConfigurationError); well-formed extras in Airflow's shapes are read as Airflow reads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from hookline import Connection, masking
from hookline.exceptions import ConfigurationError, InvalidConnection
from hookline.hooks.http import HttpHook
from hookline.hooks.http.settings import ProxyBasicAuth
from hookline.testing import mock_http

CANARY = "c4n4ry-S3cret!"

MALFORMED: dict[str, tuple[dict[str, Any], str]] = {
    "timeout not a number": ({"timeout": "abc"}, "timeout"),
    "timeout negative": ({"timeout": -1}, "timeout"),
    "timeout zero": ({"timeout": 0}, "timeout"),
    "timeout three values": ({"timeout": [1, 2, 3]}, "timeout"),
    "timeout not finite": ({"timeout": "inf"}, "timeout"),
    "connect timeout text": ({"connect_timeout_s": "soon"}, "connect_timeout_s"),
    "read timeout list": ({"read_timeout_s": []}, "read_timeout_s"),
    "retry limit word": ({"retry_limit": "three"}, "retry_limit"),
    "retry limit negative": ({"retry_limit": -1}, "retry_limit"),
    "retry limit fraction": ({"retry_limit": 1.5}, "retry_limit"),
    "retry limit bool": ({"retry_limit": True}, "retry_limit"),
    "retry delay text": ({"retry_delay_s": "x"}, "retry_delay_s"),
    "max redirects word": ({"max_redirects": "many"}, "max_redirects"),
    "allow redirects maybe": ({"allow_redirects": "maybe"}, "allow_redirects"),
    "trust env perhaps": ({"trust_env": "perhaps"}, "trust_env"),
    "stream two": ({"stream": 2}, "stream"),
    "check response maybe": ({"check_response": "maybe"}, "check_response"),
    "retry non idempotent word": ({"retry_non_idempotent": "sometimes"}, "retry_non_idempotent"),
    "verify missing bundle": ({"verify": "/nonexistent/ca.pem"}, "verify"),
    "verify number": ({"verify": 5}, "verify"),
    "verify_ssl missing bundle": ({"verify_ssl": "/nonexistent/ca.pem"}, "verify_ssl"),
    "cert missing file": ({"cert": "/nonexistent/cert.pem"}, "cert"),
    "cert three files": ({"cert": ["a", "b", "c"]}, "cert"),
    "cert number": ({"cert": 42}, "cert"),
    "proxies number": ({"proxies": 42}, "proxies"),
    "proxies value number": ({"proxies": {"http": 5}}, "proxies"),
    "proxies ftp scheme": ({"proxies": "ftp://proxy:21"}, "proxies"),
    "proxies unknown key": ({"proxies": {"gopher": "http://p:1"}}, "proxies"),
    "proxy unparsable with a secret": ({"proxy": f"http://u:{CANARY}@host:port"}, "proxy"),
    "proxy host with a space": ({"proxy": f"http://u:{CANARY}@ho st:3128"}, "proxy"),
    "header value not ascii": ({"X-Name": "é"}, "X-Name"),
    "header name not ascii": ({"Ключ": "v"}, "Ключ"),
    "header name with a space": ({"Bad Header": "v"}, "Bad Header"),
    "header value with CRLF": ({"X-Inject": "a\r\nX-Evil: 1"}, "X-Inject"),
    "secret header with a newline": ({"X-Api-Key": CANARY + "\n"}, "X-Api-Key"),
    "header value an object": ({"X-Nested": {"a": 1}}, "X-Nested"),
    "header value a bool": ({"X-Flag": True}, "X-Flag"),
    "headers not json": ({"headers": "not json"}, "headers"),
    "headers a list": ({"headers": ["a"]}, "headers"),
    "headers bad name": ({"headers": {"Bad Name": "v"}}, "headers.Bad Name"),
    "auth type not allowed": ({"auth_type": "os.system"}, "auth_type"),
    "auth type number": ({"auth_type": 5}, "auth_type"),
    "auth kwargs bad json": (
        {"auth_type": "requests.auth.HTTPBasicAuth", "auth_kwargs": "{bad json"},
        "auth_kwargs",
    ),
    "auth kwargs without auth type": ({"auth_kwargs": {"x": 1}}, "auth_kwargs"),
    "auth kwargs the class refuses": (
        {"auth_type": "requests.auth.HTTPBasicAuth", "auth_kwargs": {"nonsense": 1}},
        "auth_kwargs",
    ),
    "token a number": ({"token": 123}, "token"),
    "token not ascii": ({"token": CANARY + "é"}, "token"),
    "token with auth type": (
        {"token": "t0k3n-abcdef", "auth_type": "httpx.BasicAuth"},
        "auth_type",
    ),
    "test endpoint a number": ({"test_endpoint": 5}, "test_endpoint"),
    "srv lookup unsupported": ({"srv_lookup": True}, "srv_lookup"),
}


def hook_with(extra: dict[str, Any]) -> HttpHook:
    conn = Connection(
        conn_id="billing", conn_type="http", host="h", login="u", password=CANARY, extra=extra
    )
    return HttpHook(conn)


def test_the_table_has_at_least_24_malformed_extras() -> None:
    """The adversarial test found 9 untyped errors among 24 malformed extras: all are covered."""
    assert len(MALFORMED) >= 24


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_extra_is_invalid_connection_naming_the_key(name: str) -> None:
    """Reading the settings raises InvalidConnection naming the key and the connection; the
    message, repr and chained cause hold no secret."""
    extra, key = MALFORMED[name]
    hook = hook_with(extra)
    with pytest.raises(InvalidConnection) as info:
        hook.get_conn()
    error = info.value
    assert type(error) is InvalidConnection
    assert f"{key!r}" in str(error)
    assert "'billing'" in str(error)
    assert error.conn_id == "billing"
    for text in (str(error), repr(error), str(error.__cause__), str(error.__context__)):
        assert CANARY not in text
        assert masking.redact(text) == text or "***" in text


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_extra_fails_run_and_test_connection_typed(name: str) -> None:
    """run() raises the same InvalidConnection before any request; test_connection reports it."""
    extra, _ = MALFORMED[name]
    with mock_http() as http:
        hook = hook_with(extra)
        with pytest.raises(InvalidConnection):
            hook.run("GET", "/x")
        ok, message = hook_with(extra).test_connection()
    assert http.requests == []
    assert ok is False
    assert message.startswith("InvalidConnection: ")
    assert CANARY not in message


def test_airflow_shapes_are_read() -> None:
    """timeout as [connect, read], headers as JSON text, proxies per scheme, verify false words,
    allow_redirects/stream/max_redirects, test_endpoint: each goes where Airflow sends it."""
    extra = {
        "timeout": [2, 7],
        "headers": json.dumps({"X-From-Headers": "1"}),
        "X-Flat": 3,
        "proxies": {"https": "http://proxy.internal:3128"},
        "verify": "False",
        "allow_redirects": "no",
        "stream": "yes",
        "max_redirects": "5",
        "test_endpoint": "/health",
        "X-Null": None,
    }
    settings = hook_with(extra).settings
    assert settings.request.timeout == httpx.Timeout(7.0, connect=2.0)
    assert settings.headers["X-From-Headers"] == "1"
    assert settings.headers["X-Flat"] == "3"
    assert "X-Null" not in settings.headers
    assert settings.request.transport.verify is False
    assert settings.request.transport.proxy_mounts == (("https://", "http://proxy.internal:3128"),)
    assert (settings.request.follow_redirects, settings.request.stream) == (False, True)
    assert settings.request.max_redirects == 5
    assert settings.test_endpoint == "/health"
    for key in ("timeout", "headers", "proxies", "verify", "allow_redirects", "stream"):
        assert key not in settings.headers


def test_socks_proxy_without_socksio_is_refused_with_the_extra_to_install() -> None:
    """A SOCKS proxy needs httpx[socks]; without it the error says so (names the key)."""
    import importlib.util

    if importlib.util.find_spec("socksio") is not None:  # pragma: no cover - not installed here
        assert hook_with({"proxies": "socks5://p:1080"}).settings.request.transport.proxy
        return
    with pytest.raises(InvalidConnection, match=r"'proxies'.*httpx\[socks\]"):
        hook_with({"proxies": "socks5://p:1080"}).get_conn()


def test_verify_and_cert_paths(tmp_path: Path) -> None:
    """verify may name a CA file or directory; cert a file or a [certfile, keyfile] pair."""
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    assert hook_with({"verify": str(bundle)}).settings.request.transport.verify == str(bundle)
    assert hook_with({"verify": str(tmp_path)}).settings.request.transport.verify == str(tmp_path)
    pair = [str(bundle), str(bundle)]
    assert hook_with({"cert": pair}).settings.request.transport.cert == tuple(pair)


def test_unloadable_tls_files_are_invalid_connection(tmp_path: Path) -> None:
    """A CA bundle or certificate that exists but cannot be loaded: InvalidConnection at build."""
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    for extra in ({"verify": str(junk)}, {"cert": str(junk)}):
        with pytest.raises(InvalidConnection, match="cannot be loaded"):
            hook_with(extra).get_conn()


@pytest.mark.parametrize(
    ("name", "factory"),
    [
        ("requests.auth.HTTPBasicAuth", httpx.BasicAuth),
        ("requests.auth.HTTPDigestAuth", httpx.DigestAuth),
        ("requests.auth.HTTPProxyAuth", ProxyBasicAuth),
        ("aiohttp.BasicAuth", httpx.BasicAuth),
        ("httpx.DigestAuth", httpx.DigestAuth),
    ],
)
def test_auth_type_names_map_to_httpx(name: str, factory: type[httpx.Auth]) -> None:
    """Airflow's auth class names build the httpx equivalent from login and password."""
    auth = hook_with({"auth_type": name}).settings.auth
    assert isinstance(auth, factory)


def test_auth_type_without_login_is_built_without_arguments() -> None:
    """Airflow's rule: an explicit auth_type with no login, password or kwargs is built bare."""
    built: list[tuple[Any, ...]] = []

    class Bare(httpx.Auth):
        def __init__(self, *args: Any) -> None:
            built.append(args)

    from hookline.hooks.http import register_auth_type
    from hookline.hooks.http.settings import AUTH_TYPES

    register_auth_type("tests.Bare", Bare)
    try:
        conn = Connection(
            conn_id="x", conn_type="http", host="h", extra={"auth_type": "tests.Bare"}
        )
        assert isinstance(HttpHook(conn).settings.auth, Bare)
        assert HttpHook(conn.replace(extra={})).settings.auth is None
    finally:
        AUTH_TYPES.pop("tests.Bare")
    assert built == [()]


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"retries": 3}, "retries"),
        ({"timeout": "abc"}, "timeout"),
        ({"check_response": "maybe"}, "check_response"),
        ({"verify": "/nonexistent"}, "verify"),
        ({"proxies": 5}, "proxies"),
        ({"max_redirects": -2}, "max_redirects"),
    ],
)
def test_bad_extra_options_are_configuration_errors(options: dict[str, Any], key: str) -> None:
    """A call's unknown or malformed extra_options key: ConfigurationError naming it, nothing sent."""
    with mock_http() as http:
        hook = hook_with({})
        with pytest.raises(ConfigurationError, match=repr(key)):
            hook.run("GET", "/x", extra_options=options)
    assert http.requests == []


@pytest.mark.parametrize(
    ("headers", "name"),
    [({"X-A": "é"}, "X-A"), ({"Bad Name": "v"}, "Bad Name"), ({"X-Key": CANARY + "\r\n"}, "X-Key")],
)
def test_bad_call_headers_are_configuration_errors(headers: dict[str, str], name: str) -> None:
    """Per-call headers are checked like extras: a typed error naming the header, no value shown."""
    with mock_http() as http:
        hook = hook_with({})
        with pytest.raises(ConfigurationError, match=repr(name)) as info:
            hook.run("GET", "/x", headers=headers)
    assert CANARY not in str(info.value)
    assert http.requests == []


def test_airflow_auth_classes_given_to_the_constructor_map_to_httpx() -> None:
    """HttpHook(auth_type=requests.auth.HTTPDigestAuth), as Airflow code passes it, builds httpx's
    DigestAuth (requests' class itself cannot sign an httpx request)."""

    class HTTPDigestAuth:  # stands for requests.auth.HTTPDigestAuth
        pass

    HTTPDigestAuth.__module__ = "requests.auth"
    HTTPDigestAuth.__qualname__ = "HTTPDigestAuth"
    conn = Connection(conn_id="x", conn_type="http", host="h", login="u", password=CANARY)
    assert isinstance(HttpHook(conn, auth_type=HTTPDigestAuth).settings.auth, httpx.DigestAuth)
    with pytest.raises(TypeError, match=r"must build an httpx\.Auth"):
        HttpHook(conn, auth_type=lambda login, password: (login, password)).get_conn()
