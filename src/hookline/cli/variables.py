"""``hookline variables get|set|list|delete|import|export``.

The semantics follow ``airflow variables`` (``get --default/--json``, ``set --json``, ``import
--action-on-existing-key``, ``export`` as a JSON object sorted by key) with hookline's safer defaults:

* ``get`` prints the value of a variable whose key looks sensitive (``*_password``, ``*_token``,
  ``api_key``...) as ``***`` unless ``--show-secrets``; ``export`` writes those values as ``***``
  unless ``--show-secrets``, and ``import`` refuses a file holding that placeholder;
* ``set --stdin`` reads the value from stdin, keeping it out of the process list;
* ``import`` is all or nothing (one transaction in the metastore), lists every bad entry, and an
  existing key is an error unless ``--action-on-existing-key overwrite`` (Airflow's default) or
  ``skip``;
* ``list`` and ``export`` fail (exit 1, naming what could not be read) rather than print or save an
  incomplete result, unless ``--partial``; ``delete`` of a key the store does not hold exits 1.

Reads see every backend of the chain; writes go to its first backend that stores variables (the
metastore by default), or to a remote store such as Vault when named with ``--backend NAME``.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from hookline import masking
from hookline.cli import airflow_import, common, render, transfer
from hookline.cli.common import CliFailure, VerboseOption
from hookline.cli.render import OutputFormat
from hookline.exceptions import (
    DecryptionError,
    HooklineError,
    ListingIncomplete,
    VariablesFileError,
)
from hookline.resolve.variables import deserialize_variable, variable_not_found

__all__ = ["ExistingKey", "app"]

app = typer.Typer(
    help="Get, set, list, delete, import and export Variables (Airflow's key/value settings).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class ExistingKey(StrEnum):
    """What ``import`` does with a key that exists already (Airflow's ``--action-on-existing-key``)."""

    fail = "fail"
    overwrite = "overwrite"
    skip = "skip"


class FileFormat(StrEnum):
    """The file formats of ``import`` (Airflow reads JSON, YAML and env; it exports JSON only)."""

    json = "json"
    yaml = "yaml"
    env = "env"


_EXTENSIONS = {".json": FileFormat.json, ".yaml": FileFormat.yaml, ".yml": FileFormat.yaml}
_EXTENSIONS[".env"] = FileFormat.env

KeyArgument = Annotated[str, typer.Argument(help="The variable key.", show_default=False)]
ShowSecretsOption = Annotated[
    bool,
    typer.Option("--show-secrets", help="Print values of sensitive keys (password, token...)."),
]
PartialOption = Annotated[
    bool,
    typer.Option(
        "--partial",
        help="When some variables cannot be read (an undecryptable row, a backend down), go on "
        "with the others and exit 0 with a warning, instead of failing.",
    ),
]
BackendOption = Annotated[
    str | None,
    typer.Option(
        "--backend",
        help="Write to this backend of the chain (by name, e.g. vault, aws_secrets_manager) "
        "instead of the default one that stores variables (the metastore).",
    ),
]
SourceOption = Annotated[
    str | None, typer.Option("--source", help="Only the variables of this backend.")
]


def _stderr(line: str) -> None:
    render.write_text(common.err_console(), masking.redact(line))


def _is_secret(key: str) -> bool:
    return masking.is_sensitive_key(key)


def _shown(key: str, value: str, show_secrets: bool) -> str:
    """The value as printed: in clear with ``show_secrets``; else ``***`` for a sensitive key, and
    a JSON object's members under sensitive keys (at any depth) as ``***``."""
    if show_secrets:
        return value
    if _is_secret(key):
        return masking.REDACTED
    if value.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            return str(masking.redact(value))
        redacted = _redact_json(data)
        if redacted != data:
            return json.dumps(redacted, indent=2, ensure_ascii=False)
    return value


def _record_reveals(pairs: list[tuple[str, str]], command: str) -> None:
    """Audit each value ``--show-secrets`` prints in clear that would otherwise be hidden (before
    printing: with ``[audit] fail_closed`` an unrecorded reveal is refused)."""
    from hookline import audit

    for key, value in pairs:
        if _shown(key, value, False) != value:
            audit.record(
                "variable_reveal",
                conn_id=key,
                outcome="shown",
                detail=f"hookline variables {command} --show-secrets",
            )


def _holds_placeholder(value: str) -> bool:
    """Whether an imported value is (or holds, as a JSON member) the redaction placeholder."""
    if value == masking.REDACTED:
        return True
    return f'"{masking.REDACTED}"' in value


# -- get ------------------------------------------------------------------------------------------


@app.command("get")
def get(
    key: KeyArgument,
    default: Annotated[
        str | None,
        typer.Option("--default", "-d", help="Print this when the variable is not defined."),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", "-j", help="Parse the value as JSON and print it indented."),
    ] = False,
    show_secrets: ShowSecretsOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """Print a variable's value, from whichever backend of the chain holds it.

    The value of a key that looks sensitive is printed as *** unless --show-secrets. A variable no
    backend holds exits 1 (unless --default); so does one a backend could not answer for, even
    with --default.
    """
    result = common.chain().lookup_variable(key)
    if result.value is None:
        error = variable_not_found(result.trace)
        if default is not None and not result.trace.unavailable:
            render.write_text(common.out_console(), default)
            return
        raise error
    value = result.value
    if show_secrets:
        _record_reveals([(key, value)], "get")
    if as_json:
        data: Any = deserialize_variable(key, value)
        if not show_secrets:
            data = masking.REDACTED if _is_secret(key) else _redact_json(data)
        text = json.dumps(data, indent=2, ensure_ascii=False)
    else:
        text = _shown(key, value, show_secrets)
    render.write_text(common.out_console(), text)
    if text == masking.REDACTED and not show_secrets:
        _stderr(f"note: {key!r} looks sensitive; its value is hidden (use --show-secrets)")


def _redact_json(data: Any) -> Any:
    if isinstance(data, dict):
        return masking.redact_mapping(data)
    if isinstance(data, list):
        return [_redact_json(item) for item in data]
    return data


# -- set / delete ---------------------------------------------------------------------------------


@app.command("set")
def set_(
    key: KeyArgument,
    value: Annotated[
        str | None,
        typer.Argument(help="The value (omit it with --stdin).", show_default=False),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", "-j", help="The value is JSON: check it and store it as indented JSON."
        ),
    ] = False,
    stdin: Annotated[
        bool,
        typer.Option("--stdin", help="Read the value from stdin (keeps it out of ps)."),
    ] = False,
    backend_name: BackendOption = None,
    verbose: VerboseOption = 0,
) -> None:
    """Create or replace a variable in the backend that stores variables (the metastore by
    default, or --backend NAME)."""
    if stdin:
        if value is not None:
            raise typer.BadParameter(
                "cannot be combined with a VALUE argument", param_hint="--stdin"
            )
        value = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    if value is None:
        raise typer.BadParameter("give the value, or --stdin", param_hint="VALUE")
    if _is_secret(key):
        masking.register(value)
    if as_json:
        value = json.dumps(deserialize_variable(key, value), indent=2)
    chain = common.chain()
    backend = chain.variable_writable_backend(backend_name)
    existed = _exists(backend, key)
    chain.set_variable(key, value, backend=backend_name)
    common.invalidate()
    render.write_text(
        common.out_console(),
        f"Variable {key} {'updated' if existed else 'created'} in {backend.name}",
    )


def _exists(backend: Any, key: str) -> bool:
    try:
        return backend.get_variable(key) is not None
    except DecryptionError:
        return True  # a row is there, even if this key cannot read it


@app.command("delete")
def delete(
    key: KeyArgument, backend_name: BackendOption = None, verbose: VerboseOption = 0
) -> None:
    """Delete a variable from the backend that stores variables (or --backend NAME); exit 1 when
    it is not there."""
    chain = common.chain()
    backend = chain.variable_writable_backend(backend_name)
    if not chain.delete_variable(key, backend=backend_name):
        raise CliFailure(f"variable {key!r} not found in {backend.name}; nothing deleted")
    common.invalidate()
    render.write_text(common.out_console(), f"Variable {key} deleted from {backend.name}")


# -- list -----------------------------------------------------------------------------------------


def list_rows(
    source: str | None, *, partial: bool, action: str = "list"
) -> list[tuple[str, str, str]]:
    """``(backend, key, value)`` of every listable backend, sorted by key then chain order.

    Raises:
        CliFailure: something could not be read and ``partial`` is False (every problem listed).
    """
    failures: list[str] = []

    def failed(backend: str, exc: Exception) -> None:
        if source is not None and backend != source:
            return
        if isinstance(exc, ListingIncomplete):
            for failure in exc.failures:
                what = f"{backend}: {failure.conn_id}" if failure.conn_id else backend
                failures.append(f"{what}: {failure.error}")
            return
        reason = str(exc) if isinstance(exc, HooklineError) else f"{type(exc).__name__}: {exc}"
        failures.append(f"{backend}: {reason}")

    rows = common.chain().list_variables(on_error=failed)
    if source is not None:
        rows = [row for row in rows if row[0] == source]
    rows.sort(key=lambda row: row[1])
    if failures and not partial:
        raise CliFailure(
            f"cannot {action} every variable: {len(failures)} problem(s); nothing "
            f"{'printed' if action == 'list' else 'exported'} (fix them, or use --partial to go "
            "on without the variables that cannot be read)",
            failures,
        )
    for failure in failures:
        _stderr(f"warning: incomplete ({len(failures)} problem(s), --partial): {failure}")
    return rows


@app.command("list")
def list_(
    output: Annotated[
        OutputFormat,
        typer.Option(
            "--output", "-o", help="Output format (table, plain, json, yaml).", case_sensitive=False
        ),
    ] = OutputFormat.table,
    show_values: Annotated[
        bool,
        typer.Option("--show-values", help="Print the values too (sensitive ones as ***)."),
    ] = False,
    show_secrets: ShowSecretsOption = False,
    source: SourceOption = None,
    partial: PartialOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """List the variables of every backend that can list them, with the backend holding each.

    Keys only, as Airflow prints them, unless --show-values. When a variable cannot be read,
    nothing is printed and the exit code is 1, with each problem on stderr, unless --partial.
    """
    if output in (OutputFormat.uri, OutputFormat.env):
        raise typer.BadParameter("use table, plain, json or yaml", param_hint="--output")
    rows = list_rows(source, partial=partial)
    if show_secrets:
        _record_reveals([(key, value) for _, key, value in rows], "list")
    records: list[dict[str, str]] = []
    for backend, key, value in rows:
        record = {"key": key, "backend": backend}
        if show_values or show_secrets:
            record["value"] = _shown(key, value, show_secrets)
        records.append(record)
    console = common.out_console()
    if output is OutputFormat.json:
        render.write_text(console, render.to_json(records))
    elif output is OutputFormat.yaml:
        render.write_text(console, render.to_yaml(records))
    else:
        header = ["key", "backend", *(["value"] if show_values or show_secrets else [])]
        table_rows = [[record[name] for name in header] for record in records]
        if output is OutputFormat.plain:
            render.write_text(console, render.plain_table(header, table_rows))
        else:
            from rich.table import Table

            table = Table(*header)
            for row in table_rows:
                table.add_row(*row)
            console.print(table)


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


@app.command("import")
def import_(
    file: Annotated[
        str | None,
        typer.Argument(
            help="Variables file (JSON, YAML or env), or - for stdin.", show_default=False
        ),
    ] = None,
    fmt: Annotated[
        FileFormat | None,
        typer.Option(
            "--format",
            help="File format (default: from the extension; JSON for stdin).",
            case_sensitive=False,
        ),
    ] = None,
    action_on_existing_key: Annotated[
        ExistingKey,
        typer.Option(
            "--action-on-existing-key",
            "-a",
            help="What to do with keys that exist already: fail (nothing is imported), "
            "overwrite, or skip them.",
            case_sensitive=False,
        ),
    ] = ExistingKey.fail,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Same as --action-on-existing-key overwrite.")
    ] = False,
    from_airflow_db: airflow_import.FromAirflowDbOption = None,
    airflow_fernet_key: airflow_import.AirflowKeyOption = None,
    dry_run: airflow_import.DryRunOption = False,
    ignore_teams: airflow_import.IgnoreTeamsOption = False,
    backend_name: BackendOption = None,
    verbose: VerboseOption = 0,
) -> None:
    """Import a variables file (what `airflow variables export` writes, or Airflow's YAML and env
    variables files) into the backend that stores variables (or --backend NAME), all or nothing.

    Values that are not text are stored as JSON, as Airflow does. When any entry is invalid, or a
    key exists (with the default --action-on-existing-key fail), nothing is written and every
    problem is listed.

    With --from-airflow-db URL, the variables of an Airflow 2.x or 3.x metadata database (SQLite,
    PostgreSQL) are decrypted with Airflow's Fernet key and stored in one transaction; --dry-run
    lists what would change. Keys held with the same value are left alone.
    """
    if overwrite and action_on_existing_key is ExistingKey.skip:
        raise typer.BadParameter(
            "--overwrite contradicts --action-on-existing-key skip; give one of them",
            param_hint="--overwrite",
        )
    action = ExistingKey.overwrite if overwrite else action_on_existing_key
    if from_airflow_db is not None:
        if file is not None or fmt is not None:
            raise typer.BadParameter(
                "give a variables file or --from-airflow-db, not both", param_hint="FILE"
            )
        if backend_name is not None:
            raise typer.BadParameter(
                "--from-airflow-db imports into the metastore", param_hint="--backend"
            )
        airflow_import.import_variables(
            from_airflow_db,
            airflow_fernet_key,
            overwrite=action is ExistingKey.overwrite,
            skip=action is ExistingKey.skip,
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
        raise typer.BadParameter("give a variables file (- for stdin) or --from-airflow-db")
    file_format = _file_format(file, fmt)
    source = "<stdin>" if file == "-" else file
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliFailure(f"cannot read {file}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CliFailure(f"cannot read {file}: it is not UTF-8 text") from None
    from hookline.secrets.variables_file import parse_variables_import

    try:
        variables, described = parse_variables_import(text, file_format.value, source)
    except VariablesFileError as exc:
        details = [
            f"line {line}: {message}" if line is not None else str(message)
            for line, message in exc.errors
        ]
        raise CliFailure(
            f"{source}: {len(details)} invalid entr{'y' if len(details) == 1 else 'ies'}; "
            "nothing imported",
            details,
        ) from None
    for key, value in variables.items():
        if _is_secret(key):
            masking.register(value)
    chain = common.chain()
    backend = chain.variable_writable_backend(backend_name)
    existing = sorted(key for key in variables if _exists(backend, key))
    problems = [
        f"variable {key!r} holds the redaction placeholder *** instead of its value (export "
        "with --show-secrets to get a file that can be imported)"
        for key, value in variables.items()
        if _holds_placeholder(value)
    ]
    if existing and action is ExistingKey.fail:
        problems.extend(
            f"variable {key!r} already exists; use --action-on-existing-key overwrite or skip"
            for key in existing
        )
    if problems:
        raise CliFailure(
            f"{source}: {len(problems)} invalid entr{'y' if len(problems) == 1 else 'ies'}; "
            "nothing imported",
            problems,
        )
    skipped = existing if action is ExistingKey.skip else []
    items = [(key, value) for key, value in variables.items() if key not in skipped]
    with common.progress("Importing variables", total=len(items)) as update:
        chain.set_variables(items, overwrite=action is ExistingKey.overwrite, backend=backend_name)
        update(len(items))
    common.invalidate()
    replaced = len(existing) if action is ExistingKey.overwrite else 0
    render.write_text(
        common.out_console(),
        f"Imported {len(items)} variable{'' if len(items) == 1 else 's'} into {backend.name}"
        + (f" ({replaced} replaced)" if replaced else "")
        + (f" ({len(skipped)} skipped: {', '.join(skipped)})" if skipped else ""),
    )
    if described:
        _stderr(f"note: hookline keeps no descriptions; dropped those of {', '.join(described)}")


@app.command("export")
def export(
    file: Annotated[str, typer.Argument(help="Output file, or - for stdout.")] = "-",
    show_secrets: Annotated[
        bool,
        typer.Option(
            "--show-secrets",
            help="Write values of sensitive keys in clear (needed to import the file back).",
        ),
    ] = False,
    source: SourceOption = None,
    partial: PartialOption = False,
    verbose: VerboseOption = 0,
) -> None:
    """Export variables as `airflow variables export` does: one JSON object sorted by key, each
    value decoded from JSON when it is JSON.

    Without --source, each key appears once, as lookups would return it (the first backend of the
    chain that holds it). Values of sensitive keys are written as *** unless --show-secrets. A
    variable that cannot be read fails the export (exit 1, no file written) unless --partial.
    FILE is replaced atomically, mode 0600; a symbolic link is refused, never followed.
    """
    from hookline.secrets.variables_file import render_variables_json

    variables: dict[str, str] = {}
    for _, key, value in list_rows(source, partial=partial, action="export"):
        variables.setdefault(key, value)
    if not show_secrets:
        shown = {key: _shown(key, value, False) for key, value in variables.items()}
        hidden = [key for key in variables if shown[key] != variables[key]]
        variables = shown
    else:
        hidden = []
        _record_reveals(list(variables.items()), "export")
    text = render_variables_json(variables)
    if file == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        try:
            transfer.write_private(Path(file), text)
        except OSError as exc:
            raise CliFailure(f"cannot write {file}: {exc.strerror or exc}") from None
        render.write_text(
            common.out_console(),
            f"Exported {len(variables)} variable{'' if len(variables) == 1 else 's'} to {file}",
        )
    if not variables:
        _stderr("note: there were no variables to export" + (f" in {source}" if source else ""))
    if hidden and not show_secrets:
        _stderr(
            f"note: {len(hidden)} value(s) hold sensitive data written as ***; use "
            "--show-secrets for a file that can be imported"
        )
