"""What a lookup through the secrets chain found: one step per backend, and the error for "not found".

A :class:`LookupTrace` is returned by every lookup and carried by
:class:`~hookline.exceptions.ConnectionNotFound`, so "not found" always says which backends were asked
under which keys, what each answered and how long it took. Details are masked when rendered, so a
secret registered after the step was recorded is hidden too.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Literal

from hookline import masking
from hookline.connection import Connection
from hookline.exceptions import ConnectionNotFound, ConnectionUnresolved

__all__ = [
    "LookupResult",
    "LookupTrace",
    "Outcome",
    "TraceStep",
    "error_detail",
    "not_found_error",
]

Outcome = Literal["hit", "absent", "unavailable", "denied", "skipped", "invalid"]

_DETAIL_MAX_CHARS = 300


@dataclasses.dataclass(slots=True)
class TraceStep:
    """What one backend said during a lookup.

    Attributes:
        backend: The backend's name.
        keys: The keys it was asked under (env var names, paths, secret ids); empty when skipped.
        outcome: ``hit``, ``absent``, ``unavailable``, ``denied``, ``skipped`` or ``invalid`` (the
            stored value or the backend's configuration is invalid).
        elapsed_s: Time spent in the backend, in seconds.
        detail: Why it failed or was skipped (error type and redacted message); empty otherwise.
            Rendering masks it again, so secrets registered after the step are hidden too.
        replica: For a replica group (``replicated`` backend), the replica that answered.
    """

    backend: str
    keys: list[str]
    outcome: Outcome
    elapsed_s: float
    detail: str = ""
    replica: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The step as JSON-ready data (detail masked again with the secrets known now)."""
        data = dataclasses.asdict(self)
        data["detail"] = masking.redact(self.detail)
        if not self.replica:
            del data["replica"]  # only replica groups name one
        return data

    def __repr__(self) -> str:
        # A debugger, a failing assert or a log of the trace object: mask the detail again too.
        return (
            f"TraceStep(backend={self.backend!r}, keys={self.keys!r}, outcome={self.outcome!r}, "
            f"elapsed_s={self.elapsed_s!r}, detail={masking.redact(self.detail)!r}, "
            f"replica={self.replica!r})"
        )


@dataclasses.dataclass(slots=True)
class LookupTrace:
    """The record of one lookup through the chain: one :class:`TraceStep` per backend.

    Attributes:
        conn_id: The id that was looked up.
        steps: What each backend said, in chain order.
        started_at: Wall-clock time of the lookup (seconds since the epoch).
    """

    conn_id: str
    steps: list[TraceStep] = dataclasses.field(default_factory=list)
    started_at: float = dataclasses.field(default_factory=time.time)

    @property
    def elapsed_s(self) -> float:
        """Total time spent in backends, in seconds."""
        return sum(step.elapsed_s for step in self.steps)

    @property
    def source(self) -> str | None:
        """The backend that answered, or None."""
        for step in self.steps:
            if step.outcome == "hit":
                return step.backend
        return None

    @property
    def unavailable(self) -> list[str]:
        """Names of the backends that could not answer."""
        return [step.backend for step in self.steps if step.outcome == "unavailable"]

    def to_dict(self) -> dict[str, Any]:
        """The trace as JSON-ready data (for ``--output json``)."""
        return {
            "conn_id": self.conn_id,
            "source": self.source,
            "started_at": self.started_at,
            "elapsed_s": self.elapsed_s,
            "steps": [step.to_dict() for step in self.steps],
        }

    def __str__(self) -> str:
        rows = [("#", "backend", "outcome", "time", "keys")]
        for number, step in enumerate(self.steps, start=1):
            keys = ", ".join(step.keys) if step.keys else "-"
            backend = f"{step.backend} via {step.replica}" if step.replica else step.backend
            rows.append(
                (str(number), backend, step.outcome, f"{step.elapsed_s * 1000:.3f} ms", keys)
            )
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = []
        for index, row in enumerate(rows):
            cells = [row[i].ljust(widths[i]) for i in range(4)]
            cells[3] = row[3].rjust(widths[3])
            lines.append("  " + "  ".join([*cells, row[4]]).rstrip())
            if index and self.steps[index - 1].detail:
                detail = masking.redact(self.steps[index - 1].detail)
                lines.append("  " + " " * (widths[0] + 2) + "-> " + detail)
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True, slots=True)
class LookupResult:
    """The answer of :meth:`SecretsChain.lookup`.

    Attributes:
        connection: The connection, or None when no backend holds it.
        trace: What each backend said.
        source: The name of the backend that answered, or None.
    """

    connection: Connection | None
    trace: LookupTrace
    source: str | None


def not_found_error(trace: LookupTrace) -> ConnectionNotFound | ConnectionUnresolved:
    """The :class:`ConnectionNotFound` for a lookup that found nothing; its message prints ``trace``.

    When some backends could not answer, it is a :class:`ConnectionUnresolved` (a
    ``BackendUnavailable``, not a ``ConnectionNotFound``) whose message says the connection may
    exist there.
    """
    conn_id = trace.conn_id
    down = trace.unavailable
    if down:
        message = (
            f"connection {conn_id!r} was not found, but {', '.join(down)} could not answer, "
            f"so it may be defined there; backends asked:\n{trace}"
        )
        return ConnectionUnresolved(conn_id, trace, message=message, backend=", ".join(down))
    message = f"connection {conn_id!r} is not defined; backends asked:\n{trace}"
    return ConnectionNotFound(conn_id, trace, message=message)


def error_detail(exc: BaseException) -> str:
    """One line for a trace step or a log: the error type and its masked, shortened message."""
    text = f"{type(exc).__name__}: {masking.redact(str(exc))}"
    text = " ".join(text.split())
    if len(text) > _DETAIL_MAX_CHARS:
        text = text[: _DETAIL_MAX_CHARS - 3] + "..."
    return text
