"""The public API stays typed: mypy --strict accepts a user program, and no public hook or function is
``Any`` to a type checker (a lazy ``__getattr__`` without ``TYPE_CHECKING`` imports would make it so)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mypy import api as mypy_api

import hookline
import hookline.hooks

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def _mypy(*args: str) -> tuple[str, int]:
    stdout, stderr, status = mypy_api.run(
        ["--strict", "--no-error-summary", "--config-file", str(REPO / "pyproject.toml"), *args]
    )
    return stdout + stderr, status


def test_a_program_using_the_public_api_passes_mypy_strict() -> None:
    output, status = _mypy(str(HERE / "uses_public_api.py"))
    assert status == 0, output


@pytest.mark.parametrize(
    ("module", "names"),
    [
        ("hookline.hooks", sorted(hookline.hooks.__all__)),
        ("hookline", sorted(n for n in hookline.__all__ if n != "__version__")),
    ],
)
def test_every_public_name_is_a_class_or_function_to_mypy(
    module: str, names: list[str], tmp_path: Path
) -> None:
    """``reveal_type`` of each public name is a class (``def (...) -> X`` or ``type[X]``) or a
    function, never ``Any``."""
    program = tmp_path / "reveal.py"
    lines = [f"import {module}"] + [f"reveal_type({module}.{name})" for name in names]
    program.write_text("\n".join(lines) + "\n")
    output, _ = _mypy(str(program))
    revealed = re.findall(r'Revealed type is "(.*)"', output)
    assert len(revealed) == len(names), output
    for name, kind in zip(names, revealed, strict=True):
        assert kind != "Any", f"{module}.{name} is Any to mypy"
        assert kind.startswith(("def ", "Overload(", "type[")), f"{module}.{name}: {kind}"
