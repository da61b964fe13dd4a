"""The secrets chain: ask backends in order, record what each said, and stop on an authoritative deny.

Rules (as Airflow's ``Connection.get_connection_from_secrets`` walks its backends, with absent and failed
kept apart):

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
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Literal

from hookline.connection import Connection, validate_conn_id
from hookline.connection_secrets import register_connection_secrets
from hookline.events import ConnectionWritten, EventBus, LookupDone, default_bus, fingerprint
from hookline.exceptions import (
    BackendError,
    BackendPermissionDenied,
    ConfigurationError,
    DecryptionError,
    HooklineError,
    InvalidConnection,
    ListingFailure,
    ListingIncomplete,
)
from hookline.resolve.trace import (
    LookupResult,
    LookupTrace,
    TraceStep,
    error_detail,
    not_found_error,
)
from hookline.resolve.variables import (
    VariableResult,
    lookup_variable,
    register_variable_secret,
    validate_variable_key,
    variable_not_found,
)
from hookline.secrets.base import SecretsBackend
from hookline.typing import LookupTraceView

__all__ = ["SecretsChain", "WriteListener"]

log = logging.getLogger(__name__)

WriteListener = Callable[[str | None], None]


class SecretsChain:
    """An ordered list of secrets backends, asked one after the other.

    Args:
        backends: The backends, in the order they are asked.
        bus: Where :class:`~hookline.events.LookupDone` and
            :class:`~hookline.events.ConnectionWritten` go (default: the process-wide bus).

    Raises:
        ConfigurationError: ``backends`` is empty.
    """

    def __init__(self, backends: Sequence[SecretsBackend], *, bus: EventBus | None = None) -> None:
        if not backends:
            raise ConfigurationError("a secrets chain needs at least one backend")
        self.backends: tuple[SecretsBackend, ...] = tuple(backends)
        self.bus = bus if bus is not None else default_bus
        self._listeners: list[WriteListener] = []
        self._variable_listeners: list[WriteListener] = []
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

        Errors raised for a stored value or a deny carry the trace so far as ``.trace``. With a
        listener on :attr:`bus`, each lookup emits one :class:`~hookline.events.LookupDone`.
        """
        bus = self.bus
        if not bus.active:
            return self._lookup(conn_id)
        try:
            result = self._lookup(conn_id)
        except HooklineError as exc:
            bus.emit(_lookup_done(conn_id, exc.trace, None, "error"))
            raise
        if result.connection is not None:
            outcome: Literal["hit", "absent", "unresolved"] = "hit"
        else:
            outcome = "unresolved" if result.trace.unavailable else "absent"
        done = _lookup_done(conn_id, result.trace, result.source, outcome)
        if result.connection is not None:
            done = dataclasses.replace(done, fingerprint=fingerprint(result.connection.get_uri()))
        bus.emit(done)
        return result

    def _lookup(self, conn_id: str) -> LookupResult:
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
                steps.append(
                    TraceStep(name, keys, "denied", perf_counter() - start, error_detail(exc))
                )
                for rest in self.backends[index + 1 :]:
                    steps.append(
                        TraceStep(rest.name, [], "skipped", 0.0, f"not asked: {name} denied access")
                    )
                if not exc.backend:
                    exc.backend = name
                exc.trace = trace
                raise
            except (InvalidConnection, DecryptionError, ConfigurationError) as exc:
                steps.append(
                    TraceStep(name, keys, "invalid", perf_counter() - start, error_detail(exc))
                )
                if isinstance(exc, InvalidConnection) and exc.conn_id is None:
                    exc.conn_id = conn_id
                exc.trace = trace
                raise
            except BackendError as exc:
                steps.append(
                    TraceStep(name, keys, "unavailable", perf_counter() - start, error_detail(exc))
                )
                log.debug(
                    "secrets backend %s unavailable for %r (%s)", name, conn_id, type(exc).__name__
                )
            except Exception as exc:  # any other failure falls through, as in Airflow (ADR 0003)
                steps.append(
                    TraceStep(name, keys, "unavailable", perf_counter() - start, error_detail(exc))
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
                replica = backend.answered_by() if backend.replicated else ""
                steps.append(TraceStep(name, keys, "hit", elapsed_s, "", replica))
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

        Backends that are not ``listable`` are left out. The same id may appear under several
        backends; the first one wins on lookup. Nothing is left out silently:

        * with ``on_error=None`` (the default), a backend that fails, or rows that cannot be read
          (undecryptable, malformed), make the call raise
          :class:`~hookline.exceptions.ListingIncomplete` after every backend was asked; its
          ``failures`` say which backend and which conn_ids, and why;
        * with ``on_error``, the caller accepts a partial listing: ``on_error(backend_name, error)``
          is called once per failing backend, and the rows that could be read are returned. The
          error is a :class:`~hookline.exceptions.ListingIncomplete` when the backend listed what
          it could and named the rows it could not read (``error.failures``, ``error.conn_ids``),
          any other error when the backend could not be listed at all.

        Raises:
            ListingIncomplete: something was left out and ``on_error`` is None.
        """
        found: list[tuple[str, Connection]] = []
        failures: list[ListingFailure] = []
        for backend in self.backends:
            if not backend.listable:
                continue
            try:
                for conn in backend.list_connections():
                    register_connection_secrets(conn)
                    found.append((backend.name, conn))
            except Exception as exc:
                if on_error is not None:
                    on_error(backend.name, exc)
                elif isinstance(exc, ListingIncomplete):
                    failures.extend(exc.failures)
                else:
                    failures.append(ListingFailure(backend.name, None, exc))
        if failures:
            raise ListingIncomplete(failures)
        return found

    # -- writing --------------------------------------------------------------------------------

    def writable_backend(self, name: str | None = None) -> SecretsBackend:
        """The backend named ``name`` (it must be writable), or without a name the first writable
        backend that ``writes_by_default`` (the metastore; remote stores are written only when
        named).

        Raises:
            ConfigurationError: no such backend in the chain, or it is not writable.
        """
        names = ", ".join(b.name for b in self.backends)
        if name is not None:
            for backend in self.backends:
                if backend.name == name:
                    if not backend.writable:
                        raise ConfigurationError(f"the {name} secrets backend is read-only")
                    return backend
            raise ConfigurationError(f"no secrets backend named {name!r} in the chain ({names})")
        for backend in self.backends:
            if backend.writable and backend.writes_by_default:
                return backend
        raise ConfigurationError(
            f"no writable secrets backend in the chain ({names}); add 'metastore' to "
            "[secrets] backends to store connections, or name a writable backend"
        )

    def set_connection(
        self, conn: Connection, *, overwrite: bool = True, backend: str | None = None
    ) -> None:
        """Store ``conn`` in the writable backend (or the one named ``backend``) and invalidate
        caches at once.

        Raises:
            InvalidConnection: ``conn`` has no conn_id, or it exists and ``overwrite`` is False.
            ConfigurationError: no backend is writable (or ``backend`` is not).
        """
        if conn.conn_id is None:
            raise InvalidConnection("a connection needs a conn_id to be stored")
        target = self.writable_backend(backend)
        register_connection_secrets(conn)
        try:
            target.set_connection(conn, overwrite=overwrite)
            if self.bus.active:
                self.bus.emit(
                    ConnectionWritten(conn_id=conn.conn_id, backend=target.name, action="set")
                )
        finally:
            self._notify(conn.conn_id)

    def set_connections(
        self, conns: Sequence[Connection], *, overwrite: bool = True, backend: str | None = None
    ) -> None:
        """Store ``conns`` in the writable backend (or the one named ``backend``), all or nothing
        (see :meth:`SecretsBackend.set_connections`; atomic on ``transactional`` backends such as
        the metastore), and invalidate caches.

        Raises:
            InvalidConnection: a connection has no conn_id, or (``overwrite`` False) ids exist.
            ConfigurationError: no backend is writable (or ``backend`` is not).
        """
        target = self.writable_backend(backend)
        for conn in conns:
            register_connection_secrets(conn)
        try:
            target.set_connections(conns, overwrite=overwrite)
            if self.bus.active:
                for conn in conns:
                    self.bus.emit(
                        ConnectionWritten(
                            conn_id=conn.conn_id, backend=target.name, action="import"
                        )
                    )
        finally:
            for conn in conns:
                self._notify(conn.conn_id)

    def delete_connection(self, conn_id: str, *, backend: str | None = None) -> bool:
        """Delete ``conn_id`` from the writable backend (or the one named ``backend``); return
        whether it existed there.

        Raises:
            ConfigurationError: no backend is writable (or ``backend`` is not).
        """
        target = self.writable_backend(backend)
        try:
            existed = target.delete_connection(conn_id)
            if self.bus.active:
                self.bus.emit(
                    ConnectionWritten(conn_id=conn_id, backend=target.name, action="delete")
                )
            return existed
        finally:
            self._notify(conn_id)

    # -- variables (rules in hookline.resolve.variables) -------------------------------------------

    def lookup_variable(self, key: str) -> VariableResult:
        """Ask the backends in order for variable ``key`` and say what each answered (see
        :func:`hookline.resolve.variables.lookup_variable`)."""
        return lookup_variable(self.backends, key, self.bus)

    def get_variable(self, key: str, *, fresh: bool = False) -> str:
        """The stored text of variable ``key`` (the chain has no cache: ``fresh`` changes nothing).

        Raises:
            VariableNotFound: no backend holds it; the message prints the trace.
            VariableUnresolved: nobody that answered holds it, but a backend could not answer.
            InvalidVariable, DecryptionError, BackendPermissionDenied: see :meth:`lookup_variable`.
        """
        result = self.lookup_variable(key)
        if result.value is None:
            raise variable_not_found(result.trace)
        return result.value

    def find_variable(self, key: str, *, fresh: bool = False) -> str | None:
        """Like :meth:`get_variable`, but None when no backend holds ``key``.

        Raises:
            VariableUnresolved: nobody that answered holds it, but a backend could not answer.
        """
        result = self.lookup_variable(key)
        if result.value is None and result.trace.unavailable:
            raise variable_not_found(result.trace)
        return result.value

    def variable_writable_backend(self, name: str | None = None) -> SecretsBackend:
        """The backend named ``name`` (it must store variables), or without a name the first
        backend that stores variables and ``writes_by_default`` (remote stores are written only
        when named).

        Raises:
            ConfigurationError: no such backend in the chain, it does not store variables, or
                (without a name) no backend stores variables.
        """
        names = ", ".join(b.name for b in self.backends)
        if name is not None:
            for backend in self.backends:
                if backend.name == name:
                    if not backend.variable_writable:
                        raise ConfigurationError(
                            f"the {name} secrets backend cannot store variables (read-only)"
                        )
                    return backend
            raise ConfigurationError(f"no secrets backend named {name!r} in the chain ({names})")
        for backend in self.backends:
            if backend.variable_writable and backend.writes_by_default:
                return backend
        raise ConfigurationError(
            f"no secrets backend in the chain ({names}) stores variables; add 'metastore' to "
            "[secrets] backends to store them"
        )

    def set_variable(
        self, key: str, value: str, *, overwrite: bool = True, backend: str | None = None
    ) -> None:
        """Store variable ``key`` in the first variable-writable backend (or the one named
        ``backend``); caches forget it at once.

        Raises:
            InvalidVariable: an invalid key, a value that is not text, or (``overwrite`` False)
                the key exists.
            ConfigurationError: no backend stores variables.
        """
        self.set_variables([(key, value)], overwrite=overwrite, backend=backend)

    def set_variables(
        self,
        items: Sequence[tuple[str, str]],
        *,
        overwrite: bool = True,
        backend: str | None = None,
    ) -> None:
        """Store every ``(key, value)`` of ``items`` in the first variable-writable backend (or
        the one named ``backend``), all or nothing (one transaction in the metastore), and
        invalidate caches.

        Raises:
            InvalidVariable: an invalid key or value, repeated keys, or (``overwrite`` False)
                existing keys; nothing is written.
            ConfigurationError: no backend stores variables.
        """
        from hookline.exceptions import InvalidVariable

        pairs = list(items)
        for key, value in pairs:
            validate_variable_key(key)
            if not isinstance(value, str):
                raise InvalidVariable(
                    f"the value of variable {key!r} must be text, not {type(value).__name__} "
                    "(serialize it as JSON first)",
                    key=key,
                )
            register_variable_secret(key, value)
        target = self.variable_writable_backend(backend)
        try:
            if len(pairs) == 1:
                target.set_variable(pairs[0][0], pairs[0][1], overwrite=overwrite)
            else:
                target.set_variables(pairs, overwrite=overwrite)
            if self.bus.active:
                action: Literal["set", "import"] = "set" if len(pairs) == 1 else "import"
                for key, _ in pairs:  # one event per key (the audit log records each)
                    self.bus.emit(
                        ConnectionWritten(
                            conn_id=key, backend=target.name, action=action, kind="variable"
                        )
                    )
        finally:
            for key, _ in pairs:
                self._notify_variable(key)

    def delete_variable(self, key: str, *, backend: str | None = None) -> bool:
        """Delete variable ``key`` from the first variable-writable backend (or the one named
        ``backend``); return whether it existed there.

        Raises:
            InvalidVariable: an invalid key.
            ConfigurationError: no backend stores variables.
        """
        validate_variable_key(key)
        target = self.variable_writable_backend(backend)
        try:
            existed = target.delete_variable(key)
            if self.bus.active:
                self.bus.emit(
                    ConnectionWritten(
                        conn_id=key, backend=target.name, action="delete", kind="variable"
                    )
                )
            return existed
        finally:
            self._notify_variable(key)

    def list_variables(
        self, *, on_error: Callable[[str, Exception], None] | None = None
    ) -> list[tuple[str, str, str]]:
        """``(backend, key, value)`` for every variable of every ``variables_listable`` backend.

        The same key may appear under several backends; the first one wins on lookup. Failures
        follow :meth:`list_connections`: with ``on_error=None`` a failing backend (or unreadable
        rows) makes the call raise :class:`~hookline.exceptions.ListingIncomplete` after every
        backend was asked (``failures[i].conn_id`` is then a variable key); with ``on_error`` it
        is called per failing backend and the readable rows are returned. Values of sensitive
        keys are registered for masking.

        Raises:
            ListingIncomplete: something was left out and ``on_error`` is None.
        """
        found: list[tuple[str, str, str]] = []
        failures: list[ListingFailure] = []
        for backend in self.backends:
            if not backend.variables_listable:
                continue
            try:
                for key, value in backend.list_variables():
                    register_variable_secret(key, value)
                    found.append((backend.name, key, value))
            except Exception as exc:
                if on_error is not None:
                    on_error(backend.name, exc)
                elif isinstance(exc, ListingIncomplete):
                    failures.extend(exc.failures)
                else:
                    failures.append(ListingFailure(backend.name, None, exc))
        if failures:
            raise ListingIncomplete(failures)
        return found

    def add_variable_listener(self, listener: WriteListener) -> None:
        """Call ``listener(key)`` after every variable write through this chain (caches use it)."""
        with self._listeners_lock:
            self._variable_listeners.append(listener)

    def remove_variable_listener(self, listener: WriteListener) -> None:
        """Stop calling ``listener``; unknown listeners are ignored."""
        with self._listeners_lock:
            if listener in self._variable_listeners:
                self._variable_listeners.remove(listener)

    def _notify_variable(self, key: str | None) -> None:
        for listener in list(self._variable_listeners):
            listener(key)

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
        if self.bus.active:
            self.bus.emit(ConnectionWritten(conn_id=conn_id, backend="", action="changed"))
        self._notify(conn_id)
        if conn_id is None:
            self._notify_variable(None)

    def _notify(self, conn_id: str | None) -> None:
        for listener in list(self._listeners):
            listener(conn_id)

    def close(self) -> None:
        """Close every backend (errors are logged, not raised)."""
        for backend in self.backends:
            try:
                backend.close()
            except Exception as exc:
                log.warning(
                    "closing secrets backend %s failed: %s", backend.name, error_detail(exc)
                )


def _lookup_done(
    conn_id: str,
    trace: LookupTraceView | None,
    source: str | None,
    outcome: Literal["hit", "absent", "unresolved", "error"],
) -> LookupDone:
    steps = trace.steps if trace is not None else []
    return LookupDone(
        conn_id=conn_id,
        source=source,
        outcome=outcome,
        backends=tuple((step.backend, step.outcome) for step in steps),
        elapsed_s=sum(step.elapsed_s for step in steps),
        timings=tuple(step.elapsed_s for step in steps),
        replica=next((step.replica for step in steps if step.outcome == "hit"), ""),
    )
