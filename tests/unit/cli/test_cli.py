"""The ``hookline`` CLI, driven in-process with typer's CliRunner against a tmp HOOKLINE_HOME.

Every command, every output format, Airflow's ``connections add`` conflict rules, exit codes (0 ok,
1 expected failure with one stderr line and no traceback, 2 usage error) and the canary password on
every output channel.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from hookline import masking, registry
from hookline.cli import common
from hookline.connection import Connection
from tests.unit.cli.support import (
    CANARY,
    CANARY_FORMS,
    URI,
    MemoryBackend,
    Store,
    add_warehouse,
    assert_no_canary,
    assert_one_error_line,
    run,
)

# -- add ------------------------------------------------------------------------------------------


def test_add_from_uri_stores_the_connection_and_prints_it_redacted(store: Store) -> None:
    """`add --uri` writes to the writable backend and echoes the redacted URI."""
    result = add_warehouse("--description", "main db")
    conn = store.get("warehouse")
    assert conn.password == CANARY
    assert conn.host == "db.example"
    assert conn.description == "main db"
    assert "Added connection 'warehouse'" in result.stdout
    assert "postgres://alice:***@db.example:5432/app" in result.stdout
    assert_no_canary(result)


def test_add_from_json(store: Store) -> None:
    """`add --json` takes Airflow's JSON form."""
    payload = json.dumps({"conn_type": "http", "host": "api", "password": CANARY, "port": "8080"})
    result = run("connections", "add", "api", "--json", payload)
    assert result.exit_code == 0, result.output
    assert store.get("api").port == 8080
    assert store.get("api").password == CANARY
    assert_no_canary(result)


def test_add_from_field_flags(store: Store) -> None:
    """`add --conn-type` with field flags builds the connection field by field."""
    result = run(
        "connections", "add", "db", "--conn-type", "postgres", "--host", "h", "--login", "bob",
        "--password", CANARY, "--schema", "app", "--port", "5433", "--extra", '{"sslmode": "require"}',
        "--description", "d",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert store.get("db") == Connection(
        conn_id="db", conn_type="postgres", host="h", login="bob", password=CANARY, schema="app",
        port=5433, extra={"sslmode": "require"}, description="d",
    )  # fmt: skip
    assert_no_canary(result)


def test_add_password_from_stdin(store: Store) -> None:
    """`--password-stdin` reads the password from stdin, keeping it off the command line."""
    result = run(
        "connections", "add", "db", "--conn-type", "postgres", "--host", "h", "--password-stdin",
        input=CANARY + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert store.get("db").password == CANARY
    assert_no_canary(result)


def test_add_uri_with_extra_replaces_the_uri_extras(store: Store) -> None:
    """As in Airflow, `--extra` is allowed with `--uri` and replaces the URI's extras."""
    result = run("connections", "add", "w", "--uri", URI, "--extra", '{"a": 1}')
    assert result.exit_code == 0, result.output
    assert store.get("w").extra_dejson == {"a": 1}


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--uri", URI, "--json", "{}"], "--json"),
        (["--uri", URI, "--host", "h", "--port", "1"], "--host, --port"),
        (["--uri", URI, "--conn-type", "http"], "--conn-type"),
        (["--json", '{"conn_type": "http"}', "--extra", "{}"], "--extra"),
        (["--json", '{"conn_type": "http"}', "--password", CANARY], "--password"),
        ([], "--conn-type"),
        (["--host", "h"], "--conn-type"),
        (["--conn-type", "http", "--password", "x", "--password-stdin"], "--password"),
        (["--conn-type", "http", "--port", "70000"], "--port"),
        (["--conn-type", "http", "--port", "abc"], "--port"),
    ],
)
def test_add_conflicting_or_missing_flags_are_usage_errors(
    store: Store, args: list[str], complaint: str
) -> None:
    """Airflow's conflict rules: URI/JSON with field flags, both URI and JSON, no type: exit 2."""
    result = run("connections", "add", "x", *args)
    assert result.exit_code == 2, result.output
    assert complaint in result.stderr
    assert "Traceback" not in result.output
    assert store.ids() == []
    assert_no_canary(result)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--json", '{"host": "h"}'], "no conn_type"),
        (["--json", "{not json"], "not valid JSON"),
        (["--uri", "no-scheme-here"], "no 'type://' prefix"),
        (["--conn-type", "http", "--extra", "[1, 2]"], "extra of connection 'x'"),
        (["--conn-type", "http", "--extra", "{bad"], "extra of connection 'x'"),
        (["--conn-type", "bad type!", "--password", CANARY], "conn_type"),
    ],
)
def test_add_invalid_input_exits_1_with_one_line(
    store: Store, args: list[str], message: str
) -> None:
    """Invalid connection data is exit 1 with one clear stderr line, no traceback, no secret."""
    result = run("connections", "add", "x", *args)
    line = assert_one_error_line(result)
    assert message in line
    assert store.ids() == []
    assert_no_canary(result)


def test_add_invalid_conn_id_exits_1(store: Store) -> None:
    """A conn_id with forbidden characters is rejected before anything is written."""
    result = run("connections", "add", "bad id", "--uri", URI)
    assert "forbidden characters" in assert_one_error_line(result)
    assert_no_canary(result)


def test_add_duplicate_id_is_an_error_unless_overwrite(store: Store) -> None:
    """A second `add` of the same id fails (nothing changes) until `--overwrite` is given."""
    add_warehouse()
    result = run("connections", "add", "warehouse", "--conn-type", "http", "--host", "other")
    line = assert_one_error_line(result)
    assert "already exists" in line
    assert "--overwrite" in line
    assert store.get("warehouse").conn_type == "postgres"
    result = run(
        "connections", "add", "warehouse", "--conn-type", "http", "--host", "other", "--overwrite"
    )
    assert result.exit_code == 0, result.output
    assert store.get("warehouse").conn_type == "http"


def test_add_warns_when_an_earlier_backend_shadows_the_id(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adding an id that env also defines succeeds, with a note that env is asked first."""
    monkeypatch.setenv("HOOKLINE_CONN_WAREHOUSE", "http://env-host")
    result = add_warehouse()
    assert "note: env also defines 'warehouse'" in result.stderr
    assert_no_canary(result)


# -- get ------------------------------------------------------------------------------------------


def test_get_table_is_redacted_by_default(store: Store) -> None:
    """`get` prints every field and the source; the password and URI credentials are ***."""
    add_warehouse()
    result = run("connections", "get", "warehouse")
    assert result.exit_code == 0, result.output
    for text in (
        "warehouse",
        "postgres",
        "db.example",
        "5432",
        "alice",
        "***",
        "metastore",
        "sslmode",
    ):
        assert text in result.stdout
    assert_no_canary(result)


@pytest.mark.parametrize("fmt", ["table", "json", "yaml", "uri", "env"])
def test_get_every_format_hides_the_canary_unless_show_secrets(store: Store, fmt: str) -> None:
    """Each output format is redacted by default and shows the password with --show-secrets."""
    add_warehouse()
    result = run("connections", "get", "warehouse", "--output", fmt)
    assert result.exit_code == 0, result.output
    assert_no_canary(result)
    shown = run("connections", "get", "warehouse", "-o", fmt, "--show-secrets")
    assert shown.exit_code == 0, shown.output
    assert any(form in shown.stdout for form in CANARY_FORMS)


def test_get_json_and_yaml_are_machine_readable(store: Store) -> None:
    """JSON and YAML output parse back to the connection's fields plus uri and source."""
    add_warehouse()
    data = json.loads(run("connections", "get", "warehouse", "-o", "json").stdout)
    assert data["conn_id"] == "warehouse"
    assert data["password"] == "***"
    assert data["extra"] == {"sslmode": "require"}
    assert data["source"] == "metastore"
    assert data["uri"].startswith("postgres://alice:***@db.example:5432/app")
    ydata = yaml.safe_load(run("connections", "get", "warehouse", "-o", "yaml").stdout)
    assert ydata == data
    shown = json.loads(
        run("connections", "get", "warehouse", "-o", "json", "--show-secrets").stdout
    )
    assert Connection.from_uri(shown["uri"], conn_id="warehouse") == store.get("warehouse")
    assert shown["password"] == CANARY


def test_get_uri_and_env_outputs(store: Store) -> None:
    """`-o uri` prints the (redacted) URI; `-o env` a line the env backend can read back."""
    add_warehouse()
    uri = run("connections", "get", "warehouse", "-o", "uri").stdout.strip()
    assert uri == store.get("warehouse").get_redacted_uri()
    env_line = run("connections", "get", "warehouse", "-o", "env", "--show-secrets").stdout.strip()
    name, _, value = env_line.partition("=")
    assert name == "HOOKLINE_CONN_WAREHOUSE"
    assert Connection.from_uri(value.strip("'"), conn_id="warehouse") == store.get("warehouse")


def test_get_finds_connections_of_every_backend(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`get` resolves through the whole chain: an env-only connection is found, source env."""
    monkeypatch.setenv("AIRFLOW_CONN_FROM_ENV", f"http://u:{CANARY}@env-host:80")
    result = run("connections", "get", "from_env", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["source"] == "env"
    assert data["host"] == "env-host"
    assert_no_canary(result)


def test_get_not_found_is_exit_1_with_one_line(store: Store) -> None:
    """A missing id: exit 1, one stderr line naming the backends asked, no traceback."""
    result = run("connections", "get", "nope")
    line = assert_one_error_line(result)
    assert "'nope' not found" in line
    assert "env, metastore" in line
    assert "hookline secrets trace nope" in line
    assert result.stdout == ""


# -- list -----------------------------------------------------------------------------------------


def test_list_shows_every_backend_with_its_source(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`list` shows metastore and env connections alike, each with the backend that holds it."""
    add_warehouse()
    monkeypatch.setenv("HOOKLINE_CONN_ENVY", f"http://u:{CANARY}@env-host")
    result = run("connections", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any("warehouse" in ln and "metastore" in ln and "db.example" in ln for ln in lines)
    assert any("envy" in ln and "env" in ln and "env-host" in ln for ln in lines)
    assert_no_canary(result)
    data = json.loads(run("connections", "list", "-o", "json").stdout)
    assert [(d["conn_id"], d["source"]) for d in data] == [
        ("envy", "env"),
        ("warehouse", "metastore"),
    ]
    only = json.loads(run("connections", "list", "-o", "json", "--source", "metastore").stdout)
    assert [d["conn_id"] for d in only] == ["warehouse"]


@pytest.mark.parametrize("fmt", ["table", "json", "yaml", "uri", "env"])
def test_list_every_format_hides_the_canary_unless_show_secrets(store: Store, fmt: str) -> None:
    """Each list format is redacted by default; machine formats show secrets with --show-secrets."""
    add_warehouse()
    result = run("connections", "list", "-o", fmt)
    assert result.exit_code == 0, result.output
    assert "warehouse" in result.stdout.lower()
    assert_no_canary(result)
    if fmt != "table":
        shown = run("connections", "list", "-o", fmt, "--show-secrets")
        assert any(form in shown.stdout for form in CANARY_FORMS)


def test_list_uri_and_env_lines(store: Store) -> None:
    """`list -o uri` prints `conn_id<TAB>uri` lines; `-o env` prints HOOKLINE_CONN_ lines."""
    add_warehouse()
    run("connections", "add", "api", "--uri", "http://api.example")
    uri_lines = run("connections", "list", "-o", "uri").stdout.splitlines()
    assert uri_lines == [
        "api\thttp://api.example",
        "warehouse\t" + store.get("warehouse").get_redacted_uri(),
    ]
    env_lines = run("connections", "list", "-o", "env").stdout.splitlines()
    assert env_lines[0] == "HOOKLINE_CONN_API=http://api.example"
    assert env_lines[1].startswith("HOOKLINE_CONN_WAREHOUSE='postgres://alice:***@")


def test_list_empty_chain_prints_an_empty_table(store: Store) -> None:
    """No connections anywhere: exit 0, JSON output is an empty list."""
    result = run("connections", "list", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


def test_invalid_output_format_is_a_usage_error(store: Store) -> None:
    """An unknown --output value is exit 2."""
    result = run("connections", "list", "-o", "xml")
    assert result.exit_code == 2
    assert "xml" in result.stderr


# -- delete ---------------------------------------------------------------------------------------


def test_delete_removes_the_connection(store: Store) -> None:
    """`delete` removes the id from the writable backend; `get` then fails."""
    add_warehouse()
    result = run("connections", "delete", "warehouse")
    assert result.exit_code == 0, result.output
    assert "Deleted connection 'warehouse' from metastore" in result.stdout
    assert store.ids() == []
    assert run("connections", "get", "warehouse").exit_code == 1


def test_delete_missing_id_exits_1(store: Store) -> None:
    """Deleting an id the writable backend does not hold is exit 1 with one line."""
    line = assert_one_error_line(run("connections", "delete", "ghost"))
    assert "'ghost' not found in metastore" in line


# -- test -----------------------------------------------------------------------------------------


class FakeHook:
    """A hook whose test result the test decides; records that it was closed."""

    outcome: ClassVar[tuple[bool, str]] = (True, "Connection successfully tested")
    closed: ClassVar[list[str]] = []

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def test_connection(self) -> tuple[bool, str]:
        return self.outcome

    def close(self) -> None:
        self.closed.append(self.conn.conn_id or "")


@pytest.fixture
def fake_hook(monkeypatch: pytest.MonkeyPatch) -> type[FakeHook]:
    monkeypatch.setattr(registry, "_extra_hooks", {"fakehook": FakeHook})
    FakeHook.closed = []
    FakeHook.outcome = (True, "Connection successfully tested")
    return FakeHook


def test_test_command_success(store: Store, fake_hook: type[FakeHook]) -> None:
    """`test` builds the hook for the conn_type, reports success with exit 0 and closes the hook."""
    run("connections", "add", "svc", "--uri", f"fakehook://u:{CANARY}@h")
    result = run("connections", "test", "svc")
    assert result.exit_code == 0, result.output
    assert "Connection 'svc' OK: Connection successfully tested" in result.stdout
    assert fake_hook.closed == ["svc"]
    assert_no_canary(result)


def test_test_command_failure_is_exit_1_and_masked(store: Store, fake_hook: type[FakeHook]) -> None:
    """A failed test is exit 1 with one line; a password echoed by the driver is masked."""
    run("connections", "add", "svc", "--uri", f"fakehook://u:{CANARY}@h")
    fake_hook.outcome = (False, f"auth failed for password {CANARY}")
    result = run("connections", "test", "svc")
    line = assert_one_error_line(result)
    assert "test failed: auth failed for password ***" in line
    assert_no_canary(result)


def test_test_command_unknown_type_exits_1(store: Store) -> None:
    """A conn_type without a registered hook is exit 1 naming the type."""
    run("connections", "add", "odd", "--uri", f"nohookforthis://u:{CANARY}@h")
    line = assert_one_error_line(run("connections", "test", "odd"))
    assert "nohookforthis" in line


def test_test_command_not_found_exits_1(store: Store) -> None:
    """Testing a missing id is the not-found error."""
    assert "not found" in assert_one_error_line(run("connections", "test", "ghost"))


# -- secrets trace --------------------------------------------------------------------------------


def test_trace_shows_each_backend_and_the_source(store: Store) -> None:
    """`secrets trace` lists every backend asked with its keys and outcome, and who answered."""
    add_warehouse()
    result = run("secrets", "trace", "warehouse")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "HOOKLINE_CONN_WAREHOUSE" in out
    assert "AIRFLOW_CONN_WAREHOUSE" in out
    assert "absent" in out
    assert "hit" in out
    assert "resolved from metastore" in out
    assert_no_canary(result)


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_trace_structured_output(store: Store, fmt: str) -> None:
    """`secrets trace -o json|yaml` gives the trace as data: steps with backend, keys, outcome."""
    add_warehouse()
    result = run("secrets", "trace", "warehouse", "-o", fmt)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout) if fmt == "json" else yaml.safe_load(result.stdout)
    assert data["source"] == "metastore"
    assert [(s["backend"], s["outcome"]) for s in data["steps"]] == [
        ("env", "absent"),
        ("metastore", "hit"),
    ]
    assert_no_canary(result)


def test_trace_not_found_prints_the_trace_and_exits_1(store: Store) -> None:
    """For a missing id the trace is still printed, then one error line and exit 1."""
    result = run("secrets", "trace", "nope")
    line = assert_one_error_line(result)
    assert "'nope' not found in any backend" in line
    assert "HOOKLINE_CONN_NOPE" in result.stdout
    assert result.stdout.count("absent") == 2


def test_trace_of_an_unreadable_value_exits_1_without_the_secret(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stored value that cannot be parsed is reported (exit 1) without echoing it."""
    monkeypatch.setenv("HOOKLINE_CONN_BROKEN", '{"conn_type": "x", "password": "' + CANARY + '"')
    result = run("secrets", "trace", "broken")
    assert "cannot be read" in assert_one_error_line(result)
    assert "invalid" in result.stdout
    assert_no_canary(result)


# -- keys and config ------------------------------------------------------------------------------


def test_keys_generate_prints_a_fernet_key() -> None:
    """`keys generate` prints one new, valid Fernet key per call."""
    from cryptography.fernet import Fernet

    first = run("keys", "generate")
    second = run("keys", "generate")
    assert first.exit_code == 0, first.output
    key = first.stdout.strip()
    Fernet(key.encode())
    assert key != second.stdout.strip()


def test_keys_rotate_reencrypts_with_the_new_first_key(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Airflow's procedure: set new,old, rotate, then new alone reads every row; old alone cannot."""
    from hookline.secrets.metastore.keys import KEY_FILE_NAME, generate_key

    add_warehouse()
    run("connections", "add", "api", "--conn-type", "http", "--host", "h", "--password", CANARY)
    old = (store.backend.home / KEY_FILE_NAME).read_text().strip()
    new = generate_key()
    monkeypatch.setenv("HOOKLINE_FERNET_KEY", f"{new},{old}")
    result = run("keys", "rotate", "--batch-size", "1")
    assert result.exit_code == 0, result.output
    assert (
        "Re-encrypted 2 rows (connections, pending rotations, variables) in metastore"
        in result.stdout
    )
    assert "Re-encrypted 0 rows" in run("keys", "rotate").stdout
    assert "Re-encrypted 2 rows" in run("keys", "rotate", "--force").stdout
    monkeypatch.setenv("HOOKLINE_FERNET_KEY", new)
    shown = run("connections", "get", "api", "-o", "json", "--show-secrets")
    assert json.loads(shown.stdout)["password"] == CANARY
    monkeypatch.setenv("HOOKLINE_FERNET_KEY", old)
    result = run("connections", "get", "api")
    line = assert_one_error_line(result)
    assert "api" in line
    assert_no_canary(result)


def test_keys_rotate_without_a_rotating_backend_exits_1(memory: MemoryBackend) -> None:
    """A writable backend without keys cannot rotate: exit 1, one line."""
    assert "no Fernet keys" in assert_one_error_line(run("keys", "rotate"))


@pytest.mark.parametrize("fmt", ["table", "json", "yaml"])
def test_config_show_is_redacted(monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    """`config show` prints the settings; secrets in backend settings and URLs are ***."""
    monkeypatch.setenv("HOOKLINE_SECRETS__BACKENDS", "env,metastore")
    monkeypatch.setenv(
        "HOOKLINE_METASTORE__URL", f"postgresql://u:{CANARY.replace('!', '%21')}@db/h"
    )
    result = run("config", "show", "-o", fmt)
    assert result.exit_code == 0, result.output
    assert "metastore" in result.stdout
    assert_no_canary(result)
    if fmt == "json":
        data = json.loads(result.stdout)
        assert data["secrets"]["backends"] == ["env", "metastore"]


def test_config_show_reports_a_bad_setting_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """An invalid setting is a ConfigurationError: exit 1, one line naming the variable."""
    monkeypatch.setenv("HOOKLINE_CACHE__TTL_SECONDS", "soon")
    line = assert_one_error_line(run("config", "show"))
    assert "HOOKLINE_CACHE__TTL_SECONDS" in line


# -- the app itself -------------------------------------------------------------------------------


def test_help_and_version() -> None:
    """`--help` lists the command groups; `--version` prints the version."""
    result = run("--help")
    assert result.exit_code == 0
    for group in ("connections", "secrets", "keys", "config"):
        assert group in result.stdout
    assert run("--version").stdout.strip().startswith("hookline 0.")


def test_unknown_command_is_a_usage_error() -> None:
    """An unknown subcommand is exit 2."""
    assert run("connections", "frobnicate").exit_code == 2


def test_unexpected_error_is_one_masked_line(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug surfaces as one masked line (exit 1); --verbose adds the masked traceback."""
    add_warehouse()

    def boom() -> None:
        raise RuntimeError(f"exploded near {CANARY}")

    monkeypatch.setattr(common, "out_console", boom)
    result = run("connections", "get", "warehouse")
    line = assert_one_error_line(result)
    assert "unexpected RuntimeError: exploded near ***" in line
    assert_no_canary(result)
    verbose = run("-v", "connections", "get", "warehouse")
    assert verbose.exit_code == 1
    assert "Traceback" in verbose.stderr
    assert_no_canary(verbose)


def test_cli_installs_masking_on_the_root_logger(store: Store) -> None:
    """Every run installs the masking filter: a resolved password logged later is ***."""
    add_warehouse()
    assert run("connections", "get", "warehouse").exit_code == 0
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "pw=%s", (CANARY,), None)
    assert any(isinstance(f, masking.MaskingFilter) for f in logging.getLogger().filters)
    for f in logging.getLogger().filters:
        f.filter(record)
    assert record.getMessage() == "pw=***"


# -- import / export ------------------------------------------------------------------------------

ORIGINALS = [
    Connection.from_uri(URI, conn_id="warehouse").replace(description="main db"),
    Connection(
        conn_id="api", conn_type="http", host="api.example", port=443, login="svc",
        password=CANARY, extra={"api_key": CANARY + "-key", "timeout": 3, "nested": {"a": [1, 2]}},
    ),
    Connection(conn_id="bare", conn_type="sqlite", host="/tmp/x.db"),
]  # fmt: skip


def add_originals(store: Store) -> None:
    for conn in ORIGINALS:
        store.backend.set_connection(conn)


@pytest.mark.parametrize("fmt", ["json", "yaml", "env"])
def test_export_to_stdout_is_redacted_by_default(store: Store, fmt: str) -> None:
    """`export` writes Airflow's export shapes; secrets are *** with a note, unless --show-secrets."""
    add_originals(store)
    result = run("connections", "export", "-", "--format", fmt)
    assert result.exit_code == 0, result.output
    assert_no_canary(result)
    assert "use --show-secrets" in result.stderr
    for conn_id in ("api", "bare", "warehouse"):
        assert conn_id in result.stdout
    shown = run("connections", "export", "--format", fmt, "--show-secrets")
    assert any(form in shown.stdout for form in CANARY_FORMS)
    assert shown.stderr == ""


@pytest.mark.parametrize("fmt", ["json", "yaml", "env"])
def test_redacted_export_and_get_hide_credentials_in_a_url_host(store: Store, fmt: str) -> None:
    """A host written as a URL with credentials (``https://user:token@api``, which HttpHook uses)
    is a secret too: `export` without --show-secrets and `get` hide its password, even a short one;
    --show-secrets gives it back."""
    store.backend.set_connection(
        Connection(conn_id="hosted", conn_type="http", host="https://svc:Hp1@api.example")
    )
    result = run("connections", "export", "-", "--format", fmt)
    assert result.exit_code == 0, result.output
    assert "Hp1" not in result.stdout
    assert "svc" in result.stdout
    for output in ("table", "json", "yaml", "uri", "env"):
        shown = run("connections", "get", "hosted", "--output", output)
        assert shown.exit_code == 0, shown.output
        assert "Hp1" not in shown.stdout
    clear = run("connections", "export", "-", "--format", fmt, "--show-secrets")
    assert "Hp1" in clear.stdout


def test_export_json_has_airflows_shape(store: Store) -> None:
    """JSON export: {conn_id: {conn_type, description, login, password, host, port, schema,
    extra}} sorted by id, extra as JSON text; stdout defaults to JSON."""
    add_originals(store)
    data = json.loads(run("connections", "export", "--show-secrets").stdout)
    assert list(data) == ["api", "bare", "warehouse"]
    assert set(data["warehouse"]) == {
        "conn_type", "description", "login", "password", "host", "port", "schema", "extra",
    }  # fmt: skip
    assert json.loads(data["warehouse"]["extra"]) == {"sslmode": "require"}
    assert data["warehouse"]["password"] == CANARY


@pytest.mark.parametrize(
    ("name", "extra_args"),
    [
        ("conns.json", []),
        ("conns.yaml", []),
        ("conns.yml", []),
        ("conns.env", ["--serialization-format", "json"]),
        ("conns.txt", ["--format", "json"]),
    ],
)
def test_export_import_round_trip(
    store: Store, tmp_path: Path, name: str, extra_args: list[str]
) -> None:
    """export --show-secrets, delete everything, import: every connection comes back equal."""
    add_originals(store)
    path = tmp_path / name
    path.write_text("old content")
    path.chmod(0o644)
    result = run("connections", "export", str(path), "--show-secrets", *extra_args)
    assert result.exit_code == 0, result.output
    assert f"Exported 3 connections to {path}" in result.stdout
    assert path.stat().st_mode & 0o777 == 0o600
    for conn in ORIGINALS:
        assert conn.conn_id is not None
        store.backend.delete_connection(conn.conn_id)
    fmt_args = ["--format", "json"] if name.endswith(".txt") else []
    result = run("connections", "import", str(path), *fmt_args)
    assert result.exit_code == 0, result.output
    assert "Imported 3 connections into metastore" in result.stdout
    for conn in ORIGINALS:
        assert store.get(conn.conn_id or "") == conn
    assert_no_canary(result)


def test_env_export_as_uris_round_trips_without_descriptions(store: Store, tmp_path: Path) -> None:
    """The default env serialization is Airflow's `conn_id=<uri>`; a URI holds no description."""
    add_originals(store)
    path = tmp_path / "conns.env"
    assert run("connections", "export", str(path), "--show-secrets").exit_code == 0
    prefixes = [line.split("://")[0] for line in path.read_text().splitlines()]
    assert prefixes == ["api=http", "bare=sqlite", "warehouse=postgres"]
    result = run("connections", "import", str(path), "--overwrite")
    assert result.exit_code == 0, result.output
    assert "(3 replaced)" in result.stdout
    assert store.get("warehouse") == ORIGINALS[0].replace(description=None)
    assert store.get("api") == ORIGINALS[1].replace(schema="")  # a URI reads no path as ""


def test_export_sources(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --source, env connections are exported too, once per id (the one lookups return);
    --source metastore exports only the metastore's."""
    add_originals(store)
    monkeypatch.setenv("HOOKLINE_CONN_BARE", "http://from-env")
    monkeypatch.setenv("HOOKLINE_CONN_ONLY_ENV", "http://only-env")
    data = json.loads(run("connections", "export").stdout)
    assert list(data) == ["api", "bare", "only_env", "warehouse"]
    assert data["bare"]["host"] == "from-env"
    only = json.loads(run("connections", "export", "--source", "metastore").stdout)
    assert list(only) == ["api", "bare", "warehouse"]
    assert only["bare"]["host"] == "/tmp/x.db"


def test_import_is_all_or_nothing_and_lists_every_bad_entry(store: Store, tmp_path: Path) -> None:
    """One good and two bad entries: nothing is written; both bad ones are listed with their lines;
    the secret in a bad entry is not echoed."""
    path = tmp_path / "conns.yaml"
    path.write_text(
        "good: postgres://u:p@h/db\n"
        "bad_port:\n"
        "  conn_type: http\n"
        f"  password: '{CANARY}'\n"
        "  port: notaport\n"
        "bad_key: {conn_type: x, bogus: 1}\n"
    )
    result = run("connections", "import", str(path))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: {path}: 2 invalid entries; nothing imported"
    assert lines[1].startswith("  line 2: connection 'bad_port'")
    assert lines[2].startswith("  line 6: connection 'bad_key'")
    assert "bogus" in lines[2]
    assert len(lines) == 3
    assert store.ids() == []
    assert result.stdout == ""
    assert_no_canary(result)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("c.json", '{"a": "http://h",\n "b": }', "line 2"),
        ("c.json", "[1, 2]", "object"),
        ("c.env", "a=http://h\nnot a pair\nb=\n", "line 2"),
        ("c.yaml", "a: [unclosed\n", "line"),
        ("c.json", "", "empty"),
    ],
)
def test_import_malformed_files(
    store: Store, tmp_path: Path, name: str, text: str, expected: str
) -> None:
    """Syntax errors name their line; nothing is written."""
    path = tmp_path / name
    path.write_text(text)
    result = run("connections", "import", str(path))
    assert result.exit_code == 1, result.output
    assert "nothing imported" in result.stderr.splitlines()[0]
    assert expected in result.stderr
    assert "Traceback" not in result.output
    assert store.ids() == []


def test_import_existing_ids_need_overwrite(store: Store, tmp_path: Path) -> None:
    """Ids that already exist are bad entries (nothing written) unless --overwrite replaces them."""
    add_originals(store)
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"warehouse": "http://new-host", "fresh": "http://fresh"}))
    result = run("connections", "import", str(path))
    assert result.exit_code == 1
    assert "  warehouse: already exists; use --overwrite to replace it" in result.stderr
    assert sorted(store.ids()) == ["api", "bare", "warehouse"]
    result = run("connections", "import", str(path), "--overwrite")
    assert result.exit_code == 0, result.output
    assert "Imported 2 connections into metastore (1 replaced)" in result.stdout
    assert store.get("warehouse").host == "new-host"
    assert store.get("fresh").host == "fresh"


def test_import_refuses_redacted_placeholders(store: Store, tmp_path: Path) -> None:
    """A file exported without --show-secrets cannot be imported by mistake: *** is not a secret."""
    add_originals(store)
    path = tmp_path / "redacted.json"
    assert run("connections", "export", str(path)).exit_code == 0
    result = run("connections", "import", str(path), "--overwrite")
    assert result.exit_code == 1
    assert "  api: holds the redaction placeholder '***'" in result.stderr
    assert "  warehouse: holds the redaction placeholder '***'" in result.stderr
    assert "bare" not in result.stderr
    assert store.get("api").password == CANARY


def test_import_from_stdin(store: Store) -> None:
    """`import -` reads stdin (JSON unless --format says otherwise)."""
    result = run(
        "connections", "import", "-", "--format", "env", input="a=http://h1\nb=http://h2\n"
    )
    assert result.exit_code == 0, result.output
    assert sorted(store.ids()) == ["a", "b"]


def test_import_missing_file_is_one_line(store: Store, tmp_path: Path) -> None:
    """A file that does not exist: exit 1, one line."""
    line = assert_one_error_line(run("connections", "import", str(tmp_path / "nope.json")))
    assert "cannot read" in line
    assert "nope.json" in line


def test_import_unknown_extension_is_a_usage_error(store: Store, tmp_path: Path) -> None:
    """Without --format, the extension decides; an unknown one is exit 2."""
    path = tmp_path / "conns.txt"
    path.write_text("{}")
    result = run("connections", "import", str(path))
    assert result.exit_code == 2
    assert "--format" in result.stderr


def test_import_undoes_partial_writes_when_a_write_fails(
    memory: MemoryBackend, tmp_path: Path
) -> None:
    """When the backend fails in the middle of an import, the writes done so far are undone."""
    memory.data["a"] = Connection(conn_id="a", conn_type="http", host="old")
    memory.fail_on = "c"
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"a": "http://new", "b": "http://b", "c": "http://c"}))
    result = run("connections", "import", str(path), "--overwrite")
    line = assert_one_error_line(result)
    assert "disk full" in line
    assert memory.data == {"a": Connection(conn_id="a", conn_type="http", host="old")}


# -- failing backends -----------------------------------------------------------------------------


def test_not_found_with_an_unavailable_backend_says_it_may_exist_there(
    with_down_backend: MemoryBackend,
) -> None:
    """When a backend could not answer, the not-found line says the id may be defined there."""
    line = assert_one_error_line(run("connections", "get", "ghost"))
    assert "(asked: vault, memory)" in line
    assert "vault could not answer, so it may be defined there" in line


def test_trace_shows_an_unavailable_backend_masked(with_down_backend: MemoryBackend) -> None:
    """The trace records the failure with its (masked) reason; the lookup still falls through."""
    with_down_backend.data["a"] = Connection(conn_id="a", conn_type="http", host="h")
    result = run("secrets", "trace", "a")
    assert result.exit_code == 0, result.output
    assert "unavailable" in result.stdout
    assert "refused" in result.stdout
    assert "resolved from memory" in result.stdout
    assert_no_canary(result)


def test_list_with_a_backend_that_cannot_list_fails_unless_partial(
    with_down_backend: MemoryBackend,
) -> None:
    """Issue 12.2/13.3: a backend failing to list makes `list` exit 1 with nothing on stdout and the
    backend and reason on stderr; with --partial the others are listed, exit 0, with a warning."""
    with_down_backend.data["a"] = Connection(conn_id="a", conn_type="http", host="h")
    result = run("connections", "list", "-o", "json")
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: cannot list every connection: 1 problem(s); nothing printed (fix them, or use "
        "--partial to go on without the connections that cannot be read)",
        "  vault: vault at 127.0.0.1:1 refused",
    ]
    partial = run("connections", "list", "-o", "json", "--partial")
    assert partial.exit_code == 0, partial.output
    assert [row["conn_id"] for row in json.loads(partial.stdout)] == ["a"]
    assert partial.stderr.startswith("warning: incomplete (1 problem(s), --partial): vault: ")
    only_memory = run("connections", "list", "-o", "json", "--source", "memory")
    assert only_memory.exit_code == 0, only_memory.output
    assert_no_canary(result)
    assert_no_canary(partial)


def test_delete_of_an_env_only_id_says_where_it_is_defined(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleting an id only env defines fails (exit 1) and says env holds it."""
    monkeypatch.setenv("HOOKLINE_CONN_ENVY", "http://env-host")
    line = assert_one_error_line(run("connections", "delete", "envy"))
    assert "not found in metastore; nothing deleted (it is defined in env" in line


def test_verbose_logs_go_to_stderr_masked_and_only_for_that_run(
    with_down_backend: MemoryBackend,
) -> None:
    """-vv sends debug records to stderr with secrets masked; the handler is gone afterwards."""
    handlers_before = list(logging.getLogger().handlers)
    with_down_backend.data["a"] = Connection(conn_id="a", conn_type="http", host="h")
    result = run("-vv", "connections", "get", "a", "-o", "uri")
    assert result.exit_code == 0, result.output
    assert "DEBUG hookline.resolve.chain: secrets backend vault unavailable" in result.stderr
    assert_no_canary(result)
    assert logging.getLogger().handlers == handlers_before


def test_list_and_get_through_a_configured_files_backend(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With hookline.toml putting a connections file between env and the metastore, `list` shows
    each backend's connections with its name and `get` answers from the first that has the id."""
    conns_file = tmp_path / "conns.yaml"
    conns_file.write_text(
        f"from_file:\n  conn_type: http\n  host: file-host\n  password: '{CANARY}'\n"
        "warehouse: http://file-warehouse\n"
    )
    home = store.backend.home
    home.mkdir(parents=True, exist_ok=True)
    (home / "hookline.toml").write_text(
        '[secrets]\nbackends = ["env", "files", "metastore"]\n\n'
        f'[secrets.backend.files]\nconnections_file_path = "{conns_file}"\n'
    )
    add_warehouse()
    monkeypatch.setenv("HOOKLINE_CONN_ENVY", "http://env-host")
    rows = json.loads(run("connections", "list", "-o", "json").stdout)
    assert [(r["conn_id"], r["source"]) for r in rows] == [
        ("envy", "env"),
        ("from_file", "files"),
        ("warehouse", "files"),
        ("warehouse", "metastore"),
    ]
    got = json.loads(run("connections", "get", "warehouse", "-o", "json").stdout)
    assert (got["source"], got["host"]) == ("files", "file-warehouse")
    result = run("connections", "list")
    assert "files" in result.stdout
    assert_no_canary(result)
