"""SQL failover against two real PostgreSQL servers, the first one killed under a load of 4 threads.

* :class:`~hookline.hooks.multihost.MultiHostHook` over ``SqlHook``: hookline's own host list
  (``host = "127.0.0.1:P1,127.0.0.1:P2"``) with a breaker per host. Queries in flight at the kill
  may fail once (they are counted and reported); no query started after the first host's breaker
  opened fails; when the server comes back, the background probe closes the breaker and queries
  return to it.
* libpq's own multi-host support through the plain ``SqlHook``: ``host = "127.0.0.1,127.0.0.1"``
  with ``target_session_attrs`` in the extras and the ports from ``PGPORT`` (the connection's one
  ``port`` field cannot hold a list): pooled sessions to the dead server are replaced, new ones
  land on the second server, and after the restart a new pool connects to the first again.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from hookline import Connection
from hookline.events import BreakerChanged, Event, default_bus
from hookline.failover import BreakerSettings
from hookline.hooks.multihost import MultiHostHook
from hookline.hooks.sql import SqlHook
from hookline.hooks.sql.engines import dispose_all
from tests.servers.postgres import PostgresServer

THREADS = 4
PASSWORD = "Mult1host-pw"


@dataclass
class Query:
    started: float
    ended: float
    port: int | None
    error: str = ""


@dataclass
class Load:
    run: Callable[[], int]
    queries: list[Query] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _work(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                port = self.run()
            except Exception as exc:
                self.queries.append(Query(started, time.monotonic(), None, repr(exc)))
            else:
                self.queries.append(Query(started, time.monotonic(), port))
            time.sleep(0.005)

    def start(self) -> Load:
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(THREADS)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def since(self, moment: float) -> list[Query]:
        return [q for q in list(self.queries) if q.started >= moment]


def _wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout_s} s")


@pytest.fixture
def two_servers(
    postgres_factory: Callable[[], PostgresServer],
) -> Iterator[tuple[PostgresServer, PostgresServer, str]]:
    """Two servers, each with the same database and login role."""
    first, second = postgres_factory(), postgres_factory()
    name = "failover_app"
    for server in (first, second):
        server.create_database(name, owner_password=PASSWORD)
    yield first, second, name
    dispose_all()
    gc.collect()  # a connection leaked by the test warns here, not in a later test


def test_multihost_hook_kill_first_host_under_load(
    two_servers: tuple[PostgresServer, PostgresServer, str],
) -> None:
    """Per-host breakers over hookline's host list: kill, 0 failures after the breaker opens,
    recovery after the restart."""
    first, second, name = two_servers
    conn = Connection(
        conn_id="warehouse",
        conn_type="postgres",
        host=f"127.0.0.1:{first.port},127.0.0.1:{second.port}",
        login=name,
        password=PASSWORD,
        schema=name,
        extra={"connect_timeout_s": 2},
    )
    settings = BreakerSettings(failure_threshold=2, reset_timeout_s=1.0, probe_interval_s=0.2)
    db = MultiHostHook(conn, SqlHook, settings=settings)
    first_member = f"warehouse@127.0.0.1:{first.port}"
    opened: list[float] = []
    closed: list[float] = []

    def on_event(event: Event) -> None:
        if isinstance(event, BreakerChanged) and event.name == first_member:
            (opened if event.state == "open" else closed if event.state == "closed" else []).append(
                time.monotonic()
            )

    unsubscribe = default_bus.subscribe(on_event)
    load = Load(lambda: int(db.call(lambda hook: hook.get_first("select inet_server_port()")[0])))
    load.start()
    try:
        _wait_for(lambda: len(load.queries) > 40, 60, "warm-up queries")
        assert {q.port for q in load.queries} == {first.port}
        killed_at = time.monotonic()
        first.kill()
        _wait_for(lambda: bool(opened), 30, "the first host's breaker opening")
        time.sleep(1.5)
        after_open = load.since(opened[0])
        in_flight_failures = [q for q in load.since(killed_at - 1) if q.error]
        restart_at = time.monotonic()
        first.restart()
        _wait_for(
            lambda: any(q.port == first.port for q in load.since(restart_at)),
            30,
            "queries returning to the restarted first host",
        )
        back = load.since(time.monotonic())
        time.sleep(0.5)
        back = load.since(time.monotonic() - 0.4)
    finally:
        load.stop()
        unsubscribe()
        db.close()
    assert after_open
    assert [q for q in after_open if q.error] == []
    assert {q.port for q in after_open if q.started > opened[0] + 0.01} == {second.port}
    # Queries in flight at the kill may fail once each: at most one per thread per host attempt.
    assert len(in_flight_failures) <= THREADS * settings.failure_threshold, in_flight_failures
    first_ok = min(q.ended for q in load.since(killed_at) if not q.error)
    print(
        f"\nmultihost: {len(in_flight_failures)} in-flight failure(s); first success "
        f"{first_ok - killed_at:.3f} s after the kill; breaker opened "
        f"{opened[0] - killed_at:.3f} s after it"
    )
    assert closed
    assert back
    assert all(q.port == first.port and not q.error for q in back)
    assert [q for q in load.queries if q.started > restart_at and q.error] == []


def test_libpq_multi_host_through_sql_hook(
    two_servers: tuple[PostgresServer, PostgresServer, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """libpq's host list through the existing SqlHook: kill the first server under load; pooled
    sessions to it are replaced on the second; after the restart a new pool uses the first."""
    first, second, name = two_servers
    monkeypatch.setenv("PGPORT", f"{first.port},{second.port}")
    conn = Connection(
        conn_id="libpq_multi",
        conn_type="postgres",
        host="127.0.0.1,127.0.0.1",
        login=name,
        password=PASSWORD,
        schema=name,
        extra={"target_session_attrs": "read-write", "connect_timeout_s": 2},
    )
    hook = SqlHook(conn)

    def query() -> int:
        return int(hook.get_first("select inet_server_port()")[0])

    load = Load(query).start()
    try:
        _wait_for(lambda: len(load.queries) > 40, 60, "warm-up queries")
        assert {q.port for q in load.queries} == {first.port}
        killed_at = time.monotonic()
        first.kill()
        _wait_for(
            lambda: any(q.port == second.port for q in load.since(killed_at)),
            30,
            "queries reaching the second server",
        )
        switched = min(q.started for q in load.since(killed_at) if q.port == second.port)
        time.sleep(1.0)
        after_switch = load.since(switched)
        failures = [q for q in load.since(killed_at - 1) if q.error]
    finally:
        load.stop()
    with monkeypatch.context() as server_env:
        server_env.delenv("PGPORT")  # the server reads it too, and a list is not a port to it
        first.restart()
    assert after_switch
    assert [q for q in after_switch if q.error] == []
    assert len(failures) <= THREADS * 2, failures
    print(f"\nlibpq multi-host: {len(failures)} in-flight failure(s) at the kill")
    hook.close()
    dispose_all()  # the pools of the old sessions are gone: a new hook's pool connects anew
    with SqlHook(conn) as fresh:
        assert fresh.get_first("select inet_server_port()")[0] == first.port
