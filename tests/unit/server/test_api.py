"""The REST API with FastAPI's TestClient on a real SQLite metastore."""

from __future__ import annotations

import json

import pytest

from hookline.connection import Connection
from tests.unit.server.conftest import CANARY, Api

PG = {
    "connection_id": "pg1",
    "conn_type": "postgres",
    "host": "db.internal",
    "login": "app",
    "schema": "appdb",
    "port": 5432,
    "password": CANARY,
    "extra": json.dumps({"sslmode": "require", "api_key": CANARY}),
    "description": "the app database",
}


def _create(api: Api, body: dict[str, object] | None = None) -> dict[str, object]:
    response = api.client.post(
        "/api/v1/connections", json=body or PG, headers=api.headers("editor")
    )
    assert response.status_code == 201, response.text
    data: dict[str, object] = response.json()
    return data


def test_create_uses_airflow_field_names_and_hides_secrets(api: Api) -> None:
    data = _create(api)
    assert data == {
        "connection_id": "pg1",
        "conn_type": "postgres",
        "description": "the app database",
        "host": "db.internal",
        "login": "app",
        "schema": "appdb",
        "port": 5432,
        "extra": json.dumps({"sslmode": "require", "api_key": "***"}),
        "has_password": True,
        "source": "metastore",
    }
    stored = api.config.chain.lookup("pg1").connection
    assert stored is not None
    assert stored.password == CANARY
    assert stored.extra_dejson["api_key"] == CANARY


def test_no_response_carries_the_password(api: Api) -> None:
    _create(api)
    h = api.headers("admin")
    for response in (
        api.client.get("/api/v1/connections", headers=h),
        api.client.get("/api/v1/connections/pg1", headers=h),
        api.client.get("/api/v1/connections/pg1/trace", headers=h),
        api.client.patch("/api/v1/connections/pg1", json={"port": 1}, headers=h),
    ):
        assert response.status_code == 200
        assert CANARY not in response.text


def test_list_pages_and_filters(api: Api) -> None:
    for number in range(5):
        _create(
            api, {"connection_id": f"c{number}", "conn_type": "http" if number % 2 else "sqlite"}
        )
    h = api.headers("viewer")
    page = api.client.get("/api/v1/connections?limit=2&offset=1", headers=h).json()
    assert page["total_entries"] == 5
    assert [c["connection_id"] for c in page["connections"]] == ["c1", "c2"]
    http = api.client.get("/api/v1/connections?conn_type=http", headers=h).json()
    assert [c["connection_id"] for c in http["connections"]] == ["c1", "c3"]
    found = api.client.get("/api/v1/connections?search=C4", headers=h).json()
    assert [c["connection_id"] for c in found["connections"]] == ["c4"]


def test_env_connections_are_listed_with_their_source_and_read_only(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_FROM_ENV", "http://example.invalid")
    one = api.client.get("/api/v1/connections/from_env", headers=api.headers("viewer")).json()
    assert one["source"] == "env"
    patch = api.client.patch(
        "/api/v1/connections/from_env", json={"port": 1}, headers=api.headers("editor")
    )
    assert patch.status_code == 409
    assert "read-only" in patch.json()["detail"]
    delete = api.client.delete("/api/v1/connections/from_env", headers=api.headers("editor"))
    assert delete.status_code == 409


def test_patch_keeps_masked_sensitive_extras_and_unset_fields(api: Api) -> None:
    _create(api)
    response = api.client.patch(
        "/api/v1/connections/pg1",
        json={"extra": json.dumps({"sslmode": "disable", "api_key": "***"}), "login": None},
        headers=api.headers("editor"),
    )
    assert response.status_code == 200, response.text
    stored = api.config.chain.lookup("pg1").connection
    assert stored is not None
    assert stored.extra_dejson == {"sslmode": "disable", "api_key": CANARY}
    assert stored.login is None
    assert stored.password == CANARY
    assert stored.host == "db.internal"


def test_create_conflict_and_missing(api: Api) -> None:
    _create(api)
    again = api.client.post("/api/v1/connections", json=PG, headers=api.headers("editor"))
    assert again.status_code == 409
    missing = api.client.get("/api/v1/connections/nope", headers=api.headers("viewer"))
    assert missing.status_code == 404
    assert missing.json() == {"detail": "connection 'nope' not found", "status": 404}
    gone = api.client.delete("/api/v1/connections/nope", headers=api.headers("editor"))
    assert gone.status_code == 404


def test_delete(api: Api) -> None:
    _create(api)
    response = api.client.delete("/api/v1/connections/pg1", headers=api.headers("editor"))
    assert response.status_code == 204
    assert api.config.chain.lookup("pg1").connection is None


def test_bad_input_is_a_clear_422_without_the_secret(api: Api) -> None:
    h = api.headers("editor")
    cases = [
        {**PG, "port": CANARY},
        {**PG, "extra": "{not json " + CANARY},
        {**PG, "extra": json.dumps([CANARY])},
        {**PG, "connection_id": "bad id " + CANARY},
        {**PG, "unknown": CANARY},
    ]
    for body in cases:
        response = api.client.post("/api/v1/connections", json=body, headers=h)
        assert response.status_code == 422, response.text
        assert CANARY not in response.text
        assert response.json()["detail"].startswith(("invalid request", "extra must be"))


def test_test_endpoint_reports_failure_without_the_secret(api: Api) -> None:
    _create(
        api,
        {
            "connection_id": "web",
            "conn_type": "http",
            "host": "127.0.0.1",
            "port": 1,
            "password": CANARY,
        },
    )
    response = api.client.post("/api/v1/connections/web/test", headers=api.headers("editor"))
    assert response.status_code == 200
    data = response.json()
    assert data["status"] is False
    assert CANARY not in response.text


def test_trace_of_a_missing_id(api: Api) -> None:
    response = api.client.get("/api/v1/connections/absent/trace", headers=api.headers("viewer"))
    assert response.status_code == 200
    data = response.json()
    assert data["source"] is None
    assert [step["outcome"] for step in data["steps"]] == ["absent", "absent"]


def test_reveal_needs_the_audit_log(api: Api) -> None:
    _create(api)
    response = api.client.post("/api/v1/connections/pg1/reveal", headers=api.headers("admin"))
    assert response.status_code == 409
    assert "audit" in response.json()["detail"]


def test_reveal_is_audited(api: Api) -> None:
    from hookline import audit

    _create(api)
    settings = audit.AuditSettings(enabled=True)
    audit.enable(settings, home=api.home)
    api.config.audit_log = audit.log_path(settings, api.home)
    try:
        response = api.client.post("/api/v1/connections/pg1/reveal", headers=api.headers("admin"))
        assert response.status_code == 200
        assert response.json()["password"] == CANARY
        writer = audit.active()
        assert writer is not None
        writer.flush()
        records = api.client.get("/api/v1/audit?kind=reveal", headers=api.headers("admin")).json()[
            "records"
        ]
        assert [(r["kind"], r["conn_id"]) for r in records] == [("reveal", "pg1")]
        assert records[0]["actor"] == "api:t-admin"
        assert records[0]["outcome"] == "shown"
        assert CANARY not in json.dumps(records)
    finally:
        audit.disable()


def test_unexpected_errors_say_nothing(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(conn_id: str) -> None:
        raise RuntimeError(f"driver state {CANARY}")

    monkeypatch.setattr(api.config.chain, "lookup", boom)
    response = api.client.get("/api/v1/connections/pg1", headers=api.headers("viewer"))
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error", "status": 500}
    assert CANARY not in response.text
    assert "Traceback" not in response.text


def test_security_headers_and_body_limit(api: Api) -> None:
    response = api.client.get("/api/v1/health")
    assert response.json() == {"status": "ok"}
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    big = {**PG, "description": "x" * 2_000_000}
    too_big = api.client.post("/api/v1/connections", json=big, headers=api.headers("editor"))
    assert too_big.status_code == 413
    assert too_big.headers["x-frame-options"] == "DENY"


def test_revoked_token_is_refused(api: Api) -> None:
    api.config.tokens.revoke("t-viewer")
    response = api.client.get("/api/v1/connections", headers=api.headers("viewer"))
    assert response.status_code == 401


def test_metrics_and_runs(api: Api) -> None:
    from hookline import events
    from hookline import metrics as hookline_metrics

    try:
        metrics = api.client.get("/api/v1/metrics", headers=api.headers("viewer"))
    finally:
        hookline_metrics.disable()  # the endpoint subscribed the process bus
    assert not events.default_bus.active
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    runs = api.client.get("/api/v1/pipelines/runs", headers=api.headers("viewer"))
    assert runs.json() == {"runs": []}


def test_merged_connection_is_a_real_connection() -> None:
    from hookline.server.api import merged_connection

    conn = merged_connection("x", {"conn_type": "http", "host": "h", "schema": "s"})
    assert conn == Connection(conn_id="x", conn_type="http", host="h", schema="s")


def test_openapi_document_is_committed_and_current(api: Api) -> None:
    from pathlib import Path

    from hookline.server.app import openapi_document

    committed = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"
    assert json.loads(committed.read_text()) == openapi_document(), (
        "docs/openapi.json is out of date: run python scripts/gen_openapi.py"
    )
    served = api.client.get("/api/v1/openapi.json").json()
    assert served == openapi_document()


def test_variables_round_trip_and_mask_secret_keys(api: Api) -> None:
    h = api.headers("editor")
    put = api.client.put("/api/v1/variables/region", json={"value": "eu-west-1"}, headers=h)
    assert put.status_code == 200, put.text
    assert put.json() == {"key": "region", "value": "eu-west-1", "source": "metastore"}
    secret = api.client.put("/api/v1/variables/api_password", json={"value": CANARY}, headers=h)
    assert secret.json()["value"] == "***"
    listed = api.client.get("/api/v1/variables", headers=api.headers("viewer"))
    assert listed.json()["total_entries"] == 2
    assert CANARY not in listed.text
    one = api.client.get("/api/v1/variables/region", headers=api.headers("viewer"))
    assert one.json()["value"] == "eu-west-1"
    assert api.client.delete("/api/v1/variables/region", headers=h).status_code == 204
    assert api.client.get("/api/v1/variables/region", headers=h).status_code == 404
    assert api.client.delete("/api/v1/variables/region", headers=h).status_code == 404
