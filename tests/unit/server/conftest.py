"""Fixtures of the server tests: the app on a real SQLite metastore in the test's HOOKLINE_HOME."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hookline.resolve.chain import SecretsChain
from hookline.secrets.env import EnvBackend
from hookline.secrets.metastore import MetastoreBackend
from hookline.server import ServerConfig, create_app
from hookline.server.tokens import TokenStore, metastore_url

CANARY = "canary-Pw-7f3a9c1e"


@dataclasses.dataclass
class Api:
    client: TestClient
    app: FastAPI
    tokens: dict[str, str]
    config: ServerConfig
    home: Path

    def headers(self, role: str | None) -> dict[str, str]:
        if role is None:
            return {}
        if role == "bad":
            return {"Authorization": "Bearer hlt_000000000000_" + "x" * 43}
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
def server_config(isolated_hookline: Path) -> Iterator[ServerConfig]:
    backend = MetastoreBackend(home=isolated_hookline)
    chain = SecretsChain([EnvBackend(), backend])
    tokens = TokenStore(metastore_url(home=isolated_hookline))
    config = ServerConfig(chain=chain, tokens=tokens)
    yield config
    tokens.close()
    backend.close()


@pytest.fixture
def api(server_config: ServerConfig, isolated_hookline: Path) -> Iterator[Api]:
    tokens = {
        role: server_config.tokens.create(f"t-{role}", role)[1]
        for role in ("viewer", "editor", "admin")
    }
    from hookline import metrics

    app = create_app(server_config)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Api(client, app, tokens, server_config, isolated_hookline)
    finally:
        metrics.disable()  # GET /api/v1/metrics subscribes hookline's metrics to the process bus
