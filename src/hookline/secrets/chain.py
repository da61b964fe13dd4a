"""The secrets chain: ask backends in order, record what each said, and stop on an authoritative deny.

Rules (AIRFLOW.md 2.10, DESIGN.md 2):

* a backend that answers None is recorded as ``absent`` and the next one is asked;
* :class:`~hookline.exceptions.BackendUnavailable` (and any unexpected error) is recorded as
  ``unavailable`` and the next one is asked: an unreachable store never hides the others;
* :class:`~hookline.exceptions.BackendPermissionDenied` is recorded as ``denied``, the remaining
  backends as ``skipped``, and the error propagates: a deny never falls through to a weaker store;
* a stored value that cannot be read (:class:`~hookline.exceptions.InvalidConnection`,
  :class:`~hookline.exceptions.DecryptionError`) or a backend that is misconfigured
  (:class:`~hookline.exceptions.ConfigurationError`, e.g. a read-only ``HOOKLINE_HOME``) is recorded
  as ``invalid`` and propagates: these are not outages, and hiding them would hide the fix;
* a backend whose :meth:`~hookline.secrets.base.SecretsBackend.handles` says no is ``skipped``.

Every lookup returns a :class:`LookupTrace`; :class:`~hookline.exceptions.ConnectionNotFound` carries
it and prints it, so "not found" always says which backends were asked under which keys. Each resolved
connection registers its secrets with :mod:`hookline.masking` once per lookup (the cache in front makes
that once per refresh, not once per call).
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from hookline import masking
from hookline.connection import Connection, validate_conn_id
from hookline.exceptions import (
    BackendError,
    BackendPermissionDenied,
    ConfigurationError,
    ConnectionNotFound,
    ConnectionUnresolved,
    DecryptionError,
    InvalidConnection,
)
from hookline.secrets.base import SecretsBackend

if TYPE_CHECKING:
    from hookline.config import Settings

__all__ = [
    "LookupResult",
    "LookupTrace",
    "Outcome",
    "SecretsChain",
    "TraceStep",
    "build_chain",
    "not_found_error",
    "register_connection_secrets",
]

log = logging.getLogger(__name__)

Outcome = Literal["hit", "absent", "unavailable", "denied", "skipped", "invalid"]
WriteListener = Callable[[str | None], None]

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
    """

    backend: str
    keys: list[str]
    outcome: Outcome
    elapsed_s: float
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The step as JSON-ready data (detail masked again with the secrets known now)."""
        data = dataclasses.asdict(self)
        data["detail"] = masking.redact(self.detail)
        return data

    def __repr__(self) -> str:
        # A debugger, a failing assert or a log of the trace object: mask the detail again too.
        return (
            f"TraceStep(backend={self.backend!r}, keys={self.keys!r}, outcome={self.outcome!r}, "
            f"elapsed_s={self.elapsed_s!r}, detail={masking.redact(self.detail)!r})"
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
            rows.append(
                (str(number), step.backend, step.outcome, f"{step.elapsed_s * 1000:.3f} ms", keys)
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


def not_found_error(trace: LookupTrace) -> ConnectionNotFound:
    """The :class:`ConnectionNotFound` for a lookup that found nothing; its message prints ``trace``.

    When some backends could not answer, it is a :class:`ConnectionUnresolved` (also a
    ``BackendUnavailable``) whose message says the connection may exist there.
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


def _register_values(value: Any) -> bool:
    if isinstance(value, str):
        masking.register(value)
        return bool(value)
    found = False
    if isinstance(value, Mapping):
        for item in value.values():
            found = _register_values(item) or found
    elif isinstance(value, list | tuple):
        for item in value:
            found = _register_values(item) or found
    return found


def _register_sensitive_extras(extra: Mapping[str, Any]) -> bool:
    found = False
    for key, value in extra.items():
        if masking.is_sensitive_key(key):
            found = _register_values(value) or found
        elif isinstance(value, Mapping):
            found = _register_sensitive_extras(value) or found
    return found


def _uri_covered(conn: Connection) -> bool:
    """True when every secret of ``conn`` is registered in the form :meth:`Connection.get_uri` writes
    it (so masking the URI needs no entry of its own): a password long enough to be registered (it is
    written URL-quoted, a registered variant), no credentials inside the host, and sensitive extras,
    if any, only as flat string values long enough to be registered (written ``quote_plus``-ed,
    also a registered variant)."""
    password = conn.password
    if password is not None and (
        len(password) < masking.MIN_MASKED_LENGTH or not password.isascii()
    ):
        return False  # too short to be registered, or non-ASCII: not worth reasoning about
    host = conn.host
    if host and "@" in host:
        return False
    flat = True
    sensitive_short = False
    for key, value in conn.extra.items():
        if type(value) is not str:
            flat = False
        elif masking.is_sensitive_key(key) and (
            len(value) < masking.MIN_MASKED_LENGTH or not value.isascii()
        ):
            sensitive_short = True
    if flat and not sensitive_short:
        return True
    return not _register_sensitive_extras(conn.extra)


def register_connection_secrets(conn: Connection) -> None:
    """Register the secrets of ``conn`` for masking: the password (and its URL-quoted forms), the
    values of sensitive extras, and the whole URI when it holds any of them in a form the values
    alone would not mask (a password shorter than :data:`~hookline.masking.MIN_MASKED_LENGTH`,
    credentials in the host, sensitive extras written as ``__extra__`` JSON or too short)."""
    has_secret = False
    if conn.password:
        masking.register(conn.password)
        has_secret = True
    if conn.extra and _register_sensitive_extras(conn.extra):
        has_secret = True
    if has_secret and not _uri_covered(conn):
        masking.register(conn.get_uri(), variants=False)


def _detail(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {masking.redact(str(exc))}"
    text = " ".join(text.split())
    if len(text) > _DETAIL_MAX_CHARS:
        text = text[: _DETAIL_MAX_CHARS - 3] + "..."
    return text


class SecretsChain:
    """An ordered list of secrets backends, asked one after the other.

    Args:
        backends: The backends, in the order they are asked.

    Raises:
        ConfigurationError: ``backends`` is empty.
    """

    def __init__(self, backends: Sequence[SecretsBackend]) -> None:
        if not backends:
            raise ConfigurationError("a secrets chain needs at least one backend")
        self.backends: tuple[SecretsBackend, ...] = tuple(backends)
        self._listeners: list[WriteListener] = []
        self._listeners_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SecretsChain([{', '.join(b.name for b in self.backends)}])"

    # -- reading --------------------------------------------------------------------------------

    def lookup(self, conn_id: str) -> LookupResult:
        """Ask the backends in order for ``conn_id`` and say what each answered.

        Returns:
            The connection (or None when nobody has it), the trace and the answering backend.

        Raises:
            InvalidConnection: ``conn_id`` is invalid, or the stored value is malformed.
            DecryptionError: the stored value cannot be decrypted.
            BackendPermissionDenied: a backend refused access.

        Errors raised for a stored value or a deny carry the trace so far as ``.trace``.
        """
        validate_conn_id(conn_id)
        trace = LookupTrace(conn_id)
        steps = trace.steps
        perf_counter = time.perf_counter
        for index, backend in enumerate(self.backends):
            name = backend.name
            start = perf_counter()
            keys: list[str] = []
            try:
                if not backend.handles(conn_id):
                    steps.append(
                        TraceStep(name, [], "skipped", perf_counter() - start, "id not handled")
                    )
                    continue
                keys = list(backend.lookup_keys(conn_id))
                conn = backend.get_connection(conn_id)
            except BackendPermissionDenied as exc:
                steps.append(TraceStep(name, keys, "denied", perf_counter() - start, _detail(exc)))
                for rest in self.backends[index + 1 :]:
                    steps.append(
                        TraceStep(rest.name, [], "skipped", 0.0, f"not asked: {name} denied access")
                    )
                if not exc.backend:
                    exc.backend = name
                exc.trace = trace  # type: ignore[attr-defined]
                raise
            except (InvalidConnection, DecryptionError, ConfigurationError) as exc:
                steps.append(TraceStep(name, keys, "invalid", perf_counter() - start, _detail(exc)))
                if isinstance(exc, InvalidConnection) and exc.conn_id is None:
                    exc.conn_id = conn_id
                exc.trace = trace  # type: ignore[union-attr]
                raise
            except BackendError as exc:
                steps.append(
                    TraceStep(name, keys, "unavailable", perf_counter() - start, _detail(exc))
                )
                log.debug(
                    "secrets backend %s unavailable for %r (%s)", name, conn_id, type(exc).__name__
                )
            except Exception as exc:  # any other failure falls through, as in Airflow (ADR 0003)
                steps.append(
                    TraceStep(name, keys, "unavailable", perf_counter() - start, _detail(exc))
                )
                log.warning(
                    "secrets backend %s failed unexpectedly looking up %r (%s); asking the next one",
                    name,
                    conn_id,
                    type(exc).__name__,
                )
            else:
                elapsed_s = perf_counter() - start
                if conn is None:
                    steps.append(TraceStep(name, keys, "absent", elapsed_s))
                    continue
                if conn.conn_id is None:
                    conn = conn.replace(conn_id=conn_id)
                steps.append(TraceStep(name, keys, "hit", elapsed_s))
                register_connection_secrets(conn)
                return LookupResult(conn, trace, name)
        return LookupResult(None, trace, None)

    def get_connection(self, conn_id: str, *, fresh: bool = False) -> Connection:
        """Return the connection for ``conn_id`` (the chain has no cache: ``fresh`` changes nothing).

        Raises:
            ConnectionNotFound: no backend holds it; the message prints the trace.
            InvalidConnection, DecryptionError, BackendPermissionDenied: see :meth:`lookup`.
        """
        result = self.lookup(conn_id)
        if result.connection is None:
            raise not_found_error(result.trace)
        return result.connection

    def find_connection(self, conn_id: str) -> Connection | None:
        """Like :meth:`get_connection`, but None when no backend holds ``conn_id``."""
        return self.lookup(conn_id).connection

    def list_connections(
        self, *, on_error: Callable[[str, Exception], None] | None = None
    ) -> list[tuple[str, Connection]]:
        """Every connection of every backend that can enumerate its own, with the backend's name.

        Backends that cannot list are left out silently. A backend that fails while listing is
        reported to ``on_error(backend_name, error)`` (default: a logged warning) and the others are
        still listed. The same id may appear under several backends; the first one wins on lookup.
        """
        found: list[tuple[str, Connection]] = []
        for backend in self.backends:
            try:
                for conn in backend.list_connections():
                    register_connection_secrets(conn)
                    found.append((backend.name, conn))
            except NotImplementedError:
                continue
            except Exception as exc:
                if on_error is not None:
                    on_error(backend.name, exc)
                else:
                    log.warning("cannot list connections of %s: %s", backend.name, _detail(exc))
        return found

    # -- writing --------------------------------------------------------------------------------

    def writable_backend(self) -> SecretsBackend:
        """The first backend that accepts writes.

        Raises:
            ConfigurationError: no backend in the chain is writable.
        """
        for backend in self.backends:
            if backend.writable:
                return backend
        names = ", ".join(b.name for b in self.backends)
        raise ConfigurationError(
            f"no writable secrets backend in the chain ({names}); add 'metastore' to "
            "[secrets] backends to store connections"
        )

    def set_connection(self, conn: Connection, *, overwrite: bool = True) -> None:
        """Store ``conn`` in the writable backend and invalidate caches at once.

        Raises:
            InvalidConnection: ``conn`` has no conn_id, or it exists and ``overwrite`` is False.
            ConfigurationError: no backend is writable.
        """
        if conn.conn_id is None:
            raise InvalidConnection("a connection needs a conn_id to be stored")
        backend = self.writable_backend()
        register_connection_secrets(conn)
        try:
            if overwrite:
                backend.set_connection(conn)
            elif "overwrite" in inspect.signature(backend.set_connection).parameters:
                backend.set_connection(conn, overwrite=False)  # type: ignore[call-arg]
            else:  # a backend without an atomic check: check, then write
                if backend.get_conn_value(conn.conn_id) is not None:
                    raise InvalidConnection(
                        f"connection {conn.conn_id!r} already exists in {backend.name}; "
                        "overwrite it explicitly to replace it",
                        conn_id=conn.conn_id,
                    )
                backend.set_connection(conn)
        finally:
            self._notify(conn.conn_id)

    def delete_connection(self, conn_id: str) -> bool:
        """Delete ``conn_id`` from the writable backend; return whether it existed there.

        Raises:
            ConfigurationError: no backend is writable.
        """
        backend = self.writable_backend()
        try:
            return backend.delete_connection(conn_id)
        finally:
            self._notify(conn_id)

    # -- listeners and lifetime -------------------------------------------------------------------

    def add_write_listener(self, listener: WriteListener) -> None:
        """Call ``listener(conn_id)`` after every write through this chain (caches use it)."""
        with self._listeners_lock:
            self._listeners.append(listener)

    def remove_write_listener(self, listener: WriteListener) -> None:
        """Stop calling ``listener``; unknown listeners are ignored."""
        with self._listeners_lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def notify_changed(self, conn_id: str | None = None) -> None:
        """Tell listeners that ``conn_id`` (None: anything) changed outside :meth:`set_connection`."""
        self._notify(conn_id)

    def _notify(self, conn_id: str | None) -> None:
        for listener in list(self._listeners):
            listener(conn_id)

    def close(self) -> None:
        """Close every backend (errors are logged, not raised)."""
        for backend in self.backends:
            try:
                backend.close()
            except Exception as exc:
                log.warning("closing secrets backend %s failed: %s", backend.name, _detail(exc))


def _instantiate(name: str, kwargs: dict[str, Any]) -> SecretsBackend:
    from hookline.registry import backend_class_for

    cls = backend_class_for(name)
    # Credentials configured for a backend (a Vault token, AWS keys, an AppRole secret_id) are
    # secrets: an SDK message or traceback quoting one is masked like a connection's password.
    _register_sensitive_extras(kwargs)
    try:
        backend = cls(**kwargs)
    except TypeError as exc:
        raise ConfigurationError(
            f"secrets backend {name!r} rejected its settings [secrets.backend.{name}] "
            f"(keys: {', '.join(sorted(kwargs)) or 'none'}): {masking.redact(str(exc))}"
        ) from exc
    if not isinstance(backend, SecretsBackend):
        raise ConfigurationError(
            f"secrets backend {name!r} is a {type(backend).__name__}, not a SecretsBackend"
        )
    if backend.name == SecretsBackend.name:
        backend.name = name
    return backend


def build_chain(settings: Settings | None = None) -> SecretsChain:
    """Build the chain configured in ``settings`` (default: :func:`hookline.config.load_settings`).

    Backends are found by name in the ``hookline.secrets_backends`` entry-point group and built with
    their ``[secrets.backend.<name>]`` keyword arguments; the metastore also gets ``url`` (from
    ``[metastore] url``) and ``home`` unless its table sets them.

    Raises:
        ConfigurationError: an unknown backend name, or a backend rejected its settings.
        MissingDependency: a backend's optional SDK is not installed.
    """
    if settings is None:
        from hookline.config import load_settings

        settings = load_settings()
    backends: list[SecretsBackend] = []
    try:
        for name in settings.backends:
            kwargs = settings.kwargs_for(name)
            if name == "metastore":
                kwargs.setdefault("url", settings.metastore_url)
                kwargs.setdefault("home", settings.home)
            backends.append(_instantiate(name, kwargs))
    except BaseException:
        for backend in backends:
            backend.close()
        raise
    return SecretsChain(backends)
