"""Circuit breakers and failover groups: keep going on another replica or region when one fails.

* :class:`CircuitBreaker`: closed (calls pass; consecutive failures are counted), open (calls are
  refused without touching the member, until ``reset_timeout_s`` has passed), half-open (one trial
  call; success closes it, failure opens it again). Every change emits
  :class:`~hookline.events.BreakerChanged`. Breakers shared across a process (a connection group,
  the health checker and the metrics all look at the same one) come from :func:`breaker_for`.
* :class:`FailoverGroup`: one logical thing over several members, each behind its own breaker,
  asked in order of health, then measured latency, then configured order. A failure that says
  "this member could not be reached" moves the call on to the next member when the call is safe
  to repeat; any other error (a bad query, rejected credentials) is the answer and is raised. With
  a ``probe``, a member whose breaker opened is probed on a background thread, never on a caller's
  path; the first member to answer after a switch emits :class:`~hookline.events.FailoverSwitched`.

Built on these: the secrets backend over replicas (:class:`hookline.secrets.replica.ReplicaGroup`),
connection-level groups by region (:mod:`hookline.regions`), hooks over several hosts or base URLs
(:mod:`hookline.hooks.multihost`) and the health checker (:mod:`hookline.health`).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Generic, Literal, TypeVar

from hookline import masking
from hookline.events import BreakerChanged, EventBus, FailoverSwitched, default_bus
from hookline.exceptions import (
    BackendUnavailable,
    ConfigurationError,
    HookConnectionError,
)
from hookline.options import parse_float, parse_int

__all__ = [
    "BreakerSettings",
    "BreakerState",
    "CircuitBreaker",
    "FailoverGroup",
    "Member",
    "breaker_for",
    "breakers",
    "error_summary",
    "find_breaker",
    "reset_breakers",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

BreakerState = Literal["closed", "open", "half_open"]
_STATE_RANK: Final = {"closed": 0, "half_open": 1, "open": 2}
_DETAIL_MAX_CHARS = 200


def error_summary(exc: BaseException) -> str:
    """The error's type and masked, shortened message, for messages and logs."""
    text = " ".join(f"{type(exc).__name__}: {masking.redact(str(exc))}".split())
    return text if len(text) <= _DETAIL_MAX_CHARS else text[: _DETAIL_MAX_CHARS - 3] + "..."


@dataclasses.dataclass(frozen=True, slots=True)
class BreakerSettings:
    """When a breaker opens and how long it stays open.

    Attributes:
        failure_threshold: Consecutive failures that open the breaker.
        reset_timeout_s: How long it stays open before a half-open trial call (or probe).
        probe_interval_s: How often a background prober looks at open members.
        latency_bucket_s: Members whose measured latencies fall in the same bucket of this width
            keep their configured order (0: fastest first, always).
    """

    failure_threshold: int = 3
    reset_timeout_s: float = 5.0
    probe_interval_s: float = 0.5
    latency_bucket_s: float = 0.05

    def __post_init__(self) -> None:
        parse_int(
            self.failure_threshold, name="failure_threshold", minimum=1, error=ConfigurationError
        )
        for name in ("reset_timeout_s", "probe_interval_s", "latency_bucket_s"):
            parse_float(getattr(self, name), name=name, minimum=0.0, error=ConfigurationError)
        if self.probe_interval_s <= 0:
            raise ConfigurationError(
                f"probe_interval_s must be a number > 0, got {self.probe_interval_s!r}"
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "breaker") -> BreakerSettings:
        """Build settings from configuration values (numbers or numeric text); unknown keys are errors.

        Raises:
            ConfigurationError: a value is not a number in range, or a key is unknown.
        """
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigurationError(
                f"{where}: unknown breaker setting(s) {', '.join(unknown)}; known: "
                f"{', '.join(sorted(known))}"
            )
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            if key == "failure_threshold":
                kwargs[key] = parse_int(
                    value, name=f"{where}.{key}", minimum=1, error=ConfigurationError
                )
            else:
                kwargs[key] = parse_float(
                    value, name=f"{where}.{key}", minimum=0.0, error=ConfigurationError
                )
        return cls(**kwargs)


class CircuitBreaker:
    """A circuit breaker: closed, open or half-open (see the module docstring).

    Args:
        name: Shown in events, metrics and errors (a member or connection name, never a secret).
        settings: Thresholds.
        bus: Where :class:`~hookline.events.BreakerChanged` goes (default: the process-wide bus).
        clock: Monotonic clock in seconds (tests inject a fake one).
    """

    def __init__(
        self,
        name: str,
        settings: BreakerSettings | None = None,
        *,
        bus: EventBus | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.settings = settings or BreakerSettings()
        self._bus = bus if bus is not None else default_bus
        self._clock = clock
        self._lock = threading.Lock()
        self._state: BreakerState = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._trial_at = 0.0
        #: Times the breaker opened.
        self.open_count = 0

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self._state!r}, failures={self._failures})"

    @property
    def state(self) -> BreakerState:
        """``closed``, ``open`` or ``half_open``."""
        return self._state

    @property
    def failures(self) -> int:
        """Consecutive failures counted while closed."""
        return self._failures

    def _set(self, state: BreakerState) -> None:
        # Called with the lock held.
        self._state = state
        if state == "open":
            self._opened_at = self._clock()
            self.open_count += 1
        if self._bus.active:
            self._bus.emit(BreakerChanged(name=self.name, state=state))

    def probe_due(self) -> bool:
        """True when the breaker is open and ``reset_timeout_s`` has passed (time for a trial)."""
        return (
            self._state == "open"
            and self._clock() - self._opened_at >= self.settings.reset_timeout_s
        )

    def allow(self) -> bool:
        """Whether a call may go to this member now.

        Closed: yes. Open: no, until ``reset_timeout_s`` has passed; then the breaker turns
        half-open and lets this one caller through as the trial. Half-open: no (a trial is out),
        unless the trial has been out for longer than ``reset_timeout_s`` (it never reported).
        """
        if self._state == "closed":
            return True
        with self._lock:
            now = self._clock()
            if self._state == "open" and now - self._opened_at >= self.settings.reset_timeout_s:
                self._trial_at = now
                self._set("half_open")
                return True
            if self._state == "half_open" and now - self._trial_at >= self.settings.reset_timeout_s:
                self._trial_at = now
                return True
            state: str = self._state  # another thread may have closed it meanwhile
            return state == "closed"

    def begin_probe(self) -> bool:
        """For background probers: turn an open breaker whose timeout passed half-open; True when
        the caller should now probe the member and report the result."""
        return self.allow() and self._state == "half_open"

    def record_success(self) -> None:
        """A call (or probe) reached the member: close a half-open breaker, reset the count."""
        if self._state == "closed" and not self._failures:
            return
        with self._lock:
            if self._state == "half_open":
                self._failures = 0
                self._set("closed")
            elif self._state == "closed":
                self._failures = 0
            # Open: a call that started before the breaker opened says nothing about now.

    def record_failure(self) -> None:
        """A call (or probe) could not reach the member: count it; open at the threshold, or at
        once when half-open."""
        with self._lock:
            if self._state == "half_open":
                self._set("open")
            elif self._state == "closed":
                self._failures += 1
                if self._failures >= self.settings.failure_threshold:
                    self._failures = 0
                    self._set("open")

    def force_open(self) -> None:
        """Open the breaker now (a health check says the member is down)."""
        with self._lock:
            if self._state != "open":
                self._failures = 0
                self._set("open")

    def reset(self) -> None:
        """Close the breaker and forget the failures."""
        with self._lock:
            self._failures = 0
            if self._state != "closed":
                self._set("closed")


# -- process-wide breakers, shared by groups, the health checker and metrics --------------------

_breakers_lock = threading.Lock()
_breakers: dict[str, CircuitBreaker] = {}


def breaker_for(name: str, settings: BreakerSettings | None = None) -> CircuitBreaker:
    """The process-wide breaker called ``name``, created with ``settings`` on first use."""
    breaker = _breakers.get(name)
    if breaker is None:
        with _breakers_lock:
            breaker = _breakers.get(name)
            if breaker is None:
                breaker = _breakers[name] = CircuitBreaker(name, settings)
    return breaker


def find_breaker(name: str) -> CircuitBreaker | None:
    """The process-wide breaker called ``name``, or None when nothing created it."""
    return _breakers.get(name)


def breakers() -> dict[str, CircuitBreaker]:
    """A snapshot of the process-wide breakers, by name."""
    with _breakers_lock:
        return dict(_breakers)


def reset_breakers() -> None:
    """Forget every process-wide breaker (tests)."""
    with _breakers_lock:
        _breakers.clear()


# -- a group of members -----------------------------------------------------------------------


class Member(Generic[T]):
    """One member of a :class:`FailoverGroup`: a name, the thing itself, its breaker and latency.

    Attributes:
        name: The member's name (in events, metrics, traces).
        target: What calls run against (a backend, a hook, a conn_id).
        index: Its position in the configured order.
        breaker: Its breaker.
        latency_s: Moving average of its successful calls' durations (None until measured; the
            first call, which pays for building clients and logging in, is not counted).
        last_error: Summary of its last failure (masked), or "".
    """

    __slots__ = ("_warm", "breaker", "index", "last_error", "latency_s", "name", "target")

    def __init__(self, name: str, target: T, index: int, breaker: CircuitBreaker) -> None:
        self.name = name
        self.target = target
        self.index = index
        self.breaker = breaker
        self.latency_s: float | None = None
        self.last_error = ""
        self._warm = False

    def observe(self, elapsed_s: float) -> None:
        """Fold one successful call's duration into :attr:`latency_s` (weight 0.3); the first one
        is a warm-up and only marks the member as warm."""
        if not self._warm:
            self._warm = True
            return
        previous = self.latency_s
        self.latency_s = elapsed_s if previous is None else previous + 0.3 * (elapsed_s - previous)

    def forget_latency(self) -> None:
        """Start measuring afresh (a member back from an outage: the probe's timing, with new
        connections, says little about its calls)."""
        self.latency_s = None
        self._warm = False

    def __repr__(self) -> str:
        return f"Member({self.name!r}, state={self.breaker.state!r}, latency_s={self.latency_s!r})"


class FailoverGroup(Generic[T]):
    """Members asked in order of health, then latency, then configured order (module docstring).

    Args:
        name: The group's name (events, errors).
        members: ``(name, target)`` pairs, in configured order.
        settings: Breaker thresholds and the latency bucket.
        probe: Checks one member (raises when it is down). With a probe, members whose breaker
            opened are probed on a background thread and callers never try them; without one,
            the first caller after ``reset_timeout_s`` makes the half-open trial call.
        is_outage: Whether an error means "this member could not be reached" (default: a
            :class:`HookConnectionError` or :class:`BackendUnavailable`).
        bus: Where events go.
        shared_breakers: Take breakers from :func:`breaker_for` (shared with health checks and
            other groups of the same members) instead of private ones.
        clock: Monotonic clock (tests).

    Raises:
        ConfigurationError: no members, or two with the same name.
    """

    def __init__(
        self,
        name: str,
        members: Sequence[tuple[str, T]],
        *,
        settings: BreakerSettings | None = None,
        probe: Callable[[T], object] | None = None,
        is_outage: Callable[[BaseException], bool] | None = None,
        bus: EventBus | None = None,
        shared_breakers: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not members:
            raise ConfigurationError(f"failover group {name!r} needs at least one member")
        names = [member_name for member_name, _ in members]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigurationError(
                f"failover group {name!r}: member name(s) listed twice: {', '.join(duplicates)}"
            )
        self.name = name
        self.settings = settings or BreakerSettings()
        self._bus = bus if bus is not None else default_bus
        self._probe = probe
        self._is_outage = is_outage or _is_outage
        self._clock = clock
        self.members: tuple[Member[T], ...] = tuple(
            Member(
                member_name,
                target,
                index,
                breaker_for(member_name, self.settings)
                if shared_breakers
                else CircuitBreaker(member_name, self.settings, bus=self._bus, clock=clock),
            )
            for index, (member_name, target) in enumerate(members)
        )
        self._current: Member[T] | None = None
        self._prober: threading.Thread | None = None
        self._prober_lock = threading.Lock()
        self._stop = threading.Event()

    def __repr__(self) -> str:
        return f"FailoverGroup({self.name!r}, {list(self.members)!r})"

    @property
    def current(self) -> str:
        """The member that answered last ("" before the first answer)."""
        current = self._current
        return current.name if current is not None else ""

    def ordered(self) -> list[Member[T]]:
        """The members in the order a call asks them: health, then latency bucket (once every
        member has been measured; until then a member never measured would look fastest), then
        configured order."""
        bucket = self.settings.latency_bucket_s
        by_latency = all(member.latency_s is not None for member in self.members)

        def key(member: Member[T]) -> tuple[int, float, int]:
            rank: float = 0
            if by_latency:
                latency = member.latency_s or 0.0
                rank = int(latency / bucket) if bucket > 0 else latency
            return (_STATE_RANK[member.breaker.state], rank, member.index)

        return sorted(self.members, key=key)

    def call(
        self,
        fn: Callable[[T], R],
        *,
        repeatable: bool = True,
        unavailable: Callable[[str], Exception] | None = None,
    ) -> R:
        """Run ``fn(target)`` on the first member that can answer.

        Args:
            fn: The call.
            repeatable: Whether the call may be sent to the next member after an outage error
                on one (reads, idempotent requests). When False, an outage error is raised after
                being counted; members with an open breaker are still skipped without a call.
            unavailable: Builds the error raised when no member could answer (default:
                :class:`HookConnectionError`), from a message listing every member.

        Raises:
            Exception: ``fn``'s own error when it is not an outage (and it is counted as an
                answer), or the ``unavailable`` error when no member could answer.
        """
        tried: list[str] = []
        last: BaseException | None = None
        background = self._probe is not None
        for member in self.ordered():
            breaker = member.breaker
            if background:
                if breaker.state != "closed":
                    continue
            elif not breaker.allow():
                continue
            start = self._clock()
            try:
                result = fn(member.target)
            except BaseException as exc:
                if not isinstance(exc, Exception) or not self._is_outage(exc):
                    breaker.record_success()  # it answered: the member is up
                    raise
                member.last_error = error_summary(exc)
                breaker.record_failure()
                if breaker.state == "open":
                    self._wake_prober()
                tried.append(member.name)
                last = exc
                if not repeatable:
                    raise
                continue
            member.observe(self._clock() - start)
            breaker.record_success()
            self._switched_to(member, tried)
            return result
        raise self._none_answered(unavailable, tried) from last

    def _switched_to(self, member: Member[T], tried: list[str]) -> None:
        previous = self._current
        if previous is member:
            return
        self._current = member
        if previous is None and not tried:
            return
        from_member = previous.name if previous is not None else tried[0]
        reason = "unavailable: " + ", ".join(tried) if tried else "preferred again"
        log.info("failover group %s: now using %s (was %s)", self.name, member.name, from_member)
        if self._bus.active:
            self._bus.emit(
                FailoverSwitched(
                    group=self.name, from_member=from_member, to_member=member.name, reason=reason
                )
            )

    def _none_answered(
        self, unavailable: Callable[[str], Exception] | None, tried: list[str]
    ) -> Exception:
        states = "; ".join(
            f"{m.name}: {m.breaker.state}" + (f" ({m.last_error})" if m.last_error else "")
            for m in self.members
        )
        what = f"tried {', '.join(tried)}" if tried else "every breaker is open"
        message = (
            f"failover group {self.name!r}: no member could answer ({what}); {states}; "
            f"breakers open after {self.settings.failure_threshold} consecutive failures and "
            f"retry after reset_timeout_s={self.settings.reset_timeout_s:g}"
        )
        return unavailable(message) if unavailable is not None else HookConnectionError(message)

    # -- background probing -------------------------------------------------------------------

    def _wake_prober(self) -> None:
        if self._probe is None or self._stop.is_set():
            return
        with self._prober_lock:
            if self._prober is not None and self._prober.is_alive():
                return
            self._prober = threading.Thread(
                target=self._probe_loop, name=f"hookline-probe-{self.name}", daemon=True
            )
            self._prober.start()

    def _probe_loop(self) -> None:
        probe = self._probe
        assert probe is not None
        while not self._stop.is_set():
            waiting = [m for m in self.members if m.breaker.state != "closed"]
            if not waiting:
                with self._prober_lock:
                    if not any(m.breaker.state != "closed" for m in self.members):
                        self._prober = None
                        return
                continue
            for member in waiting:
                if not member.breaker.begin_probe():
                    continue
                self.probe_member(member)
            self._stop.wait(self.settings.probe_interval_s)

    def probe_member(self, member: Member[T]) -> bool:
        """Probe one member now and feed its breaker; True when it answered."""
        probe = self._probe
        if probe is None:
            return False
        try:
            probe(member.target)
        except Exception as exc:
            if self._is_outage(exc):
                member.last_error = error_summary(exc)
                member.breaker.record_failure()
                log.debug("probe of %s failed: %s", member.name, member.last_error)
                return False
        member.forget_latency()
        member.last_error = ""
        member.breaker.record_success()
        log.info("failover group %s: %s answers again", self.name, member.name)
        return True

    def close(self) -> None:
        """Stop the background prober (the members are the caller's to close)."""
        self._stop.set()
        prober = self._prober
        if prober is not None:
            prober.join(timeout=5)


def _is_outage(exc: BaseException) -> bool:
    return isinstance(exc, HookConnectionError | BackendUnavailable)
