"""Deprecated: moved to :mod:`hookline.resolve.cache` in 0.2; this alias is removed in 0.3."""

from __future__ import annotations

import warnings

from hookline.resolve.cache import *  # noqa: F403

warnings.warn(
    "hookline.cache moved to hookline.resolve.cache; update the import (the old path is removed in 0.3)",
    DeprecationWarning,
    stacklevel=2,
)
