"""The secrets backend contract: one question, "what is the serialized connection for this id?".

A backend answers with the stored text (an Airflow URI, or JSON when it starts with ``{``) or None when
it does not hold the id. *Absent* (None) and *failed* (an exception) are different outcomes: a backend
that cannot answer raises :class:`~hookline.exceptions.BackendUnavailable` (the chain falls through) or
:class:`~hookline.exceptions.BackendPermissionDenied` (the chain stops).

A backend declares what else it can do with class attributes, which the chain, the cache and the CLI
read instead of probing for methods:

* ``writable``: implements :meth:`set_connection` (with ``overwrite=``) and :meth:`delete_connection`;
  ``writes_by_default``: a chain may pick it as its write target when no backend is named (the
  metastore); the remote backends are writable but written only when named;
* ``listable``: implements :meth:`list_connections`;
* ``watchable``: implements :meth:`change_counter_if_open`, a counter bumped by every write from any
  process (caches poll it to drop entries another process changed);
* ``transactional``: :meth:`set_connections` is atomic (one transaction: all rows or none, even if the
  process dies). Otherwise the default :meth:`set_connections` writes one connection at a time and
  undoes what it wrote when a write fails, which a killed process cannot do.
* ``replicated``: implements :meth:`answered_by`, the replica that answered this thread's last lookup
  (the chain records it in the lookup trace).
* ``stageable``: keeps a *pending* version of a connection beside the current one, for credential
  rotation (:mod:`hookline.rotation`): :meth:`put_pending`, :meth:`get_pending`,
  :meth:`promote_pending`, :meth:`discard_pending`. Lookups keep returning the current version until
  the pending one is promoted. The pending version records the rotation step it reached, so a
  rotation killed at any step can be resumed or rolled back.
* ``variable_writable``: implements :meth:`set_variable` and :meth:`delete_variable`
  (:meth:`set_variables` stores many; atomic when ``transactional``);
  ``variables_listable``: implements :meth:`list_variables`. Every backend answers
  :meth:`get_variable` (None, "not held here", unless it serves variables), as Airflow's do;
  :meth:`handles_variable` and :meth:`variable_lookup_keys` play the part of :meth:`handles` and
  :meth:`lookup_keys` for variables.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from hookline.connection import Connection
from hookline.exceptions import HooklineError, InvalidConnection

__all__ = ["PendingVersion", "SecretsBackend"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PendingVersion:
    """The pending version of a connection during a credential rotation.

    Attributes:
        connection: The new credentials (its repr masks the password, as every Connection's does).
        token: Identifies this rotation (a fresh random id per rotation); every step names it, so a
            step replayed after a crash acts on the same version (idempotent).
        step: The last rotation step this version completed: ``"create"``, ``"set"`` or ``"test"``.
        created_at: Unix time the pending version was created.
    """

    connection: Connection
    token: str
    step: str
    created_at: float = field(default=0.0, compare=False)


class SecretsBackend(ABC):
    """Base class of every secrets backend.

    Subclasses implement :meth:`get_conn_value`; a backend whose client already returns fields may
    override :meth:`get_connection` instead. ``name`` identifies the backend in traces and errors.
    """

    name: str = "backend"
    writable: ClassVar[bool] = False
    writes_by_default: ClassVar[bool] = True
    listable: ClassVar[bool] = False
    watchable: ClassVar[bool] = False
    transactional: ClassVar[bool] = False
    replicated: ClassVar[bool] = False
    stageable: ClassVar[bool] = False
    variable_writable: ClassVar[bool] = False
    variables_listable: ClassVar[bool] = False

    @abstractmethod
    def get_conn_value(self, conn_id: str) -> str | None:
        """Return the serialized connection (URI or JSON text) for ``conn_id``, or None if absent.

        Raises:
            BackendUnavailable: the backend could not answer (retryable).
            BackendPermissionDenied: the backend refused access (authoritative).
        """

    def get_connection(self, conn_id: str) -> Connection | None:
        """Return the connection for ``conn_id``, or None when this backend does not hold it.

        Raises:
            InvalidConnection: the stored value is malformed.
        """
        value = self.get_conn_value(conn_id)
        if value is None:
            return None
        return Connection.from_text(value, conn_id=conn_id)

    def handles(self, conn_id: str) -> bool:
        """Whether this backend should be asked for ``conn_id`` at all (default: always).

        Override to keep a paid or slow store from being asked for ids it never holds (Airflow's
        ``connections_lookup_pattern``); the chain records the step as ``skipped``.
        """
        return True

    def lookup_keys(self, conn_id: str) -> list[str]:
        """The keys (env var names, paths, secret ids) under which this backend looks for ``conn_id``;
        shown in lookup traces."""
        return [conn_id]

    def set_connection(self, conn: Connection, *, overwrite: bool = True) -> None:
        """Store ``conn`` (writable backends only).

        Raises:
            InvalidConnection: ``overwrite`` is False and ``conn.conn_id`` exists already (checked
                atomically with the write).
        """
        raise NotImplementedError(f"{self.name} backend is read-only")

    def set_connections(self, conns: Iterable[Connection], *, overwrite: bool = True) -> None:
        """Store every connection of ``conns``: all of them, or (as far as this backend can) none.

        ``transactional`` backends override this with one transaction. This default, for the others,
        checks every id first (with ``overwrite`` False), then writes one connection at a time; when
        a write fails it restores what it replaced, deletes what it added, and re-raises. That undo
        cannot run if the process is killed mid-way.

        Raises:
            InvalidConnection: a connection has no conn_id, ids repeat, or (``overwrite`` False)
                some ids exist already; nothing is written.
            NotImplementedError: the backend is read-only.
        """
        items = list(conns)
        ids = [conn.conn_id for conn in items]
        if any(conn_id is None for conn_id in ids):
            raise InvalidConnection("a connection needs a conn_id to be stored")
        if len(set(ids)) != len(ids):
            raise InvalidConnection("connection ids given more than once; nothing was written")
        previous: dict[str, Connection | None] = {}
        unreadable: set[str] = set()
        for conn in items:
            conn_id = str(conn.conn_id)
            try:
                previous[conn_id] = self.get_connection(conn_id)
            except HooklineError:  # stored but unreadable: it cannot be restored on failure
                unreadable.add(conn_id)
        existing = sorted(unreadable | {k for k, v in previous.items() if v is not None})
        if existing and not overwrite:
            raise InvalidConnection(
                f"{len(existing)} connection(s) already exist in {self.name} "
                f"({', '.join(map(repr, existing[:20]))}); pass overwrite=True to replace them. "
                "Nothing was written"
            )
        done: list[str] = []
        try:
            for conn in items:
                self.set_connection(conn, overwrite=True)
                done.append(str(conn.conn_id))
        except BaseException:
            self._undo(done, previous, unreadable)
            raise

    def _undo(
        self, done: list[str], previous: dict[str, Connection | None], unreadable: set[str]
    ) -> None:
        for conn_id in reversed(done):
            try:
                old = previous.get(conn_id)
                if conn_id in unreadable:
                    log.warning(
                        "cannot restore %r in %s: its old value was unreadable", conn_id, self.name
                    )
                elif old is not None:
                    self.set_connection(old, overwrite=True)
                else:
                    self.delete_connection(conn_id)
            except Exception:  # best effort: the original error is the one to report
                log.warning(
                    "could not undo the write of %r in %s", conn_id, self.name, exc_info=True
                )

    def delete_connection(self, conn_id: str) -> bool:
        """Delete ``conn_id``; return whether it existed (writable backends only)."""
        raise NotImplementedError(f"{self.name} backend is read-only")

    def list_connections(self) -> Iterator[Connection]:
        """Yield every connection this backend holds (listable backends only)."""
        raise NotImplementedError(f"{self.name} backend cannot list its connections")

    def change_counter_if_open(self) -> int | None:
        """A counter bumped by every write from any process, or None while the backend has not opened
        its store yet (no information; watchable backends only)."""
        raise NotImplementedError(f"{self.name} backend cannot report changes")

    def answered_by(self) -> str:
        """The replica that answered this thread's last lookup, "" when none did (replicated
        backends only)."""
        raise NotImplementedError(f"{self.name} backend has no replicas")

    # -- credential rotation (stageable backends) ------------------------------------------------

    def put_pending(self, conn: Connection, *, token: str, step: str) -> None:
        """Store ``conn`` as the pending version of ``conn.conn_id`` under ``token`` with the rotation
        ``step`` it completed, creating it or updating its step. Lookups keep returning the current
        version. Raises :class:`~hookline.exceptions.RotationError` when another token's pending
        version exists (two rotations of one connection at once)."""
        raise NotImplementedError(f"{self.name} backend cannot stage a pending version")

    def get_pending(self, conn_id: str) -> PendingVersion | None:
        """The pending version of ``conn_id``, or None when no rotation is in progress."""
        raise NotImplementedError(f"{self.name} backend cannot stage a pending version")

    def promote_pending(self, conn_id: str, token: str) -> None:
        """Make the pending version ``token`` the current one (the old current one is kept as the
        previous version where the backend keeps history). Idempotent: promoting a token that is
        already current does nothing."""
        raise NotImplementedError(f"{self.name} backend cannot stage a pending version")

    def discard_pending(self, conn_id: str, token: str) -> None:
        """Drop the pending version ``token`` (a rollback); the current version is untouched.
        Idempotent: discarding a token that is not pending does nothing."""
        raise NotImplementedError(f"{self.name} backend cannot stage a pending version")

    # -- variables --------------------------------------------------------------------------------

    def get_variable(self, key: str) -> str | None:
        """The variable's value as stored (text), or None when this backend does not hold it."""
        return None

    def handles_variable(self, key: str) -> bool:
        """Whether this backend should be asked for variable ``key`` at all (default: always;
        Airflow's ``variables_lookup_pattern``). The chain records the step as ``skipped``."""
        return True

    def variable_lookup_keys(self, key: str) -> list[str]:
        """The keys (env var names, paths, secret ids) under which this backend looks for variable
        ``key``; shown in lookup traces."""
        return [key]

    def set_variable(self, key: str, value: str, *, overwrite: bool = True) -> None:
        """Store a variable (variable-writable backends only).

        Raises:
            InvalidVariable: ``overwrite`` is False and ``key`` exists already.
        """
        raise NotImplementedError(f"{self.name} backend cannot store variables")

    def set_variables(self, items: Iterable[tuple[str, str]], *, overwrite: bool = True) -> None:
        """Store every ``(key, value)`` of ``items``: all of them, or (as far as this backend can)
        none. ``transactional`` backends (the metastore) use one transaction; this default checks
        every key first, then writes one at a time and, when a write fails, restores what it
        replaced and deletes what it added (which a killed process cannot do).

        Raises:
            InvalidVariable: keys repeat, or (``overwrite`` False) some exist; nothing is written.
            NotImplementedError: the backend cannot store variables.
        """
        from hookline.exceptions import InvalidVariable

        pairs = list(items)
        keys = [key for key, _ in pairs]
        if len(set(keys)) != len(keys):
            raise InvalidVariable("variable keys given more than once; nothing was written")
        previous = {key: self.get_variable(key) for key in keys}
        existing = sorted(key for key, value in previous.items() if value is not None)
        if existing and not overwrite:
            raise InvalidVariable(
                f"{len(existing)} variable(s) already exist in {self.name} "
                f"({', '.join(map(repr, existing[:20]))}); pass overwrite=True to replace them. "
                "Nothing was written"
            )
        done: list[str] = []
        try:
            for key, value in pairs:
                self.set_variable(key, value, overwrite=True)
                done.append(key)
        except BaseException:
            for key in reversed(done):
                try:
                    old = previous[key]
                    if old is None:
                        self.delete_variable(key)
                    else:
                        self.set_variable(key, old, overwrite=True)
                except Exception:  # best effort: the original error is the one to report
                    log.warning("could not undo the write of variable %r in %s", key, self.name)
            raise

    def delete_variable(self, key: str) -> bool:
        """Delete a variable; return whether it existed (variable-writable backends only)."""
        raise NotImplementedError(f"{self.name} backend cannot store variables")

    def list_variables(self) -> Iterator[tuple[str, str]]:
        """Yield ``(key, value)`` for every variable held (variables-listable backends only)."""
        raise NotImplementedError(f"{self.name} backend cannot list variables")

    def close(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Release clients and pools (optional)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
