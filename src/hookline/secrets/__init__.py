"""Secrets backends and the chain that asks them in order.

Backend modules with optional SDKs (vault, aws, gcp) and the metastore (SQLAlchemy) are not imported
here; they are found by name through the ``hookline.secrets_backends`` entry-point group when
configured (see :func:`build_chain`).
"""

from __future__ import annotations

from hookline.secrets.base import SecretsBackend
from hookline.secrets.chain import (
    LookupResult,
    LookupTrace,
    SecretsChain,
    TraceStep,
    build_chain,
)
from hookline.secrets.env import EnvBackend

__all__ = [
    "EnvBackend",
    "LookupResult",
    "LookupTrace",
    "SecretsBackend",
    "SecretsChain",
    "TraceStep",
    "build_chain",
]
