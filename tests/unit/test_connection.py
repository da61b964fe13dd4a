"""The Connection value object: value semantics, bad input, and secrets that never leak.

Every error path checks the error type, that its message says what is wrong and where, and that the
canary password is absent from ``str``, ``repr``, ``.uri`` and a formatted traceback.
"""

from __future__ import annotations

import io
import json
import logging
import pickle
import traceback
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest

from hookline import (
    ConfigurationError,
    Connection,
    InvalidConnection,
    InvalidConnectionURI,
    masking,
)
from hookline.connection import CONN_ID_MAX_LEN, validate_conn_id
from hookline.hooks.base import BaseHook

CANARY = "c4n4ry-S3cret!"
CANARY_PARTS = ("c4n4ry", "S3cret")
CANARY_WITH_SLASH = CANARY.replace("-", "/")
SENSITIVE_EXTRAS = {
    "token": CANARY,
    "api_key": CANARY,
    "private_key": CANARY,
    "credentials": CANARY,
    "password": CANARY,
    "client_secret": CANARY,
    "nested": {"auth": {"access_token": CANARY}, "headers": {"Authorization": CANARY}},
}


def secret_conn(**changes: Any) -> Connection:
    fields: dict[str, Any] = {
        "conn_id": "warehouse",
        "conn_type": "postgres",
        "host": "db.example.com",
        "login": "alice",
        "password": CANARY,
        "schema": "app",
        "port": 5432,
        "extra": {"sslmode": "require", **SENSITIVE_EXTRAS},
    }
    fields.update(changes)
    return Connection(**fields)


def assert_no_canary(text: str) -> None:
    for part in CANARY_PARTS:
        assert part not in text, text


# -- value semantics --------------------------------------------------------------------------------


def test_connection_is_frozen() -> None:
    """Setting or deleting any attribute raises; replace() is the way to change a field."""
    conn = Connection(conn_id="a", host="h")
    with pytest.raises(AttributeError, match="immutable"):
        conn.host = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        conn.new_attr = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="immutable"):
        del conn.host  # type: ignore[misc]
    assert conn.host == "h"


def test_equal_connections_hash_equal_whatever_the_extras_key_order() -> None:
    """Equality and hashing are by value; extras compare as JSON objects (key order ignored)."""
    a = Connection(conn_id="a", conn_type="x", extra={"k1": 1, "k2": {"p": [1, 2], "q": None}})
    b = Connection(conn_id="a", conn_type="x", extra='{"k2": {"q": null, "p": [1, 2]}, "k1": 1}')
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    assert a != a.replace(conn_id="b")
    assert a != a.replace(password="pw")
    assert a != a.replace(extra={"k1": 1})
    assert a.__eq__("not a connection") is NotImplemented


def test_extras_compare_by_json_type() -> None:
    """`1`, `1.0` and `true` are different JSON values, so the connections differ (and hash apart)."""
    one = Connection(extra={"v": 1})
    assert one != Connection(extra={"v": True})
    assert one != Connection(extra={"v": 1.0})
    assert one == Connection(extra='{"v": 1}')


def test_replace_validates_and_keeps_other_fields() -> None:
    """replace() returns a new validated connection; unknown names and bad values are refused."""
    conn = secret_conn()
    moved = conn.replace(host="db2", port=6543)
    assert (moved.host, moved.port, moved.login, moved.password) == ("db2", 6543, "alice", CANARY)
    assert moved.extra_dejson == conn.extra_dejson
    assert conn.host == "db.example.com"
    with pytest.raises(InvalidConnection, match="unknown Connection field") as info:
        conn.replace(hots="x")
    assert "hots" in str(info.value)
    with pytest.raises(InvalidConnection, match="port"):
        conn.replace(port=70000)


def test_pickle_round_trip() -> None:
    """A pickled connection comes back equal, password and extras included."""
    conn = secret_conn(description="main db")
    clone = pickle.loads(pickle.dumps(conn))
    assert clone == conn
    assert clone.password == CANARY
    assert clone.extra_dejson == conn.extra_dejson


def test_extra_is_read_only_all_the_way_down() -> None:
    """`extra` is a read-only mapping; nested objects are read-only and lists are tuples."""
    conn = Connection(extra={"a": 1, "n": {"x": [1, {"y": 2}]}})
    with pytest.raises(TypeError):
        conn.extra["a"] = 2  # type: ignore[index]
    with pytest.raises(TypeError):
        conn.extra["n"]["x"] = 3
    with pytest.raises(TypeError):
        conn.extra["n"]["x"][1]["y"] = 3
    assert conn.extra["n"]["x"] == (1, conn.extra["n"]["x"][1])
    assert conn.extra_dejson == {"a": 1, "n": {"x": [1, {"y": 2}]}}


def test_extra_dejson_is_a_fresh_copy() -> None:
    """Mutating extra_dejson (nested too) never changes the connection."""
    conn = Connection(extra={"n": {"x": [1]}})
    copy = conn.extra_dejson
    copy["n"]["x"].append(2)
    copy["new"] = True
    assert conn.extra_dejson == {"n": {"x": [1]}}
    assert conn.extra_dejson is not conn.extra_dejson


def test_mapping_extra_is_stored_as_json_sees_it() -> None:
    """A mapping extra is normalized like JSON: keys become strings, tuples become lists."""
    conn = Connection(extra={1: "a", "t": (1, 2)})  # type: ignore[dict-item]
    assert conn.extra_dejson == {"1": "a", "t": [1, 2]}
    assert conn == Connection(extra='{"1": "a", "t": [1, 2]}')


def test_empty_extra_is_no_extra() -> None:
    """`{}`, `""` and None are all "no extras"."""
    assert Connection(extra={}) == Connection(extra="") == Connection(extra=None) == Connection()
    assert Connection(extra={}).extra_json is None


def test_get_uri_is_stable_and_cached() -> None:
    """get_uri returns the same text on every call (it is computed once)."""
    conn = secret_conn()
    assert conn.get_uri() is conn.get_uri()
    assert Connection.from_uri(conn.get_uri(), conn_id="warehouse") == conn.replace(
        description=None
    )


def test_from_text_picks_json_or_uri() -> None:
    """from_text reads JSON when the text starts with `{` (after whitespace), else a URI."""
    by_json = Connection.from_text('  \n {"conn_type": "x", "host": "h"}', conn_id="a")
    by_uri = Connection.from_text("  x://h  ", conn_id="a")
    assert (by_json.conn_type, by_json.host) == ("x", "h")
    assert (by_uri.conn_type, by_uri.host) == ("x", "h")


def test_from_dict_reads_extra_dejson_and_conn_id() -> None:
    """from_dict accepts Airflow's local-file key extra_dejson and a matching conn_id."""
    conn = Connection.from_dict({"conn_id": "a", "conn_type": "x", "extra_dejson": {"k": "v"}})
    assert (conn.conn_id, conn.extra_dejson) == ("a", {"k": "v"})
    assert Connection.from_dict(conn.to_dict()) == conn


def test_to_dict_prune_empty_keeps_empty_strings() -> None:
    """prune_empty drops None values and an empty extra but keeps ""."""
    conn = Connection(conn_type="x", login="", host="h")
    assert conn.to_dict(prune_empty=True) == {"conn_type": "x", "host": "h", "login": ""}


def test_validate_conn_id_accepts_airflow_ids() -> None:
    """Letters, digits, `_ # ! ( ) - . : / \\` and the 250-character limit."""
    for conn_id in ("a", "my_db-1", "x.y:z/w\\v", "(a)#!", "é_unicode", "a" * CONN_ID_MAX_LEN):
        assert validate_conn_id(conn_id) == conn_id


def test_sensitive_extra_keys_lists_top_level_secrets() -> None:
    """sensitive_extra_keys names the top-level extras treated as secrets."""
    conn = secret_conn()
    assert set(conn.sensitive_extra_keys()) == {
        "token",
        "api_key",
        "private_key",
        "credentials",
        "password",
        "client_secret",
    }


# -- bad input --------------------------------------------------------------------------------------

BAD_INPUT: list[tuple[str, Callable[[], object], type[Exception], tuple[str, ...]]] = [
    (
        "more than two separators",
        lambda: Connection.from_uri(f"postgres://k8s://user:{CANARY}@h://x"),
        InvalidConnectionURI,
        ("3 '://' separators", "at most two"),
    ),
    (
        "credentials before the inner protocol",
        lambda: Connection.from_uri(f"spark://user:{CANARY}@k8s://10.0.0.1:443"),
        InvalidConnectionURI,
        ("credentials must come after the inner protocol",),
    ),
    (
        "port is not a number",
        lambda: Connection.from_uri(f"postgres://user:{CANARY}@host:port/db"),
        InvalidConnectionURI,
        ("port", "not a number"),
    ),
    (
        "unencoded slash in the password",
        lambda: Connection.from_uri(f"postgres://user:{CANARY_WITH_SLASH}@host:5432/db"),
        InvalidConnectionURI,
        ("port", "percent-encoded"),
    ),
    (
        "missing @ after the password",
        lambda: Connection.from_uri(f"postgres://user:{CANARY}host:5432/db"),
        InvalidConnectionURI,
        ("port", "not a number"),
    ),
    (
        "port above 65535",
        lambda: Connection.from_uri(f"postgres://user:{CANARY}@host:70000/db"),
        InvalidConnectionURI,
        ("port", "outside 0-65535"),
    ),
    (
        "__extra__ is a JSON list",
        lambda: Connection.from_uri(f"x://user:{CANARY}@h/?__extra__=%5B1%5D"),
        InvalidConnectionURI,
        ("__extra__", "does not parse as a dictionary", "list"),
    ),
    (
        "__extra__ is not JSON",
        lambda: Connection.from_uri(f"x://user:{CANARY}@h/?__extra__=%7B%22token%22%3A+{CANARY}"),
        InvalidConnectionURI,
        ("__extra__", "non-JSON", "line 1, column 11"),
    ),
    (
        "unbalanced IPv6 bracket",
        lambda: Connection.from_uri(f"x://user:{CANARY}@[::1/db"),
        InvalidConnectionURI,
        ("unbalanced '['",),
    ),
    (
        "bracketed host is not IPv6",
        lambda: Connection.from_uri(f"x://user:{CANARY}@[db.local]:5/db"),
        InvalidConnectionURI,
        ("not an IPv6 address",),
    ),
    (
        "no type prefix",
        lambda: Connection.from_uri(f"user:{CANARY}@host"),
        InvalidConnectionURI,
        ("no 'type://' prefix",),
    ),
    (
        "invalid conn type",
        lambda: Connection.from_uri(f"1x://user:{CANARY}@host"),
        InvalidConnectionURI,
        ("not a valid URI scheme",),
    ),
    (
        "empty URI",
        lambda: Connection.from_uri(""),
        InvalidConnectionURI,
        ("it is empty",),
    ),
    (
        "URI is not a str",
        lambda: Connection.from_uri(b"x://h"),  # type: ignore[arg-type]
        InvalidConnectionURI,
        ("must be a str", "bytes"),
    ),
    (
        "empty conn_id",
        lambda: Connection.from_uri(f"x://u:{CANARY}@h", conn_id=""),
        InvalidConnection,
        ("conn_id is empty",),
    ),
    (
        "conn_id too long",
        lambda: Connection(conn_id="a" * 251, password=CANARY),
        InvalidConnection,
        ("251 characters", "limit is 250"),
    ),
    (
        "conn_id with forbidden characters",
        lambda: Connection(conn_id="my db;drop", password=CANARY),
        InvalidConnection,
        ("forbidden characters", "' ;'"),
    ),
    (
        "conn_id is not a str",
        lambda: Connection(conn_id=42, password=CANARY),  # type: ignore[arg-type]
        InvalidConnection,
        ("conn_id must be a str", "int"),
    ),
    (
        "unknown JSON field",
        lambda: Connection.from_json(json.dumps({"password": CANARY, "pasword": CANARY})),
        InvalidConnection,
        ("unknown connection field", "'pasword'"),
    ),
    (
        "bad JSON",
        lambda: Connection.from_json('{"password": "' + CANARY + '", '),
        InvalidConnection,
        ("not valid JSON", "line 1"),
    ),
    (
        "JSON that is not an object",
        lambda: Connection.from_json(json.dumps([CANARY])),
        InvalidConnection,
        ("must be a JSON object", "list"),
    ),
    (
        "JSON port not numeric",
        lambda: Connection.from_json(json.dumps({"password": CANARY, "port": "http"})),
        InvalidConnection,
        ("port", "not an integer"),
    ),
    (
        "JSON port a bool",
        lambda: Connection.from_json(json.dumps({"password": CANARY, "port": True})),
        InvalidConnection,
        ("port", "bool"),
    ),
    (
        "extra JSON text truncated",
        lambda: Connection(password=CANARY, extra='{"token": "' + CANARY + '"'),
        InvalidConnection,
        ("extra", "non-JSON"),
    ),
    (
        "extra JSON text with NaN",
        lambda: Connection(extra='{"token": "' + CANARY + '", "x": NaN}'),
        InvalidConnection,
        ("extra", "non-JSON"),
    ),
    (
        "extra is a list",
        lambda: Connection(password=CANARY, extra=[CANARY]),  # type: ignore[arg-type]
        InvalidConnection,
        ("extra must be a JSON object", "list"),
    ),
    (
        "extra holds a non-JSON value",
        lambda: Connection(password=CANARY, extra={"token": CANARY, "when": object()}),
        InvalidConnection,
        ("extra", "not JSON"),
    ),
    (
        "port is a str",
        lambda: Connection(password=CANARY, port="5432"),  # type: ignore[arg-type]
        InvalidConnection,
        ("port must be an int", "str"),
    ),
    (
        "port is negative",
        lambda: Connection(password=CANARY, port=-1),
        InvalidConnection,
        ("port -1 is outside 0-65535",),
    ),
    (
        "host is not a str",
        lambda: Connection(password=CANARY, host=5),  # type: ignore[arg-type]
        InvalidConnection,
        ("host must be a str", "int"),
    ),
    (
        "password is not a str",
        lambda: Connection(password=12345678),  # type: ignore[arg-type]
        InvalidConnection,
        ("password must be a str", "int"),
    ),
    (
        "password with a lone surrogate",
        lambda: Connection(password=CANARY + "\ud800"),
        InvalidConnection,
        ("password", "lone surrogate"),
    ),
    (
        "conn_type is not a scheme",
        lambda: Connection(conn_type="my type", password=CANARY),
        InvalidConnection,
        ("conn_type 'my type' is not a valid type",),
    ),
    (
        "uri mixed with fields",
        lambda: Connection(uri=f"x://u:{CANARY}@h", password=CANARY),
        InvalidConnection,
        ("You must create an object using the URI or individual values",),
    ),
    (
        "from_text with a non-str",
        lambda: Connection.from_text(None),  # type: ignore[arg-type]
        InvalidConnection,
        ("must be a str", "NoneType"),
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "phrases"),
    [case[1:] for case in BAD_INPUT],
    ids=[case[0] for case in BAD_INPUT],
)
def test_bad_input_raises_a_clear_error_without_the_secret(
    call: Callable[[], object], error: type[Exception], phrases: tuple[str, ...]
) -> None:
    """Bad input raises the documented ValueError subclass; the message says what is wrong and the
    canary password appears nowhere in the exception (str, repr, .uri, formatted traceback)."""
    with pytest.raises(error) as info:
        call()
    exc = info.value
    assert isinstance(exc, ValueError)
    assert type(exc) is error
    message = str(exc)
    for phrase in phrases:
        assert phrase in message
    assert_no_canary(message)
    assert_no_canary(repr(exc))
    assert_no_canary("".join(traceback.format_exception(exc)))
    if isinstance(exc, InvalidConnectionURI):
        assert_no_canary(exc.uri)
        assert exc.uri in message or not exc.uri


def test_uri_error_quotes_the_redacted_uri_and_conn_id() -> None:
    """The message quotes the URI with the password as *** and names the conn_id."""
    with pytest.raises(InvalidConnectionURI) as info:
        Connection.from_uri(f"postgres://alice:{CANARY}@db:99999/app?token=t0ken-value", "wh")
    assert info.value.uri == "postgres://alice:***@db:99999/app?***"
    assert info.value.conn_id == "wh"
    assert "for conn_id 'wh'" in str(info.value)
    assert "t0ken-value" not in str(info.value)


# -- canary: the password never shows ---------------------------------------------------------------


def test_canary_absent_from_every_rendering() -> None:
    """repr, str, f-strings, redacted dict/JSON/URI never show the password or sensitive extras."""
    conn = secret_conn()
    renderings = [
        repr(conn),
        str(conn),
        f"{conn}",
        f"{conn!r}",
        json.dumps(conn.to_dict(redact=True)),
        conn.to_json(redact=True),
        conn.get_redacted_uri(),
        repr([conn, {"c": conn}]),
    ]
    for text in renderings:
        assert_no_canary(text)
    assert conn.to_dict(redact=True)["password"] == "***"
    assert conn.to_dict(redact=True)["extra"]["nested"]["auth"]["access_token"] == "***"
    assert conn.to_dict(redact=True)["extra"]["sslmode"] == "require"
    assert repr(conn).startswith("Connection('warehouse', postgres://alice:***@db.example.com:5432")


@pytest.mark.parametrize(
    "extra",
    [
        {"token": CANARY},
        {"api_key": CANARY},
        {"private_key": CANARY},
        {"credentials": [CANARY]},
        {"auth": {"client_secret": CANARY}},
        {"Authorization": CANARY},
        {"apiKey": CANARY},
        {"keyfile_dict": {"type": "service_account", "private_key": CANARY}},
    ],
    ids=lambda extra: next(iter(extra)),
)
def test_canary_in_a_sensitive_extra_alone(extra: dict[str, Any], log_stream: io.StringIO) -> None:
    """Without any password, a secret under a sensitive extra key is hidden everywhere."""
    conn = Connection(conn_id="api", conn_type="http", host="api.example.com", extra=extra)
    for text in (
        repr(conn),
        str(conn),
        f"{conn}",
        conn.get_redacted_uri(),
        conn.to_json(redact=True),
        json.dumps(conn.to_dict(redact=True)),
    ):
        assert_no_canary(text)
    log = logging.getLogger("hookline.test.canary")
    log.info("extras %s uri %s", conn.extra_dejson, conn.get_uri())
    log.info("json %s", conn.to_json())
    assert_no_canary(log_stream.getvalue())
    assert CANARY in conn.get_uri().replace("%21", "!")


def test_explicit_accessors_still_give_the_secret() -> None:
    """get_uri(), .password and extras are the ways out; they are lossless."""
    conn = secret_conn()
    assert conn.password == CANARY
    assert conn.get_password() == CANARY
    assert CANARY.replace("!", "%21") in conn.get_uri()
    assert conn.extra["token"] == CANARY
    assert json.loads(conn.to_json())["password"] == CANARY


def test_short_secrets_are_hidden_in_structured_output() -> None:
    """A 3-character password or token is still *** in repr and redacted dicts."""
    conn = Connection(conn_type="x", login="bob", password="pw1", extra={"token": "t0k"})
    assert ":***@" in repr(conn)
    assert "pw1" not in repr(conn)
    assert "t0k" not in repr(conn)
    assert conn.to_dict(redact=True)["extra"] == {"token": "***"}


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """A handler on the root logger, with masking installed after it was added."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    masking.install()
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_canary_absent_from_logs(log_stream: io.StringIO) -> None:
    """With masking installed, logging the connection, its password, URI, dict, JSON or extras
    never writes the secret (building the connection registered it)."""
    conn = secret_conn()
    log = logging.getLogger("hookline.test.canary")
    log.info("conn %s", conn)
    log.info("password %s", conn.password)
    log.info("uri %s", conn.get_uri())
    log.info("dict %s", conn.to_dict())
    log.info("json %s", conn.to_json())
    log.info("extras %s", conn.extra_dejson)
    log.info("mapping %(password)s", {"password": CANARY})
    log.info(f"f-string {conn.password} {conn.get_uri()}")
    log.info("extra field", extra={"api_token": CANARY})
    output = log_stream.getvalue()
    assert output.count("\n") == 9
    assert_no_canary(output)
    assert "***" in output


def test_canary_absent_from_logged_tracebacks(log_stream: io.StringIO) -> None:
    """log.exception with an exception (and its cause) that carries the secret is masked."""
    conn = secret_conn()
    log = logging.getLogger("hookline.test.canary")
    try:
        try:
            raise KeyError(conn.password)
        except KeyError as inner:
            raise RuntimeError(f"cannot connect to {conn.get_uri()}") from inner
    except RuntimeError:
        log.exception("connect failed for %s", conn.get_uri())
    output = log_stream.getvalue()
    assert "Traceback" in output
    assert "RuntimeError: cannot connect to postgres://alice:***@db.example.com" in output
    assert_no_canary(output)


def test_canary_absent_from_logs_when_connection_came_from_a_uri(log_stream: io.StringIO) -> None:
    """A connection parsed from a URI registers its password (plain and quoted forms)."""
    conn = Connection.from_uri("postgres://alice:c4n4ry-S3cret%21@db/app", conn_id="wh")
    logging.getLogger("hookline.test").warning("raw %s and %s", conn.password, conn.get_uri())
    assert_no_canary(log_stream.getvalue())


# -- hooks --------------------------------------------------------------------------------------------


class _FakeHook(BaseHook[None]):
    """A hook stand-in that records how it was built and answers test_connection."""

    def __init__(self, conn: Connection, **params: Any) -> None:
        super().__init__(conn)
        self.conn = conn
        self.params = params
        self.closed = False

    def get_conn(self) -> None:
        return None

    def test_connection(self) -> tuple[bool, str]:
        if self.params.get("fail"):
            raise RuntimeError(f"login rejected for {self.conn.password}")
        return True, "Connection successfully tested"

    def close(self) -> None:
        self.closed = True


class _NotAHook:
    def __init__(self, conn: Connection, **params: Any) -> None:
        self.conn = conn


def test_get_hook_passes_the_connection_and_params() -> None:
    """get_hook builds the registered class with the connection and Airflow's hook_params."""
    from hookline.registry import register_hook

    register_hook("fakehookconn", _FakeHook)
    conn = Connection(conn_id="c", conn_type="fakehookconn")
    hook = conn.get_hook(hook_params={"param1": "value1"}, other=2)
    assert isinstance(hook, _FakeHook)
    assert hook.conn is conn
    assert hook.params == {"param1": "value1", "other": 2}


def test_test_connection_reports_without_raising() -> None:
    """test_connection returns (bool, message) and never raises; errors are masked."""
    from hookline.registry import register_hook

    register_hook("fakehookconn", _FakeHook)
    assert Connection(conn_type="fakehookconn").test_connection() == (
        True,
        "Connection successfully tested",
    )
    assert Connection(conn_type="unknownhookconn").test_connection() == (
        False,
        'Unknown hook type "unknownhookconn"',
    )


def test_register_hook_refuses_a_class_that_is_not_a_hook() -> None:
    """The registry is typed: only BaseHook subclasses can be registered (a loud error, not a
    failure at first use)."""
    from hookline.registry import register_hook

    with pytest.raises(ConfigurationError, match="is not a BaseHook subclass"):
        register_hook("nothookconn", _NotAHook)  # type: ignore[arg-type]


def test_test_connection_masks_the_error() -> None:
    """A failing hook's error text comes back with the password masked."""
    from hookline.registry import register_hook

    class FailingHook(_FakeHook):
        def __init__(self, conn: Connection, **params: Any) -> None:
            super().__init__(conn, fail=True)

    register_hook("failinghookconn", FailingHook)
    ok, message = Connection(conn_type="failinghookconn", password=CANARY).test_connection()
    assert not ok
    assert message == "RuntimeError: login rejected for ***"


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("postgres://alice:pw@db:99999/app?token=x", "postgres://alice:***@db:99999/app?***"),
        ("x://u:p@[::1]:5/db", "x://u:***@[::1]:5/db"),
        ("x://u:p@h?token=1", "x://u:***@h?***"),
        ("postgres://alice:pw@db:5432/my db", "postgres://alice:***@db:5432/***"),
        ("x://u:pa/ss@h:1/db", "x://u:***@***"),
        ("x://u:pa@ss@h:1/db", "x://u:***@***"),
        ("x://h:abc", "x://h:***"),
        ("x://user:secret-value/x", "x://user:***"),
        ("type://user:pass@protocol://host:port?p=v", "type://user:***@protocol://***"),
        ("spark://k8s://u:p@h:99999", "spark://k8s://u:***@h:99999"),
        ("//u:p@h:1x", "//u:***@***"),
    ],
)
def test_redacted_uri_in_errors(uri: str, shown: str) -> None:
    """The URI quoted by errors hides the password, the query, and any part after a suspicious '@'."""
    from hookline._uri import redact_uri

    assert redact_uri(uri) == shown


@pytest.mark.parametrize(
    "host", [f"https://alice:{CANARY}@api.example", "https://alice:Pw5@api.example"]
)
def test_credentials_in_a_url_host_are_redacted(host: str) -> None:
    """An HTTP connection whose host is a URL with credentials (``https://user:token@api``, as
    HttpHook accepts) hides that password in repr, the redacted URI and ``to_dict(redact=True)``,
    in its URL-quoted form too, whatever its length; long ones are registered for masking."""
    conn = Connection(conn_id="api", conn_type="http", host=host)
    password = host.split(":")[2].split("@", maxsplit=1)[0]
    texts = [repr(conn), str(conn), conn.get_redacted_uri(), json.dumps(conn.to_dict(redact=True))]
    for text in texts:
        assert password not in text
        assert quote(password, safe="") not in text
    assert "alice" in repr(conn)
    assert conn.host == host  # the field itself is unchanged
    if len(password) >= masking.MIN_MASKED_LENGTH:
        assert masking.redact(f"GET {conn.get_uri()}") == f"GET {masking.redact(conn.get_uri())}"
        assert password not in masking.redact(f"GET {conn.get_uri()}")
