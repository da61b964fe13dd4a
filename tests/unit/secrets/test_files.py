"""Tests for the local connections-file backend: every Airflow shape, every error, reloads, export."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from hookline import ConfigurationError, Connection, InvalidConnection
from hookline.secrets.files import (
    ConnectionsFileError,
    FileFormat,
    LocalFilesBackend,
    format_for_path,
    parse_connections_text,
    render_connections,
)

CANARY = "c4n4ry-S3cret!"
CANARY_Q = "c4n4ry-S3cret%21"

EXPECTED_B = Connection(
    conn_id="CONN_B",
    conn_type="scheme",
    host="host",
    schema="schema",
    login="Login",
    password="None",
    port=1234,
)


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def errors_of(text: str, fmt: str) -> list[tuple[int | None, str]]:
    with pytest.raises(ConnectionsFileError) as info:
        parse_connections_text(textwrap.dedent(text).lstrip("\n"), fmt, "src")  # type: ignore[arg-type]
    assert CANARY not in str(info.value)
    assert CANARY_Q not in str(info.value)
    return info.value.errors


# -- shapes -------------------------------------------------------------------------------------


def test_json_shapes_from_airflow_docs(tmp_path: Path) -> None:
    """JSON: a URI string, a dict of fields (string port), extra as text and a one-element list."""
    path = write(
        tmp_path / "conns.json",
        """
        {
          "CONN_A": "mysql://host_a",
          "CONN_B": {"conn_type": "scheme", "host": "host", "schema": "schema",
                     "login": "Login", "password": "None", "port": "1234"},
          "CONN_C": {"conn_type": "aws", "extra": "{\\"region\\": \\"eu\\"}"},
          "CONN_D": ["postgres://u:pw@db:5432/app"],
          "CONN_E": [{"conn_type": "http", "extra_dejson": {"timeout": 5}}]
        }
        """,
    )
    backend = LocalFilesBackend(path)
    a = backend.get_connection("CONN_A")
    assert a == Connection.from_uri("mysql://host_a", conn_id="CONN_A")
    assert backend.get_connection("CONN_B") == EXPECTED_B
    c = backend.get_connection("CONN_C")
    assert c is not None
    assert c.extra_dejson == {"region": "eu"}
    d = backend.get_connection("CONN_D")
    assert d is not None
    assert (d.host, d.password, d.port) == ("db", "pw", 5432)
    e = backend.get_connection("CONN_E")
    assert e is not None
    assert e.extra_dejson == {"timeout": 5}
    assert backend.get_connection("missing") is None
    assert backend.get_conn_value("missing") is None
    assert [c.conn_id for c in backend.list_connections()] == [
        "CONN_A", "CONN_B", "CONN_C", "CONN_D", "CONN_E",
    ]  # fmt: skip


def test_yaml_shapes_with_extra_dejson_uri_and_description(tmp_path: Path) -> None:
    """YAML: fields with extra_dejson (Airflow's docs), uri plus description, anchors, numbers."""
    path = write(
        tmp_path / "conns.yml",
        """
        conn_a: mysql://host_a
        conn_c:
          conn_type: scheme
          host: host
          schema: lschema
          login: Login
          password: None
          port: 1234
          extra_dejson:
            aws_conn_id: bbb
            region_name: ccc
        conn_u:
          uri: postgres://u:pw@db:5432/app
          description: from a URI
        base: &base
          conn_type: http
          host: example.com
        derived:
          <<: *base
          password: 123456
        """,
    )
    backend = LocalFilesBackend(path)
    c = backend.get_connection("conn_c")
    assert c is not None
    assert c.extra_dejson == {"aws_conn_id": "bbb", "region_name": "ccc"}
    assert c.port == 1234
    u = backend.get_connection("conn_u")
    assert u is not None
    assert (u.description, u.host, u.schema) == ("from a URI", "db", "app")
    derived = backend.get_connection("derived")
    assert derived is not None
    assert (derived.conn_type, derived.host, derived.password) == ("http", "example.com", "123456")


def test_env_file_shapes(tmp_path: Path) -> None:
    """.env: KEY=URI split on the first '=', comments and blank lines skipped, JSON values allowed."""
    path = write(
        tmp_path / "conns.env",
        """
        # a comment
        MY_CONN=my-conn-type://my-login:my-pa%2Fssword@my-host:5432/my-schema?param1=val1&param2=val2

          # indented comment
        JSON_CONN={"conn_type": "http", "host": "h", "description": "d"}
        """,
    )
    backend = LocalFilesBackend(path)
    conn = backend.get_connection("MY_CONN")
    assert conn is not None
    assert conn.conn_type == "my_conn_type"
    assert conn.password == "my-pa/ssword"
    assert conn.extra_dejson == {"param1": "val1", "param2": "val2"}
    json_conn = backend.get_connection("JSON_CONN")
    assert json_conn is not None
    assert json_conn.description == "d"


def test_get_conn_value_is_json_text_that_reads_back(tmp_path: Path) -> None:
    """get_conn_value returns the connection's JSON form, description and password included."""
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps({"x": {"conn_type": "http", "description": "d", "password": CANARY}})
    )
    backend = LocalFilesBackend(path)
    value = backend.get_conn_value("x")
    assert value is not None
    assert Connection.from_text(value, conn_id="x") == backend.get_connection("x")
    assert backend.get_conn_value("x") is value  # cached until the file changes


def test_lookup_keys_and_repr(tmp_path: Path) -> None:
    """Lookup keys name the file and the id; repr shows the path only."""
    backend = LocalFilesBackend(tmp_path / "c.yaml")
    assert backend.lookup_keys("a") == [f"{tmp_path / 'c.yaml'}#a"]
    assert repr(backend) == f"LocalFilesBackend({str(tmp_path / 'c.yaml')!r})"
    assert backend.name == "files"
    assert not backend.writable


# -- reloads ---------------------------------------------------------------------------------


def test_file_is_reread_only_when_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lookups reuse the parsed file until its mtime or size changes."""
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"a": "http://one"}))
    backend = LocalFilesBackend(path)
    calls: list[str] = []
    import hookline.secrets.files as files_module

    real_parse = files_module.parse_connections_text

    def counting(*args: object, **kwargs: object) -> dict[str, Connection]:
        calls.append("parse")
        return real_parse(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(files_module, "parse_connections_text", counting)
    for _ in range(5):
        assert backend.get_connection("a") is not None
    assert calls == ["parse"]
    path.write_text(json.dumps({"a": "http://two", "b": "http://three"}))  # size changes
    conn = backend.get_connection("a")
    assert conn is not None
    assert conn.host == "two"
    assert calls == ["parse", "parse"]
    path.write_text(json.dumps({"a": "http://six", "b": "http://seven"}))  # same size
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    conn = backend.get_connection("a")
    assert conn is not None
    assert conn.host == "six"
    assert len(calls) == 3


def test_broken_file_raises_until_fixed(tmp_path: Path) -> None:
    """A file that turns invalid raises on every lookup; fixing it restores lookups."""
    path = tmp_path / "c.env"
    path.write_text("a=http://ok\n")
    backend = LocalFilesBackend(path)
    assert backend.get_connection("a") is not None
    path.write_text("a=http://ok\nbroken line\n")
    for _ in range(2):
        with pytest.raises(ConnectionsFileError) as info:
            backend.get_connection("a")
        assert info.value.errors == [
            (2, 'Invalid line format. The line should contain at least one equal sign ("=").')
        ]
    path.write_text("a=http://fixed\n")
    conn = backend.get_connection("a")
    assert conn is not None
    assert conn.host == "fixed"


def test_missing_file_is_an_error_naming_the_path(tmp_path: Path) -> None:
    """A configured file that does not exist is reported, with its path."""
    backend = LocalFilesBackend(tmp_path / "nope.json")
    with pytest.raises(ConnectionsFileError, match="does not exist") as info:
        backend.get_conn_value("a")
    assert info.value.path == str(tmp_path / "nope.json")
    assert isinstance(info.value, InvalidConnection)


def test_directory_instead_of_file_is_an_error(tmp_path: Path) -> None:
    """A path that cannot be read as a file gives ConnectionsFileError."""
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(ConnectionsFileError, match="cannot be read"):
        LocalFilesBackend(tmp_path / "dir.json").get_connection("a")


def test_non_utf8_file_is_an_error_with_its_line(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are reported with their line."""
    path = tmp_path / "c.env"
    path.write_bytes(b"a=http://ok\nb=http://\xff\n")
    with pytest.raises(ConnectionsFileError) as info:
        LocalFilesBackend(path).get_connection("a")
    assert info.value.errors == [(2, "The file is not valid UTF-8.")]


@pytest.mark.parametrize("name", ["conns.txt", "conns", "conns.toml"])
def test_unsupported_extension_is_configuration_error(tmp_path: Path, name: str) -> None:
    """Only .env, .json, .yaml and .yml are accepted, as in Airflow."""
    with pytest.raises(ConfigurationError, match=r"\.env \.json \.yaml \.yml"):
        LocalFilesBackend(tmp_path / name)


def test_format_for_path_is_case_insensitive() -> None:
    """Extensions map to formats regardless of case."""
    assert [format_for_path(p) for p in ("a.JSON", "b.Yml", "c.yaml", "d.env")] == [
        "json", "yaml", "yaml", "env",
    ]  # fmt: skip


# -- error messages ------------------------------------------------------------------------------


def test_env_errors_have_airflow_messages_and_line_numbers() -> None:
    """Every bad .env line is reported with Airflow's message and its line number."""
    errors = errors_of(
        f"""
        GOOD=http://h
        no equal sign
        =http://empty-key
        EMPTY_VALUE=
        GOOD=http://again
        BAD URI=http://u:{CANARY}@h
        BROKEN=mysql://u:{CANARY_Q}@h:notaport/db
        """,
        "env",
    )
    assert errors[:4] == [
        (2, 'Invalid line format. The line should contain at least one equal sign ("=").'),
        (3, "Invalid line format. Key is empty."),
        (4, "Invalid line format. Value is empty."),
        (5, "Found multiple values for GOOD in src. (first defined on line 1)"),
    ]
    assert [line for line, _ in errors[4:]] == [6, 7]
    assert "forbidden characters" in errors[4][1]
    assert errors[5][1].startswith("connection 'BROKEN':")


def test_json_syntax_error_has_line_number() -> None:
    """A JSON syntax error reports json's message and line, as Airflow does."""
    assert errors_of('{\n  "a": "http://h",\n  "b": \n}\n', "json") == [(4, "Expecting value")]


@pytest.mark.parametrize("fmt", ["json", "yaml"])
@pytest.mark.parametrize("text", ["", "   \n"])
def test_empty_file_is_reported(fmt: str, text: str) -> None:
    """An empty JSON or YAML file gives Airflow's 'The file is empty.'."""
    assert errors_of(text, fmt) == [(1, "The file is empty.")]


@pytest.mark.parametrize(
    ("text", "fmt"),
    [("[1, 2]", "json"), ('"text"', "json"), ("- a\n- b\n", "yaml"), ("just text\n", "yaml")],
)
def test_non_object_file_is_reported(text: str, fmt: str) -> None:
    """A file whose top level is not an object gives 'The file should contain the object.'."""
    assert errors_of(text, fmt) == [(1, "The file should contain the object.")]


def test_json_entry_errors_each_with_its_line() -> None:
    """Every bad JSON entry is listed (not only the first), each at the line of its key."""
    errors = errors_of(
        f"""
        {{
          "ok": "http://h",
          "num": 5,
          "illegal": {{"conn_type": "http", "bogus": 1, "password": "{CANARY}"}},
          "both": {{"extra": "{{}}", "extra_dejson": {{}}}},
          "mismatch": {{"conn_id": "other", "conn_type": "http"}},
          "many": ["http://a", "http://b"],
          "badport": {{"conn_type": "http", "port": "http", "password": "{CANARY}"}},
          "ok": "http://dup",
          "mixed": {{"uri": "http://h", "host": "x"}},
          "team": {{"conn_type": "http", "team_name": "t1"}},
          "notdict": {{"extra": "[1]"}},
          "badid!@": "http://h"
        }}
        """,
        "json",
    )
    lines = [line for line, _ in errors]
    assert lines == [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    messages = [message for _, message in errors]
    assert messages[0] == (
        "connection 'num': Unexpected value type: <class 'int'>. The connection can only be "
        "defined using a string or object."
    )
    assert messages[1].startswith("connection 'illegal': The object have illegal keys: bogus.")
    assert messages[2] == (
        "connection 'both': The extra and extra_dejson parameters are mutually exclusive. "
        "Please provide only one parameter."
    )
    assert messages[3] == (
        "connection 'mismatch': Mismatch conn_id. The dictionary key has the value: other. "
        "The item has the value: mismatch."
    )
    assert messages[4] == "connection 'many': Found multiple values for many in src."
    assert "port" in messages[5]
    assert messages[6] == "Found multiple values for ok in src. (first defined on line 2)"
    assert "You can't mix these two ways" in messages[7]
    assert "team_name" in messages[8]
    assert "extra" in messages[9]
    assert "forbidden characters" in messages[10]


def test_yaml_syntax_error_has_one_based_line_and_no_snippet() -> None:
    """A YAML syntax error gives its 1-based line and column and never quotes the file."""
    errors = errors_of(f"ok: http://h\nbad: key: {CANARY}\n", "yaml")
    assert errors == [(2, "mapping values are not allowed here (column 9)")]


def test_yaml_unsafe_tag_is_refused() -> None:
    """Python tags are not constructed (safe loading); the error names the tag and line."""
    errors = errors_of("a: http://h\nb: !!python/object/apply:os.system ['true']\n", "yaml")
    assert errors[0][0] == 2
    assert "could not determine a constructor" in errors[0][1]


def test_yaml_entry_errors_and_duplicate_keys() -> None:
    """Bad YAML entries and duplicate keys are each reported at their key's line."""
    errors = errors_of(
        f"""
        a: http://h
        b:
          conn_type: http
          illegal: {CANARY}
        123: http://h
        a: http://again
        c: true
        """,
        "yaml",
    )
    assert [line for line, _ in errors] == [2, 5, 6, 7]
    assert "The object have illegal keys: illegal." in errors[0][1]
    assert errors[1][1] == "The key must be a string, not int: 123"
    assert errors[2][1].startswith("Found multiple values for a")
    assert "Unexpected value type: <class 'bool'>" in errors[3][1]


def test_error_str_lists_every_error_with_lines_and_path() -> None:
    """str() names the source and lists each error on its own line."""
    with pytest.raises(ConnectionsFileError) as info:
        parse_connections_text("x\n=y\n", "env", "my.env")
    text = str(info.value)
    assert text.splitlines()[0] == "Failed to load the connections file my.env: 2 errors"
    assert "line 1: Invalid line format." in text
    assert "line 2: Invalid line format. Key is empty." in text
    assert info.value.path == "my.env"


def test_empty_list_defines_nothing_like_airflow() -> None:
    """A key with an empty list creates no connection (Airflow's behaviour), without error."""
    assert parse_connections_text('{"a": [], "b": "http://h"}', "json") == {
        "b": Connection.from_uri("http://h", conn_id="b")
    }


def test_unknown_format_is_configuration_error() -> None:
    """parse and render accept only json, yaml and env."""
    with pytest.raises(ConfigurationError):
        parse_connections_text("{}", "toml")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        render_connections({}, "toml")  # type: ignore[arg-type]


def test_bom_is_ignored() -> None:
    """A UTF-8 byte-order mark at the start does not break parsing."""
    assert list(parse_connections_text('\ufeff{"a": "http://h"}', "json")) == ["a"]


# -- export shapes and round trips ------------------------------------------------------------------


def sample() -> dict[str, Connection]:
    return {
        "wh": Connection(
            conn_id="wh", conn_type="postgres", description="warehouse", host="db",
            login="alice", password=CANARY, schema="app", port=5432,
            extra={"sslmode": "require", "nested": {"k": [1, 2]}},
        ),
        "api": Connection(conn_id="api", conn_type="http", host="example.com", password="p:w/d@x"),
        "bare": Connection(conn_id="bare", conn_type="aws", host="h", schema="s"),
    }  # fmt: skip


def test_json_export_matches_airflow_shape() -> None:
    """JSON export: sorted ids, Airflow's fields, extra as JSON text, password in clear."""
    data = json.loads(render_connections(sample(), "json"))
    assert list(data) == ["api", "bare", "wh"]
    assert list(data["wh"]) == [
        "conn_type", "description", "login", "password", "host", "port", "schema", "extra",
    ]  # fmt: skip
    assert data["wh"]["password"] == CANARY
    assert json.loads(data["wh"]["extra"]) == {"sslmode": "require", "nested": {"k": [1, 2]}}
    assert data["bare"]["extra"] is None


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_json_and_yaml_export_round_trip_exactly(fmt: str) -> None:
    """Exported JSON and YAML parse back to equal connections."""
    conns = sample()
    text = render_connections(conns, fmt)  # type: ignore[arg-type]
    assert parse_connections_text(text, fmt) == conns  # type: ignore[arg-type]


def test_env_export_round_trips_through_uris() -> None:
    """env export writes conn_id=URI lines that parse back to the same URIs."""
    conns = sample()
    text = render_connections(conns, "env")
    assert text.splitlines()[0].startswith("api=http://")
    back = parse_connections_text(text, "env")
    assert {k: c.get_uri() for k, c in back.items()} == {k: c.get_uri() for k, c in conns.items()}


def test_env_export_with_json_serialization_keeps_description() -> None:
    """serialization='json' writes conn_id=JSON lines that round-trip exactly."""
    conns = sample()
    assert (
        parse_connections_text(render_connections(conns, "env", serialization="json"), "env")
        == conns
    )


def test_empty_export_round_trips() -> None:
    """No connections export to a file that parses back to none."""
    formats: tuple[FileFormat, ...] = ("json", "yaml", "env")
    for fmt in formats:
        assert parse_connections_text(render_connections({}, fmt), fmt) == {}
