"""Deprecated: moved to :mod:`hookline.resolve` in 0.2; this alias is removed in 0.3."""

from __future__ import annotations

import warnings

from hookline.connection_secrets import register_connection_secrets
from hookline.resolve.build import build_chain
from hookline.resolve.chain import SecretsChain
from hookline.resolve.trace import (
    LookupResult,
    LookupTrace,
    Outcome,
    TraceStep,
    not_found_error,
)

__all__ = [
    "LookupResult",
    "LookupTrace",
    "Outcome",
    "SecretsChain",
    "TraceStep",
    "build_chain",
    "not_found_error",
    "register_connection_secrets",
]

warnings.warn(
    "hookline.secrets.chain moved to hookline.resolve; update the import (the old path is "
    "removed in 0.3)",
    DeprecationWarning,
    stacklevel=2,
)
