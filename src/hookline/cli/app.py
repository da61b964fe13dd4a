"""The ``hookline`` command: the root typer app, error handling and the console-script entry point.

Exit codes: 0 on success; 1 on an expected failure (not found, invalid input, backend errors), printed
as one masked ``error:`` line on stderr without a traceback; 2 on usage errors (click's default).
Masking is always installed, so log lines never carry a resolved secret. ``-v``/``--verbose`` is
accepted anywhere on the command line (``hookline connections list -v``), as in Airflow, and shell
completion is on (``hookline --install-completion``).
"""

from __future__ import annotations

import sys
import traceback
from typing import Annotated, Any

import typer

from hookline import __version__, masking
from hookline.cli import common, plain_values
from hookline.cli.lazy import LazyGroup
from hookline.exceptions import (
    ConfigurationError,
    ConnectionNotFound,
    ConnectionUnresolved,
    HooklineError,
    VariableNotFound,
    VariableUnresolved,
)

__all__ = ["COMMANDS", "app", "main"]

# Every subcommand: its name and where it lives, "module:attribute" (a typer.Typer for a command
# group, a function for a single command). A module is imported only when its command runs (or
# when --help, the docs or shell completion list it), so `hookline connections get X` does not
# load what `pipelines` or `audit` need. Listed in this order in --help and docs/cli.md.
COMMANDS: dict[str, str] = {
    "worker": "hookline.cli.pipelines:worker",
    "rotate": "hookline.cli.rotate:rotate",
    "serve": "hookline.cli.server:serve",
    "connections": "hookline.cli.connections:app",
    "secrets": "hookline.cli.admin:secrets_app",
    "keys": "hookline.cli.admin:keys_app",
    "config": "hookline.cli.admin:config_app",
    "pipelines": "hookline.cli.pipelines:app",
    "metrics": "hookline.cli.metrics:app",
    "variables": "hookline.cli.variables:app",
    "audit": "hookline.cli.audit:app",
    "tokens": "hookline.cli.server:tokens_app",
}


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _write(stream: Any, text: str) -> None:
    """``text`` and a newline, verbatim (what ``render.write_text`` does, without importing rich)."""
    stream.write(text + "\n")
    stream.flush()


def _report(message: str, details: tuple[str, ...] = ()) -> None:
    lines = [f"error: {masking.redact(_one_line(message))}"]
    lines.extend(f"  {masking.redact(_one_line(detail))}" for detail in details)
    _write(sys.stderr, "\n".join(lines))


def _not_found_message(exc: ConnectionNotFound | ConnectionUnresolved) -> str:
    """One line: which backends were asked, which could not answer, where to see the whole trace."""
    from hookline.resolve.trace import LookupTrace

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
    from hookline.resolve.trace import LookupTrace

    trace = exc.trace
    asked = [step.backend for step in trace.steps] if isinstance(trace, LookupTrace) else []
    down = trace.unavailable if isinstance(trace, LookupTrace) else []
    message = f"variable {exc.key!r} not found"
    if asked:
        message += f" (asked: {', '.join(asked)})"
    if down:
        message += f"; {', '.join(down)} could not answer, so it may be defined there"
    return message


class _Group(LazyGroup):
    """The root group: turns expected errors raised by any subcommand into exit code 1."""

    lazy_commands = COMMANDS

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except common.CliFailure as exc:
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
                _write(sys.stderr, masking.redact(text).rstrip("\n"))
            _report(
                f"unexpected {type(exc).__name__}: {exc}"
                + ("" if verbose else " (run with --verbose for the traceback)")
            )
            raise typer.Exit(1) from None


plain_values.install()  # plain option values are converted without importing pydantic

app = typer.Typer(
    name="hookline",
    cls=_Group,
    help="Airflow-compatible connections and secrets backends, from the command line.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        _write(sys.stdout, f"hookline {__version__}")
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
