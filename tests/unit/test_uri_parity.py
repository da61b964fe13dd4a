"""Parity with Airflow: the URI and JSON cases of Airflow's own test suite, ported one by one.

Sources: ``airflow-core/tests/unit/models/test_connection.py``, ``airflow-core/tests/unit/always/
test_connection.py`` (``UriTestCaseConfig``, ``test_as_json_from_connection``, ``test_from_json_*``) and
``task-sdk/tests/task_sdk/definitions/test_connection.py``. Cases are adapted only where hookline
differs on purpose (see ``Connection.from_uri``): ``extra`` is a read-only mapping (``extra_json`` is
Airflow's string), an invalid conn_id raises instead of becoming None, a URI error quotes the URI with
its password redacted, and flat query values stay strings (as in the Task SDK).
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple
from urllib.parse import urlparse

import pytest

from hookline import Connection, InvalidConnection, InvalidConnectionURI


class Parts(NamedTuple):
    conn_type: str | None
    login: str | None
    password: str | None
    host: str | None
    port: int | None
    schema: str | None


def parts_of(conn: Connection) -> Parts:
    return Parts(conn.conn_type, conn.login, conn.password, conn.host, conn.port, conn.schema)


# -- airflow-core/tests/unit/models/test_connection.py::test_parse_from_uri ---------------------------

PARSE_CASES = [
    ("type://user:pass@host:100/schema", Parts("type", "user", "pass", "host", 100, "schema"), {}),
    ("type://user:pass@host/schema", Parts("type", "user", "pass", "host", None, "schema"), {}),
    (
        "type://user:pass@host/schema?param1=val1&param2=val2",
        Parts("type", "user", "pass", "host", None, "schema"),
        {"param1": "val1", "param2": "val2"},
    ),
    ("type://host", Parts("type", None, None, "host", None, ""), {}),
    (
        "spark://mysparkcluster.com:80?deploy-mode=cluster&spark_binary=command&namespace=kube+namespace",
        Parts("spark", None, None, "mysparkcluster.com", 80, ""),
        {"deploy-mode": "cluster", "spark_binary": "command", "namespace": "kube namespace"},
    ),
    (
        "spark://k8s://100.68.0.1:443?deploy-mode=cluster",
        Parts("spark", None, None, "k8s://100.68.0.1", 443, ""),
        {"deploy-mode": "cluster"},
    ),
    (
        "type://protocol://user:pass@host:123?param=value",
        Parts("type", "user", "pass", "protocol://host", 123, ""),
        {"param": "value"},
    ),
]


@pytest.mark.parametrize(("uri", "expected", "extra"), PARSE_CASES)
def test_parse_from_uri(uri: str, expected: Parts, extra: dict[str, Any]) -> None:
    """Airflow's test_parse_from_uri: every field of the parsed URI."""
    conn = Connection.from_uri(uri)
    assert parts_of(conn) == expected
    assert conn.extra_dejson == extra


def test_parse_from_uri_credentials_before_protocol() -> None:
    """`type://user:pass@protocol://host` is refused, as in Airflow ("Invalid connection string")."""
    uri = "type://user:pass@protocol://host:port?param=value"
    with pytest.raises(InvalidConnectionURI, match="Invalid connection string") as info:
        Connection.from_uri(uri)
    assert "credentials must come after the inner protocol" in str(info.value)
    assert ":pass@" not in str(info.value)
    assert info.value.uri == "type://user:***@protocol://***"


@pytest.mark.parametrize(
    ("conn", "expected_uri"),
    [
        (
            Connection(
                conn_type="type",
                login="user",
                password="pass",
                host="host",
                port=100,
                schema="schema",
                extra={"param1": "val1", "param2": "val2"},
            ),
            "type://user:pass@host:100/schema?param1=val1&param2=val2",
        ),
        (
            Connection(
                conn_type="type",
                host="protocol://host",
                port=100,
                schema="schema",
                extra={"param1": "val1", "param2": "val2"},
            ),
            "type://protocol://host:100/schema?param1=val1&param2=val2",
        ),
        (
            Connection(
                conn_type="type",
                login="user",
                password="pass",
                host="protocol://host",
                port=100,
                schema="schema",
                extra={"param1": "val1", "param2": "val2"},
            ),
            "type://protocol://user:pass@host:100/schema?param1=val1&param2=val2",
        ),
    ],
)
def test_get_uri(conn: Connection, expected_uri: str) -> None:
    """Airflow's test_get_uri: exact rendered strings."""
    assert conn.get_uri() == expected_uri


@pytest.mark.parametrize("conn_id", ["12312312312213___12312321", "a_valid_conn_id_!!##", "a_-.11"])
def test_sanitize_conn_id_keeps_valid_ids(conn_id: str) -> None:
    """Airflow's test_sanitize_conn_id, valid ids: kept as given."""
    conn = Connection(conn_id=conn_id, conn_type="type", host="protocol://host", port=100)
    assert conn.conn_id == conn_id


def test_sanitize_conn_id_refuses_script_tag() -> None:
    """Airflow turns `<script>alert(1)</script>` into None; hookline refuses it and names the chars."""
    with pytest.raises(InvalidConnection, match="forbidden characters") as info:
        Connection(conn_id="<script>alert(1)</script>", conn_type="type")
    assert "<" in str(info.value)


@pytest.mark.parametrize(
    ("conn_type", "host"), [("http", "http://host"), ("spark", "k8s://100.68.0.1:443")]
)
def test_connection_uri_recovery(conn_type: str, host: str) -> None:
    """Airflow's test_connection_uri_recovery: protocol same as / different from the type."""
    original = Connection(conn_id="test", conn_type=conn_type, host=host)
    recovered = Connection.from_uri(original.get_uri())
    assert recovered.conn_type == original.conn_type
    assert recovered.host == original.host


def test_same_protocol_as_type_is_quoted_into_host() -> None:
    """Airflow main writes `http://http%3A%2F%2Fhost` when the protocol equals the type."""
    assert Connection(conn_type="http", host="http://host").get_uri() == "http://http%3A%2F%2Fhost"


def test_extra_dejson_from_json_text_with_crlf() -> None:
    """Airflow's test_extra_dejson: JSON text with CR/LF inside objects."""
    extra = (
        '{"trust_env": false, "verify": false, "stream": true, "headers":'
        '{\r\n "Content-Type": "application/json",\r\n  "X-Requested-By": "Airflow"\r\n}}'
    )
    conn = Connection(
        conn_id="pokeapi",
        conn_type="http",
        login="user",
        password="pass",
        host="https://pokeapi.co/",
        port=100,
        schema="https",
        extra=extra,
    )
    assert conn.extra_dejson == {
        "trust_env": False,
        "verify": False,
        "stream": True,
        "headers": {"Content-Type": "application/json", "X-Requested-By": "Airflow"},
    }
    assert Connection.from_uri(conn.get_uri(), conn_id="pokeapi") == conn.replace(description=None)


# -- airflow-core/tests/unit/always/test_connection.py: UriTestCaseConfig ------------------------------


class UriCase(NamedTuple):
    uri: str
    attributes: dict[str, Any]
    description: str


URI_CASES = [
    UriCase(
        "scheme://user:password@host%2Flocation:1234/schema",
        {
            "conn_type": "scheme",
            "host": "host/location",
            "schema": "schema",
            "login": "user",
            "password": "password",
            "port": 1234,
        },
        "without extras",
    ),
    UriCase(
        "scheme://user:password@host%2Flocation:1234/schema?extra1=a%20value&extra2=%2Fpath%2F",
        {
            "conn_type": "scheme",
            "host": "host/location",
            "schema": "schema",
            "login": "user",
            "password": "password",
            "port": 1234,
            "extra_dejson": {"extra1": "a value", "extra2": "/path/"},
        },
        "with extras",
    ),
    UriCase(
        "scheme://user:password@host%2Flocation:1234/schema?"
        "__extra__=%7B%22my_val%22%3A+%5B%22list%22%2C+%22of%22%2C+%22values%22%5D%2C+%22extra%22%3A+"
        "%7B%22nested%22%3A+%7B%22json%22%3A+%22val%22%7D%7D%7D",
        {
            "conn_type": "scheme",
            "host": "host/location",
            "schema": "schema",
            "login": "user",
            "password": "password",
            "port": 1234,
            "extra_dejson": {
                "my_val": ["list", "of", "values"],
                "extra": {"nested": {"json": "val"}},
            },
        },
        "with nested json",
    ),
    UriCase(
        "scheme://user:password@host%2Flocation:1234/schema?extra1=a%20value&extra2=",
        {
            "conn_type": "scheme",
            "host": "host/location",
            "schema": "schema",
            "login": "user",
            "password": "password",
            "port": 1234,
            "extra_dejson": {"extra1": "a value", "extra2": ""},
        },
        "with empty extras",
    ),
    UriCase(
        "scheme://user:password@host%2Flocation%3Ax%3Ay:1234/schema?extra1=a%20value&extra2=%2Fpath%2F",
        {
            "conn_type": "scheme",
            "host": "host/location:x:y",
            "schema": "schema",
            "login": "user",
            "password": "password",
            "port": 1234,
            "extra_dejson": {"extra1": "a value", "extra2": "/path/"},
        },
        "with colon in hostname",
    ),
    UriCase(
        "scheme://user:password%20with%20space@host%2Flocation%3Ax%3Ay:1234/schema",
        {
            "conn_type": "scheme",
            "host": "host/location:x:y",
            "schema": "schema",
            "login": "user",
            "password": "password with space",
            "port": 1234,
        },
        "with encoded password",
    ),
    UriCase(
        "scheme://domain%2Fuser:password@host%2Flocation%3Ax%3Ay:1234/schema",
        {
            "conn_type": "scheme",
            "host": "host/location:x:y",
            "schema": "schema",
            "login": "domain/user",
            "password": "password",
            "port": 1234,
        },
        "with encoded user",
    ),
    UriCase(
        "scheme://user:password%20with%20space@host:1234/schema%2Ftest",
        {
            "conn_type": "scheme",
            "host": "host",
            "schema": "schema/test",
            "login": "user",
            "password": "password with space",
            "port": 1234,
        },
        "with encoded schema",
    ),
    UriCase(
        "scheme://user:password%20with%20space@host:1234",
        {
            "conn_type": "scheme",
            "host": "host",
            "schema": "",
            "login": "user",
            "password": "password with space",
            "port": 1234,
        },
        "no schema",
    ),
    UriCase(
        "google-cloud-platform://?key_path=%2Fkeys%2Fkey.json&scope="
        "https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform&project=airflow",
        {
            "conn_type": "google_cloud_platform",
            "host": "",
            "schema": "",
            "login": None,
            "password": None,
            "port": None,
            "extra_dejson": {
                "key_path": "/keys/key.json",
                "scope": "https://www.googleapis.com/auth/cloud-platform",
                "project": "airflow",
            },
        },
        "with underscore",
    ),
    UriCase(
        "scheme://host:1234",
        {
            "conn_type": "scheme",
            "host": "host",
            "schema": "",
            "login": None,
            "password": None,
            "port": 1234,
        },
        "without auth info",
    ),
    UriCase(
        "scheme://%2FTmP%2F:1234",
        {
            "conn_type": "scheme",
            "host": "/TmP/",
            "schema": "",
            "login": None,
            "password": None,
            "port": 1234,
        },
        "with path",
    ),
    UriCase("scheme:///airflow", {"conn_type": "scheme", "schema": "airflow"}, "schema only"),
    UriCase("scheme://@:1234", {"conn_type": "scheme", "port": 1234}, "port only"),
    UriCase(
        "scheme://:password%2F%21%40%23%24%25%5E%26%2A%28%29%7B%7D@",
        {"conn_type": "scheme", "password": "password/!@#$%^&*(){}"},
        "password only",
    ),
    UriCase(
        "scheme://login%2F%21%40%23%24%25%5E%26%2A%28%29%7B%7D@",
        {"conn_type": "scheme", "login": "login/!@#$%^&*(){}"},
        "login only",
    ),
    UriCase(
        "scheme://host/schema?valid_json=%7B%22key%22%3A%22val%22%7D&invalid_json=just_a_string"
        "&empty_val=",
        {
            "conn_type": "scheme",
            "host": "host",
            "schema": "schema",
            "login": None,
            "password": None,
            "port": None,
            # Flat query values stay strings (Task SDK); Airflow 3.2's core decodes the JSON one.
            "extra_dejson": {
                "valid_json": '{"key":"val"}',
                "invalid_json": "just_a_string",
                "empty_val": "",
            },
        },
        "with valid json, invalid json fallback, and empty strings in extras",
    ),
]


@pytest.mark.parametrize("case", URI_CASES, ids=[c.description for c in URI_CASES])
def test_connection_from_uri(case: UriCase) -> None:
    """Airflow's test_connection_from_uri: each listed attribute of the parsed URI."""
    conn = Connection.from_uri(case.uri)
    for name, expected in case.attributes.items():
        assert getattr(conn, name) == expected, name


@pytest.mark.parametrize("case", URI_CASES, ids=[c.description for c in URI_CASES])
def test_connection_get_uri_from_uri(case: UriCase) -> None:
    """Airflow's test_connection_get_uri_from_uri: parse, render, parse again gives the same fields;
    in hookline the whole connection is equal."""
    conn = Connection.from_uri(case.uri)
    new_conn = Connection.from_uri(conn.get_uri())
    assert parts_of(new_conn) == parts_of(conn)
    assert new_conn.extra_dejson == conn.extra_dejson
    assert new_conn == conn


@pytest.mark.parametrize("case", URI_CASES, ids=[c.description for c in URI_CASES])
def test_connection_get_uri_from_conn(case: UriCase) -> None:
    """Airflow's test_connection_get_uri_from_conn: build from fields, render, parse: same fields."""
    kwargs: dict[str, Any] = {}
    for name, value in case.attributes.items():
        if name == "extra_dejson":
            kwargs["extra"] = json.dumps(value)
        else:
            kwargs[name] = value
    conn = Connection(conn_id="test_conn", **kwargs)
    new_conn = Connection.from_uri(conn.get_uri(), conn_id="test_conn")
    for name, expected in case.attributes.items():
        actual = getattr(new_conn, name)
        if expected is None:
            assert actual is None, name
        else:
            assert actual == expected, name


def test_nested_json_in_flat_value_decodes_with_nested() -> None:
    """Airflow 3.2 decodes JSON-looking flat values; hookline offers it as get_extra_dejson(nested=True)."""
    conn = Connection.from_uri(URI_CASES[-1].uri)
    assert conn.get_extra_dejson(nested=True) == {
        "valid_json": {"key": "val"},
        "invalid_json": "just_a_string",
        "empty_val": "",
    }
    assert conn.get_extra_dejson() == conn.extra_dejson


AUTH_INFO_CASES = [
    ("http://:password@host:80/database", Parts("http", "", "password", "host", 80, "database")),
    ("http://user:@host:80/database", Parts("http", "user", None, "host", 80, "database")),
    ("http://user:password@/database", Parts("http", "user", "password", "", None, "database")),
    ("http://user:password@host:80/", Parts("http", "user", "password", "host", 80, "")),
    ("http://user:password@/", Parts("http", "user", "password", "", None, "")),
    (
        "postgresql://user:password@%2Ftmp%2Fz6rqdzqh%2Fexample%3Awest1%3Atestdb/testdb",
        Parts("postgres", "user", "password", "/tmp/z6rqdzqh/example:west1:testdb", None, "testdb"),
    ),
    (
        "postgresql://user@%2Ftmp%2Fz6rqdzqh%2Fexample%3Aeurope-west1%3Atestdb/testdb",
        Parts(
            "postgres", "user", None, "/tmp/z6rqdzqh/example:europe-west1:testdb", None, "testdb"
        ),
    ),
    (
        "postgresql://%2Ftmp%2Fz6rqdzqh%2Fexample%3Aeurope-west1%3Atestdb",
        Parts("postgres", None, None, "/tmp/z6rqdzqh/example:europe-west1:testdb", None, ""),
    ),
    (
        "spark://k8s%3a%2F%2F100.68.0.1:443?deploy-mode=cluster",
        Parts("spark", None, None, "k8s://100.68.0.1", 443, ""),
    ),
    (
        "spark://user:password@k8s%3a%2F%2F100.68.0.1:443?deploy-mode=cluster",
        Parts("spark", "user", "password", "k8s://100.68.0.1", 443, ""),
    ),
    (
        "spark://user@k8s%3a%2F%2F100.68.0.1:443?deploy-mode=cluster",
        Parts("spark", "user", None, "k8s://100.68.0.1", 443, ""),
    ),
    (
        "spark://k8s%3a%2F%2Fno.port.com?deploy-mode=cluster",
        Parts("spark", None, None, "k8s://no.port.com", None, ""),
    ),
]


@pytest.mark.parametrize(("uri", "expected"), AUTH_INFO_CASES)
def test_connection_from_with_auth_info(uri: str, expected: Parts) -> None:
    """Airflow's test_connection_from_with_auth_info, plus a lossless round trip of each."""
    conn = Connection.from_uri(uri)
    assert parts_of(conn) == expected
    assert Connection.from_uri(conn.get_uri()) == conn


# -- JSON form ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"extra": null}', None),
        ('{"extra": {"yo": "hi"}}', '{"yo": "hi"}'),
        ('{"extra": "{\\"yo\\": \\"hi\\"}"}', '{"yo": "hi"}'),
    ],
)
def test_from_json_extra(text: str, expected: str | None) -> None:
    """Airflow's test_from_json_extra: extra as object or as its JSON string (`extra_json` is
    Airflow's string `extra`)."""
    conn = Connection.from_json(text)
    assert conn.extra_json == expected
    assert conn.get_extra() == expected


def test_from_json_extra_plain_string_is_refused() -> None:
    """Airflow 2 kept `{"extra": "hi"}`; Airflow 3 (and hookline) refuse non-JSON extra."""
    with pytest.raises(InvalidConnection, match="non-JSON"):
        Connection.from_json('{"extra": "hi"}')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"conn_type": "abc-abc"}', "abc_abc"),
        ('{"conn_type": "abc_abc"}', "abc_abc"),
        ('{"conn_type": "postgresql"}', "postgres"),
    ],
)
def test_from_json_conn_type(text: str, expected: str) -> None:
    """Airflow's test_from_json_conn_type: `-` becomes `_`, postgresql becomes postgres."""
    assert Connection.from_json(text).conn_type == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"port": 0}', 0),
        ('{"port": 1}', 1),
        ('{"port": "1"}', 1),
        ('{"port": "0"}', 0),
        ('{"port": ""}', None),
        ('{"port": null}', None),
        ('{"port": 65535}', 65535),
    ],
)
def test_from_json_port(text: str, expected: int | None) -> None:
    """Airflow's test_from_json_port and the SDK's port boundaries."""
    assert Connection.from_json(text, conn_id="test_conn").port == expected


@pytest.mark.parametrize(
    "text", ['{"port": -1}', '{"port": 65536}', '{"port": 1.5}', '{"port": "1.5"}']
)
def test_from_json_rejects_invalid_port(text: str) -> None:
    """Airflow 3's test_from_json_rejects_invalid_port: a ValueError that mentions the port."""
    with pytest.raises(ValueError, match="port"):
        Connection.from_json(text)
    with pytest.raises(InvalidConnection, match="port"):
        Connection.from_json(text, conn_id="test_conn")


@pytest.mark.parametrize(
    ("value", "expected"),
    [('pass :/!@#$%^&*(){}"', 'pass :/!@#$%^&*(){}"'), (None, None), ("", None)],
)
def test_from_json_special_characters(value: str | None, expected: str | None) -> None:
    """Airflow's test_from_json_special_characters: `""` reads back as None."""
    assert Connection.from_json(json.dumps({"password": value})).password == expected


def test_param_setup() -> None:
    """Airflow's test_param_setup: fields as given, port None."""
    conn = Connection(
        conn_id="local_mysql",
        conn_type="mysql",
        host="localhost",
        login="airflow",
        password="airflow",
        schema="airflow",
    )
    assert (conn.host, conn.schema, conn.login, conn.password, conn.port) == (
        "localhost",
        "airflow",
        "airflow",
        "airflow",
        None,
    )


def test_connection_mixed_uri_and_fields() -> None:
    """Airflow's test_connection_mixed: uri= with a field is refused with Airflow's exact message."""
    message = (
        "You must create an object using the URI or individual values (conn_type, host, login, "
        "password, schema, port or extra).You can't mix these two ways to create this object."
    )
    with pytest.raises(InvalidConnection, match=re.escape(message)):
        Connection(conn_id="TEST_ID", uri="mysql://", schema="AAA")


def test_extra_non_json_is_refused() -> None:
    """Airflow's test_extra_warnings_non_json."""
    with pytest.raises(ValueError, match="non-JSON"):
        Connection(conn_id="test_extra", conn_type="none", extra="hi")


def test_extra_non_dict_json_is_refused() -> None:
    """Airflow's test_extra_warnings_non_dict_json."""
    with pytest.raises(ValueError, match="not parse as a dictionary"):
        Connection(conn_id="test_extra", conn_type="none", extra='"hi"')


def test_get_uri_no_conn_type() -> None:
    """Airflow's test_get_uri_no_conn_type: a scheme-relative URI."""
    assert Connection().get_uri() == "//"
    assert Connection(host="abc").get_uri() == "//abc"
    assert Connection.from_uri("//abc").host == "abc"
    assert Connection.from_uri("//abc").conn_type == ""


AS_JSON_CASES = [
    (Connection(), "{}"),
    (Connection(host="apache.org", extra={}), '{"host": "apache.org"}'),
    (
        Connection(conn_type="foo", login="", password="p@$$"),
        '{"conn_type": "foo", "login": "", "password": "p@$$"}',
    ),
    (
        Connection(
            conn_type="bar",
            description="Sample Description",
            host="example.org",
            login="user",
            password="p@$$",
            schema="schema",
            port=777,
            extra={"foo": "bar", "answer": 42},
        ),
        json.dumps(
            {
                "conn_type": "bar",
                "description": "Sample Description",
                "host": "example.org",
                "login": "user",
                "password": "p@$$",
                "schema": "schema",
                "port": 777,
                "extra": {"foo": "bar", "answer": 42},
            }
        ),
    ),
    (Connection.from_uri("aws://"), '{"conn_type": "aws", "host": "", "schema": ""}'),
]


@pytest.mark.parametrize(
    ("conn", "expected"), AS_JSON_CASES, ids=["empty", "empty-extra", "some-fields", "all", "uri"]
)
def test_as_json_from_connection(conn: Connection, expected: str) -> None:
    """Airflow's test_as_json_from_connection: exact JSON text, and from_json gives it back."""
    assert conn.as_json() == expected
    assert conn.to_json() == expected
    restored = Connection.from_json(expected)
    assert restored == conn


# -- task-sdk/tests/task_sdk/definitions/test_connection.py -------------------------------------------


def test_sdk_get_uri() -> None:
    """SDK test_get_uri: exact URI, readable by urllib."""
    conn = Connection(
        conn_id="test_conn",
        conn_type="mysql",
        host="localhost",
        login="user",
        password="password",
        schema="test_schema",
        port=3306,
        extra=None,
    )
    uri = conn.get_uri()
    assert uri == "mysql://user:password@localhost:3306/test_schema"
    parsed = urlparse(uri)
    assert (parsed.scheme, parsed.hostname, parsed.username, parsed.password, parsed.port) == (
        "mysql",
        "localhost",
        "user",
        "password",
        3306,
    )
    assert parsed.path.lstrip("/") == "test_schema"


def test_sdk_to_dict() -> None:
    """SDK test_to_dict: every field, extra as a dict."""
    conn = Connection(
        conn_id="test_conn",
        conn_type="http",
        login="user",
        password="pass",
        host="https://api.example.com/",
        port=443,
        schema="https",
        extra='{"timeout": 30, "verify": false}',
    )
    assert conn.to_dict() == {
        "conn_id": "test_conn",
        "conn_type": "http",
        "description": None,
        "host": "https://api.example.com/",
        "login": "user",
        "password": "pass",
        "schema": "https",
        "port": 443,
        "extra": {"timeout": 30, "verify": False},
    }


def test_sdk_as_json_has_no_conn_id() -> None:
    """SDK test_as_json."""
    conn = Connection(conn_id="test_conn", conn_type="postgres", host="localhost", port=5432)
    result = json.loads(conn.as_json())
    assert "conn_id" not in result
    assert (result["conn_type"], result["host"], result["port"]) == ("postgres", "localhost", 5432)


def test_sdk_from_json_normalizes_type_and_port() -> None:
    """SDK test_from_json."""
    text = json.dumps({"conn_type": "postgresql", "host": "localhost", "port": "5432"})
    conn = Connection.from_json(text, conn_id="test_conn")
    assert (conn.conn_id, conn.conn_type, conn.host, conn.port) == (
        "test_conn",
        "postgres",
        "localhost",
        5432,
    )


@pytest.mark.parametrize("port", [0, 65535, None])
def test_sdk_constructor_allows_port_boundaries(port: int | None) -> None:
    """SDK test_direct_constructor_allows_valid_port_boundaries."""
    assert Connection(conn_id="test_conn", conn_type="http", port=port).port == port


@pytest.mark.parametrize("port", [-1, 65536, "123", 1.5, "", True])
def test_sdk_constructor_rejects_bad_ports(port: Any) -> None:
    """SDK test_direct_constructor_rejects_invalid_port_values (plus bool)."""
    with pytest.raises(ValueError, match="port"):
        Connection(conn_id="test_conn", conn_type="http", port=port)


def test_sdk_from_json_without_conn_type() -> None:
    """SDK test_from_json_without_conn_type (Airflow 2 compatibility)."""
    text = json.dumps(
        {
            "host": "mydb.example.com",
            "port": "5432",
            "login": "admin",
            "password": "secret",
            "schema": "production",
        }
    )
    conn = Connection.from_json(text, conn_id="test_conn")
    assert parts_of(conn) == Parts(None, "admin", "secret", "mydb.example.com", 5432, "production")


def test_sdk_extra_dejson_property() -> None:
    """SDK test_extra_dejson_property (replace() instead of attribute assignment)."""
    conn = Connection(
        conn_id="test_conn",
        conn_type="http",
        extra='{"timeout": 30, "verify": false, "retries": 3}',
    )
    assert conn.extra_dejson == {"timeout": 30, "verify": False, "retries": 3}
    assert conn.replace(extra=None).extra_dejson == {}
    nested = '{"auth": {"type": "oauth"}, "headers": {"User-Agent": "Airflow"}}'
    assert conn.replace(extra=nested).extra_dejson == {
        "auth": {"type": "oauth"},
        "headers": {"User-Agent": "Airflow"},
    }


def test_sdk_equality_by_value() -> None:
    """SDK test_conn_get compares connections with ==."""
    a = Connection(conn_id="mysql_conn", conn_type="mysql", host="mysql", port=3306)
    b = Connection(
        conn_id="mysql_conn",
        conn_type="mysql",
        description=None,
        host="mysql",
        schema=None,
        login=None,
        password=None,
        port=3306,
        extra=None,
    )
    assert a == b


def test_sdk_from_uri_basic() -> None:
    """SDK test_from_uri_basic (no extra: an empty mapping, not None)."""
    conn = Connection.from_uri("postgres://user:pass@host:5432/db", conn_id="test_conn")
    assert conn.conn_id == "test_conn"
    assert parts_of(conn) == Parts("postgres", "user", "pass", "host", 5432, "db")
    assert conn.extra_json is None
    assert dict(conn.extra) == {}


def test_sdk_from_uri_with_query_params() -> None:
    """SDK test_from_uri_with_query_params: query values stay strings."""
    conn = Connection.from_uri(
        "mysql://user:pass@host:3306/db?charset=utf8&timeout=30", "test_conn"
    )
    assert parts_of(conn) == Parts("mysql", "user", "pass", "host", 3306, "db")
    assert json.loads(conn.extra_json or "") == {"charset": "utf8", "timeout": "30"}


def test_sdk_from_uri_with_extra_key() -> None:
    """SDK test_from_uri_with_extra_key: an unencoded __extra__ JSON value is kept as written."""
    extra_value = json.dumps({"ssl_mode": "require", "connect_timeout": 10})
    conn = Connection.from_uri(f"postgres://user:pass@host:5432/db?__extra__={extra_value}", "t")
    assert conn.conn_type == "postgres"
    assert conn.extra_json == extra_value
    assert conn.extra_dejson == {"ssl_mode": "require", "connect_timeout": 10}


def test_sdk_from_uri_with_protocol_in_host() -> None:
    """SDK test_from_uri_with_protocol_in_host."""
    conn = Connection.from_uri("http://https://example.com:8080/path", conn_id="test_conn")
    assert (conn.conn_type, conn.host, conn.port, conn.schema) == (
        "http",
        "https://example.com",
        8080,
        "path",
    )


def test_sdk_from_uri_encoded_credentials() -> None:
    """SDK test_from_uri_encoded_credentials."""
    conn = Connection.from_uri("postgres://user%40domain:pass%21word@host:5432/db", "test_conn")
    assert (conn.login, conn.password) == ("user@domain", "pass!word")


def test_sdk_from_uri_minimal() -> None:
    """SDK test_from_uri_minimal: host and schema are "", login/password/port None."""
    conn = Connection.from_uri("redis://", conn_id="test_conn")
    assert parts_of(conn) == Parts("redis", None, None, "", None, "")


def test_sdk_from_uri_conn_type_normalization() -> None:
    """SDK test_from_uri_conn_type_normalization."""
    assert Connection.from_uri("postgresql://user:pass@host:5432/db").conn_type == "postgres"
    conn = Connection.from_uri("google-cloud-platform://user:pass@host/db")
    assert conn.conn_type == "google_cloud_platform"


def test_sdk_from_uri_too_many_schemes() -> None:
    """SDK test_from_uri_too_many_schemes_error."""
    with pytest.raises(InvalidConnectionURI, match="Invalid connection string"):
        Connection.from_uri("http://https://ftp://example.com", conn_id="test_conn")


def test_sdk_from_uri_invalid_protocol_host() -> None:
    """SDK test_from_uri_invalid_protocol_host_error."""
    with pytest.raises(InvalidConnectionURI, match="Invalid connection string"):
        Connection.from_uri("http://user@host://example.com", conn_id="test_conn")


def test_sdk_constructor_with_uri() -> None:
    """SDK test_connection_constructor_with_uri: uri is init-only, never kept."""
    conn = Connection(conn_id="test_conn", uri="postgres://user:pass@host:5432/db")
    assert parts_of(conn) == Parts("postgres", "user", "pass", "host", 5432, "db")
    assert not hasattr(conn, "uri")
    assert conn == Connection.from_uri("postgres://user:pass@host:5432/db", conn_id="test_conn")


def test_sdk_constructor_with_uri_keeps_extra_serialized() -> None:
    """SDK test_connection_constructor_with_uri_keeps_extra_serialized."""
    conn = Connection(
        conn_id="test_conn", uri="mysql://user:pass@host:3306/db?charset=utf8&timeout=30"
    )
    expected = {"charset": "utf8", "timeout": "30"}
    assert json.loads(conn.extra_json or "") == expected
    assert conn.extra_dejson == expected
    assert conn.to_dict()["extra"] == expected
    assert json.loads(conn.as_json())["extra"] == expected


def test_sdk_from_uri_roundtrip() -> None:
    """SDK test_from_uri_roundtrip."""
    original = "postgres://user:pass@host:5432/db?param1=value1&param2=value2"
    conn = Connection.from_uri(original, conn_id="test_conn")
    assert conn.get_uri() == original
    assert Connection.from_uri(conn.get_uri(), conn_id="test_conn") == conn


def test_get_hook_unknown_type() -> None:
    """SDK test_get_hook_invalid_type: an unknown type says so."""
    conn = Connection(conn_id="test_conn", conn_type="unknown_type")
    with pytest.raises(InvalidConnection, match=r"Unknown hook type .unknown_type."):
        conn.get_hook()
    assert conn.test_connection() == (False, 'Unknown hook type "unknown_type"')


# -- the parse rule table (derived cases) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected", "extra"),
    [
        ("google-cloud-platform://", Parts("google_cloud_platform", None, None, "", None, ""), {}),
        ("postgresql://h", Parts("postgres", None, None, "h", None, ""), {}),
        (
            "x://domain%2Fuser:pass%21word@h",
            Parts("x", "domain/user", "pass!word", "h", None, ""),
            {},
        ),
        ("x://h:1/schema%2Ftest", Parts("x", None, None, "h", 1, "schema/test"), {}),
        ("x://h?a=1&b=", Parts("x", None, None, "h", None, ""), {"a": "1", "b": ""}),
        ("x://h?a=1&a=2", Parts("x", None, None, "h", None, ""), {"a": "2"}),
        ("x://h?a=b+c&d", Parts("x", None, None, "h", None, ""), {"a": "b c", "d": ""}),
        ("//abc", Parts("", None, None, "abc", None, ""), {}),
        ("x://@:1234", Parts("x", "", None, "", 1234, ""), {}),
        ("x://:pw@", Parts("x", "", "pw", "", None, ""), {}),
        ("postgres://u:p@[::1]:5432/db", Parts("postgres", "u", "p", "::1", 5432, "db"), {}),
        ("x://h?__extra__=", Parts("x", None, None, "h", None, ""), {}),
    ],
)
def test_rule_table(uri: str, expected: Parts, extra: dict[str, Any]) -> None:
    """The parse rules of Airflow's _parse_from_uri, each with a lossless round trip."""
    conn = Connection.from_uri(uri)
    assert parts_of(conn) == expected
    assert conn.extra_dejson == extra
    assert Connection.from_uri(conn.get_uri()) == conn


def test_unencoded_slash_in_password_is_a_port_error() -> None:
    """`login:my-pa/ssword@host:5432` fails on the port, as in Airflow; the message says why."""
    with pytest.raises(InvalidConnectionURI, match="port") as info:
        Connection.from_uri("postgres://login:my-pa/ssword@host:5432/db")
    assert "percent-encoded" in str(info.value)
    assert "my-pa" not in str(info.value)


# -- hookline's documented differences (Airflow pitfalls) -------------------------------------


def test_underscore_scheme_is_read_as_the_type() -> None:
    """Airflow reads `google_cloud_platform://host` as a path; hookline as the type."""
    conn = Connection.from_uri("google_cloud_platform://host/db")
    assert (conn.conn_type, conn.host, conn.schema) == ("google_cloud_platform", "host", "db")
    assert conn.get_uri() == "google-cloud-platform://host/db"


def test_host_case_is_kept() -> None:
    """Airflow lower-cases the host; hookline keeps it (the scheme is still case-insensitive)."""
    conn = Connection.from_uri("POSTGRES://U:P@DB.Example.COM/App")
    assert (conn.conn_type, conn.login, conn.host, conn.schema) == (
        "postgres",
        "U",
        "DB.Example.COM",
        "App",
    )


def test_port_zero_is_written() -> None:
    """Airflow's `if self.port` drops port 0; hookline writes it."""
    conn = Connection(conn_type="x", host="h", port=0)
    assert conn.get_uri() == "x://h:0"
    assert Connection.from_uri(conn.get_uri()).port == 0


def test_port_only_round_trips_without_login() -> None:
    """Airflow writes a lone port as `@:1234`, which reads back with login ""; hookline writes
    `:1234` (which Airflow reads too) so login stays None."""
    conn = Connection(conn_type="scheme", port=1234)
    assert conn.get_uri() == "scheme://:1234"
    assert Connection.from_uri(conn.get_uri()).login is None
    assert Connection.from_uri("scheme://@:1234").get_uri() == "scheme://@:1234"


def test_ipv6_host_is_bracketed() -> None:
    """IPv6 hosts are written in brackets, not as `%3A%3A1`."""
    conn = Connection(conn_type="postgres", host="::1", port=5432, schema="")
    assert conn.get_uri() == "postgres://[::1]:5432"
    assert Connection.from_uri(conn.get_uri()) == conn


def test_empty_password_reads_as_none() -> None:
    """`user:@host` gives password None (Airflow's ORM behaviour), and "" in fields too."""
    assert Connection.from_uri("http://user:@host").password is None
    assert Connection(password="").password is None


def test_repeated_type_prefix_keeps_host() -> None:
    """Airflow 2's `http://http://host` lost its host (str.replace); hookline keeps it."""
    conn = Connection.from_uri("http://http://host")
    assert (conn.conn_type, conn.host) == ("http", "http://host")


def test_url_in_query_is_not_an_inner_protocol() -> None:
    """A `://` inside the query is a value, not `type://protocol://host`."""
    conn = Connection.from_uri("http://host/?callback=https://example.com/cb")
    assert conn.host == "host"
    assert conn.extra_dejson == {"callback": "https://example.com/cb"}
    assert Connection.from_uri(conn.get_uri()) == conn


def test_protocol_host_without_type_is_quoted() -> None:
    """Without a conn type, a protocol host is quoted whole so it reads back (Airflow loses it)."""
    conn = Connection(host="k8s://10.0.0.1")
    assert conn.get_uri() == "//k8s%3A%2F%2F10.0.0.1"
    assert Connection.from_uri(conn.get_uri()).host == "k8s://10.0.0.1"


def test_extra_key_named_like_extra_marker_round_trips() -> None:
    """A flat extra called `__extra__` is written as JSON, so it is not mistaken for the marker."""
    conn = Connection(conn_type="x", host="", schema="", extra={"__extra__": "v"})
    assert Connection.from_uri(conn.get_uri()) == conn
