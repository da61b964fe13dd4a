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


def test_readme_toml_configuration_loads_and_builds_its_chain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's hookline.toml example is valid: settings load and the chain is built offline."""
    from hookline.config import load_settings
    from hookline.resolve import build_chain

    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert len(blocks) == 1
    home = tmp_path / "home"
    home.mkdir()
    (home / "hookline.toml").write_text(blocks[0])
    monkeypatch.setenv("HOOKLINE_HOME", str(home))
    settings = load_settings()
    assert settings.backends == ("env", "vault", "metastore")
    assert settings.cache.ttl_seconds == 300
    chain = build_chain(settings)
    assert [backend.name for backend in chain.backends] == ["env", "vault", "metastore"]
