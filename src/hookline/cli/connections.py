"""``hookline connections add|get|list|delete|import|export|test``.

The semantics follow ``airflow connections`` (its flag names, ``--conn-uri``, ``--conn-type``...,
are accepted as aliases) with hookline's safer defaults: output is redacted unless
``--show-secrets``; a duplicate id is an error unless ``--overwrite``; an import is all-or-nothing and
lists every bad entry; ``get`` and ``list`` see every backend of the chain, writes go to its writable
backend (the metastore by default; a remote store such as Vault only when named with
``--backend``); ``list`` and ``export`` fail (exit 1, naming what could not be
read) rather than print or save an incomplete result, unless ``--partial``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from hookline import masking
from hookline._uri import normalize_conn_type
from hookline.cli import airflow_import, common, render, transfer
from hookline.cli.common import CliFailure, VerboseOption, register_secrets
from hookline.cli.render import OutputFormat
from hookline.connection import Connection
from hookline.exceptions import (
    DecryptionError,
    HooklineError,
    InvalidConnection,
    ListingIncomplete,
)
from hookline.resolve.trace import not_found_error
from hookline.secrets.base import SecretsBackend

__all__ = ["FileFormat", "Serialization", "TestOutput", "app"]

log = logging.getLogger(__name__)

app = typer.Typer(
    help="Add, inspect, import, export and test connections.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class FileFormat(StrEnum):
    """The connections-file formats of ``import`` and ``export`` (Airflow's ``connections export``)."""

    json = "json"
    yaml = "yaml"
    env = "env"


class TestOutput(StrEnum):
    """The ``--output`` choices of ``connections test``."""

    table = "table"
    json = "json"


class Serialization(StrEnum):
    """How ``export --format env`` writes each connection (Airflow's ``--serialization-format``)."""

    uri = "uri"
    json = "json"


_EXTENSIONS = {".json": FileFormat.json, ".yaml": FileFormat.yaml, ".yml": FileFormat.yaml}
_EXTENSIONS[".env"] = FileFormat.env

OutputOption = Annotated[
    OutputFormat, typer.Option("--output", "-o", help="Output format.", case_sensitive=False)
]
BackendOption = Annotated[
    str | None,
    typer.Option(
        "--backend",
        help="Write to this backend of the chain (by name, e.g. vault, aws_secrets_manager) "
        "instead of the default writable one (the metastore).",
    ),
]
ShowSecretsOption = Annotated[
    bool, typer.Option("--show-secrets", help="Print passwords and sensitive extras in clear.")
]


def _record_reveal(conn_ids: list[str | None], command: str) -> None:
    """Audit each secret this command is about to print in clear (before printing: with
    ``[audit] fail_closed`` an unrecorded reveal is refused with AuditUnavailable)."""
    from hookline import audit

    for conn_id in conn_ids:
        audit.record(
            "reveal",
            conn_id=conn_id,
            outcome="shown",
            detail=f"hookline connections {command} --show-secrets",
        )


def _stderr(line: str) -> None:
    render.write_text(common.err_console(), masking.redact(line))


def _note(line: str) -> None:
    _stderr(f"note: {line}")


# -- add ------------------------------------------------------------------------------------------


def _build_connection(
    conn_id: str,
    *,
    uri: str | None,
    json_text: str | None,
    fields: dict[str, Any],
    extra: str | None,
    description: str | None,
) -> Connection:
    """Apply Airflow's ``connections add`` rules and build the connection."""
    if uri is not None and json_text is not None:
        raise typer.BadParameter("cannot be combined with --json", param_hint="--uri")
    if uri is None and json_text is None and fields.get("conn_type") is None:
        raise typer.BadParameter(
            "required unless the connection is given by --uri or --json", param_hint="--conn-type"
        )
    if uri is not None or json_text is not None:
        flag = "--uri" if uri is not None else "--json"
        invalid = [
            f"--{name.replace('_', '-')}" for name, value in fields.items() if value is not None
        ]
        if json_text is not None and extra is not None:
            invalid.append("--extra")
        if invalid:
            raise typer.BadParameter(
                f"cannot be combined with {', '.join(invalid)}", param_hint=flag
            )
    if uri is not None:
        conn = Connection.from_uri(uri, conn_id=conn_id)
        if extra is not None:
            conn = conn.replace(extra=extra)
    elif json_text is not None:
        conn = Connection.from_json(json_text, conn_id=conn_id)
        if not conn.conn_type:
            raise InvalidConnection(
                "the --json connection has no conn_type; add one to the JSON", conn_id=conn_id
            )
    else:
        conn = Connection(conn_id=conn_id, extra=extra, **fields)
    if description is not None:
        conn = conn.replace(description=description)
    return conn


def _exists(backend: SecretsBackend, conn_id: str) -> bool:
    try:
        return backend.get_conn_value(conn_id) is not None
    except DecryptionError:
        return True  # a row is there, even if this key cannot read it


def _defined_elsewhere(conn_id: str, backend_name: str) -> str | None:
    """The backend (other than ``backend_name``) that lookups of ``conn_id`` answer from, if any."""
    try:
        source = common.chain().lookup(conn_id).source
    except Exception:  # only used for a hint: a failing read-back must not become the error
        return None
    return source if source is not None and source != backend_name else None


def _shadow_note(conn_id: str, written_to: str) -> None:
    """Warn when another backend of the chain still answers lookups of ``conn_id``."""
    source = _defined_elsewhere(conn_id, written_to)
    if source is not None:
        _note(f"{source} also defines {conn_id!r} and is asked first; lookups return that one")


@app.command("add")
def add(
    conn_id: Annotated[str, typer.Argument(help="The connection id.", show_default=False)],
    uri: Annotated[
        str | None,
        typer.Option("--uri", "--conn-uri", help="The connection as an Airflow URI."),
    ] = None,
    json_text: Annotated[
        str | None,
        typer.Option("--json", "--conn-json", help="The connection as Airflow's JSON form."),
    ] = None,
    conn_type: Annotated[
        str | None,
        typer.Option(
            "--conn-type",
            help="Connection type, normalised as in URIs (postgresql or Postgres: postgres).",
        ),
    ] = None,
    host: Annotated[str | None, typer.Option("--host", "--conn-host")] = None,
    login: Annotated[str | None, typer.Option("--login", "--conn-login")] = None,
    password: Annotated[str | None, typer.Option("--password", "--conn-password")] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from stdin (keeps it out of ps)."),
    ] = False,
    schema: Annotated[str | None, typer.Option("--schema", "--conn-schema")] = None,
    port: Annotated[int | None, typer.Option("--port", "--conn-port", min=0, max=65535)] = None,
    extra: Annotated[
        str | None, typer.Option("--extra", "--conn-extra", help="Extras as a JSON object.")
    ] = None,
    description: Annotated[str | None, typer.Option("--description", "--conn-description")] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing connection with this id.")
    ] = False,
    backend_name: BackendOption = None,
    verbose: VerboseOption = 0,
) -> None:
    """Add a connection to the writable backend (the metastore by default, or --backend NAME).

    Give the connection as --uri, as --json, or as --conn-type plus field flags; an existing id is an
    error unless --overwrite. Airflow's flag names (--conn-uri, --conn-json, --conn-host,
    --conn-login, --conn-password, --conn-schema, --conn-port, --conn-extra, --conn-description)
    work too.
    """
    if password_stdin:
        if password is not None:
            raise typer.BadParameter(
                "cannot be combined with --password", param_hint="--password-stdin"
            )
        password = sys.stdin.readline().rstrip("\r\n")
    masking.register(password)
    if conn_type is not None:
        conn_type = normalize_conn_type(conn_type.strip().lower()) or None
    fields: dict[str, Any] = {
        "conn_type": conn_type,
        "host": host,
        "login": login,
        "password": password,
        "schema": schema,
        "port": port,
    }
    conn = _build_connection(
        conn_id, uri=uri, json_text=json_text, fields=fields, extra=extra, description=description
    )
    register_secrets(conn)
    backend = common.writable_backend(backend_name)
    if not overwrite and _exists(backend, conn_id):
        raise CliFailure(
            f"connection {conn_id!r} already exists in {backend.name}; "
            "use --overwrite to replace it"
        )
    common.chain().set_connection(conn, overwrite=overwrite, backend=backend_name)
    verb = "Saved" if overwrite else "Added"
    render.write_text(
        common.out_console(),
        f"{verb} connection {conn_id!r} ({conn.get_redacted_uri()}) to {backend.name}",
    )
    _shadow_note(conn_id, backend.name)
    common.invalidate()


# -- get / list -----------------------------------------------------------------------------------


def lookup(conn_id: str) -> tuple[Connection, str | None, Any]:
    """Resolve ``conn_id`` through the chain, uncached; return the connection, its source, the trace.

    Raises:
        ConnectionNotFound: no backend holds it.
    """
    result = common.chain().lookup(conn_id)
    conn = result.connection
    if conn is None:
        raise not_found_error(result.trace)
    register_secrets(conn)
    return conn, result.source, result.trace


@app.command("get")
def get(
    conn_id: Annotated[str, typer.Argument(help="The connection id.", show_default=False)],
    output: OutputOption = OutputFormat.table,
    show_secrets: ShowSecretsOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """Show one connection, from whichever backend of the chain holds it (redacted by default)."""
    conn, source, _ = lookup(conn_id)
    if show_secrets:
        _record_reveal([conn.conn_id or conn_id], "get")
    render.render_connection(conn, source, output, common.out_console(), show_secrets=show_secrets)


def _failure_detail(backend: str, exc: Exception, conn_id: str | None = None) -> str:
    """``backend: conn_id: reason`` for one listing failure (masked by the caller's printer)."""
    if conn_id is None and isinstance(exc, DecryptionError | InvalidConnection):
        conn_id = exc.conn_id
    what = f"{backend}: {conn_id}" if conn_id else backend
    reason = str(exc) if isinstance(exc, HooklineError) else f"{type(exc).__name__}: {exc}"
    return f"{what}: {reason}"


PartialOption = Annotated[
    bool,
    typer.Option(
        "--partial",
        help="When some connections cannot be read (an undecryptable row, a malformed variable, a "
        "backend down), go on with the others and exit 0 with a warning, instead of failing.",
    ),
]


def list_rows(
    source: str | None = None, *, partial: bool = False, action: str = "list"
) -> list[tuple[str, Connection]]:
    """Every backend's connections as ``(backend name, connection)``, sorted by id then chain order.

    Raises:
        CliFailure: a backend (of ``source``, when given) could not list every connection and
            ``partial`` is False; the details say which backend, which row and why. With
            ``partial``, the same lines are printed as warnings and the readable rows returned.
    """
    failures: list[str] = []

    def failed(backend: str, exc: Exception) -> None:
        if source is not None and backend != source:
            return
        if isinstance(exc, ListingIncomplete):  # the rows it could not read, one line each
            for failure in exc.failures:
                if failure.conn_id is not None and isinstance(failure.error, Exception):
                    failures.append(_failure_detail(backend, failure.error, failure.conn_id))
                elif isinstance(failure.error, Exception):
                    failures.append(_failure_detail(backend, failure.error))
            return
        failures.append(_failure_detail(backend, exc))

    with common.progress("Reading connections"):
        rows: list[tuple[str, Connection]] = list(common.chain().list_connections(on_error=failed))
    if source is not None:
        rows = [row for row in rows if row[0] == source]
    rows.sort(key=lambda row: row[1].conn_id or "")
    for _, conn in rows:
        register_secrets(conn)
    if failures and not partial:
        raise CliFailure(
            f"cannot {action} every connection: {len(failures)} problem(s); nothing "
            f"{'printed' if action == 'list' else 'exported'} (fix them, or use --partial to "
            "go on without the connections that cannot be read)",
            failures,
        )
    for failure in failures:
        _stderr(f"warning: incomplete ({len(failures)} problem(s), --partial): {failure}")
    return rows


SourceOption = Annotated[
    str | None, typer.Option("--source", help="Only the connections of this backend.")
]


@app.command("list")
def list_(
    output: OutputOption = OutputFormat.table,
    show_secrets: ShowSecretsOption = False,
    source: SourceOption = None,
    partial: PartialOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """List the connections of every backend of the chain, with the backend that holds each.

    When a connection cannot be read (an undecryptable row, a malformed variable, a backend down),
    nothing is printed and the exit code is 1, with each problem on stderr, unless --partial.
    """
    rows = list_rows(source, partial=partial)
    if show_secrets:
        _record_reveal([conn.conn_id for _, conn in rows], "list")
    render.render_connections(rows, output, common.out_console(), show_secrets=show_secrets)


# -- delete ---------------------------------------------------------------------------------------


@app.command("delete")
def delete(
    conn_id: Annotated[str, typer.Argument(help="The connection id.", show_default=False)],
    backend_name: BackendOption = None,
    verbose: VerboseOption = 0,
) -> None:
    """Delete a connection from the writable backend (or --backend NAME)."""
    backend = common.writable_backend(backend_name)
    if not common.chain().delete_connection(conn_id, backend=backend_name):
        source = _defined_elsewhere(conn_id, backend.name)
        hint = f" (it is defined in {source}, which hookline does not write)" if source else ""
        raise CliFailure(
            f"connection {conn_id!r} not found in {backend.name}; nothing deleted{hint}"
        )
    render.write_text(common.out_console(), f"Deleted connection {conn_id!r} from {backend.name}")
    _shadow_note(conn_id, backend.name)
    common.invalidate()


# -- test -----------------------------------------------------------------------------------------


@app.command("test")
def connection_test(
    conn_id: Annotated[
        str | None, typer.Argument(help="The connection id.", show_default=False)
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Test every connection the chain can list, in parallel.")
    ] = False,
    output: Annotated[
        TestOutput, typer.Option("--output", "-o", help="Output format.", case_sensitive=False)
    ] = TestOutput.table,
    timeout_s: Annotated[
        float, typer.Option("--timeout", help="Seconds one connection test may take.")
    ] = 10.0,
    parallel: Annotated[int, typer.Option("--parallel", help="Tests run at once.")] = 8,
    verbose: VerboseOption = 0,
) -> None:
    """Build the connection's hook and make one real round trip; exit 0 on success, 1 on failure.

    With ``--all``, every connection is tested (``--parallel`` at once, ``--timeout`` each) and a
    table (or ``-o json``) lists the results; the exit status is 1 when any failed.
    """
    if all_ or output is TestOutput.json:
        _test_many(conn_id, all_, output, timeout_s, parallel)
        return
    if conn_id is None:
        raise CliFailure("give a connection id, or --all")
    conn, _, _ = lookup(conn_id)
    from hookline.registry import hook_class_for

    hook_class = hook_class_for(conn.conn_type or "")
    hook = hook_class(conn)
    try:
        ok, message = hook.test_connection()
    finally:
        close = getattr(hook, "close", None)
        if callable(close):
            close()
    message = masking.redact(str(message))
    if not ok:
        raise CliFailure(f"connection {conn_id!r} test failed: {message}")
    render.write_text(common.out_console(), f"Connection {conn_id!r} OK: {message}")


def _test_many(
    conn_id: str | None, all_: bool, output: TestOutput, timeout_s: float, parallel: int
) -> None:
    from hookline import health

    if all_ and conn_id is not None:
        raise CliFailure("give a connection id or --all, not both")
    if timeout_s <= 0 or parallel < 1:
        raise CliFailure("--timeout must be > 0 and --parallel >= 1")
    ids = health.all_conn_ids() if all_ else [conn_id or ""]
    if not ids:
        raise CliFailure("no connections to test: the chain lists none")
    results = health.check_connections(ids, timeout_s=timeout_s, max_workers=parallel)
    failed = [r for r in results if not r.ok]
    if output is TestOutput.json:
        render.write_text(common.out_console(), render.to_json([r.to_dict() for r in results]))
    else:
        from rich.table import Table

        table = Table("conn_id", "result", "time", "message")
        for r in results:
            table.add_row(
                r.conn_id, "ok" if r.ok else "FAILED", f"{r.elapsed_s * 1000:.0f} ms", r.message
            )
        common.out_console().print(table)
    if failed:
        raise CliFailure(
            f"{len(failed)} of {len(results)} connection test(s) failed: "
            + ", ".join(r.conn_id for r in failed)
        )


# -- import / export ------------------------------------------------------------------------------


def _file_format(path: str, fmt: FileFormat | None) -> FileFormat:
    if fmt is not None:
        return fmt
    if path == "-":
        return FileFormat.json
    found = _EXTENSIONS.get(Path(path).suffix.lower())
    if found is None:
        raise typer.BadParameter(
            f"cannot tell the format of {path!r} from its extension; give json, yaml or env",
            param_hint="--format",
        )
    return found


FormatOption = Annotated[
    FileFormat | None,
    typer.Option(
        "--format",
        "--file-format",
        help="File format (default: from the extension; JSON for stdin/stdout).",
        case_sensitive=False,
    ),
]


def _entry_problems(conns: dict[str, Connection], existing: set[str], overwrite: bool) -> list[str]:
    problems: list[str] = []
    for conn_id, conn in conns.items():
        if conn_id in existing and not overwrite:
            problems.append(f"{conn_id}: already exists; use --overwrite to replace it")
        if conn.password == masking.REDACTED or _holds_placeholder(conn.extra):
            problems.append(
                f"{conn_id}: holds the redaction placeholder '***' instead of a secret "
                "(export with --show-secrets to get a file that can be imported)"
            )
    return problems


@app.command("import")
def import_(
    file: Annotated[
        str | None, typer.Argument(help="Connections file, or - for stdin.", show_default=False)
    ] = None,
    fmt: FormatOption = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace connections that already exist.")
    ] = False,
    from_airflow_db: airflow_import.FromAirflowDbOption = None,
    airflow_fernet_key: airflow_import.AirflowKeyOption = None,
    dry_run: airflow_import.DryRunOption = False,
    ignore_teams: airflow_import.IgnoreTeamsOption = False,
    backend_name: BackendOption = None,
    verbose: VerboseOption = 0,
) -> None:
    """Import a connections file, or an Airflow metadata database, into the writable backend
    (or, for a file, the backend named by --backend NAME).

    Accepts Airflow's JSON, YAML and env forms, a JSON or YAML list of connection objects (each with
    its conn_id), and the HOOKLINE_CONN_<ID>=... lines that `-o env` prints. All or nothing: when
    any entry is invalid, nothing is written and every bad entry is listed.

    With --from-airflow-db URL, the connections of an Airflow 2.x or 3.x metadata database
    (SQLite, PostgreSQL) are decrypted with Airflow's Fernet key and re-encrypted with hookline's,
    in one transaction; --dry-run lists what would change. Ids held with the same values are left
    alone; other existing ids need --overwrite.
    """
    if from_airflow_db is not None:
        if backend_name is not None:
            raise typer.BadParameter(
                "--from-airflow-db imports into the metastore", param_hint="--backend"
            )
        if file is not None or fmt is not None:
            raise typer.BadParameter(
                "give a connections file or --from-airflow-db, not both", param_hint="FILE"
            )
        airflow_import.import_connections(
            from_airflow_db,
            airflow_fernet_key,
            overwrite=overwrite,
            dry_run=dry_run,
            ignore_teams=ignore_teams,
        )
        return
    if airflow_fernet_key is not None or dry_run or ignore_teams:
        raise typer.BadParameter(
            "--airflow-fernet-key, --dry-run and --ignore-teams work with --from-airflow-db",
            param_hint="--from-airflow-db",
        )
    if file is None:
        raise typer.BadParameter("give a connections file (- for stdin) or --from-airflow-db")
    file_format = _file_format(file, fmt)
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliFailure(f"cannot read {file}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CliFailure(f"cannot read {file}: it is not UTF-8 text") from None
    from hookline.exceptions import ConnectionsFileError

    source = "<stdin>" if file == "-" else file
    try:
        conns = transfer.parse_import_text(text, file_format.value, source)
    except ConnectionsFileError as exc:
        details = [
            f"line {line}: {message}" if line is not None else str(message)
            for line, message in exc.errors
        ] or [str(exc)]
        raise CliFailure(
            f"{source}: {len(details)} invalid entr{'y' if len(details) == 1 else 'ies'}; "
            "nothing imported",
            details,
        ) from None
    for conn in conns.values():
        register_secrets(conn)
    backend = common.writable_backend(backend_name)
    existing = {conn_id for conn_id in conns if _exists(backend, conn_id)}
    problems = _entry_problems(conns, existing, overwrite)
    if problems:
        raise CliFailure(
            f"{source}: {len(problems)} invalid entr{'y' if len(problems) == 1 else 'ies'}; "
            "nothing imported",
            problems,
        )
    # One transaction on the metastore: all rows or none, even if the process is killed.
    with common.progress("Importing connections", total=len(conns)) as update:
        common.chain().set_connections(
            list(conns.values()), overwrite=overwrite, backend=backend_name
        )
        update(len(conns))
    common.invalidate()
    replaced = f" ({len(existing)} replaced)" if existing else ""
    render.write_text(
        common.out_console(),
        f"Imported {len(conns)} connection{'' if len(conns) == 1 else 's'} "
        f"into {backend.name}{replaced}",
    )


def _redacted_copy(conn: Connection) -> Connection:
    changes: dict[str, Any] = {}
    if conn.password is not None:
        changes["password"] = masking.REDACTED
    host = conn.to_dict(redact=True)["host"]  # a URL host's credentials (https://u:pw@api)
    if host != conn.host:
        changes["host"] = host
    if conn.extra:
        changes["extra"] = masking.redact_mapping(conn.extra)
    return conn.replace(**changes) if changes else conn


def _holds_placeholder(value: Any) -> bool:
    if isinstance(value, str):
        return value == masking.REDACTED
    if isinstance(value, Mapping):
        return any(_holds_placeholder(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_placeholder(item) for item in value)
    return False


@app.command("export")
def export(
    file: Annotated[str, typer.Argument(help="Output file, or - for stdout.")] = "-",
    fmt: FormatOption = None,
    show_secrets: Annotated[
        bool,
        typer.Option(
            "--show-secrets",
            help="Write passwords and sensitive extras in clear (needed to import the file back).",
        ),
    ] = False,
    source: SourceOption = None,
    serialization: Annotated[
        Serialization,
        typer.Option(
            "--serialization-format",
            help="How env lines hold a connection: uri, or json (keeps the description; Airflow's "
            "connections import reads env values as URIs only).",
            case_sensitive=False,
        ),
    ] = Serialization.uri,
    partial: PartialOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """Export connections as an Airflow connections file (JSON, YAML or env), sorted by id.

    Without --source, each id appears once, as lookups would return it (the first backend of the
    chain that holds it). Secrets are written as *** unless --show-secrets. A connection that cannot
    be read fails the export (exit 1, no file written) unless --partial. FILE is replaced
    atomically, mode 0600; a symbolic link is refused, never followed.
    """
    file_format = _file_format(file, fmt)
    conns: dict[str, Connection] = {}
    for _, conn in list_rows(source, partial=partial, action="export"):
        if conn.conn_id is not None:
            conns.setdefault(conn.conn_id, conn)
    has_secrets = any(c.password or c.sensitive_extra_keys() for c in conns.values())
    if show_secrets:
        _record_reveal(list(conns), "export")
    else:
        conns = {conn_id: _redacted_copy(conn) for conn_id, conn in conns.items()}
    from hookline.secrets.files import render_connections

    text = render_connections(conns, file_format.value, serialization=serialization.value)
    if file == "-":
        sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
        sys.stdout.flush()
    else:
        try:
            transfer.write_private(Path(file), text)
        except OSError as exc:
            raise CliFailure(f"cannot write {file}: {exc.strerror or exc}") from None
        render.write_text(
            common.out_console(),
            f"Exported {len(conns)} connection{'' if len(conns) == 1 else 's'} to {file}",
        )
    if not conns:
        _note("there were no connections to export" + (f" in {source}" if source else ""))
    if has_secrets and not show_secrets:
        _note("secrets are written as ***; use --show-secrets for a file that can be imported")
