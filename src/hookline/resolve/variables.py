"""Variables: Airflow's key/value settings, resolved through the same secrets chain as connections.

A variable lookup walks the chain's backends in order with the rules of
:mod:`hookline.resolve.chain` (absent falls through, unavailable falls through, a deny stops the
chain, an invalid stored value or configuration stops it and is raised), records a
:class:`~hookline.resolve.trace.LookupTrace` (its ``conn_id`` holds the variable key) and emits a
:class:`~hookline.events.LookupDone` with ``kind="variable"``.

* **Masking**: as Airflow's ``Variable.get`` does, the value of a variable whose key looks sensitive
  (:func:`hookline.masking.is_sensitive_key`: ``password``, ``secret``, ``token``, ``api_key``...)
  is registered for masking when it is resolved or written; a JSON value's members under sensitive
  keys are registered when it is deserialized.
* **Cache**: :class:`VariableCache` is the cache of variables kept by
  :class:`~hookline.resolve.cache.CachedResolver`, apart from its connections (a variable and a
  connection of the same name never meet). Same TTL, jitter, negative TTL and stale-if-error
  settings (the stale decision is the connection cache's own code); writes through the chain
  invalidate it, and a moved change counter of a watched backend drops it.
* **Absent is not unknown**: when a backend could not answer, the lookup raises
  :class:`~hookline.exceptions.VariableUnresolved` even if the caller gave a default (the variable may
  be defined there), and that answer is never cached.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from hookline import masking
from hookline.connection_secrets import register_sensitive_values
from hookline.events import CacheHit, CacheMiss, EventBus, LookupDone, fingerprint
from hookline.exceptions import (
    BackendError,
    BackendPermissionDenied,
    BackendUnavailable,
    ConfigurationError,
    DecryptionError,
    HooklineError,
    InvalidConnection,
    InvalidVariable,
    VariableNotFound,
    VariableUnresolved,
)
from hookline.resolve.trace import LookupTrace, TraceStep, error_detail
from hookline.secrets.ids import conn_id_path_problem

if TYPE_CHECKING:
    from hookline.config import CacheSettings
    from hookline.secrets.base import SecretsBackend

__all__ = [
    "MAX_KEY_LENGTH",
    "VariableCache",
    "VariableResult",
    "deserialize_variable",
    "lookup_variable",
    "register_variable_secret",
    "validate_variable_key",
    "variable_not_found",
]

log = logging.getLogger(__name__)

#: Airflow's ``variable.key`` column is 250 characters long.
MAX_KEY_LENGTH = 250


def validate_variable_key(key: object) -> str:
    """Return ``key`` when it is a valid variable key, else raise.

    A key is a non-empty string of at most 250 characters, without control or format characters
    (NUL, newlines...), and it cannot change a path or name it is put in (``a/../b``, ``a//b``, a
    backslash: the rules of :mod:`hookline.secrets.ids`).

    Raises:
        InvalidVariable: the message says why (a key is not a secret, it is quoted).
    """
    if not isinstance(key, str):
        raise InvalidVariable(f"a variable key must be a string, not {type(key).__name__}")
    if not key:
        raise InvalidVariable("a variable key cannot be empty", key=key)
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidVariable(
            f"variable key {key[:40]!r}... is {len(key)} characters long; the limit is "
            f"{MAX_KEY_LENGTH}",
            key=key,
        )
    if not key.isprintable() and any(unicodedata.category(ch) in {"Cc", "Cf"} for ch in key):
        raise InvalidVariable(f"variable key {key!r} holds a control or format character", key=key)
    problem = conn_id_path_problem(key)
    if problem is not None:
        raise InvalidVariable(
            f"variable key {key!r} has {problem}, which could address a secret outside the "
            "configured path; use '/' only between non-empty names other than '.' and '..', "
            "and no backslash",
            key=key,
        )
    return key


def register_variable_secret(key: str, value: str) -> None:
    """Register ``value`` for masking when ``key`` looks sensitive (Airflow's rule)."""
    if masking.is_sensitive_key(key):
        masking.register(value)


def deserialize_variable(key: str, value: str) -> Any:
    """``json.loads(value)``, registering members under sensitive keys for masking.

    Raises:
        InvalidVariable: the value is not JSON (the message gives the position, never the text).
    """
    try:
        data = json.loads(value)
    except json.JSONDecodeError as exc:
        raise InvalidVariable(
            f"variable {key!r} is not valid JSON ({exc.msg}: line {exc.lineno} column "
            f"{exc.colno}); read it without deserialize_json",
            key=key,
        ) from None
    except RecursionError:
        raise InvalidVariable(f"variable {key!r} nests JSON too deeply", key=key) from None
    if isinstance(data, dict):
        register_sensitive_values(data)
    return data


@dataclasses.dataclass(frozen=True, slots=True)
class VariableResult:
    """The answer of a variable lookup through the chain.

    Attributes:
        value: The stored text, or None when no backend holds the key.
        trace: What each backend said (``trace.conn_id`` is the key).
        source: The name of the backend that answered, or None.
    """

    value: str | None
    trace: LookupTrace
    source: str | None


def variable_not_found(trace: LookupTrace) -> VariableNotFound | VariableUnresolved:
    """The error for a variable lookup that found nothing; its message prints ``trace``.

    When some backends could not answer, a :class:`VariableUnresolved` saying it may exist there.
    """
    key = trace.conn_id
    down = trace.unavailable
    if down:
        message = (
            f"variable {key!r} was not found, but {', '.join(down)} could not answer, so it may "
            f"be defined there; backends asked:\n{trace}"
        )
        return VariableUnresolved(key, trace, message=message, backend=", ".join(down))
    message = f"variable {key!r} is not defined; backends asked:\n{trace}"
    return VariableNotFound(key, message=message, trace=trace)


def lookup_variable(backends: Sequence[SecretsBackend], key: str, bus: EventBus) -> VariableResult:
    """Ask ``backends`` in order for variable ``key`` and say what each answered.

    Raises:
        InvalidVariable: ``key`` is invalid, or a backend holds an invalid value or file.
        DecryptionError: the stored value cannot be decrypted.
        BackendPermissionDenied: a backend refused access.
        ConfigurationError: a backend is misconfigured.

    Errors raised for a stored value or a deny carry the trace so far as ``.trace``. With a
    listener on ``bus``, each lookup emits one :class:`~hookline.events.LookupDone` (``kind``
    ``variable``; its fingerprint is of the value).
    """
    if not bus.active:
        return _walk(backends, key)
    try:
        result = _walk(backends, key)
    except HooklineError as exc:
        bus.emit(_done(key, exc.trace, None, "error"))
        raise
    if result.value is not None:
        done = _done(key, result.trace, result.source, "hit")
        done = dataclasses.replace(done, fingerprint=fingerprint(result.value))
    else:
        outcome: Literal["absent", "unresolved"] = (
            "unresolved" if result.trace.unavailable else "absent"
        )
        done = _done(key, result.trace, None, outcome)
    bus.emit(done)
    return result


def _walk(backends: Sequence[SecretsBackend], key: str) -> VariableResult:
    validate_variable_key(key)
    trace = LookupTrace(key)
    steps = trace.steps
    perf_counter = time.perf_counter
    for index, backend in enumerate(backends):
        name = backend.name
        start = perf_counter()
        keys: list[str] = []
        try:
            if not backend.handles_variable(key):
                steps.append(
                    TraceStep(name, [], "skipped", perf_counter() - start, "key not handled")
                )
                continue
            keys = list(backend.variable_lookup_keys(key))
            value = backend.get_variable(key)
        except BackendPermissionDenied as exc:
            steps.append(TraceStep(name, keys, "denied", perf_counter() - start, error_detail(exc)))
            for rest in backends[index + 1 :]:
                steps.append(
                    TraceStep(rest.name, [], "skipped", 0.0, f"not asked: {name} denied access")
                )
            if not exc.backend:
                exc.backend = name
            exc.trace = trace
            raise
        except (InvalidVariable, InvalidConnection, DecryptionError, ConfigurationError) as exc:
            steps.append(
                TraceStep(name, keys, "invalid", perf_counter() - start, error_detail(exc))
            )
            if isinstance(exc, InvalidVariable) and exc.key is None:
                exc.key = key
            exc.trace = trace
            raise
        except BackendError as exc:
            steps.append(
                TraceStep(name, keys, "unavailable", perf_counter() - start, error_detail(exc))
            )
            log.debug("secrets backend %s unavailable for variable %r", name, key)
        except Exception as exc:  # any other failure falls through, as for connections
            steps.append(
                TraceStep(name, keys, "unavailable", perf_counter() - start, error_detail(exc))
            )
            log.warning(
                "secrets backend %s failed unexpectedly looking up variable %r (%s); asking the "
                "next one",
                name,
                key,
                type(exc).__name__,
            )
        else:
            elapsed_s = perf_counter() - start
            if value is None:
                steps.append(TraceStep(name, keys, "absent", elapsed_s))
                continue
            replica = backend.answered_by() if backend.replicated else ""
            steps.append(TraceStep(name, keys, "hit", elapsed_s, "", replica))
            register_variable_secret(key, value)
            return VariableResult(value, trace, name)
    return VariableResult(None, trace, None)


def _done(
    key: str,
    trace: Any,
    source: str | None,
    outcome: Literal["hit", "absent", "unresolved", "error"],
) -> LookupDone:
    steps = trace.steps if trace is not None else []
    return LookupDone(
        conn_id=key,
        source=source,
        outcome=outcome,
        backends=tuple((step.backend, step.outcome) for step in steps),
        elapsed_s=sum(step.elapsed_s for step in steps),
        timings=tuple(step.elapsed_s for step in steps),
        replica=next((step.replica for step in steps if step.outcome == "hit"), ""),
        kind="variable",
    )


class _Entry(NamedTuple):
    expires_at: float
    value: str | None  # None: a cached "not found"
    error: VariableNotFound | None
    stale_until: float = 0.0  # a value may be served past expires_at until then (backends down)
    source: str = ""  # the backend that answered


#: ``stale(kind, key, source, down, stale_until)``: the stale-if-error decision of the connection
#: cache (:meth:`hookline.resolve.cache.CachedResolver._stale_retry_at`): None when the window is
#: over, else (the stale value being served, counted, announced) when to ask the backends again.
StalePolicy = Callable[[Literal["variable"], str, str, Sequence[str], float], float | None]


class _Flight:
    """One in-progress chain lookup of a key that other threads wait for (single flight)."""

    __slots__ = ("_done", "error", "generation", "value")

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self._done = threading.Lock()
        self._done.acquire()
        self.value: str | None = None
        self.error: BaseException | None = None

    def wait(self) -> None:
        with self._done:
            pass

    def finish(self) -> None:
        self._done.release()


class VariableCache:
    """The cache of variables of one :class:`~hookline.resolve.cache.CachedResolver`.

    Values live ``ttl_seconds`` (with the same jitter as connections), "not found" lives
    ``negative_ttl_seconds`` (Airflow caches absent variables too); an unresolved lookup (a
    backend down) is never cached. N threads missing the same key cost one chain lookup (single
    flight). Stale if error, as for connections: when a refresh finds nothing because backends
    were down, the expired value is served for up to ``stale_if_error_seconds`` past its expiry
    (the decision, counter, :class:`~hookline.events.StaleServed` event with ``kind="variable"``
    and warning are the connection cache's: ``stale``), asking again every
    ``error_retry_seconds``. Writes through the chain call :meth:`invalidate`; a lookup that
    raced with a write does not store its (older) answer.

    Args:
        lookup: Asks the chain (``SecretsChain.lookup_variable``).
        settings: TTLs and bounds (:class:`~hookline.config.CacheSettings`).
        clock: Monotonic clock in seconds.
        rng: Uniform random numbers in [0, 1), for TTL jitter.
        bus: Where :class:`~hookline.events.CacheHit` and :class:`~hookline.events.CacheMiss`
            (``kind="variable"``) go.
        stale: The stale-if-error decision (see :data:`StalePolicy`); None: never serve stale.
    """

    def __init__(
        self,
        lookup: Callable[[str], VariableResult],
        settings: CacheSettings,
        *,
        clock: Callable[[], float],
        rng: Callable[[], float],
        bus: EventBus,
        stale: StalePolicy | None = None,
    ) -> None:
        self._lookup = lookup
        self._stale = stale
        self.settings = settings
        self._clock = clock
        self._rng = rng
        self._bus = bus
        self._entries: dict[str, _Entry] = {}
        self._flights: dict[str, _Flight] = {}
        self._lock = threading.Lock()
        self._generation = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, *, fresh: bool = False) -> str:
        """The value of ``key``, from memory while its entry is valid.

        Raises:
            VariableNotFound: no backend holds it (possibly remembered).
            VariableUnresolved: nobody that answered holds it, but a backend could not answer.
            InvalidVariable, DecryptionError, BackendPermissionDenied: from the chain.
        """
        entry = self._entries.get(key)
        bus = self._bus
        if entry is not None and not fresh and self._clock() < entry.expires_at:
            self.hits += 1
            if bus.active:
                bus.emit(CacheHit(conn_id=key, negative=entry.value is None, kind="variable"))
            if entry.value is not None:
                return entry.value
            assert entry.error is not None
            cached = entry.error
            raise VariableNotFound(key, message=cached.message, trace=cached.trace)
        with self._lock:
            self.misses += 1
            generation = self._generation
            flight = None if fresh else self._flights.get(key)
            leader = flight is None or flight.generation != generation
            if leader:
                flight = _Flight(generation)
                if not fresh:
                    self._flights[key] = flight
        assert flight is not None
        if bus.active:
            bus.emit(CacheMiss(conn_id=key, fresh=fresh, kind="variable"))
        if not leader:  # another thread is asking the chain for this key: wait for its answer
            flight.wait()
            error = flight.error
            if isinstance(error, VariableUnresolved):
                raise VariableUnresolved(
                    key, error.trace, message=error.message, backend=error.backend
                )
            if isinstance(error, VariableNotFound):
                raise VariableNotFound(key, message=error.message, trace=error.trace)
            if error is not None:
                raise error
            assert flight.value is not None
            return flight.value
        try:
            value = self._fetch(key, generation, self._entries.get(key))
        except BaseException as exc:
            flight.error = exc
            raise
        else:
            flight.value = value
            return value
        finally:
            with self._lock:
                if self._flights.get(key) is flight:
                    del self._flights[key]
            flight.finish()

    def find(self, key: str, *, fresh: bool = False) -> str | None:
        """Like :meth:`get`, but None when no backend holds ``key`` (a cached "not found" costs no
        exception).

        Raises:
            VariableUnresolved: nobody that answered holds it, but a backend could not answer.
        """
        entry = self._entries.get(key)
        if entry is not None and not fresh and self._clock() < entry.expires_at:
            self.hits += 1
            bus = self._bus
            if bus.active:
                bus.emit(CacheHit(conn_id=key, negative=entry.value is None, kind="variable"))
            return entry.value
        try:
            return self.get(key, fresh=fresh)
        except VariableNotFound:
            return None

    def _fetch(self, key: str, generation: int, old: _Entry | None) -> str:
        """Ask the chain and keep its answer (unless a write intervened); when backends are down,
        serve ``old`` while its stale window lasts."""
        try:
            result = self._lookup(key)
        except BackendUnavailable as exc:  # a lookup that raises instead of tracing
            stale = self._serve_stale(key, generation, old, [exc.backend or "the chain"])
            if stale is not None:
                return stale
            raise
        except BaseException:
            self._drop(key, generation)  # a deny or an invalid value is not hidden by old data
            raise
        settings = self.settings
        now = self._clock()
        if result.value is not None:
            ttl_s = settings.ttl_seconds * (1.0 - settings.ttl_jitter_ratio * self._rng())
            expires = now + ttl_s
            entry = _Entry(
                expires,
                result.value,
                None,
                expires + settings.stale_if_error_seconds,
                result.source or "",
            )
            self._store(key, generation, entry)
            return result.value
        down = result.trace.unavailable
        if down:
            stale = self._serve_stale(key, generation, old, down)
            if stale is not None:
                return stale
        error = variable_not_found(result.trace)
        if isinstance(error, VariableNotFound):
            expires = now + settings.negative_ttl_seconds
            self._store(key, generation, _Entry(expires, None, error, expires))
        else:
            self._drop(key, generation)  # unknown is not absent: never negative-cache it
        raise error

    def _serve_stale(
        self, key: str, generation: int, old: _Entry | None, down: Sequence[str]
    ) -> str | None:
        if old is None or old.value is None or self._stale is None:
            return None
        retry_at = self._stale("variable", key, old.source, down, old.stale_until)
        if retry_at is None:
            return None
        self._store(key, generation, old._replace(expires_at=retry_at))
        return old.value

    def _drop(self, key: str, generation: int) -> None:
        with self._lock:
            if generation == self._generation:
                self._entries.pop(key, None)

    def _store(self, key: str, generation: int, entry: _Entry) -> None:
        with self._lock:
            if generation != self._generation:
                return  # a write or reset happened during the lookup
            entries = self._entries
            if key not in entries and len(entries) >= self.settings.max_entries:
                now = self._clock()
                keep = {k: e for k, e in entries.items() if max(e.expires_at, e.stale_until) > now}
                if len(keep) >= self.settings.max_entries:
                    for old in list(keep)[: max(1, len(keep) // 4)]:
                        del keep[old]
                self._entries = entries = keep
            entries[key] = entry

    def invalidate(self, key: str | None = None) -> None:
        """Forget ``key`` (None: every variable)."""
        with self._lock:
            self._generation += 1
            if key is None:
                self._entries = {}
            else:
                self._entries.pop(key, None)

    def after_fork(self) -> None:
        """A fresh lock and no in-flight lookups in a forked child."""
        self._lock = threading.Lock()
        self._flights = {}
