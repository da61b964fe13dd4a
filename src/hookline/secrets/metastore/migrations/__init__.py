"""Alembic migrations of the hookline metastore, shipped inside the package.

:mod:`hookline.secrets.metastore` runs them programmatically before its first write (reads never
migrate: they work on a read-only home); ``script_location`` is this directory. ``HEAD_REVISION`` must
name the newest revision (a unit test checks it against the scripts).

Readers check the revision once per database connection and read every revision they know
(:mod:`hookline.secrets.metastore.rows`); a database at an unknown (newer) revision is refused. A new
migration must therefore keep rows readable by the previous release's reader, or make that reader
fail loudly (never return a connection with fields missing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

__all__ = ["HEAD_REVISION", "SCRIPT_LOCATION"]

SCRIPT_LOCATION: Final = str(Path(__file__).parent)
HEAD_REVISION: Final = "0004"
