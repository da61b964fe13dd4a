"""`connections export` and `import`: incomplete listings fail, files are written safely, `-o env` is
valid shell that `import` reads back, and JSON/YAML lists of connection objects import."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from hookline.connection import Connection
from hookline.secrets.metastore.keys import KEY_FILE_NAME, generate_key
from tests.unit.cli.support import (
    CANARY,
    Store,
    add_warehouse,
    assert_no_canary,
    assert_one_error_line,
    run,
)


def undecryptable_row(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """`warehouse` written under the home's key file, then a different key configured."""
    add_warehouse()
    assert (store.backend.home / KEY_FILE_NAME).exists()
    monkeypatch.setenv("HOOKLINE_FERNET_KEY", generate_key())


# -- incomplete listings (issue 12.2, 13.3) -------------------------------------------------------


def test_list_with_an_undecryptable_row_exits_1_naming_the_row(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row the configured key cannot decrypt: `list` prints nothing and exits 1, naming the
    backend, the row and why; --partial lists the rest with a warning and exits 0."""
    monkeypatch.setenv("HOOKLINE_CONN_ENVY", "http://env-host")
    undecryptable_row(store, monkeypatch)
    result = run("connections", "list", "-o", "json")
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    error, detail = result.stderr.splitlines()
    assert error.startswith("error: cannot list every connection: 1 problem(s); nothing printed")
    assert detail.startswith("  metastore: warehouse: ")
    assert "decrypt" in detail
    partial = run("connections", "list", "-o", "json", "--partial")
    assert partial.exit_code == 0, partial.output
    assert [row["conn_id"] for row in json.loads(partial.stdout)] == ["envy"]
    assert "warning: incomplete (1 problem(s), --partial): metastore: warehouse: " in partial.stderr
    assert_no_canary(result)
    assert_no_canary(partial)


def test_list_with_a_malformed_environment_variable_exits_1(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A malformed HOOKLINE_CONN_* variable is not silently dropped: exit 1 naming it."""
    add_warehouse()
    monkeypatch.setenv("HOOKLINE_CONN_BROKEN", '{"conn_type": ')
    result = run("connections", "list")
    assert result.exit_code == 1
    assert "env: broken: " in result.stderr
    assert result.stdout == ""


def test_export_with_an_undecryptable_row_writes_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The silent "Exported 0 connections" backup cannot happen: the export fails, no file is
    written (an older backup at that path is kept); --partial writes the rest with a warning."""
    undecryptable_row(store, monkeypatch)
    monkeypatch.setenv("HOOKLINE_CONN_ENVY", "http://env-host")
    target = tmp_path / "backup.json"
    target.write_text('{"previous": "http://backup"}')
    result = run("connections", "export", str(target), "--show-secrets")
    assert result.exit_code == 1, result.output
    assert "Exported" not in result.stdout
    assert "cannot export every connection: 1 problem(s); nothing exported" in result.stderr
    assert "metastore: warehouse: " in result.stderr
    assert json.loads(target.read_text()) == {"previous": "http://backup"}
    partial = run("connections", "export", str(target), "--partial", "--show-secrets")
    assert partial.exit_code == 0, partial.output
    assert "Exported 1 connection to" in partial.stdout
    assert "warning: incomplete" in partial.stderr
    assert list(json.loads(target.read_text())) == ["envy"]
    stdout_export = run("connections", "export", "-")
    assert stdout_export.exit_code == 1
    assert stdout_export.stdout == ""


def test_export_of_an_empty_store_says_so(store: Store, tmp_path: Path) -> None:
    """Nothing to export is exit 0, but said on stderr, never a silent empty backup."""
    result = run("connections", "export", str(tmp_path / "e.json"))
    assert result.exit_code == 0, result.output
    assert "Exported 0 connections" in result.stdout
    assert "note: there were no connections to export" in result.stderr


# -- writing the file (issue 12.9) ----------------------------------------------------------------


def test_export_refuses_a_symlink_and_leaves_its_target_alone(store: Store, tmp_path: Path) -> None:
    """`export FILE` where FILE is a symbolic link: refused (exit 1), the target is untouched."""
    add_warehouse()
    victim = tmp_path / "authorized_keys"
    victim.write_text("ssh-ed25519 AAAA keep-me\n")
    link = tmp_path / "conns.json"
    link.symlink_to(victim)
    line = assert_one_error_line(run("connections", "export", str(link), "--show-secrets"))
    assert "is a symbolic link; refusing to write through it" in line
    assert victim.read_text() == "ssh-ed25519 AAAA keep-me\n"
    assert link.is_symlink()
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "not-there")
    assert run("connections", "export", str(dangling)).exit_code == 1
    assert not (tmp_path / "not-there").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "authorized_keys",
        "conns.json",
        "dangling.json",
        "hookline-home",
    ]


def test_export_replaces_a_file_atomically_with_mode_0600(store: Store, tmp_path: Path) -> None:
    """An existing world-readable file is replaced by a new 0600 file (a new inode, so a reader
    holding the old one never sees a half-written file); no temporary file is left behind."""
    add_warehouse()
    target = tmp_path / "conns.json"
    target.write_text("old")
    target.chmod(0o644)
    inode = target.stat().st_ino
    result = run("connections", "export", str(target), "--show-secrets")
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.stat().st_ino != inode
    assert Connection.from_dict(
        json.loads(target.read_text())["warehouse"], conn_id="warehouse"
    ) == store.get("warehouse")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conns.json", "hookline-home"]


def test_export_refuses_a_directory_and_reports_a_missing_one(store: Store, tmp_path: Path) -> None:
    """Not a regular file, or a directory that does not exist: one error line, nothing written."""
    add_warehouse()
    (tmp_path / "d.json").mkdir()
    line = assert_one_error_line(run("connections", "export", str(tmp_path / "d.json")))
    assert "exists and is not a regular file" in line
    line = assert_one_error_line(run("connections", "export", str(tmp_path / "no" / "x.json")))
    assert "cannot write" in line


# -- -o env (issue 12.11) --------------------------------------------------------------------------


def source_in_bash(script: str, names: list[str], cwd: Path) -> dict[str, str]:
    """Source ``script`` in a real bash and return the values of ``names``."""
    printer = "; ".join(f'printf "%s\\0" "${name}"' for name in names)
    done = subprocess.run(
        [
            "bash",
            "-c",
            f"set -eu; . /dev/stdin <<'__HOOKLINE__'\n{script}\n__HOOKLINE__\n{printer}",
        ],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=True,
        timeout=30,
    )
    return dict(zip(names, done.stdout.split("\0")[: len(names)], strict=True))


def test_env_output_is_valid_shell_for_hostile_values(store: Store, tmp_path: Path) -> None:
    """Values holding quotes, `$(...)`, backticks and `;` are quoted: sourcing the output in bash
    runs nothing and sets each variable to exactly the URI."""
    hostile = Connection(
        conn_id="weird",
        conn_type="http",
        host="h",
        login="a'b",
        password="$(touch pwned);`touch pwned2`'\"",
        extra={"q": "x; touch pwned3"},
    )
    store.backend.set_connection(hostile)
    result = run("connections", "list", "-o", "env", "--show-secrets")
    assert result.exit_code == 0, result.output
    values = source_in_bash(result.stdout, ["HOOKLINE_CONN_WEIRD"], tmp_path)
    restored = Connection.from_uri(values["HOOKLINE_CONN_WEIRD"], conn_id="weird")
    assert restored.get_uri() == hostile.get_uri()
    assert (restored.login, restored.password) == (hostile.login, hostile.password)
    assert not any(tmp_path.glob("pwned*"))


@pytest.mark.parametrize("conn_id", ["a-b", "p(q)", "a.b", "db:main"])
def test_env_output_refuses_ids_that_are_not_variable_names(
    store: Store, conn_id: str, tmp_path: Path
) -> None:
    """An id that cannot be a shell variable name is an error naming it, with nothing printed (a
    line `HOOKLINE_CONN_A-B=...` would run as a command)."""
    store.backend.set_connection(Connection(conn_id=conn_id, conn_type="http", host="h"))
    store.backend.set_connection(Connection(conn_id="fine", conn_type="http", host="h"))
    for args in (["list", "-o", "env"], ["get", conn_id, "-o", "env"]):
        result = run("connections", *args)
        line = assert_one_error_line(result)
        assert f"the id(s) {conn_id!r} are not valid shell variable names" in line
        assert result.stdout == ""
    assert run("connections", "get", "fine", "-o", "env").stdout == (
        "HOOKLINE_CONN_FINE=http://h\n"
    )


def test_env_output_imports_back(store: Store, tmp_path: Path) -> None:
    """`list -o env --show-secrets > f.env` then `import f.env` restores every connection (ids
    come back lower-cased, as the env backend lists them)."""
    add_warehouse()
    run("connections", "add", "api", "--conn-type", "http", "--host", "h", "--password", CANARY)
    dump = run("connections", "list", "-o", "env", "--show-secrets").stdout
    saved = {conn_id: store.get(conn_id) for conn_id in ("api", "warehouse")}
    for conn_id in saved:
        run("connections", "delete", conn_id)
    env_file = tmp_path / "conns.env"
    env_file.write_text(
        "# from hookline\n" + dump.replace("HOOKLINE_CONN_API=", "export HOOKLINE_CONN_API=")
    )
    result = run("connections", "import", str(env_file))
    assert result.exit_code == 0, result.output
    assert "Imported 2 connections" in result.stdout
    for conn_id, conn in saved.items():
        assert store.get(conn_id).get_uri() == conn.get_uri()
    assert_no_canary(result)


def test_environment_form_errors_name_the_line_without_the_value(
    store: Store, tmp_path: Path
) -> None:
    """Bad quoting or two values on a line: every bad line listed, nothing imported, no secret."""
    env_file = tmp_path / "bad.env"
    env_file.write_text(
        f"HOOKLINE_CONN_A='postgres://u:{CANARY}@h\n"
        "HOOKLINE_CONN_B=http://h two\n"
        "HOOKLINE_CONN_C=http://fine\n"
    )
    result = run("connections", "import", str(env_file))
    assert result.exit_code == 1
    assert "2 invalid entries; nothing imported" in result.stderr
    assert "line 1: HOOKLINE_CONN_A: the value is not valid shell quoting" in result.stderr
    assert "line 2: HOOKLINE_CONN_B: expected one quoted value, found 2" in result.stderr
    assert store.ids() == []
    assert_no_canary(result)


# -- lists of connection objects (issue 13) --------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_import_a_list_of_connection_objects(store: Store, tmp_path: Path, fmt: str) -> None:
    """A JSON (or YAML) list of connection dicts, each with its conn_id, imports like the mapping."""
    import yaml

    entries = [
        {"conn_id": "db", "conn_type": "postgres", "host": "h", "password": CANARY, "port": 5432},
        {"conn_id": "api", "uri": "http://svc@api.example:8080"},
        {"conn_id": "s3", "conn_type": "aws", "extra_dejson": {"region_name": "eu-west-1"}},
    ]
    path = tmp_path / f"conns.{fmt}"
    path.write_text(json.dumps(entries) if fmt == "json" else yaml.safe_dump(entries))
    result = run("connections", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "Imported 3 connections" in result.stdout
    assert store.get("db").password == CANARY
    assert store.get("api").port == 8080
    assert store.get("s3").extra_dejson == {"region_name": "eu-west-1"}
    assert_no_canary(result)


def test_import_list_errors_are_all_listed(store: Store, tmp_path: Path) -> None:
    """Entries without a conn_id, repeated ids, non-objects and bad fields: all listed, nothing
    imported."""
    path = tmp_path / "conns.json"
    path.write_text(
        json.dumps(
            [
                {"conn_id": "ok", "conn_type": "http"},
                {"conn_type": "http"},
                {"conn_id": "ok", "conn_type": "http"},
                "http://x",
                {"conn_id": "bad", "conn_type": "http", "colour": "red"},
            ]
        )
    )
    result = run("connections", "import", str(path))
    assert result.exit_code == 1
    assert "4 invalid entries; nothing imported" in result.stderr
    assert "entry 2: has no conn_id" in result.stderr
    assert "entry 3: conn_id 'ok' repeats entry 1" in result.stderr
    assert "entry 4: expected a connection object, got str" in result.stderr
    assert "entry 5: connection 'bad': The object have illegal keys: colour." in result.stderr
    assert store.ids() == []
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    assert "The file is empty." in run("connections", "import", str(empty)).stderr


def test_file_format_flag_overrides_the_extension(store: Store, tmp_path: Path) -> None:
    """Airflow's --file-format (alias of --format) picks the format of a file without extension."""
    add_warehouse()
    target = tmp_path / "backup"
    result = run("connections", "export", str(target), "--file-format", "yaml", "--show-secrets")
    assert result.exit_code == 0, result.output
    assert target.read_text().startswith("warehouse:\n")
    run("connections", "delete", "warehouse")
    result = run("connections", "import", str(target), "--file-format", "yaml")
    assert result.exit_code == 0, result.output
    assert store.get("warehouse").password == CANARY
    assert os.path.exists(target)
