"""The ``hookline`` command: the root typer app, error handling and the console-script entry point.

Exit codes: 0 on success; 1 on an expected failure (not found, invalid input, backend errors), printed
as one masked ``error:`` line on stderr without a traceback; 2 on usage errors (click's default).
Masking is always installed, so log lines never carry a resolved secret. ``-v``/``--verbose`` is
accepted anywhere on the command line (``hookline connections list -v``), as in Airflow, and shell
completion is on (``hookline --install-completion``).
"""

from __future__ import annotations

import traceback
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from hookline import __version__, masking
from hookline.cli import admin, common, connections, pipelines, render
from hookline.cli import audit as audit_cli
from hookline.cli import metrics as metrics_cli
from hookline.cli import rotate as rotate_cli
from hookline.cli import server as server_cli
from hookline.cli import variables as variables_cli
from hookline.cli.common import CliFailure, err_console, out_console
from hookline.exceptions import (
    ConfigurationError,
    ConnectionNotFound,
    ConnectionUnresolved,
    HooklineError,
    VariableNotFound,
    VariableUnresolved,
)
from hookline.resolve.trace import LookupTrace

__all__ = ["app", "main"]


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _report(message: str, details: tuple[str, ...] = ()) -> None:
    lines = [f"error: {masking.redact(_one_line(message))}"]
    lines.extend(f"  {masking.redact(_one_line(detail))}" for detail in details)
    render.write_text(err_console(), "\n".join(lines))


def _not_found_message(exc: ConnectionNotFound | ConnectionUnresolved) -> str:
    """One line: which backends were asked, which could not answer, where to see the whole trace."""
    trace = exc.trace
    asked = [step.backend for step in trace.steps] if isinstance(trace, LookupTrace) else []
    down = trace.unavailable if isinstance(trace, LookupTrace) else []
    message = f"connection {exc.conn_id!r} not found"
    if asked:
        message += f" (asked: {', '.join(asked)})"
    if down:
        message += f"; {', '.join(down)} could not answer, so it may be defined there"
    return f"{message}; run 'hookline secrets trace {exc.conn_id}' for details"


def _variable_not_found_message(exc: VariableNotFound | VariableUnresolved) -> str:
    """One line, like :func:`_not_found_message`, for a variable."""
    trace = exc.trace
    asked = [step.backend for step in trace.steps] if isinstance(trace, LookupTrace) else []
    down = trace.unavailable if isinstance(trace, LookupTrace) else []
    message = f"variable {exc.key!r} not found"
    if asked:
        message += f" (asked: {', '.join(asked)})"
    if down:
        message += f"; {', '.join(down)} could not answer, so it may be defined there"
    return message


class _Group(TyperGroup):
    """The root group: turns expected errors raised by any subcommand into exit code 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except CliFailure as exc:
            _report(exc.message, exc.details)
            raise typer.Exit(exc.exit_code) from None
        except (ConnectionNotFound, ConnectionUnresolved) as exc:
            _report(_not_found_message(exc))
            raise typer.Exit(1) from None
        except (VariableNotFound, VariableUnresolved) as exc:
            _report(_variable_not_found_message(exc))
            raise typer.Exit(1) from None
        except ConfigurationError as exc:  # may list several problems, one per line
            first, *rest = str(exc).splitlines() or [""]
            _report(first, tuple(line.strip() for line in rest))
            raise typer.Exit(1) from None
        except HooklineError as exc:
            _report(f"{exc}")
            raise typer.Exit(1) from None
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            _report(f"{exc.strerror or exc}{where}")
            raise typer.Exit(1) from None
        except Exception as exc:
            verbose = bool(ctx.meta.get("hookline.verbosity"))
            if verbose:
                text = "".join(traceback.format_exception(exc))
                render.write_text(err_console(), masking.redact(text).rstrip("\n"))
            _report(
                f"unexpected {type(exc).__name__}: {exc}"
                + ("" if verbose else " (run with --verbose for the traceback)")
            )
            raise typer.Exit(1) from None


app = typer.Typer(
    name="hookline",
    cls=_Group,
    help="Airflow-compatible connections and secrets backends, from the command line.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(connections.app, name="connections")
app.add_typer(admin.secrets_app, name="secrets")
app.add_typer(admin.keys_app, name="keys")
app.add_typer(admin.config_app, name="config")
app.add_typer(pipelines.app, name="pipelines")
app.command("worker")(pipelines.worker)
app.add_typer(metrics_cli.app, name="metrics")
app.add_typer(variables_cli.app, name="variables")
app.add_typer(audit_cli.app, name="audit")
app.command("rotate")(rotate_cli.rotate)
app.command("serve")(server_cli.serve)
app.add_typer(server_cli.tokens_app, name="tokens")


def _version(value: bool) -> None:
    if value:
        render.write_text(out_console(), f"hookline {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    verbose: Annotated[
        int,
        typer.Option("--verbose", "-v", count=True, help=common.VERBOSE_HELP, show_default=False),
    ] = 0,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """hookline: connections, secrets backends and hooks, Airflow-compatible."""
    ctx.call_on_close(common.invalidate)
    masking.install()
    if verbose:
        common.set_verbosity(ctx, verbose)


def main(argv: list[str] | None = None) -> None:
    """Run the ``hookline`` command (the console-script entry point); exits the process."""
    app(args=argv, prog_name="hookline")


if __name__ == "__main__":
    main()
