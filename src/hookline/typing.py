"""Protocols for the contracts that cross layers, so a lower layer can name a higher one's type
without importing it (``exceptions`` names the lookup trace, ``connection`` names the hook it builds).

The concrete classes live where they belong: :class:`hookline.resolve.trace.LookupTrace` satisfies
:class:`LookupTraceView`, every :class:`hookline.hooks.base.BaseHook` satisfies :class:`HookView`.
This module imports nothing from hookline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

__all__ = ["HookView", "LookupTraceView", "TraceStepView"]


class TraceStepView(Protocol):
    """What one backend said during a lookup (see :class:`hookline.resolve.trace.TraceStep`)."""

    @property
    def backend(self) -> str: ...

    @property
    def keys(self) -> list[str]: ...

    @property
    def outcome(self) -> str: ...

    @property
    def elapsed_s(self) -> float: ...

    @property
    def detail(self) -> str: ...

    @property
    def replica(self) -> str: ...


class LookupTraceView(Protocol):
    """The record of one lookup (see :class:`hookline.resolve.trace.LookupTrace`)."""

    @property
    def conn_id(self) -> str: ...

    @property
    def steps(self) -> Sequence[TraceStepView]: ...

    @property
    def source(self) -> str | None: ...

    @property
    def unavailable(self) -> list[str]: ...

    def to_dict(self) -> dict[str, Any]:
        """The trace as JSON-ready data, details masked."""
        ...


class HookView(Protocol):
    """What :meth:`hookline.Connection.get_hook` returns: any hook (see
    :class:`hookline.hooks.base.BaseHook`)."""

    conn_id: str

    def test_connection(self) -> tuple[bool, str]:
        """Check that the system answers; never raises."""
        ...

    def close(self) -> None:
        """Close the client and everything it opened."""
        ...
