"""Google Cloud hooks: :class:`GoogleBaseHook` (credentials, shared clients) and :class:`BigQueryHook`.

Classes are imported lazily by name, so importing this package loads no Google SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hookline.hooks.google.base import GoogleBaseHook
    from hookline.hooks.google.bigquery import BigQueryHook

__all__ = ["BigQueryHook", "GoogleBaseHook"]

_LAZY = {
    "GoogleBaseHook": "hookline.hooks.google.base",
    "BigQueryHook": "hookline.hooks.google.bigquery",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'hookline.hooks.google' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
