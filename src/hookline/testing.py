"""Fakes for testing code that uses hookline: an in-memory secrets backend, connection overrides
and event capture.

    from hookline.testing import override_connections

    def test_report():
        with override_connections({"warehouse": "postgres://alice:pw@db:5432/app"}):
            assert build_report() == ...      # hookline.get_connection("warehouse") sees the fake

:class:`InMemoryBackend` is a real, writable :class:`~hookline.secrets.base.SecretsBackend` with call
counters and fault injection, usable in any chain.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from hookline.connection import Connection
from hookline.events import Event, EventBus, default_bus
from hookline.exceptions import InvalidConnection, InvalidVariable
from hookline.resolve import default as resolver
from hookline.resolve.chain import SecretsChain
from hookline.secrets.base import SecretsBackend

__all__ = ["InMemoryBackend", "capture_events", "override_connections"]


class InMemoryBackend(SecretsBackend):
    """A writable backend holding connections in a dict, with counters for tests.

    Args:
        connections: Initial connections by id: :class:`Connection` objects, or their URI or JSON
            text (text is parsed on lookup, so a malformed value tests the ``invalid`` path).
        name: The backend's name in traces.
        variables: Initial variables by key (text values). The backend stores and lists variables
            too; their lookups count in ``calls`` and ``lookups`` (by key) as well.

    Attributes:
        calls: How many lookups were made (all ids).
        lookups: Lookups per conn_id.
        writes: How many set/delete calls were made.
        version: Incremented by every write.
        fail_with: When set, every lookup raises it (e.g. ``BackendUnavailable(...)``).
        delay_s: Seconds every lookup sleeps first (to widen races in concurrency tests).
    """

    writable = True
    listable = True
    variable_writable = True
    variables_listable = True

    def __init__(
        self,
        connections: Mapping[str, Connection | str] | None = None,
        *,
        name: str = "memory",
        variables: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._data: dict[str, Connection | str] = dict(connections or {})
        self._variables: dict[str, str] = dict(variables or {})
        self.calls = 0
        self.lookups: Counter[str] = Counter()
        self.writes = 0
        self.version = 0
        self.fail_with: BaseException | None = None
        self.delay_s = 0.0

    def __repr__(self) -> str:
        return f"InMemoryBackend(name={self.name!r}, connections={len(self._data)})"

    def _count(self, conn_id: str) -> Connection | str | None:
        with self._lock:
            self.calls += 1
            self.lookups[conn_id] += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail_with is not None:
            raise self.fail_with
        return self._data.get(conn_id)

    def get_conn_value(self, conn_id: str) -> str | None:
        value = self._count(conn_id)
        if isinstance(value, Connection):
            return value.to_json()
        return value

    def get_connection(self, conn_id: str) -> Connection | None:
        value = self._count(conn_id)
        if value is None:
            return None
        if isinstance(value, Connection):
            return value if value.conn_id == conn_id else value.replace(conn_id=conn_id)
        return Connection.from_text(value, conn_id=conn_id)

    def lookup_keys(self, conn_id: str) -> list[str]:
        return [f"{self.name}:{conn_id}"]

    def set_connection(self, conn: Connection, *, overwrite: bool = True) -> None:
        if conn.conn_id is None:
            raise InvalidConnection("a connection needs a conn_id to be stored")
        with self._lock:
            if not overwrite and conn.conn_id in self._data:
                raise InvalidConnection(
                    f"connection {conn.conn_id!r} already exists in {self.name}",
                    conn_id=conn.conn_id,
                )
            self._data[conn.conn_id] = conn
            self.writes += 1
            self.version += 1

    def delete_connection(self, conn_id: str) -> bool:
        with self._lock:
            existed = self._data.pop(conn_id, None) is not None
            self.writes += 1
            self.version += 1
        return existed

    def list_connections(self) -> Iterator[Connection]:
        with self._lock:
            items = sorted(self._data.items())
        for conn_id, value in items:
            if isinstance(value, Connection):
                yield value if value.conn_id == conn_id else value.replace(conn_id=conn_id)
            else:
                yield Connection.from_text(value, conn_id=conn_id)

    def get_variable(self, key: str) -> str | None:
        with self._lock:
            self.calls += 1
            self.lookups[key] += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail_with is not None:
            raise self.fail_with
        return self._variables.get(key)

    def variable_lookup_keys(self, key: str) -> list[str]:
        return [f"{self.name}:variable/{key}"]

    def set_variable(self, key: str, value: str, *, overwrite: bool = True) -> None:
        with self._lock:
            if not overwrite and key in self._variables:
                raise InvalidVariable(f"variable {key!r} already exists in {self.name}", key=key)
            self._variables[key] = value
            self.writes += 1
            self.version += 1

    def delete_variable(self, key: str) -> bool:
        with self._lock:
            existed = self._variables.pop(key, None) is not None
            self.writes += 1
            self.version += 1
        return existed

    def list_variables(self) -> Iterator[tuple[str, str]]:
        with self._lock:
            items = sorted(self._variables.items())
        yield from items


@contextmanager
def override_connections(
    *items: Connection | Mapping[str, Connection | str],
    variables: Mapping[str, str] | None = None,
) -> Iterator[InMemoryBackend]:
    """Make :func:`hookline.get_connection` resolve only the given connections (and
    :func:`hookline.get_variable` only the given ``variables``), inside the block.

    Args:
        items: :class:`Connection` objects (with a conn_id) and/or mappings of id to a Connection
            or its URI/JSON text.
        variables: Variables by key (text values).

    Yields:
        The :class:`InMemoryBackend` behind the override (add connections, read its counters).
        Writes through :func:`hookline.resolve.default.default_chain` go to it too.

    The override holds in this thread or asyncio task only (other threads and tasks keep their
    own resolution); overrides nest.
    """
    data: dict[str, Connection | str] = {}
    for item in items:
        if isinstance(item, Connection):
            if item.conn_id is None:
                raise InvalidConnection("override_connections needs connections with a conn_id")
            data[item.conn_id] = item
        elif isinstance(item, Mapping):
            data.update(item)
        else:
            raise TypeError(
                f"override_connections takes Connections or mappings, not {type(item).__name__}"
            )
    backend = InMemoryBackend(data, variables=variables)
    with resolver.use_resolver(SecretsChain([backend])):
        yield backend


@contextmanager
def capture_events(bus: EventBus | None = None) -> Iterator[list[Event]]:
    """Collect every event emitted inside the block (on the process-wide bus by default).

        with capture_events() as events:
            hookline.get_connection("warehouse")
        assert [type(e).__name__ for e in events] == ["CacheMiss", "LookupDone"]

    Yields:
        The list the events are appended to, in order.
    """
    target = bus if bus is not None else default_bus
    events: list[Event] = []
    unsubscribe = target.subscribe(events.append)
    try:
        yield events
    finally:
        unsubscribe()


# -- HTTP: answer the requests of HTTP hooks built in a block with a handler, not the network.
from hookline.hooks.http.transport import MockHttp, mock_http  # noqa: E402

__all__ += ["MockHttp", "mock_http"]
