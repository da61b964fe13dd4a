"""docs/guides.md stays true: its Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

GUIDES = Path(__file__).resolve().parents[2] / "docs" / "guides.md"


def test_every_guide_example_runs() -> None:
    """Each Python block runs on its own and defines test functions, which pass."""
    blocks = re.findall(r"```python\n(.*?)```", GUIDES.read_text(), re.S)
    names: list[str] = []
    for block in blocks:
        namespace: dict[str, object] = {}
        exec(compile(block, str(GUIDES), "exec"), namespace)
        tests = {name: value for name, value in namespace.items() if name.startswith("test_")}
        assert tests, "a guide example defines no test function"
        for name, test in tests.items():
            assert callable(test)
            test()
            names.append(name)
    assert {"test_report", "test_variables"} <= set(names)
