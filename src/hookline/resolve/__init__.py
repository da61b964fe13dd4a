"""Resolution: "what is the connection for this id?", read top to bottom.

* :mod:`~hookline.resolve.trace`: what each backend said during one lookup;
* :mod:`~hookline.resolve.chain`: :class:`SecretsChain`, the backends asked in order;
* :mod:`~hookline.resolve.build`: settings to chain;
* :mod:`~hookline.resolve.cache`: :class:`~hookline.resolve.cache.CachedResolver` in front of a chain;
* :mod:`~hookline.resolve.default`: the process default and ``get_connection``/``find_connection``.

Names are imported on first use, so ``import hookline`` (which needs only ``default``) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hookline.resolve.build import build_chain
    from hookline.resolve.cache import CachedResolver, CacheStats
    from hookline.resolve.chain import SecretsChain, WriteListener
    from hookline.resolve.trace import (
        LookupResult,
        LookupTrace,
        Outcome,
        TraceStep,
        error_detail,
        not_found_error,
    )

__all__ = [
    "CacheStats",
    "CachedResolver",
    "LookupResult",
    "LookupTrace",
    "Outcome",
    "SecretsChain",
    "TraceStep",
    "WriteListener",
    "build_chain",
    "error_detail",
    "not_found_error",
]

_LAZY = {
    "SecretsChain": "hookline.resolve.chain",
    "WriteListener": "hookline.resolve.chain",
    "LookupResult": "hookline.resolve.trace",
    "LookupTrace": "hookline.resolve.trace",
    "Outcome": "hookline.resolve.trace",
    "TraceStep": "hookline.resolve.trace",
    "error_detail": "hookline.resolve.trace",
    "not_found_error": "hookline.resolve.trace",
    "build_chain": "hookline.resolve.build",
    "CachedResolver": "hookline.resolve.cache",
    "CacheStats": "hookline.resolve.cache",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'hookline.resolve' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
