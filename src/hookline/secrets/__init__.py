"""Secrets backends: each answers "what is the serialized connection for this id?" for one store.

Backend modules with optional SDKs (vault, aws, gcp) and the metastore (SQLAlchemy) are not imported
here; they are found by name through the registry when configured. The chain that asks backends in
order lives in :mod:`hookline.resolve`.
"""

from __future__ import annotations

import warnings
from typing import Any

from hookline.secrets.base import SecretsBackend
from hookline.secrets.env import EnvBackend

__all__ = ["EnvBackend", "SecretsBackend"]

# Names that lived here before the chain moved to hookline.resolve (0.1); kept for one minor release.
_MOVED = frozenset({"LookupResult", "LookupTrace", "SecretsChain", "TraceStep", "build_chain"})


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        raise AttributeError(f"module 'hookline.secrets' has no attribute {name!r}")
    warnings.warn(
        f"hookline.secrets.{name} moved to hookline.resolve.{name}; the old name will be removed "
        "in 0.3",
        DeprecationWarning,
        stacklevel=2,
    )
    import hookline.resolve

    return getattr(hookline.resolve, name)
