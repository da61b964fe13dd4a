"""The real ``hookline`` console script, run in subprocesses against the SQLite metastore.

End to end: add, get, list, trace, export, delete, import, key rotation, in a tmp HOOKLINE_HOME,
checking exit codes, stdout/stderr separation, that the canary password never reaches an output
channel unless asked for, and that it is not stored in clear in the database file. Then `config
check` against a real OpenBao and PostgreSQL, listings with a real backend down, shell completion,
`-o env` sourced by a real bash, and symlink refusal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CANARY = "c4n4ry-S3cret!"
CANARY_FORMS = (CANARY, "c4n4ry-S3cret%21")
URI = "postgres://alice:c4n4ry-S3cret%21@db.example:5432/app?sslmode=require"
SCRIPT = Path(sys.executable).parent / "hookline"


def hookline(
    *args: str, input: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed console script with the test's environment (its own HOOKLINE_HOME)."""
    return subprocess.run(
        [str(SCRIPT), *args],
        input=input,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=120,
        check=False,
    )


def no_canary(proc: subprocess.CompletedProcess[str]) -> bool:
    return not any(form in proc.stdout or form in proc.stderr for form in CANARY_FORMS)


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture
def home(isolated_hookline: Path) -> Path:
    """The test's HOOKLINE_HOME (set in os.environ by the autouse conftest fixture)."""
    assert os.environ["HOOKLINE_HOME"] == str(isolated_hookline)
    assert SCRIPT.exists(), f"console script missing: {SCRIPT}"
    return isolated_hookline


def test_connection_lifecycle_through_the_console_script(home: Path, tmp_path: Path) -> None:
    """add -> get -> list -> trace -> export -> delete -> import, each a separate process."""
    added = hookline("connections", "add", "warehouse", "--uri", URI, "--description", "main")
    assert added.returncode == 0, added.stderr
    assert "Added connection 'warehouse'" in added.stdout
    assert no_canary(added)
    api = hookline(
        "connections", "add", "api", "--conn-type", "http", "--host", "api.example",
        "--login", "svc", "--password-stdin", "--extra", '{"timeout": 3}',
        input=CANARY + "\n",
    )  # fmt: skip
    assert api.returncode == 0, api.stderr
    assert (home / "hookline.db").is_file()
    assert CANARY.encode() not in (home / "hookline.db").read_bytes()

    got = hookline("connections", "get", "warehouse", "-o", "json")
    assert got.returncode == 0, got.stderr
    data = json.loads(got.stdout)
    assert (data["host"], data["password"], data["source"]) == ("db.example", "***", "metastore")
    assert no_canary(got)
    for fmt in ("table", "yaml", "uri", "env"):
        assert no_canary(hookline("connections", "get", "warehouse", "-o", fmt))
    shown = hookline("connections", "get", "api", "-o", "json", "--show-secrets")
    assert json.loads(shown.stdout)["password"] == CANARY

    listed = hookline(
        "connections", "list", "-o", "json", env={"HOOKLINE_CONN_ENVY": f"http://u:{CANARY}@e"}
    )
    assert listed.returncode == 0, listed.stderr
    rows = [(row["conn_id"], row["source"]) for row in json.loads(listed.stdout)]
    assert rows == [("api", "metastore"), ("envy", "env"), ("warehouse", "metastore")]
    assert no_canary(listed)

    traced = hookline("secrets", "trace", "warehouse")
    assert traced.returncode == 0, traced.stderr
    assert "HOOKLINE_CONN_WAREHOUSE" in traced.stdout
    assert "resolved from metastore" in traced.stdout
    assert no_canary(traced)
    missing = hookline("secrets", "trace", "nope")
    assert "'nope' not found" in one_error_line(missing)
    assert "absent" in missing.stdout

    export_path = tmp_path / "conns.yaml"
    exported = hookline("connections", "export", str(export_path), "--show-secrets")
    assert exported.returncode == 0, exported.stderr
    assert export_path.stat().st_mode & 0o777 == 0o600
    for conn_id in ("warehouse", "api"):
        assert hookline("connections", "delete", conn_id).returncode == 0
    gone = hookline("connections", "get", "warehouse")
    assert "'warehouse' not found" in one_error_line(gone)

    imported = hookline("connections", "import", str(export_path))
    assert imported.returncode == 0, imported.stderr
    assert "Imported 2 connections into metastore" in imported.stdout
    back = json.loads(
        hookline("connections", "get", "warehouse", "-o", "json", "--show-secrets").stdout
    )
    assert back["password"] == CANARY
    assert back["description"] == "main"
    assert back["extra"] == {"sslmode": "require"}


def test_import_failure_writes_nothing(home: Path, tmp_path: Path) -> None:
    """A file with a bad entry imports nothing and lists the entry with its line; exit 1."""
    path = tmp_path / "bad.json"
    path.write_text('{\n  "ok": "http://h",\n  "bad": {"conn_type": "x", "port": "nan"}\n}\n')
    proc = hookline("connections", "import", str(path))
    assert proc.returncode == 1
    assert "nothing imported" in proc.stderr
    assert "line 3: connection 'bad'" in proc.stderr
    assert "Traceback" not in proc.stderr
    listed = hookline("connections", "list", "-o", "json")
    assert json.loads(listed.stdout) == []


def test_key_rotation_through_the_console_script(home: Path) -> None:
    """keys generate + rotate: with new,old the rows move to the new key; then the new key alone
    reads them and the old key alone fails cleanly (exit 1, no traceback, no secret)."""
    assert hookline("connections", "add", "warehouse", "--uri", URI).returncode == 0
    old = (home / "fernet.key").read_text().strip()
    generated = hookline("keys", "generate")
    assert generated.returncode == 0, generated.stderr
    new = generated.stdout.strip()
    assert new != old

    rotated = hookline("keys", "rotate", env={"HOOKLINE_FERNET_KEY": f"{new},{old}"})
    assert rotated.returncode == 0, rotated.stderr
    assert (
        "Re-encrypted 1 row (connections, pending rotations, variables) in metastore"
        in rotated.stdout
    )

    with_new = hookline(
        "connections", "get", "warehouse", "-o", "uri", "--show-secrets",
        env={"HOOKLINE_FERNET_KEY": new},
    )  # fmt: skip
    assert with_new.returncode == 0, with_new.stderr
    assert with_new.stdout.strip() == URI
    with_old = hookline("connections", "get", "warehouse", env={"HOOKLINE_FERNET_KEY": old})
    line = one_error_line(with_old)
    assert "warehouse" in line
    assert no_canary(with_old)


def test_exit_codes_and_module_entry_point(home: Path) -> None:
    """Usage errors exit 2; `python -m hookline.cli.app` is the same program; -v logs are masked."""
    usage = hookline("connections", "add", "x", "--uri", URI, "--host", "h")
    assert usage.returncode == 2
    assert "--host" in usage.stderr
    assert no_canary(usage)
    module = subprocess.run(
        [sys.executable, "-m", "hookline.cli.app", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert module.returncode == 0, module.stderr
    assert module.stdout.startswith("hookline ")
    assert hookline("connections", "add", "warehouse", "--uri", URI).returncode == 0
    verbose = hookline("-v", "connections", "get", "warehouse")
    assert verbose.returncode == 0, verbose.stderr
    assert no_canary(verbose)
    config = hookline("config", "show", "-o", "json")
    assert json.loads(config.stdout)["home"] == str(home)


# -- config check against real servers (issue 13.4) ----------------------------------------------


def write_config(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "hookline.toml").write_text(text, encoding="utf-8")


def test_config_check_reaches_real_vault_and_postgres(
    home: Path, openbao_factory: Any, postgres_server: Any
) -> None:
    """`config check` against a real OpenBao and a real PostgreSQL metastore: ok with the right
    token; a wrong token and a stopped server each fail (exit 1), without printing the token."""
    from hookline.secrets.metastore.keys import generate_key

    vault = openbao_factory()
    database = postgres_server.create_database(postgres_server.unique_name("check"))
    db_url = postgres_server.url(database)
    fernet = {"HOOKLINE_FERNET_KEY": generate_key()}
    write_config(
        home,
        '[secrets]\nbackends = ["env", "vault", "metastore"]\n'
        f'[secrets.backend.vault]\nurl = "{vault.url}"\ndeadline_s = 2\n'
        f'[metastore]\nurl = "{db_url}"\n',
    )
    good = hookline(
        "config",
        "check",
        env={"HOOKLINE_SECRETS__BACKEND__VAULT__TOKEN": vault.root_token, **fernet},
    )
    assert good.returncode == 0, (good.stdout, good.stderr)
    assert "ok    secrets backend vault: reached (VaultBackend)" in good.stdout
    assert "ok    secrets backend metastore: reached (MetastoreBackend)" in good.stdout
    assert good.stdout.rstrip().endswith("configuration OK")

    denied = hookline(
        "config", "check", env={"HOOKLINE_SECRETS__BACKEND__VAULT__TOKEN": CANARY, **fernet}
    )
    assert denied.returncode == 1
    assert "FAIL  secrets backend vault: " in denied.stdout
    assert "ok    secrets backend metastore" in denied.stdout
    assert no_canary(denied)

    vault.stop()
    down = hookline(
        "config", "check", env={"HOOKLINE_SECRETS__BACKEND__VAULT__TOKEN": "root-token", **fernet}
    )
    assert down.returncode == 1
    assert "FAIL  secrets backend vault: vault backend unavailable" in down.stdout
    assert "error: configuration check failed: 1 check(s) failed" in down.stderr


def test_misspelled_metastore_section_is_refused_before_any_write(
    home: Path, postgres_server: Any
) -> None:
    """The field-test case: `[metastor]` with the shared PostgreSQL URL used to send writes to the
    local SQLite file. Now every command refuses the configuration and nothing is written."""
    database = postgres_server.create_database(postgres_server.unique_name("typo"))
    write_config(home, f'[metastor]\nurl = "{postgres_server.url(database)}"\n')
    added = hookline("connections", "add", "warehouse", "--uri", URI)
    assert added.returncode == 1
    assert "unknown section [metastor]; did you mean [metastore]?" in added.stderr
    assert "line 1" in added.stderr
    assert not (home / "hookline.db").exists()
    checked = hookline("config", "check")
    assert checked.returncode == 1
    assert "FAIL  settings: metastor (" in checked.stdout
    assert no_canary(added)


# -- incomplete listings with a real backend down (issues 12.2, 13.3) ------------------------------


def test_list_and_export_fail_while_vault_is_down_unless_partial(
    home: Path, openbao_factory: Any, tmp_path: Path
) -> None:
    """A listable Vault that stops answering: `list` and `export` exit 1 naming it, write nothing;
    --partial lists and exports the rest with a warning."""
    vault = openbao_factory()
    vault.client().secrets.kv.v2.create_or_update_secret(
        path="connections/in_vault", secret={"conn_uri": "http://vault-host"}
    )
    write_config(
        home,
        '[secrets]\nbackends = ["env", "vault"]\n'
        f'[secrets.backend.vault]\nurl = "{vault.url}"\ndeadline_s = 2\n',
    )
    env = {
        "HOOKLINE_SECRETS__BACKEND__VAULT__TOKEN": vault.root_token,
        "HOOKLINE_CONN_ENVY": "http://e",
    }
    listed = hookline("connections", "list", "-o", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert [row["conn_id"] for row in json.loads(listed.stdout)] == ["envy", "in_vault"]
    vault.stop()
    failed = hookline("connections", "list", "-o", "json", env=env)
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert "cannot list every connection: 1 problem(s)" in failed.stderr
    assert "vault: " in failed.stderr
    backup = tmp_path / "backup.json"
    exported = hookline("connections", "export", str(backup), env=env)
    assert exported.returncode == 1
    assert not backup.exists()
    partial = hookline("connections", "export", str(backup), "--partial", env=env)
    assert partial.returncode == 0, partial.stderr
    assert "warning: incomplete" in partial.stderr
    assert list(json.loads(backup.read_text())) == ["envy"]


# -- the shell: completion, -o env, symlinks ------------------------------------------------------


def test_shell_completion_through_the_console_script(home: Path) -> None:
    """Bash completion is wired into the installed script (typer's _HOOKLINE_COMPLETE protocol)."""
    proc = hookline(
        env={
            "_HOOKLINE_COMPLETE": "complete_bash",
            "COMP_WORDS": "hookline conf",
            "COMP_CWORD": "1",
        }
    )
    assert proc.returncode == 0, proc.stderr
    assert "config" in proc.stdout
    script = hookline("--show-completion", "bash")
    assert script.returncode == 0, script.stderr
    assert "_HOOKLINE_COMPLETE" in script.stdout


def test_env_output_sources_in_bash_and_imports_back(home: Path, tmp_path: Path) -> None:
    """`list -o env --show-secrets` is sourced by a real bash (nothing executed, exact values) and
    `import` of the same text restores the connections."""
    hostile = "p$(touch pwned)'`x`"
    assert hookline(
        "connections", "add", "api", "--conn-type", "http", "--conn-host", "h", "--conn-login", "u",
        "--conn-password", hostile,
    ).returncode == 0  # fmt: skip
    assert hookline("connections", "add", "warehouse", "--conn-uri", URI).returncode == 0
    dump = hookline("connections", "list", "-o", "env", "--show-secrets")
    assert dump.returncode == 0, dump.stderr
    env_file = tmp_path / "conns.env"
    env_file.write_text(dump.stdout)
    sourced = subprocess.run(
        ["bash", "-c", f'set -eu; . {env_file}; printf "%s" "$HOOKLINE_CONN_API"'],
        capture_output=True, text=True, cwd=tmp_path, check=True, timeout=30,
    )  # fmt: skip
    from hookline.connection import Connection

    assert Connection.from_uri(sourced.stdout, conn_id="api").password == hostile
    assert not (tmp_path / "pwned").exists()
    for conn_id in ("api", "warehouse"):
        assert hookline("connections", "delete", conn_id).returncode == 0
    imported = hookline("connections", "import", str(env_file))
    assert imported.returncode == 0, imported.stderr
    back = hookline("connections", "get", "warehouse", "-o", "uri", "--show-secrets")
    assert back.stdout.strip() == URI


def test_export_never_writes_through_a_symlink(home: Path, tmp_path: Path) -> None:
    """The console script refuses `export LINK` and leaves the link's target as it was."""
    assert hookline("connections", "add", "warehouse", "--uri", URI).returncode == 0
    target = tmp_path / "precious"
    target.write_text("keep")
    link = tmp_path / "out.json"
    link.symlink_to(target)
    proc = hookline("connections", "export", str(link), "--show-secrets")
    assert "symbolic link" in one_error_line(proc)
    assert target.read_text() == "keep"


# -- the wheel, installed bare (issue 13: packaging) ----------------------------------------------


def uv_command() -> list[str]:
    """uv as the bootstrap installs it (on PATH, or as a module of the system Python)."""
    import shutil

    found = shutil.which("uv")
    if found:
        return [found]
    return ["python3", "-m", "uv"]


def test_bare_wheel_reads_variables_without_the_cli_dependencies(tmp_path: Path) -> None:
    """The built wheel holds the LICENSE; installed without extras (from the local cache, offline)
    it pulls only PyYAML, reads connections from variables with `backends = env`, explains the
    missing `metastore` extra for the default chain, and its `hookline` script names the `cli`
    extra (exit 1, no traceback)."""
    import zipfile

    root = Path(__file__).resolve().parents[2]
    uv = uv_command()
    dist = tmp_path / "dist"
    subprocess.run(
        [*uv, "build", "--wheel", "--out-dir", str(dist), "-q", str(root)],
        check=True, timeout=300, capture_output=True,
    )  # fmt: skip
    (wheel,) = dist.glob("hookline-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith("dist-info/METADATA"))).decode()
    assert any(n.endswith("dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: Apache-2.0" in metadata
    assert "Provides-Extra: cli" in metadata
    venv = tmp_path / "venv"
    subprocess.run([*uv, "venv", "-q", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [*uv, "pip", "install", "-q", "--offline", "--python", str(python), str(wheel)],
        check=True, timeout=300,
    )  # fmt: skip
    listed = subprocess.run(
        [*uv, "pip", "list", "--python", str(python), "--format", "json"],
        check=True, timeout=120, capture_output=True, text=True,
    )  # fmt: skip
    installed = sorted(item["name"].lower() for item in json.loads(listed.stdout))
    assert installed == ["hookline", "pyyaml"]

    env = {
        "PATH": os.environ["PATH"],
        "HOOKLINE_HOME": str(tmp_path / "home"),
        "HOOKLINE_CONN_WAREHOUSE": URI,
    }
    code = "import hookline; print(hookline.get_connection('warehouse').host)"
    env_only = subprocess.run(
        [str(python), "-c", code],
        env={**env, "HOOKLINE_SECRETS__BACKENDS": "env"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert env_only.returncode == 0, env_only.stderr
    assert env_only.stdout.strip() == "db.example"
    default_chain = subprocess.run(
        [str(python), "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert default_chain.returncode == 1
    assert "MissingDependency: sqlalchemy is required for the metastore backend" in (
        default_chain.stderr
    )
    assert "HOOKLINE_SECRETS__BACKENDS=env" in default_chain.stderr
    script = subprocess.run(
        [str(venv / "bin" / "hookline"), "connections", "list"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert script.returncode == 1
    assert script.stderr == (
        "error: typer is required for the hookline command; install it with: "
        "pip install 'hookline[cli]'\n"
    )
