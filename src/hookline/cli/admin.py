"""``hookline secrets trace``, ``keys generate|rotate`` and ``config show|check``.

``secrets trace`` shows what each backend of the chain said about a connection id, or with
``--variable KEY`` about a variable (keys asked, outcome, time), never a value. ``keys rotate`` re-encrypts the metastore with the first configured Fernet key.
``config show`` prints the effective settings with secrets redacted; ``config check`` validates them
and reaches every configured backend (:mod:`hookline.cli.check`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from hookline import masking
from hookline.cli import common, render
from hookline.cli.common import CliFailure, VerboseOption, register_secrets
from hookline.cli.render import ConfigFormat
from hookline.exceptions import (
    BackendPermissionDenied,
    ConfigurationError,
    ConnectionNotFound,
    DecryptionError,
    InvalidConnection,
    InvalidVariable,
)

if TYPE_CHECKING:
    from hookline.typing import LookupTraceView

__all__ = ["config_app", "keys_app", "secrets_app"]

secrets_app = typer.Typer(
    help="Inspect the secrets chain.", no_args_is_help=True, pretty_exceptions_enable=False
)
keys_app = typer.Typer(
    help="Manage the Fernet keys of the metastore.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(
    help="Show and check the configuration.", no_args_is_help=True, pretty_exceptions_enable=False
)

StructuredOutput = Annotated[
    ConfigFormat, typer.Option("--output", "-o", help="Output format.", case_sensitive=False)
]


def _trace_data(trace: LookupTraceView | None) -> Any:
    data = trace.to_dict() if trace is not None else {"trace": None}
    return render.redact_text_values(data)


def _print_trace(lookup_trace: LookupTraceView | None, output: ConfigFormat, kind: str) -> None:
    if lookup_trace is None:
        return
    console = common.out_console()
    if output in (ConfigFormat.table, ConfigFormat.plain):
        render.write_text(console, masking.redact(str(lookup_trace)))
        return
    data = _trace_data(lookup_trace)
    if kind == "variable" and "conn_id" in data:  # the trace's id is the variable key
        data = {"kind": "variable", "key": data.pop("conn_id"), **data}
    if output is ConfigFormat.json:
        render.write_text(console, render.to_json(data))
    else:
        render.write_text(console, render.to_yaml(data))


@secrets_app.command("trace")
def trace(
    conn_id: Annotated[
        str | None,
        typer.Argument(help="The connection id (omit it with --variable).", show_default=False),
    ] = None,
    variable: Annotated[
        str | None,
        typer.Option(
            "--variable",
            help="Trace the lookup of this variable key instead of a connection.",
            show_default=False,
        ),
    ] = None,
    output: StructuredOutput = ConfigFormat.table,
    verbose: VerboseOption = 0,
) -> None:
    """Show which backends were asked for CONN_ID (or, with --variable KEY, for a variable), under
    which keys, what each said and how long it took. Never prints a secret or a variable's value.
    Exit code 1 when no backend holds it, or when it cannot be read."""
    if variable is not None:
        if conn_id is not None:
            raise typer.BadParameter(
                "give a connection id or --variable KEY, not both", param_hint="CONN_ID"
            )
        _trace_variable(variable, output)
        return
    if conn_id is None:
        raise typer.BadParameter("give a connection id, or --variable KEY", param_hint="CONN_ID")
    found = False
    lookup_trace: LookupTraceView | None
    source: str | None = None
    failure: str | None = None
    try:
        result = common.chain().lookup(conn_id)
    except ConnectionNotFound as exc:
        lookup_trace = exc.trace
    except BackendPermissionDenied as exc:
        lookup_trace = exc.trace
        failure = f"{exc.backend or 'a backend'} denied access to {conn_id!r}: {exc}"
    except (InvalidConnection, DecryptionError) as exc:
        lookup_trace = exc.trace
        failure = f"{conn_id!r} is stored but cannot be read: {exc}"
    else:
        lookup_trace = result.trace
        if result.connection is not None:
            found = True
            source = result.source
            register_secrets(result.connection)
    _print_trace(lookup_trace, output, "connection")
    if failure is not None:
        raise CliFailure(failure)
    if not found:
        raise CliFailure(f"connection {conn_id!r} not found in any backend")
    if output in (ConfigFormat.table, ConfigFormat.plain):
        render.write_text(common.out_console(), f"=> {conn_id!r} resolved from {source}")


def _trace_variable(key: str, output: ConfigFormat) -> None:
    """``secrets trace --variable KEY``: the chain's variable lookup, its trace, never the value.

    The lookup bypasses the cache (like the connection trace) and registers a sensitive key's value
    for masking before anything is printed.
    """
    lookup_trace: LookupTraceView | None
    source: str | None = None
    failure: str | None = None
    try:
        result = common.chain().lookup_variable(key)
    except BackendPermissionDenied as exc:
        lookup_trace = exc.trace
        failure = f"{exc.backend or 'a backend'} denied access to variable {key!r}: {exc}"
    except InvalidVariable as exc:
        lookup_trace = exc.trace
        if lookup_trace is None:  # the key itself is invalid: nothing was asked
            raise
        failure = f"variable {key!r} is stored but cannot be read: {exc}"
    except (InvalidConnection, DecryptionError, ConfigurationError) as exc:
        lookup_trace = exc.trace
        failure = f"variable {key!r} is stored but cannot be read: {exc}"
    else:
        lookup_trace = result.trace  # a sensitive key's value is registered for masking
        source = result.source
    _print_trace(lookup_trace, output, "variable")
    if failure is not None:
        raise CliFailure(failure)
    if source is None:
        assert lookup_trace is not None
        down = lookup_trace.unavailable
        if down:
            raise CliFailure(
                f"variable {key!r} not found, but {', '.join(down)} could not answer, so it may "
                "be defined there"
            )
        raise CliFailure(f"variable {key!r} not found in any backend")
    if output in (ConfigFormat.table, ConfigFormat.plain):
        render.write_text(common.out_console(), f"=> variable {key!r} resolved from {source}")


@keys_app.command("generate")
def generate(verbose: VerboseOption = 0) -> None:
    """Print a new Fernet key (put it first in HOOKLINE_FERNET_KEY, then run `keys rotate`)."""
    from hookline.secrets.metastore.keys import generate_key

    render.write_text(common.out_console(), str(generate_key()))


@keys_app.command("rotate")
def rotate(
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Rows re-encrypted per transaction.")
    ] = 100,
    force: Annotated[
        bool, typer.Option("--force", help="Re-encrypt rows already under the first key too.")
    ] = False,
    verbose: VerboseOption = 0,
) -> None:
    """Re-encrypt every metastore row with the first key of HOOKLINE_FERNET_KEY.

    Connections, the pending versions of rotations in progress and variables. Safe to interrupt and run again: each batch commits on its own and every row stays readable with
    the configured keys.
    """
    from hookline.secrets.metastore import MetastoreBackend

    backend = common.writable_backend()
    if not isinstance(backend, MetastoreBackend):
        raise CliFailure(f"the writable backend {backend.name} has no Fernet keys to rotate")
    with common.progress("Re-encrypting rows") as update:
        count = backend.rotate_keys(batch_size=batch_size, force=force, progress=update)
    render.write_text(
        common.out_console(),
        f"Re-encrypted {count} row{'' if count == 1 else 's'} (connections, pending rotations, "
        f"variables) in {backend.name}",
    )


@config_app.command("show")
def show(output: StructuredOutput = ConfigFormat.table, verbose: VerboseOption = 0) -> None:
    """Print the effective settings, redacted, and where each was set ("origins": file and line,
    variable, airflow.cfg; unset ones are defaults)."""
    from hookline.config import load_settings

    settings = load_settings()
    data = {**settings.as_display_dict(), "origins": dict(sorted(settings.origins.items()))}
    data = render.redact_text_values(data)
    render.render_mapping(data, output, common.out_console())


@config_app.command("check")
def check(verbose: VerboseOption = 0) -> None:
    """Validate the configuration and reach every backend of the chain; exit 1 on any problem.

    Checks that hookline.toml and the HOOKLINE_* variables hold only known sections, keys and
    values; that each backend of [secrets] backends is registered, installed and accepts its
    settings; and that each answers a lookup (connection variables and files are read whole, so
    every malformed entry is listed). Creates nothing.
    """
    from hookline.cli.check import run_checks

    checks = run_checks()
    console = common.out_console()
    for item in checks:
        render.write_text(console, item.line())
    failed = [item for item in checks if not item.ok]
    if failed:
        raise CliFailure(f"configuration check failed: {len(failed)} check(s) failed")
    render.write_text(console, "configuration OK")
