"""Every endpoint x every principal (no token, a bad token, viewer, editor, admin): 0 unexpected allows.

The table below names the least role of each route; the test fails when a route is missing from it,
so a new endpoint cannot be added without deciding who may call it.
"""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

from hookline.connection import Connection
from hookline.server.tokens import ROLES
from tests.unit.server.conftest import Api

PUBLIC = "public"
NEEDS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/connections"): "viewer",
    ("POST", "/api/v1/connections"): "editor",
    ("GET", "/api/v1/connections/{connection_id:path}"): "viewer",
    ("PATCH", "/api/v1/connections/{connection_id:path}"): "editor",
    ("DELETE", "/api/v1/connections/{connection_id:path}"): "editor",
    ("POST", "/api/v1/connections/{connection_id:path}/test"): "editor",
    ("GET", "/api/v1/connections/{connection_id:path}/trace"): "viewer",
    ("POST", "/api/v1/connections/{connection_id:path}/reveal"): "admin",
    ("GET", "/api/v1/variables"): "viewer",
    ("GET", "/api/v1/variables/{key}"): "viewer",
    ("PUT", "/api/v1/variables/{key}"): "editor",
    ("DELETE", "/api/v1/variables/{key}"): "editor",
    ("GET", "/api/v1/audit"): "admin",
    ("GET", "/api/v1/pipelines/runs"): "viewer",
    ("GET", "/api/v1/health"): PUBLIC,
    ("GET", "/api/v1/metrics"): "viewer",
}
BODIES: dict[tuple[str, str], object] = {
    ("POST", "/api/v1/connections"): {"connection_id": "made", "conn_type": "sqlite"},
    ("PATCH", "/api/v1/connections/{connection_id:path}"): {"description": "changed"},
    ("PUT", "/api/v1/variables/{key}"): {"value": "v"},
}
PRINCIPALS = (None, "bad", *ROLES)


def _api_routes(api: Api) -> list[tuple[str, str]]:
    from hookline.server import api as api_module

    found = []
    for route in api_module.router.routes:
        assert isinstance(route, APIRoute)
        found.extend((method, "/api/v1" + route.path) for method in sorted(route.methods))
    paths = set(api.app.openapi()["paths"])
    assert len(paths) == len({p for _, p in found}), "a route is served but not in api.router"
    return found


def test_every_route_is_in_the_table(api: Api) -> None:
    assert sorted(_api_routes(api)) == sorted(NEEDS)


def _allowed(principal: str | None, needed: str) -> bool:
    if needed == PUBLIC:
        return True
    if principal not in ROLES:
        return False
    return ROLES.index(principal) >= ROLES.index(needed)


@pytest.mark.parametrize("principal", PRINCIPALS, ids=lambda p: p or "no-token")
def test_role_matrix(api: Api, principal: str | None) -> None:
    unexpected = []
    for (method, template), needed in sorted(NEEDS.items()):
        api.config.chain.set_connection(
            Connection(conn_id="target", conn_type="sqlite", host=":memory:")
        )
        api.config.chain.delete_connection("made")
        path = template.replace("{connection_id:path}", "target").replace("{key}", "var1")
        response = api.client.request(
            method, path, json=BODIES.get((method, template)), headers=api.headers(principal)
        )
        allowed = response.status_code not in (401, 403)
        if allowed != _allowed(principal, needed):
            unexpected.append(f"{method} {path}: {response.status_code} for {principal}")
        if not allowed:
            expected = 401 if principal in (None, "bad") else 403
            assert response.status_code == expected, (method, path, response.text)
            assert api.config.chain.lookup("made").connection is None
    assert unexpected == []
