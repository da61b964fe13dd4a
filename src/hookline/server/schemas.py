"""The REST API's request and response bodies (pydantic models, which the OpenAPI document shows).

Connection fields carry Airflow's REST API names (``connection_id``, ``conn_type``, ``host``,
``login``, ``schema``, ``port``, ``extra``, ``description``, ``password``). ``password`` is
write-only: it is accepted in a body and never sent back; responses say ``has_password`` instead,
and sensitive extras come back as ``***``. hookline adds ``source``: the backend that holds the
connection.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AuditRecordOut",
    "AuditSearchOut",
    "ConnectionBody",
    "ConnectionCollection",
    "ConnectionOut",
    "ConnectionPatch",
    "ErrorOut",
    "HealthOut",
    "PipelineRunOut",
    "PipelineRunsOut",
    "RevealOut",
    "TestOut",
    "TraceOut",
    "TraceStepOut",
    "VariableBody",
    "VariableCollection",
    "VariableOut",
]

CONN_ID_PATTERN = r"^[A-Za-z0-9_#!()\-.:/\\]{1,250}$"
_TEXT = 10_000


class ErrorOut(BaseModel):
    """Every error: a message without a secret or a traceback."""

    detail: str
    status: int


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    conn_type: str | None = Field(default=None, min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=_TEXT)
    host: str | None = Field(default=None, max_length=_TEXT)
    login: str | None = Field(default=None, max_length=_TEXT)
    schema_: str | None = Field(default=None, alias="schema", max_length=_TEXT)
    port: int | None = Field(default=None, ge=0, le=65535)
    password: str | None = Field(
        default=None,
        max_length=_TEXT,
        json_schema_extra={"writeOnly": True},
        description="Write-only: never returned.",
    )
    extra: str | None = Field(
        default=None,
        max_length=100_000,
        description="JSON object text. On update, a sensitive key sent as *** keeps its stored value.",
    )


class ConnectionBody(_Fields):
    """A new connection (``POST /api/v1/connections``)."""

    connection_id: str = Field(pattern=CONN_ID_PATTERN, min_length=1, max_length=250)
    conn_type: str = Field(min_length=1, max_length=500)


class ConnectionPatch(_Fields):
    """The fields to change (``PATCH``); fields left out keep their value, ``null`` clears one."""


class ConnectionOut(BaseModel):
    """A connection as the API shows it: no password, sensitive extras as ``***``."""

    model_config = ConfigDict(populate_by_name=True)

    connection_id: str
    conn_type: str | None
    description: str | None
    host: str | None
    login: str | None
    schema_: str | None = Field(alias="schema")
    port: int | None
    extra: str | None
    has_password: bool
    source: str | None


class ConnectionCollection(BaseModel):
    """One page of connections (Airflow's ``connections`` + ``total_entries``)."""

    connections: list[ConnectionOut]
    total_entries: int


class TestOut(BaseModel):
    """The result of ``POST .../test`` (Airflow's ``status`` and ``message``)."""

    status: bool
    message: str
    elapsed_s: float


class RevealOut(BaseModel):
    """A revealed secret (admin only, audited)."""

    connection_id: str
    password: str | None
    extra: str | None


class TraceStepOut(BaseModel):
    """What one backend answered."""

    backend: str
    keys: list[str]
    outcome: str
    elapsed_s: float
    detail: str
    replica: str = ""


class TraceOut(BaseModel):
    """The lookup trace of a connection id."""

    conn_id: str
    source: str | None
    started_at: float
    elapsed_s: float
    steps: list[TraceStepOut]


class HealthOut(BaseModel):
    """Liveness."""

    status: str


class VariableOut(BaseModel):
    """A variable (the value shown as ``***`` when its key names a secret)."""

    key: str
    value: str
    source: str | None


class VariableCollection(BaseModel):
    """Variables of the listable backends."""

    variables: list[VariableOut]
    total_entries: int


class VariableBody(BaseModel):
    """A variable's new value."""

    model_config = ConfigDict(extra="forbid")

    value: str = Field(max_length=100_000)


class PipelineRunOut(BaseModel):
    """One pipeline run."""

    run_id: str
    pipeline_id: str
    logical_date: str
    state: str
    executor: str
    started_at: float
    ended_at: float | None
    tasks: dict[str, str]


class PipelineRunsOut(BaseModel):
    """Recent pipeline runs, newest first."""

    runs: list[PipelineRunOut]


class AuditRecordOut(BaseModel):
    """One audit record (never a value: ids, outcomes, fingerprints)."""

    seq: int
    ts: float
    kind: str
    conn_id: str | None
    backend: str
    outcome: str
    count: int
    user: str
    host: str
    actor: str = ""
    detail: str


class AuditSearchOut(BaseModel):
    """Audit records matching a search, newest first."""

    records: list[AuditRecordOut]


def connection_out(data: dict[str, Any], source: str | None, has_password: bool) -> ConnectionOut:
    """Build the response from ``Connection.to_dict(redact=True)``."""
    import json

    extra = data.get("extra") or None
    return ConnectionOut(
        connection_id=data["conn_id"],
        conn_type=data.get("conn_type"),
        description=data.get("description"),
        host=data.get("host"),
        login=data.get("login"),
        schema=data.get("schema"),
        port=data.get("port"),
        extra=json.dumps(extra) if extra else None,
        has_password=has_password,
        source=source,
    )
