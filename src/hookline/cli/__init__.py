"""The ``hookline`` command-line interface (typer + rich), installed with the ``cli`` extra.

Only the console script imports this package: ``import hookline`` never loads typer or rich. The
entry point is :func:`main`, which says which extra to install when the CLI's dependencies are
missing (``pip install 'hookline[cli]'``) instead of failing with a traceback; commands live in
:mod:`hookline.cli.connections` and :mod:`hookline.cli.admin`, output rendering (redacted by
default) in :mod:`hookline.cli.render`.
"""

from __future__ import annotations

import sys

__all__ = ["main"]

# What the CLI imports that only the `cli` extra installs.
_CLI_PACKAGES = frozenset({"typer", "rich", "click", "shellingham"})


def main(argv: list[str] | None = None) -> None:
    """Run the ``hookline`` command (the console-script entry point); exits the process.

    Without the ``cli`` extra, prints one line naming the extra to install and exits with code 1.
    """
    try:
        from hookline.cli.app import main as run
    except ModuleNotFoundError as exc:
        root = (exc.name or "").partition(".")[0]
        if root not in _CLI_PACKAGES:
            raise
        from hookline.exceptions import MissingDependency

        error = MissingDependency(root, "cli", purpose="the hookline command")
        sys.stderr.write(f"error: {error}\n")
        raise SystemExit(1) from None
    run(argv)
