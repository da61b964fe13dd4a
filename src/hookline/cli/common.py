"""What every CLI command shares: the one way to get the secrets chain, failures, secret registration.

Commands obtain the chain only through :func:`chain` and call :func:`invalidate` after a write, so the
process-wide resolver never serves a stale value. Expected failures are raised as :class:`CliFailure`
(or any :class:`~hookline.exceptions.HooklineError`); :mod:`hookline.cli.app` turns them into one
masked line on stderr and exit code 1.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from hookline import masking
from hookline.resolve import default as resolver

if TYPE_CHECKING:
    from rich.console import Console

    from hookline.connection import Connection
    from hookline.resolve.chain import SecretsChain
    from hookline.secrets.base import SecretsBackend

__all__ = [
    "VERBOSE_HELP",
    "CliFailure",
    "VerboseOption",
    "chain",
    "err_console",
    "invalidate",
    "out_console",
    "progress",
    "register_secrets",
    "set_verbosity",
    "writable_backend",
]

# Wide enough that a table is never cut when stdout is a pipe or a file; a terminal keeps its width.
_PIPE_WIDTH = 10_000


class CliFailure(Exception):
    """An expected failure: printed as one line on stderr (plus optional detail lines), exit code 1.

    Args:
        message: The one-line summary (masked before it is printed).
        details: Further lines, one per item (for example each bad entry of an import file).
        exit_code: The process exit code.
    """

    def __init__(self, message: str, details: Sequence[str] = (), *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.details = tuple(details)
        self.exit_code = exit_code


def out_console() -> Console:
    """A console on the current stdout (looked up at call time, so test runners can capture it)."""
    from rich.console import Console  # not at import: `hookline --version` needs no rich

    stream = sys.stdout
    width = None if stream.isatty() else _PIPE_WIDTH
    return Console(file=stream, width=width, highlight=False, markup=False, emoji=False)


def err_console() -> Console:
    """A console on the current stderr."""
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False, markup=False, emoji=False, soft_wrap=True)


def chain() -> SecretsChain:
    """The configured secrets chain (the one object every command reads and writes through)."""
    from hookline.resolve.default import default_chain

    return default_chain()


def writable_backend(name: str | None = None) -> SecretsBackend:
    """The chain's writable backend (the metastore by default), or the one named ``name``."""
    backend: SecretsBackend = chain().writable_backend(name)
    return backend


def invalidate() -> None:
    """Drop (and close) the process-wide resolver after a write, so later reads see the change.

    The next :func:`chain` call builds a fresh one from the configuration. Also called when a
    command ends, so no database connection outlives it.
    """
    previous = resolver.swap_default_resolver(None)
    close = getattr(previous, "close", None)
    if callable(close):
        close()


def register_secrets(conn: Connection) -> None:
    """Register a resolved connection's secrets with :mod:`hookline.masking`.

    The password (with its URL-quoted forms), the values of sensitive extras and the whole URI are
    masked from then on in every log line and error message the CLI prints.
    """
    from hookline.connection_secrets import register_connection_secrets

    register_connection_secrets(conn)


@contextlib.contextmanager
def progress(description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for long work; silent when stderr is not a terminal.

    Yields ``update(completed)``: the number of items done so far. With ``total=None`` the bar shows
    a spinner and the count (``keys rotate`` does not know its total in advance). Nothing is printed
    when stderr is redirected (scripts, CI, pipes), so machine output stays clean.
    """
    console = err_console()
    if not console.is_terminal:
        yield lambda completed: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        [SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed}")]
        if total is None
        else [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    )
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda completed: bar.update(task, completed=completed)


# -- -v anywhere ----------------------------------------------------------------------------------

VERBOSE_HELP = "Log to stderr, masked (-v info, -vv debug); accepted before or after the command."


def set_verbosity(ctx: typer.Context, verbosity: int) -> None:
    """Send log records to stderr, masked, for this invocation only (-v info, -vv debug).

    Each ``-v`` (before the command or after it) adds to the count: one handler, its level following
    the total, removed when the command ends.
    """
    root_ctx = ctx.find_root()
    total = int(root_ctx.meta.get("hookline.verbosity", 0)) + verbosity
    root_ctx.meta["hookline.verbosity"] = total
    root_logger = logging.getLogger()
    handler = root_ctx.meta.get("hookline.log_handler")
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler.addFilter(masking.MaskingFilter())
        previous_level = root_logger.level
        root_logger.addHandler(handler)
        root_ctx.meta["hookline.log_handler"] = handler

        def restore() -> None:
            root_logger.removeHandler(handler)
            root_logger.setLevel(previous_level)

        root_ctx.call_on_close(restore)
    root_logger.setLevel(logging.DEBUG if total > 1 else logging.INFO)


def _verbose_seen(ctx: typer.Context, value: int) -> int:
    if value:
        set_verbosity(ctx, value)
    return value


VerboseOption = Annotated[
    int,
    typer.Option(
        "--verbose", "-v", count=True, callback=_verbose_seen, help=VERBOSE_HELP, show_default=False
    ),
]
"""The ``-v`` every command takes (``hookline connections list -v``), as Airflow accepts it."""
