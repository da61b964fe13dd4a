"""Health: test connections, in parallel with a time limit each, once or on an interval.

* :func:`check_connections` resolves each connection (in the caller's context, so a resolver
  scoped with ``use_resolver`` applies), builds its hook and makes one real round trip
  (the hook's ``test_connection`` check), with at most ``timeout_s`` per connection; a test that
  hangs is abandoned on its daemon thread and reported as timed out. It backs ``hookline
  connections test --all`` (:func:`all_conn_ids` lists every connection of the chain).
* :class:`HealthChecker` runs those tests on an interval on a background thread. Each result emits
  :class:`~hookline.events.HealthChecked` (the metrics listener turns it into
  ``hookline_connection_up`` and friends) and feeds the connection's process-wide circuit breaker
  (:func:`hookline.failover.breaker_for`, the one regional groups look at): an outage (the system or
  its secrets store could not be reached, or the test timed out) counts a failure, any answer
  (even rejected credentials) a success.

Results never hold a secret: messages are masked, events carry the error's type name only.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hookline import masking
from hookline.events import EventBus, HealthChecked, default_bus
from hookline.exceptions import (
    BackendUnavailable,
    ConfigurationError,
    HookConnectionError,
    HooklineError,
)
from hookline.failover import BreakerSettings, breaker_for, error_summary

__all__ = [
    "CheckResult",
    "HealthChecker",
    "all_conn_ids",
    "check_connection",
    "check_connections",
]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_WORKERS = 8


@dataclasses.dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one connection test.

    Attributes:
        conn_id: The connection tested.
        ok: Whether the system answered with these credentials.
        elapsed_s: How long the test took (the limit, when it timed out).
        message: ``"Connection successfully tested"`` or why it failed (masked).
        error: The error's type name (``"TimeoutError"`` when it ran out of time), or "".
        outage: True when the system or its secrets store could not be reached (or timed out),
            as opposed to an answer such as rejected credentials.
    """

    conn_id: str
    ok: bool
    elapsed_s: float
    message: str
    error: str = ""
    outage: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        return dataclasses.asdict(self)


def _run_test(conn_id: str) -> None:
    from hookline.registry import hook_class_for
    from hookline.resolve.default import get_connection

    conn = get_connection(conn_id)
    hook = hook_class_for(conn.conn_type or "")(conn)
    try:
        # The hook's one round trip (what test_connection runs), called directly so the error's
        # type survives for classification.
        hook._test()
    finally:
        hook.close()


def check_connection(conn_id: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> CheckResult:
    """Test one connection with a time limit; never raises.

    The test runs on a daemon thread; when it does not finish within ``timeout_s`` it is abandoned
    (left to end on its own) and the result says it timed out.
    """
    outcome: list[BaseException | None] = []
    done = threading.Event()

    def work() -> None:
        try:
            _run_test(conn_id)
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)
        finally:
            done.set()

    start = time.perf_counter()
    # The caller's context goes along, so a resolver scoped with use_resolver() applies.
    context = contextvars.copy_context()
    threading.Thread(
        target=context.run, args=(work,), name=f"hookline-test-{conn_id}", daemon=True
    ).start()
    if not done.wait(timeout_s):
        return CheckResult(
            conn_id, False, timeout_s, f"no answer within {timeout_s:g} s", "TimeoutError", True
        )
    elapsed = time.perf_counter() - start
    error = outcome[0]
    if error is None:
        return CheckResult(conn_id, True, elapsed, "Connection successfully tested")
    outage = isinstance(error, HookConnectionError | BackendUnavailable | TimeoutError) or (
        isinstance(error, OSError) and not isinstance(error, HooklineError)
    )
    return CheckResult(
        conn_id,
        False,
        elapsed,
        masking.redact(error_summary(error)),
        type(error).__name__,
        outage,
    )


def check_connections(
    conn_ids: Sequence[str],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_workers: int = DEFAULT_MAX_WORKERS,
    bus: EventBus | None = None,
) -> list[CheckResult]:
    """Test ``conn_ids`` in parallel (at most ``max_workers`` at once), ``timeout_s`` each.

    Each result also emits :class:`~hookline.events.HealthChecked` on ``bus``.

    Returns:
        The results, in the order of ``conn_ids``.

    Raises:
        ConfigurationError: ``timeout_s`` or ``max_workers`` out of range.
    """
    if not timeout_s > 0:
        raise ConfigurationError(f"timeout_s must be > 0, got {timeout_s!r}")
    if max_workers < 1:
        raise ConfigurationError(f"max_workers must be >= 1, got {max_workers!r}")
    target = bus if bus is not None else default_bus
    if not conn_ids:
        return []
    with ThreadPoolExecutor(
        max_workers=min(max_workers, len(conn_ids)), thread_name_prefix="hookline-health"
    ) as pool:
        futures = [
            pool.submit(contextvars.copy_context().run, check_connection, cid, timeout_s=timeout_s)
            for cid in conn_ids
        ]
        results = [future.result() for future in futures]
    if target.active:
        for result in results:
            target.emit(
                HealthChecked(
                    conn_id=result.conn_id,
                    ok=result.ok,
                    elapsed_s=result.elapsed_s,
                    error=result.error,
                )
            )
    return results


def all_conn_ids() -> list[str]:
    """Every connection id the default chain can list (sorted, each once)."""
    from hookline.resolve.default import default_chain

    ids = {conn.conn_id for _, conn in default_chain().list_connections() if conn.conn_id}
    return sorted(ids)


class HealthChecker:
    """Test connections every ``interval_s`` on a background thread, feeding breakers and metrics.

    Args:
        conn_ids: The connections to test.
        interval_s: Time between the starts of two rounds.
        timeout_s: Limit for one connection's test.
        max_workers: Tests run at once.
        breaker_settings: Settings of breakers created for these connections.
        bus: Where :class:`~hookline.events.HealthChecked` goes.

    Raises:
        ConfigurationError: no connections, or a setting out of range.

    Example:
        >>> checker = HealthChecker(["database_us-east-1", "database_us-west-2"], interval_s=15)
        >>> checker.start()  # doctest: +SKIP
    """

    def __init__(
        self,
        conn_ids: Sequence[str],
        *,
        interval_s: float = 30.0,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_workers: int = DEFAULT_MAX_WORKERS,
        breaker_settings: BreakerSettings | None = None,
        bus: EventBus | None = None,
    ) -> None:
        if not conn_ids:
            raise ConfigurationError("a health checker needs at least one connection id")
        if not interval_s > 0 or not timeout_s > 0:
            raise ConfigurationError(
                f"interval_s and timeout_s must be > 0, got {interval_s!r} and {timeout_s!r}"
            )
        if max_workers < 1:
            raise ConfigurationError(f"max_workers must be >= 1, got {max_workers!r}")
        self.conn_ids = tuple(dict.fromkeys(conn_ids))
        self.interval_s = float(interval_s)
        self.timeout_s = float(timeout_s)
        self.max_workers = max_workers
        self._breaker_settings = breaker_settings
        self._bus = bus
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        #: The results of the last round, by conn_id.
        self.last: dict[str, CheckResult] = {}
        #: Rounds completed.
        self.rounds = 0

    def run_once(self) -> list[CheckResult]:
        """Run one round now (on this thread) and feed the breakers; return the results."""
        results = check_connections(
            self.conn_ids, timeout_s=self.timeout_s, max_workers=self.max_workers, bus=self._bus
        )
        for result in results:
            breaker = breaker_for(result.conn_id, self._breaker_settings)
            if result.outage:
                breaker.record_failure()
            else:
                breaker.record_success()
            if not result.ok:
                log.warning("health check of %r failed: %s", result.conn_id, result.message)
        self.last = {result.conn_id: result for result in results}
        self.rounds += 1
        return results

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.run_once()
            except Exception as exc:  # keep checking: one bad round must not end the thread
                log.warning("health check round failed: %s", error_summary(exc))
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def start(self) -> HealthChecker:
        """Start the background thread (a second call does nothing); returns self."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=contextvars.copy_context().run,
                    args=(self._loop,),
                    name="hookline-health-checker",
                    daemon=True,
                )
                self._thread.start()
        return self

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop the thread after the current round (waiting at most ``timeout_s``)."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=self.timeout_s + 1 if timeout_s is None else timeout_s)

    def __enter__(self) -> HealthChecker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
