"""The README's Python tour runs as written, so it cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_blocks_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ```python block of README.md executes without error (env connection provided)."""
    monkeypatch.setenv("HOOKLINE_CONN_WAREHOUSE", "postgres://alice:pw-readme-1@db:5432/app")
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert blocks, "README.md has no python block"
    for block in blocks:
        namespace: dict[str, object] = {}
        exec(compile(block, str(README), "exec"), namespace)
    assert namespace["conn"].host == "db"  # type: ignore[attr-defined]
