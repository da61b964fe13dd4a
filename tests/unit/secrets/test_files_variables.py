"""Variables files (``variables_file_path``): Airflow's ``.env``, JSON and YAML shapes, errors, reloads,
and the ``airflow variables import/export`` JSON."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

import hookline
from hookline import ConfigurationError
from hookline.exceptions import InvalidVariable, VariablesFileError
from hookline.resolve import SecretsChain
from hookline.secrets.files import LocalFilesBackend
from hookline.secrets.variables_file import (
    parse_variables_import,
    parse_variables_text,
    render_variables_json,
)

CANARY = "c4n4ry-V4lue!"


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("KEY_A=AAA", {"KEY_A": "AAA"}),
        ("KEY_A=AAA\nKEY_B=BBB", {"KEY_A": "AAA", "KEY_B": "BBB"}),
        ("KEY_A=AAA\n # AAAA\nKEY_B=BBB", {"KEY_A": "AAA", "KEY_B": "BBB"}),
        ("\n\n\n\nKEY_A=AAA\n\n\n\n\nKEY_B=BBB\n\n\n", {"KEY_A": "AAA", "KEY_B": "BBB"}),
        ('KEY_DICT=\'{"k1": "v1"}\'', {"KEY_DICT": '\'{"k1": "v1"}\''}),  # quotes kept
        ("URL=a=b=c", {"URL": "a=b=c"}),
    ],
)
def test_env_files_as_airflow_reads_them(text: str, expected: dict[str, str]) -> None:
    assert parse_variables_text(text, "env") == expected


def test_json_values_that_are_not_text_are_stored_as_json_text() -> None:
    text = json.dumps(
        {"s": "plain", "n": 3, "f": 1.5, "b": True, "obj": {"a": [1, 2]}, "one": ["x"], "nil": None}
    )
    assert parse_variables_text(text, "json") == {
        "s": "plain",
        "n": "3",
        "f": "1.5",
        "b": "true",
        "obj": '{"a": [1, 2]}',
        "one": "x",
    }


def test_yaml_shapes() -> None:
    text = textwrap.dedent(
        """
        KEY_A: AAA
        KEY_B:
          - BBB
        KEY_C:
          nested: value
        KEY_D: 12
        """
    )
    assert parse_variables_text(text, "yaml") == {
        "KEY_A": "AAA",
        "KEY_B": "BBB",
        "KEY_C": '{"nested": "value"}',
        "KEY_D": "12",
    }


def test_every_error_is_reported_with_its_line_and_no_value() -> None:
    text = f"good=1\nno_equal_sign\ndup={CANARY}\ndup={CANARY}\n=value\nempty=\n"
    with pytest.raises(VariablesFileError) as info:
        parse_variables_text(text, "env", "vars.env")
    error = info.value
    assert isinstance(error, InvalidVariable)
    assert [line for line, _ in error.errors] == [2, 4, 5, 6]
    message = str(error)
    assert "Failed to load the variables file vars.env: 4 errors" in message
    assert "Found multiple values for dup in vars.env. (first defined on line 3)" in message
    assert CANARY not in message


def test_a_list_of_several_values_is_an_error_as_in_airflow() -> None:
    with pytest.raises(VariablesFileError, match="exactly one value"):
        parse_variables_text('{"k": ["a", "b"]}', "json")


def test_json_errors_never_quote_the_file() -> None:
    with pytest.raises(VariablesFileError) as info:
        parse_variables_text(f'{{"k": "{CANARY}",, }}', "json", "v.json")
    assert CANARY not in str(info.value)
    assert info.value.errors[0][0] == 1


def test_an_unsafe_key_in_a_file_is_an_error() -> None:
    with pytest.raises(VariablesFileError, match="path segment"):
        parse_variables_text("a/../b=1", "env")


def test_backend_reads_the_file_and_rereads_it_when_it_changes(tmp_path: Path) -> None:
    path = write(tmp_path / "vars.yaml", "region: eu\n")
    backend = LocalFilesBackend(variables_file_path=path)
    assert backend.get_variable("region") == "eu"
    assert backend.get_variable("other") is None
    assert backend.get_connection("region") is None  # no connections file: holds no connection
    assert backend.variable_lookup_keys("region") == [f"{path}#region"]
    write(path, "region: us\nother: '2'\n")
    os.utime(path, ns=(1, 1))
    assert backend.get_variable("region") == "us"
    assert list(backend.list_variables()) == [("region", "us"), ("other", "2")]


def test_connections_and_variables_files_side_by_side(tmp_path: Path) -> None:
    conns = write(tmp_path / "conns.json", '{"wh": "postgres://h"}')
    variables = write(tmp_path / "vars.env", "wh=not-a-connection\n")
    backend = LocalFilesBackend(conns, variables_file_path=variables)
    conn = backend.get_connection("wh")
    assert conn is not None
    assert conn.host == "h"
    assert backend.get_variable("wh") == "not-a-connection"
    assert "variables_file_path" in repr(backend)


def test_a_broken_or_missing_file_stops_the_chain_as_invalid(tmp_path: Path) -> None:
    path = write(tmp_path / "vars.json", '{"a": ')
    backend = LocalFilesBackend(variables_file_path=path)
    with pytest.raises(VariablesFileError) as info:
        SecretsChain([backend]).get_variable("a")
    assert info.value.trace is not None
    assert info.value.trace.steps[0].outcome == "invalid"
    missing = LocalFilesBackend(variables_file_path=tmp_path / "nope.env")
    with pytest.raises(VariablesFileError, match="does not exist"):
        missing.get_variable("a")


def test_the_backend_needs_a_path_and_a_known_extension(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="needs connections_file_path"):
        LocalFilesBackend()
    with pytest.raises(ConfigurationError, match="Unsupported file format"):
        LocalFilesBackend(variables_file_path=tmp_path / "vars.txt")


def test_configured_through_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "vars.json", '{"threshold": 10}')
    config = tmp_path / "hookline.toml"
    config.write_text(
        '[secrets]\nbackends = ["files"]\n'
        f'[secrets.backend.files]\nvariables_file_path = "{path}"\n'
    )
    monkeypatch.setenv("HOOKLINE_CONFIG", str(config))
    assert hookline.get_variable("threshold", deserialize_json=True) == 10


def test_airflow_export_and_import_json() -> None:
    text = render_variables_json({"b": '{"x": 1}', "a": "plain", "n": "3"})
    assert json.loads(text) == {"a": "plain", "b": {"x": 1}, "n": 3}
    assert text.index('"a"') < text.index('"b"')
    assert parse_variables_import(text) == (
        {"a": "plain", "b": '{\n  "x": 1\n}', "n": "3"},
        [],
    )
    described = '{"k": {"value": "v", "description": "what k is"}, "j": {"value": [1]}}'
    assert parse_variables_import(described) == ({"k": "v", "j": "[\n  1\n]"}, ["k"])
    assert parse_variables_import("A=1\nB={}\n", "env") == ({"A": "1", "B": "{}"}, [])


def test_import_refuses_what_is_not_an_object() -> None:
    with pytest.raises(VariablesFileError, match="should contain the object"):
        parse_variables_import("[1, 2]")
    with pytest.raises(VariablesFileError, match="1 error"):
        parse_variables_import("{")
