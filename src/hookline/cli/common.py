"""What every CLI command shares: the one way to get the secrets chain, failures, secret registration.

Commands obtain the chain only through :func:`chain` and call :func:`invalidate` after a write, so the
process-wide resolver never serves a stale value. Expected failures are raised as :class:`CliFailure`
(or any :class:`~hookline.exceptions.HooklineError`); :mod:`hookline.cli.app` turns them into one
masked line on stderr and exit code 1.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console

from hookline.connection import Connection
from hookline.resolve import default as resolver
from hookline.secrets.base import SecretsBackend

if TYPE_CHECKING:
    from hookline.resolve.chain import SecretsChain

__all__ = [
    "CliFailure",
    "chain",
    "err_console",
    "invalidate",
    "out_console",
    "register_secrets",
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
    stream = sys.stdout
    width = None if stream.isatty() else _PIPE_WIDTH
    return Console(file=stream, width=width, highlight=False, markup=False, emoji=False)


def err_console() -> Console:
    """A console on the current stderr."""
    return Console(file=sys.stderr, highlight=False, markup=False, emoji=False, soft_wrap=True)


def chain() -> SecretsChain:
    """The configured secrets chain (the one object every command reads and writes through)."""
    from hookline.resolve.default import default_chain

    return default_chain()


def writable_backend() -> SecretsBackend:
    """The chain's writable backend (the metastore by default)."""
    backend: SecretsBackend = chain().writable_backend()
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
