"""Alembic migrations of the hookline metastore, shipped inside the package.

:mod:`hookline.secrets.metastore` runs them programmatically on first use; ``script_location`` is this
directory. ``HEAD_REVISION`` must name the newest revision (a unit test checks it against the scripts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

__all__ = ["HEAD_REVISION", "SCRIPT_LOCATION"]

SCRIPT_LOCATION: Final = str(Path(__file__).parent)
HEAD_REVISION: Final = "0001"
