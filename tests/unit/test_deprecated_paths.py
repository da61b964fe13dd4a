"""The import paths of 0.1 keep working for one minor release, each with a DeprecationWarning that
names the new place."""

from __future__ import annotations

import importlib
import sys

import pytest


@pytest.mark.parametrize(
    ("old", "new", "name"),
    [
        ("hookline.cache", "hookline.resolve.cache", "CachedResolver"),
        ("hookline.resolver", "hookline.resolve.default", "get_connection"),
        ("hookline.pool", "hookline.hooks.sql.engines", "acquire_engine"),
        ("hookline.secrets.chain", "hookline.resolve", "SecretsChain"),
    ],
)
def test_old_module_path_warns_and_gives_the_same_objects(old: str, new: str, name: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)


def test_chain_names_from_hookline_secrets_warn() -> None:
    import hookline.secrets
    from hookline.resolve.chain import SecretsChain

    with pytest.warns(DeprecationWarning, match=r"hookline\.resolve\.SecretsChain"):
        moved = hookline.secrets.SecretsChain  # type: ignore[attr-defined]
    assert moved is SecretsChain
