"""The REST API under ``/api/v1``: connections, variables, lookup traces, audit, pipeline runs, health.

Roles (see :mod:`hookline.server.tokens`): ``viewer`` reads, ``editor`` writes and tests,
``admin`` reveals secrets and searches the audit log. Every read goes through the secrets chain
uncached, so an edit is visible at once. Writes go to the chain's writable backend (the metastore);
a connection held only by a read-only backend (environment, files, a remote store) cannot be
changed here (409). Every write and every reveal leaves an audit record naming the token, when the
audit log is enabled; a reveal is refused while it is not (an access that cannot be recorded does
not happen).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from hookline import masking
from hookline.connection import Connection
from hookline.exceptions import (
    ConfigurationError,
    ConnectionNotFound,
    InvalidConnection,
    ListingIncomplete,
)
from hookline.masking import is_sensitive_key
from hookline.server.app import Admin, Editor, Viewer, state
from hookline.server.schemas import (
    AuditRecordOut,
    AuditSearchOut,
    ConnectionBody,
    ConnectionCollection,
    ConnectionOut,
    ConnectionPatch,
    ErrorOut,
    HealthOut,
    PipelineRunOut,
    PipelineRunsOut,
    RevealOut,
    TestOut,
    TraceOut,
    VariableBody,
    VariableCollection,
    VariableOut,
    connection_out,
)
from hookline.server.tokens import ApiToken

__all__ = ["audit_write", "merged_connection", "router"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 422, 500, 502, 503)
}
router = APIRouter(responses=_ERRORS)

ConnId = Annotated[
    str,
    Path(min_length=1, max_length=250, pattern=r"^[A-Za-z0-9_#!()\-.:/\\]{1,250}$"),
]
MASK = "***"


def audit_write(kind: str, token: ApiToken, conn_id: str | None, outcome: str) -> bool:
    """Record an API action in the audit log; False when auditing is off in this process.

    Raises:
        AuditUnavailable: ``[audit] fail_closed`` is on and no sink can write.
    """
    from hookline import audit

    return audit.record(
        kind,
        conn_id=conn_id,
        outcome=outcome,
        actor=f"api:{token.name}",
        detail=f"api token {token.name} ({token.role})",
        backend="api",
    )


def _out(conn: Connection, source: str | None) -> ConnectionOut:
    return connection_out(conn.to_dict(redact=True), source, conn.password is not None)


def list_connections(request: Request) -> list[tuple[str, Connection]]:
    """Every connection the chain can list, once per id (the backend that wins a lookup)."""
    chain = state(request).config.chain
    try:
        rows = chain.list_connections()
    except ListingIncomplete as exc:
        raise HTTPException(
            503, f"cannot list every connection: {len(exc.failures)} problem(s)"
        ) from None
    seen: dict[str, tuple[str, Connection]] = {}
    for backend, conn in rows:
        if conn.conn_id is not None and conn.conn_id not in seen:
            seen[conn.conn_id] = (backend, conn)
    return [seen[key] for key in sorted(seen)]


@router.get("/connections", response_model=ConnectionCollection, tags=["connections"])
def get_connections(
    request: Request,
    token: Viewer,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    conn_type: Annotated[str | None, Query(max_length=500)] = None,
    search: Annotated[str | None, Query(max_length=250)] = None,
) -> ConnectionCollection:
    """List connections, sorted by id; filter by ``conn_type`` and by ``search`` (in the id)."""
    rows = list_connections(request)
    if conn_type:
        rows = [row for row in rows if (row[1].conn_type or "") == conn_type]
    if search:
        needle = search.lower()
        rows = [row for row in rows if needle in (row[1].conn_id or "").lower()]
    page = rows[offset : offset + limit]
    return ConnectionCollection(
        connections=[_out(conn, source) for source, conn in page], total_entries=len(rows)
    )


def lookup(request: Request, conn_id: str) -> tuple[Connection, str | None]:
    """Resolve ``conn_id`` through the chain, uncached (404 when no backend holds it)."""
    result = state(request).config.chain.lookup(conn_id)
    if result.connection is None:
        raise ConnectionNotFound(conn_id)
    masking.register(result.connection.password)
    return result.connection, result.source


@router.get(
    "/connections/{connection_id:path}/trace", response_model=TraceOut, tags=["connections"]
)
def get_trace(request: Request, token: Viewer, connection_id: ConnId) -> dict[str, Any]:
    """What each backend of the chain answered for ``connection_id`` (also when none holds it)."""
    trace = state(request).config.chain.lookup(connection_id).trace
    return trace.to_dict()


@router.post(
    "/connections/{connection_id:path}/test",
    response_model=TestOut,
    tags=["connections"],
    responses={429: {"model": ErrorOut}},
)
async def test_connection(request: Request, token: Editor, connection_id: ConnId) -> TestOut:
    """Build the connection's hook and make one real round trip (``status`` false on failure)."""
    conn, _ = await run_in_threadpool(lookup, request, connection_id)
    server = state(request)
    timeout = server.config.test_timeout_s
    # A test that times out keeps its worker thread until the system answers: at most
    # max_concurrent_tests threads may be held so, or hanging tests would stall every request.
    if not server.test_slots.acquire(blocking=False):
        raise HTTPException(429, "too many connection tests running; try again later")

    def run_test() -> tuple[bool, str]:
        try:
            return conn.test_connection()
        finally:
            server.test_slots.release()

    start = time.perf_counter()
    try:
        ok, message = await asyncio.wait_for(run_in_threadpool(run_test), timeout=timeout)
    except TimeoutError:
        ok, message = False, f"no answer within {timeout:g} s"
    audit_write("api_test", token, connection_id, "ok" if ok else "failed")
    return TestOut(
        status=ok, message=masking.redact(message), elapsed_s=time.perf_counter() - start
    )


@router.post(
    "/connections/{connection_id:path}/reveal", response_model=RevealOut, tags=["connections"]
)
def reveal(request: Request, token: Admin, connection_id: ConnId) -> RevealOut:
    """The password and the whole extra in clear (admin only; recorded in the audit log)."""
    conn, _ = lookup(request, connection_id)
    # Recorded before the secret is shown; not shown when it cannot be recorded.
    if not audit_write("reveal", token, connection_id, "shown"):
        raise HTTPException(
            409, "revealing a secret needs the audit log: enable it ([audit] enabled = true)"
        )
    return RevealOut(connection_id=connection_id, password=conn.password, extra=conn.extra_json)


@router.get("/connections/{connection_id:path}", response_model=ConnectionOut, tags=["connections"])
def get_connection(request: Request, token: Viewer, connection_id: ConnId) -> ConnectionOut:
    """One connection, from the backend that answers first (no password, extras masked)."""
    conn, source = lookup(request, connection_id)
    return _out(conn, source)


def _stored(request: Request, conn_id: str) -> Connection | None:
    backend = state(request).config.chain.writable_backend()
    return backend.get_connection(conn_id)


def _parse_extra(text: str | None) -> dict[str, Any]:
    if text is None or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise InvalidConnection("extra must be a JSON object") from None
    if not isinstance(value, dict):
        raise InvalidConnection("extra must be a JSON object")
    return value


def _unmask(sent: Any, stored: Any, path: str) -> Any:
    """``sent`` with each sensitive value sent as ``***`` replaced by the stored one, at any depth
    (the API and the form mask nested sensitive extras too, and a client sends back what it saw).

    Raises:
        InvalidConnection: a ``***`` has no stored value to stand for.
    """
    if isinstance(sent, dict):
        out: dict[str, Any] = {}
        for key, item in sent.items():
            where = f"{path}.{key}" if path else str(key)
            old = stored.get(key) if isinstance(stored, Mapping) else None
            if item == MASK and is_sensitive_key(str(key)):
                if not isinstance(stored, Mapping) or key not in stored:
                    raise InvalidConnection(f"extra {where!r} is *** but has no stored value")
                out[key] = _plain(stored[key])
            else:
                out[key] = _unmask(item, old, where)
        return out
    if isinstance(sent, list):
        olds = list(stored) if isinstance(stored, list | tuple) else []
        return [
            _unmask(item, olds[i] if i < len(olds) else None, f"{path}[{i}]")
            for i, item in enumerate(sent)
        ]
    return sent


def _plain(value: Any) -> Any:
    """A stored extra value as plain JSON data (extras are read-only mappings and tuples)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def merged_connection(
    conn_id: str, fields: dict[str, Any], old: Connection | None = None
) -> Connection:
    """The connection ``conn_id`` with ``fields`` applied over ``old`` (API field names).

    A sensitive extra (at any depth) sent back as ``***``, and a field sent back as it was shown
    redacted (a URL host with its password as ``***``), keep their stored value, so a client may
    send what it was shown.
    """
    data: dict[str, Any] = dict(old.to_dict()) if old is not None else {}
    data.pop("conn_id", None)
    old_extra = old.extra_dejson if old is not None else {}
    old_shown = old.to_dict(redact=True) if old is not None else {}
    for name, value in fields.items():
        shown = old_shown.get(name) if name not in {"extra", "password"} else None
        if value is not None and value == shown and value != data.get(name):
            continue  # sent back as shown (a URL host's password as ***): keep the stored one
        if name == "extra":
            data["extra"] = _unmask(_parse_extra(value), old_extra, "")
        elif name == "password" and value == MASK and old is not None:
            continue  # the masked value a form shows: keep the stored one
        else:
            data[name] = value
    return Connection(conn_id=conn_id, **data)


def _body_fields(body: ConnectionBody | ConnectionPatch) -> dict[str, Any]:
    fields = body.model_dump(by_alias=True, exclude_unset=True)
    fields.pop("connection_id", None)
    return fields


@router.post("/connections", response_model=ConnectionOut, status_code=201, tags=["connections"])
def post_connection(request: Request, token: Editor, body: ConnectionBody) -> ConnectionOut:
    """Create a connection in the writable backend (409 when it exists there)."""
    chain = state(request).config.chain
    if _stored(request, body.connection_id) is not None:
        raise HTTPException(409, f"connection {body.connection_id!r} already exists")
    conn = merged_connection(body.connection_id, _body_fields(body))
    chain.set_connection(conn, overwrite=False)
    audit_write("api_write", token, body.connection_id, "create")
    return _out(conn, chain.writable_backend().name)


@router.patch(
    "/connections/{connection_id:path}", response_model=ConnectionOut, tags=["connections"]
)
def patch_connection(
    request: Request, token: Editor, connection_id: ConnId, body: ConnectionPatch
) -> ConnectionOut:
    """Change the given fields of a connection held by the writable backend."""
    chain = state(request).config.chain
    old = _stored(request, connection_id)
    if old is None:
        _read_only_or_missing(request, connection_id)
    conn = merged_connection(connection_id, _body_fields(body), old)
    chain.set_connection(conn, overwrite=True)
    audit_write("api_write", token, connection_id, "update")
    return _out(conn, chain.writable_backend().name)


def _read_only_or_missing(request: Request, conn_id: str) -> None:
    source = state(request).config.chain.lookup(conn_id).source
    if source is not None:
        raise HTTPException(409, f"connection {conn_id!r} is held by {source}, which is read-only")
    raise ConnectionNotFound(conn_id)


@router.delete(
    "/connections/{connection_id:path}",
    status_code=204,
    response_class=Response,
    tags=["connections"],
)
def delete_connection(request: Request, token: Editor, connection_id: ConnId) -> Response:
    """Delete a connection from the writable backend."""
    if not state(request).config.chain.delete_connection(connection_id):
        _read_only_or_missing(request, connection_id)
    audit_write("api_write", token, connection_id, "delete")
    return Response(status_code=204)


# -- variables ------------------------------------------------------------------------------------

VarKey = Annotated[str, Path(min_length=1, max_length=250, pattern=r"^[A-Za-z0-9_.\-]{1,250}$")]


def _shown(key: str, value: str) -> str:
    return MASK if is_sensitive_key(key) else value


@router.get("/variables", response_model=VariableCollection, tags=["variables"])
def get_variables(
    request: Request,
    token: Viewer,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> VariableCollection:
    """Variables of every backend that can list them (values of secret-named keys as ***)."""
    try:
        rows = state(request).config.chain.list_variables()
    except ListingIncomplete as exc:
        raise HTTPException(
            503, f"cannot list every variable: {len(exc.failures)} problem(s)"
        ) from None
    seen: dict[str, VariableOut] = {}
    for backend, key, value in rows:
        if key not in seen:
            seen[key] = VariableOut(key=key, value=_shown(key, value), source=backend)
    out = [seen[key] for key in sorted(seen)]
    return VariableCollection(variables=out[offset : offset + limit], total_entries=len(out))


@router.get("/variables/{key}", response_model=VariableOut, tags=["variables"])
def get_variable(request: Request, token: Viewer, key: VarKey) -> VariableOut:
    """One variable, from the first backend that holds it."""
    result = state(request).config.chain.lookup_variable(key)
    if result.value is None:
        raise HTTPException(404, f"variable {key!r} not found")
    return VariableOut(key=key, value=_shown(key, result.value), source=result.source)


def _variable_backend(request: Request) -> str:
    try:
        return str(state(request).config.chain.variable_writable_backend().name)
    except ConfigurationError:
        raise HTTPException(409, "no backend of the chain stores variables") from None


@router.put("/variables/{key}", response_model=VariableOut, tags=["variables"])
def put_variable(request: Request, token: Editor, key: VarKey, body: VariableBody) -> VariableOut:
    """Create or replace a variable in the first backend that stores variables."""
    backend = _variable_backend(request)
    state(request).config.chain.set_variable(key, body.value, overwrite=True)
    audit_write("api_write", token, None, f"variable set {key}")
    return VariableOut(key=key, value=_shown(key, body.value), source=backend)


@router.delete("/variables/{key}", status_code=204, response_class=Response, tags=["variables"])
def delete_variable(request: Request, token: Editor, key: VarKey) -> Response:
    """Delete a variable from the backend that stores variables."""
    _variable_backend(request)
    if not state(request).config.chain.delete_variable(key):
        raise HTTPException(404, f"variable {key!r} not found")
    audit_write("api_write", token, None, f"variable delete {key}")
    return Response(status_code=204)


# -- audit, runs, health, metrics ----------------------------------------------------------------


@router.get("/audit", response_model=AuditSearchOut, tags=["audit"])
def search_audit(
    request: Request,
    token: Admin,
    conn_id: Annotated[str | None, Query(max_length=250)] = None,
    kind: Annotated[str | None, Query(max_length=50)] = None,
    since: Annotated[float | None, Query(ge=0, le=1e11)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditSearchOut:
    """Audit records of the file log, newest first, filtered by conn_id, kind and time."""
    from hookline.server.views import audit_records

    records = audit_records(state(request).config, conn_id, kind, since, limit)
    return AuditSearchOut(records=[AuditRecordOut(**record) for record in records])


@router.get("/pipelines/runs", response_model=PipelineRunsOut, tags=["pipelines"])
def get_runs(
    request: Request,
    token: Viewer,
    pipeline_id: Annotated[str | None, Query(max_length=250)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> PipelineRunsOut:
    """Recent pipeline runs, newest first."""
    from hookline.server.views import pipeline_runs

    runs = pipeline_runs(state(request).config, pipeline_id, limit)
    return PipelineRunsOut(runs=[PipelineRunOut(**run) for run in runs])


@router.get("/health", response_model=HealthOut, tags=["health"])
async def health() -> HealthOut:
    """Liveness (no token needed; says nothing but ``ok``)."""
    return HealthOut(status="ok")


@router.get(
    "/metrics",
    response_class=Response,
    tags=["health"],
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def get_metrics(request: Request, token: Viewer) -> Response:
    """hookline's metrics in the Prometheus text format."""
    from hookline.server.views import metrics_text

    return Response(metrics_text(), media_type="text/plain; version=0.0.4; charset=utf-8")
