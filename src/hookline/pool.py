"""Deprecated: moved to :mod:`hookline.hooks.sql.engines` in 0.2; this alias is removed in 0.3."""

from __future__ import annotations

import warnings

from hookline.hooks.sql.engines import *  # noqa: F403

warnings.warn(
    "hookline.pool moved to hookline.hooks.sql.engines; update the import (the old path is removed in 0.3)",
    DeprecationWarning,
    stacklevel=2,
)
