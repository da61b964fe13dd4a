"""hookline.health: bounded parallel connection checks and the background health checker."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from hookline import Connection, failover, health
from hookline.events import HealthChecked
from hookline.exceptions import ConfigurationError
from hookline.hooks.base import BaseHook
from hookline.registry import _extra_hooks, register_hook
from hookline.testing import capture_events, override_connections

CANARY = "canary-health-Pw9911"


class SlowHook(BaseHook[None]):
    """A hook whose test never answers in time (a black-holed server)."""

    conn_type: ClassVar[str] = "slowtest"
    release = threading.Event()

    def get_conn(self) -> None:
        return None

    def _test(self) -> None:
        self.release.wait(10)


@pytest.fixture(autouse=True)
def _hooks() -> Iterator[None]:
    failover.reset_breakers()
    register_hook("slowtest", SlowHook)
    yield
    SlowHook.release.set()
    _extra_hooks.pop("slowtest", None)
    failover.reset_breakers()


def _conns(tmp_path: Path) -> dict[str, Connection]:
    sqlite3.connect(tmp_path / "ok.db").close()  # a test opens an existing database read-only
    return {
        "good": Connection(conn_type="sqlite", host=str(tmp_path / "ok.db")),
        "unreachable": Connection(
            conn_type="sqlite", host=str(tmp_path / "missing-dir" / "x.db"), password=CANARY
        ),
        "hangs": Connection(conn_type="slowtest"),
        "unknown_type": Connection(conn_type="nosuchtype", password=CANARY),
    }


def test_check_connections_runs_in_parallel_with_a_limit_each(tmp_path: Path) -> None:
    """Results come back in order; a hung test is reported as timed out (an outage) within the
    limit; messages are masked; an answer that is not an outage is told apart."""
    ids = ["good", "unreachable", "hangs", "unknown_type"]
    with override_connections(_conns(tmp_path)):
        health.check_connections(["good"], timeout_s=60)  # warm-up: imports SQLAlchemy
    with override_connections(_conns(tmp_path)), capture_events() as events:
        start = time.perf_counter()
        results = health.check_connections(ids, timeout_s=2.0, max_workers=4)
        elapsed = time.perf_counter() - start
    assert elapsed < 6
    by_id = {r.conn_id: r for r in results}
    assert [r.conn_id for r in results] == ids
    assert by_id["good"].ok
    assert by_id["good"].message == "Connection successfully tested"
    assert not by_id["unreachable"].ok
    assert by_id["unreachable"].error == "HookConnectionError"
    assert by_id["unreachable"].outage
    assert (by_id["hangs"].error, by_id["hangs"].outage) == ("TimeoutError", True)
    assert by_id["hangs"].elapsed_s == 2.0
    assert by_id["unknown_type"].error == "InvalidConnection"
    assert not by_id["unknown_type"].outage
    for result in results:
        assert CANARY not in result.message
        assert CANARY not in str(result.to_dict())
    checked = [e for e in events if isinstance(e, HealthChecked)]
    assert [(e.conn_id, e.ok) for e in checked] == [(i, i == "good") for i in ids]
    assert all(CANARY not in repr(e) for e in checked)


def test_checker_feeds_the_shared_breakers(tmp_path: Path) -> None:
    """Outages count against the connection's process-wide breaker; an answer resets it."""
    settings = failover.BreakerSettings(failure_threshold=2, reset_timeout_s=60)
    checker = health.HealthChecker(
        ["good", "unreachable", "unknown_type"], timeout_s=2, breaker_settings=settings
    )
    with override_connections(_conns(tmp_path)):
        checker.run_once()
        checker.run_once()
    assert failover.breaker_for("unreachable").state == "open"
    assert failover.breaker_for("good").state == "closed"
    assert failover.breaker_for("unknown_type").state == "closed"
    assert checker.rounds == 2
    assert not checker.last["unreachable"].ok


def test_checker_thread_runs_rounds_until_stopped(tmp_path: Path) -> None:
    """start() runs rounds on a daemon thread every interval_s; stop() ends it."""
    db = tmp_path / "ok.db"
    sqlite3.connect(db).close()
    seen: list[Any] = []

    from hookline.resolve import SecretsChain
    from hookline.resolve.default import set_default_resolver
    from hookline.testing import InMemoryBackend

    set_default_resolver(
        SecretsChain([InMemoryBackend({"good": Connection(conn_type="sqlite", host=str(db))})])
    )
    with capture_events() as events:
        checker = health.HealthChecker(["good"], interval_s=0.05, timeout_s=2).start()
        deadline = time.monotonic() + 10
        while checker.rounds < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        checker.stop()
        seen = [e for e in events if isinstance(e, HealthChecked)]
    assert checker.rounds >= 3
    assert len(seen) >= 3
    assert all(e.ok for e in seen)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"conn_ids": []}, "at least one connection id"),
        ({"conn_ids": ["a"], "interval_s": 0}, "interval_s and timeout_s must be > 0"),
        ({"conn_ids": ["a"], "max_workers": 0}, "max_workers must be >= 1"),
    ],
)
def test_checker_rejects_bad_settings(kwargs: dict[str, Any], fragment: str) -> None:
    """Bad settings are a ConfigurationError naming the setting."""
    conn_ids = kwargs.pop("conn_ids")
    with pytest.raises(ConfigurationError, match=fragment):
        health.HealthChecker(conn_ids, **kwargs)


def test_check_connections_rejects_bad_limits() -> None:
    """A zero timeout or no workers is refused before anything runs."""
    with pytest.raises(ConfigurationError, match="timeout_s must be > 0"):
        health.check_connections(["a"], timeout_s=0)
    with pytest.raises(ConfigurationError, match="max_workers must be >= 1"):
        health.check_connections(["a"], max_workers=0)
    assert health.check_connections([]) == []


def test_all_conn_ids_lists_the_chain(tmp_path: Path) -> None:
    """all_conn_ids() is every id the default chain lists, sorted."""
    with override_connections(_conns(tmp_path)):
        assert health.all_conn_ids() == ["good", "hangs", "unknown_type", "unreachable"]
