"""The ``hookline`` command-line interface (typer + rich).

Only the console script imports this package: ``import hookline`` never loads typer or rich. The
entry point is :func:`hookline.cli.app.main`; commands live in :mod:`hookline.cli.connections` and
:mod:`hookline.cli.admin`, output rendering (redacted by default) in :mod:`hookline.cli.render`.
"""

from __future__ import annotations
