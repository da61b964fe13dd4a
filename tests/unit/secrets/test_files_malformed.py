"""A malformed connections file is ``invalid``, never ``unavailable`` (issue 12.4), and fuzzing the
parsers lets only typed errors escape.

Before the fix a control character in a YAML file raised ``yaml.reader.ReaderError``: the chain took
the files backend for down and served the same conn_id from the next backend.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hookline.secrets.files as files_module
from hookline.exceptions import ConnectionsFileError, InvalidConnection
from hookline.resolve import SecretsChain
from hookline.secrets.env import EnvBackend
from hookline.secrets.files import LocalFilesBackend, parse_connections_text

CANARY = "c4n4ry-S3cret!"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("ok: sqlite://\nbad: \x01x\n", 2, "special character #x0001 is not allowed in YAML (column 6)"),
        (f"a: 'postgres://u:{CANARY}@h'\nb: '\x00'", 2, "special character #x0000 is not allowed in YAML (column 5)"),
        ("a: \ud800", 1, "special character #xd800 is not allowed in YAML (column 4)"),
        ("a: \x7f", 1, "special character #x007f is not allowed in YAML (column 4)"),
    ],
)  # fmt: skip
def test_yaml_control_characters_are_a_file_error_with_the_line(
    text: str, line: int, message: str
) -> None:
    """A character YAML refuses is a ConnectionsFileError with its line and column, no content."""
    with pytest.raises(ConnectionsFileError) as info:
        parse_connections_text(text, "yaml", "conns.yaml")
    assert info.value.errors == [(line, message)]
    assert CANARY not in str(info.value)


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("[" * 100_000, "json"),
        ('{"a": ' + "[" * 100_000, "json"),
        ("a: " + "[" * 100_000, "yaml"),
        ("a: " + "{b: " * 50_000, "yaml"),
    ],
)
def test_nesting_too_deep_is_a_file_error(text: str, fmt: str) -> None:
    """Deeply nested values give a ConnectionsFileError, not a RecursionError."""
    with pytest.raises(ConnectionsFileError, match="nests values too deeply"):
        parse_connections_text(text, fmt)  # type: ignore[arg-type]


def test_malformed_yaml_stops_the_chain_instead_of_falling_through(tmp_path: Path) -> None:
    """The files backend is recorded as invalid and the lookup stops: the next backend holding the
    same id (with another value) is not asked."""
    path = tmp_path / "conns.yaml"
    path.write_text(f"warehouse: postgres://u:{CANARY}@files-db/wh\nother: \x01\n")
    files = LocalFilesBackend(path)
    env = EnvBackend(environ={"AIRFLOW_CONN_WAREHOUSE": "postgres://u:p@env-db/wh"})
    chain = SecretsChain([files, env])
    with pytest.raises(ConnectionsFileError) as info:
        chain.lookup("warehouse")
    assert info.value.trace is not None
    assert [step.outcome for step in info.value.trace.steps] == ["invalid"]
    assert info.value.errors == [(2, "special character #x0001 is not allowed in YAML (column 8)")]
    assert CANARY not in str(info.value)


def test_any_unexpected_parser_failure_is_a_file_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fail closed: whatever a parser raises, the backend reports the file as invalid."""
    path = tmp_path / "conns.json"
    path.write_text('{"a": "sqlite://"}')

    def broken(text: str) -> None:
        raise MemoryError

    monkeypatch.setitem(files_module._PARSERS, "json", broken)
    with pytest.raises(ConnectionsFileError, match=r"could not be read \(MemoryError\)"):
        LocalFilesBackend(path).get_connection("a")


# -- fuzzing: only typed errors escape ---------------------------------------------------------------

_FRAGMENTS = [
    '{"a": ', '"b"', "}", "[", "]", "a: ", "\n", "  ", "conn_type: ", "port: ", "extra: ",
    "host: ", "password: ", "uri: ", "http://u:p@h:1/s?x=1", "a=", "{", '"port": "x"',
    '"extra": {', "- ", "!!binary ", "!!set ", "!!omap ", "1e999", "-.inf", "null", "true",
    "0x10", "2024-01-01", "~", "|\n  x", "&x ", "*x", "<<: ", '"\\ud800"', "\\u0000",
    "extra_dejson: ", "description: ", "99999999999999999999", "-1", "conn_id: ", "__extra__",
    "\x00", "\x01", "\x7f", "\u2028", "\ud800", "\ufeff", "é", ":", "#", "'", '"', "\\", "%",
    "a/../b", "..", "//",
]  # fmt: skip
_TEXT = st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=4)), max_size=30).map(
    "".join
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_TEXT, fmt=st.sampled_from(["json", "yaml", "env"]))
def test_fuzzed_files_raise_only_typed_errors(text: str, fmt: str) -> None:
    """Random JSON, YAML and .env text parses or raises ConnectionsFileError/InvalidConnection."""
    parsed: dict[str, object] = {}
    with contextlib.suppress(ConnectionsFileError, InvalidConnection):
        parsed = dict(parse_connections_text(text, fmt))  # type: ignore[arg-type]
    assert all(isinstance(conn_id, str) for conn_id in parsed)


def test_a_uri_that_became_a_key_is_quoted_masked() -> None:
    """A line split inside a URI (``str.splitlines`` splits on U+2028, as Airflow's parser does)
    makes the URI's head a conn_id; the error quoting that id hides the password in it."""
    text = f"c0=http://x\u2028platform://user:{CANARY}@host/db?nested=v\n"
    with pytest.raises(ConnectionsFileError) as info:
        parse_connections_text(text, "env")
    assert CANARY not in str(info.value)
    assert "platform://user:***@host" in str(info.value)
