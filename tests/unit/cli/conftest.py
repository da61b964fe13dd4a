"""Fixtures of the CLI tests: the real default chain on a tmp home, or chains with fakes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hookline import masking
from hookline.cli import common
from hookline.resolve import SecretsChain
from hookline.secrets.env import EnvBackend
from tests.unit.cli.support import CANARY, DownBackend, MemoryBackend, Store


@pytest.fixture
def store() -> Iterator[Store]:
    """The real default chain (env, then the SQLite metastore in the test's HOOKLINE_HOME)."""
    reader = Store()
    yield reader
    reader.backend.close()


@pytest.fixture
def memory(monkeypatch: pytest.MonkeyPatch) -> MemoryBackend:
    """A chain of env then an in-memory writable backend, for failure injection."""
    backend = MemoryBackend()
    chain = SecretsChain([EnvBackend(), backend])
    monkeypatch.setattr(common, "chain", lambda: chain)
    return backend


@pytest.fixture
def with_down_backend(monkeypatch: pytest.MonkeyPatch) -> MemoryBackend:
    backend = MemoryBackend()
    chain = SecretsChain([DownBackend(), backend])
    monkeypatch.setattr(common, "chain", lambda: chain)
    masking.register(CANARY)
    return backend
