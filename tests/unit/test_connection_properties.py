"""Property tests: URI and JSON round trips for arbitrary connections, and no crash on any input.

The round trips hold up to these documented normalizations (``uri_normal`` / ``json_normal`` below):

* URI: ``description`` is not part of a URI (None); conn_type is lower-cased and normalized
  (``postgresql`` -> ``postgres``, ``-`` -> ``_``); a None host, schema or conn_type reads back as
  ``""``; a password without a login reads back with login ``""`` (``type://:pw@host``).
* JSON: conn_type is normalized (``postgresql`` -> ``postgres``, ``-`` -> ``_``).
* Both: an empty password is None (done by the constructor already).
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any
from urllib.parse import quote, quote_plus, unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hookline import Connection, InvalidConnection, _uri
from hookline._uri import normalize_conn_type

SETTINGS = settings(max_examples=300, deadline=None, database=None)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
extras = (
    st.none()
    | st.dictionaries(st.text(max_size=12), st.text(max_size=20), max_size=5)  # flat: query params
    | st.dictionaries(st.text(max_size=12), json_values, max_size=5)  # nested: __extra__ JSON
)
texts = st.none() | st.text(max_size=30)
# Hosts also take the shapes the URI syntax treats specially: protocols, socket paths, IPv6.
hosts = (
    texts
    | st.builds(
        lambda p, h: f"{p}://{h}", st.sampled_from(["k8s", "http", "HTTPS", "x_y", ""]), texts
    )
    | st.sampled_from(["::1", "fe80::1%eth0", "/tmp/.s.PGSQL.5432", "[::1]", "a@b:c/d?e#f"])
)
conn_types = st.none() | st.from_regex(r"[A-Za-z][A-Za-z0-9+.\-_]{0,12}", fullmatch=True)
conn_ids = st.none() | st.from_regex(r"[A-Za-z0-9_.\-#!()]{1,30}", fullmatch=True)


@st.composite
def connections(draw: st.DrawFn) -> Connection:
    return Connection(
        conn_id=draw(conn_ids),
        conn_type=draw(conn_types | st.sampled_from(["postgresql", "google-cloud-platform"])),
        description=draw(texts),
        host=draw(hosts),
        login=draw(texts),
        password=draw(texts),
        schema=draw(texts),
        port=draw(st.none() | st.integers(min_value=0, max_value=65535)),
        extra=draw(extras),
    )


def uri_normal(conn: Connection) -> Connection:
    """What a URI round trip gives back (see the module docstring)."""
    login = conn.login
    if login is None and conn.password is not None:
        login = ""
    return conn.replace(
        conn_type=normalize_conn_type((conn.conn_type or "").lower()),
        description=None,
        host=conn.host or "",
        schema=conn.schema or "",
        login=login,
    )


def json_normal(conn: Connection) -> Connection:
    """What a JSON round trip gives back (see the module docstring)."""
    conn_type = normalize_conn_type(conn.conn_type) if conn.conn_type else None
    return conn.replace(conn_type=conn_type)


@SETTINGS
@given(connections())
def test_uri_round_trip(conn: Connection) -> None:
    """from_uri(c.get_uri()) == c, up to the documented normalizations."""
    back = Connection.from_uri(conn.get_uri(), conn_id=conn.conn_id)
    assert back == uri_normal(conn)
    assert back.get_uri() == Connection.from_uri(back.get_uri(), conn_id=conn.conn_id).get_uri()


@SETTINGS
@given(connections())
def test_json_round_trip(conn: Connection) -> None:
    """from_json(c.to_json()) == c (conn_id passed separately), up to conn_type normalization."""
    assert Connection.from_json(conn.to_json(), conn_id=conn.conn_id) == json_normal(conn)
    assert Connection.from_dict(conn.to_dict()) == json_normal(conn)


@SETTINGS
@given(connections())
def test_redacted_forms_hide_the_password(conn: Connection) -> None:
    """Whatever the fields, the redacted dict shows *** for a password, never its value."""
    redacted = conn.to_dict(redact=True)
    if conn.password is not None:
        assert redacted["password"] == "***"
        assert ":***@" in conn.get_redacted_uri()
    assert json.loads(conn.to_json(redact=True)).get("password") in (None, "***")


@SETTINGS
@given(connections(), connections())
def test_equal_means_equal_hash(a: Connection, b: Connection) -> None:
    """Equality is consistent with hashing, and a connection equals its copy."""
    assert a == a.replace()
    assert hash(a) == hash(a.replace())
    if a == b:
        assert hash(a) == hash(b)


URI_PIECES = st.sampled_from(
    [
        "x://", "postgres://", "k8s://", "://", "//", "@", ":", "/", "?", "#", "[", "]", "%",
        "%2F", "%3A", "%zz", "%C3%A9", "__extra__=", "&", "=", "+", "{", "}", '"', "[1]",
        "::1", "65535", "65536", "0", "user", "pa:ss", " ", "\t", "\n", "é", "\uff0f", "\x00",
    ]
)  # fmt: skip
uri_like = st.lists(URI_PIECES | st.text(max_size=5), max_size=12).map("".join)


@SETTINGS
@given(st.text() | uri_like)
def test_from_uri_raises_only_invalid_connection(text: str) -> None:
    """Arbitrary text either parses or raises an InvalidConnection subclass, nothing else; what
    parses renders and parses again."""
    try:
        conn = Connection.from_uri(text)
    except InvalidConnection:
        return
    assert Connection.from_uri(conn.get_uri()) == conn


json_objects = st.dictionaries(
    st.sampled_from(
        ["conn_id", "conn_type", "host", "login", "password", "schema", "port", "extra", "other"]
    ),
    json_values,
    max_size=6,
)


@SETTINGS
@given(st.text() | json_values.map(json.dumps) | json_objects.map(json.dumps))
def test_from_json_raises_only_invalid_connection(text: str) -> None:
    """Arbitrary text or JSON either parses or raises an InvalidConnection subclass."""
    try:
        conn = Connection.from_json(text)
    except InvalidConnection:
        return
    assert Connection.from_json(conn.to_json(), conn_id=conn.conn_id) == json_normal(conn)


@SETTINGS
@given(st.text() | uri_like)
def test_from_text_raises_only_invalid_connection(text: str) -> None:
    """from_text (what backends call) never raises anything but InvalidConnection."""
    with contextlib.suppress(InvalidConnection):
        Connection.from_text(text)


@SETTINGS
@given(json_values)
def test_constructor_extra_accepts_objects_and_refuses_the_rest(value: Any) -> None:
    """Any JSON value as `extra` text is accepted when it is an object (also as a mapping), and
    refused with InvalidConnection otherwise."""
    if isinstance(value, dict):
        assert Connection(extra=json.dumps(value)).extra_dejson == value
        assert Connection(extra=value) == Connection(extra=json.dumps(value))
    else:
        with pytest.raises(InvalidConnection, match="dictionary"):
            Connection(extra=json.dumps(value))


def _parse_or_error(text: str, *, fast: bool) -> object:
    try:
        return _uri.parse_uri(text, fast=fast)
    except InvalidConnection as exc:
        return (type(exc), str(exc))


@SETTINGS
@given(uri_like | connections().map(Connection.get_uri) | st.text())
def test_fast_path_parses_like_the_general_path(text: str) -> None:
    """The one-regex path for common URIs gives exactly what the general algorithm gives."""
    assert _parse_or_error(text, fast=True) == _parse_or_error(text, fast=False)


@SETTINGS
@given(st.text() | st.text(alphabet="abc /?#@:%+&=[]é\t", max_size=12))
def test_fast_quoting_matches_urllib(text: str) -> None:
    """hookline's quote/quote_plus/unquote give exactly urllib's results."""
    for safe in ("", "*"):
        assert _uri._quote(text, safe) == quote(text, safe=safe)
        assert _uri._quote_plus(text, safe) == quote_plus(text, safe=safe)
    assert _uri.unquote(text) == unquote(text)
    assert _uri.unquote(quote(text, safe="")) == text


raw_passwords = st.text(alphabet="abcXYZ019-_.!~*'()$,;/?#@:%+&=[] é", min_size=4, max_size=16).map(
    lambda tail: "Qz" + tail
)


@SETTINGS
@given(
    raw_passwords,
    st.sampled_from(
        [
            "postgres://user:{pw}@host:5432/db?x=1",
            "postgres://user:{pw}host:5432/db",
            "spark://k8s://user:{pw}@host:443",
            "spark://user:{pw}@k8s://host",
            "x://user:{pw}@[::1:5/db",
            "x://user:{pw}@host?__extra__={pw}",
        ]
    ),
)
def test_errors_never_quote_an_unencoded_password(password: str, template: str) -> None:
    """A URI with an unencoded password either parses or fails with a message that does not
    contain the password, nor any 4-character piece of it between delimiters."""
    uri = template.format(pw=password)
    try:
        Connection.from_uri(uri)
    except InvalidConnection as exc:
        shown = str(exc) + repr(exc) + getattr(exc, "uri", "")
        assert password not in shown
        for piece in re.split(r"[/?#@:%+&=\[\] ]", password):
            if len(piece) >= 4:
                assert piece not in shown, piece
