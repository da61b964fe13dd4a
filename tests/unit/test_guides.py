"""docs/guides.md stays true: its Python example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

GUIDES = Path(__file__).resolve().parents[2] / "docs" / "guides.md"


def test_the_testing_guide_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", GUIDES.read_text(), re.S)
    assert len(blocks) == 1
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], str(GUIDES), "exec"), namespace)
    test_report = namespace["test_report"]
    assert callable(test_report)
    test_report()
