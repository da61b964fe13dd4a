"""Deprecated: moved to :mod:`hookline.resolve.default` in 0.2; this alias is removed in 0.3."""

from __future__ import annotations

import warnings

from hookline.resolve.default import *  # noqa: F403

warnings.warn(
    "hookline.resolver moved to hookline.resolve.default; update the import (the old path is removed in 0.3)",
    DeprecationWarning,
    stacklevel=2,
)
