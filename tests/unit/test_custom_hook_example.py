"""docs/custom_hooks.md stays true: its Python blocks are extracted and executed, in order."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hookline import registry

DOC = Path(__file__).resolve().parents[2] / "docs" / "custom_hooks.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _python_blocks() -> list[str]:
    return _BLOCK.findall(DOC.read_text())


def test_doc_has_the_example_blocks() -> None:
    """The page holds the hook definition and the usage example."""
    blocks = _python_blocks()
    assert len(blocks) >= 2
    assert "class FolderHook(BaseHook[FolderClient]):" in blocks[0]


def test_doc_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Executing the blocks defines a working hook, registered for its conn_type, that exposes the
    five things every hook defines."""
    monkeypatch.setattr(registry, "_extra_hooks", {})
    namespace: dict[str, object] = {"__name__": "custom_hooks_doc"}
    for number, block in enumerate(_python_blocks(), start=1):
        code = compile(block, f"{DOC.name} (python block {number})", "exec")
        exec(code, namespace)
    hook_class = namespace["FolderHook"]
    assert registry.hook_class_for("folder") is hook_class
    assert isinstance(hook_class, type)
    for attribute in ("conn_type", "hook_name", "default_conn_name", "conn_name_attr"):
        assert getattr(hook_class, attribute), attribute
    assert "get_conn" in vars(hook_class)
    assert hook_class.default_conn_name == "folder_default"  # type: ignore[attr-defined]
